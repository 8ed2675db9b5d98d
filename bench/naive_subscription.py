"""A naive Strawberry subscription server, for context: ``strawberry.asgi.GraphQL`` as
documented, with a ``ticker`` subscription written the obvious way — an async generator that
opens its OWN Redis pub/sub connection per subscriber, yields the current tick (``HGET``),
then decodes and yields every published tick. Each event is executed by Strawberry for each
subscriber separately; nothing is shared and nothing is coalesced.

Serve it with ``python -m bench._common bench.naive_subscription:create_app --redis-url ...
--port ...``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

import orjson
import strawberry
from redis.asyncio import Redis
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from bench.floor_server import _float
from bench.naive_strawberry import Ticker


def _datetime(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str) and value and value != "None":
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except ValueError:
            return datetime.fromisoformat(value).astimezone(UTC)
    return None


def decode_tick(exchange: str, symbol: str, raw: bytes | str | None) -> Ticker | None:
    if raw is None:
        return None
    tick = orjson.loads(raw)
    return Ticker(
        exchange=exchange,
        symbol=symbol,
        price=_float(tick.get("price")),
        volume=_float(tick.get("volume")),
        time=_datetime(tick.get("time")),
        bid=_float(tick.get("bid")),
        ask=_float(tick.get("ask")),
        last=_float(tick.get("last")),
    )


def create_app(redis_url: str, port: int = 0) -> GraphQL[None, None]:
    del port
    clients: dict[str, Redis] = {}

    def redis() -> Redis:
        # Created on first use, inside uvicorn's event loop.
        client = clients.get("redis")
        if client is None:
            # redis-py's pool allows 100 connections by default; every subscriber holds one.
            client = clients["redis"] = Redis.from_url(
                redis_url, decode_responses=False, max_connections=20_000
            )
        return client

    @strawberry.type
    class Query:
        @strawberry.field
        async def ticker(self, exchange: str, symbol: str) -> Ticker | None:
            return decode_tick(exchange, symbol, await redis().hget(f"tickers:{exchange}", symbol))

    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def ticker(self, exchange: str, symbol: str) -> AsyncGenerator[Ticker | None, None]:
            pubsub = redis().pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(f"ticker_updates:{exchange}:{symbol}")
                current = await redis().hget(f"tickers:{exchange}", symbol)
                yield decode_tick(exchange, symbol, current)
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
                        yield decode_tick(exchange, symbol, message["data"])
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    schema = strawberry.Schema(query=Query, subscription=Subscription)
    return GraphQL(
        schema, graphql_ide=None, subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,)
    )
