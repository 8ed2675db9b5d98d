"""A naive Strawberry server, for context: ``strawberry.asgi.GraphQL`` as documented, with no
parser or validation cache, and a ``ticker`` resolver doing the same ``HGET`` and decoding as
the floor (:func:`bench.floor_server.ticker_data`) into a Strawberry type with the product's
field types.

Serve it with ``python -m bench._common bench.naive_strawberry:create_app --redis-url ...
--port ...``.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from redis.asyncio import Redis
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from bench.floor_server import ticker_data


@strawberry.type
class Ticker:
    exchange: str
    symbol: str
    price: float | None
    volume: float | None
    time: datetime | None
    bid: float | None
    ask: float | None
    last: float | None


def create_app(redis_url: str, port: int = 0) -> GraphQL[None, None]:
    del port
    clients: dict[str, Redis] = {}

    def redis() -> Redis:
        # Created on first use, inside uvicorn's event loop.
        client = clients.get("redis")
        if client is None:
            client = clients["redis"] = Redis.from_url(redis_url, decode_responses=False)
        return client

    @strawberry.type
    class Query:
        @strawberry.field
        async def ticker(self, exchange: str, symbol: str) -> Ticker | None:
            data = (await ticker_data(redis(), {"e": exchange, "s": symbol}))["ticker"]
            if data is None:
                return None
            time = data["time"]
            return Ticker(
                exchange=data["exchange"],
                symbol=data["symbol"],
                price=data["price"],
                volume=data["volume"],
                time=datetime.fromisoformat(time) if time is not None else None,
                bid=data["bid"],
                ask=data["ask"],
                last=data["last"],
            )

    schema = strawberry.Schema(query=Query)
    return GraphQL(
        schema, graphql_ide=None, subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,)
    )
