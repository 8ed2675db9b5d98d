"""The fan-out floor: the least a ticker subscription can cost on the product's stack, minus
GraphQL.

A hand-written ``graphql-transport-ws`` server on the same uvicorn + Starlette as the product,
with ONE Redis pub/sub connection for the whole process (redis.asyncio + hiredis, like the
product's feed). It does not parse GraphQL: a ``subscribe`` names its ticker in the query
text (``ticker(exchange: "...", symbol: "...")``, found with a regular expression) and always
gets the selection ``symbol price bid ask time``.

* On ``subscribe``: ``HGET tickers:{exchange} {symbol}``, send that as the first ``next`` (the
  product sends the current state first too), then the subscriber joins its channel's group;
  the first subscriber of a channel ``SUBSCRIBE``\\s it upstream.
* For every ``PUBLISH ticker_updates:{exchange}:{symbol}``: the tick is decoded and the
  ``next`` payload is built and serialised ONCE; each subscriber gets
  ``'{"id":' + its id + the pre-built tail``, sent with ``await websocket.send_text`` one
  after the other.
* Latest value, like the product's ticker stream: messages that arrived while a fan-out was
  running are read back to back and only the newest one per channel is sent, so a saturated
  floor falls behind by at most one fan-out instead of queueing without bound.

Serve it with ``python -m bench._common bench.floor_fanout_server:create_app --redis-url ...
--port ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.floor_server import _float, _time

TRANSPORT_WS = "graphql-transport-ws"
CHANNEL_PREFIX = "ticker_updates:"
TICKER_ARGS = re.compile(r'ticker\s*\(\s*exchange:\s*"([^"]+)"\s*,\s*symbol:\s*"([^"]+)"')


def ticker_payload(symbol: str, raw: bytes | None) -> str:
    """The ``next`` payload for the selection ``symbol price bid ask time``."""
    if raw is None:
        return '{"data":{"ticker":null}}'
    tick = orjson.loads(raw)
    data = {
        "ticker": {
            "symbol": symbol,
            "price": _float(tick.get("price")),
            "bid": _float(tick.get("bid")),
            "ask": _float(tick.get("ask")),
            "time": _time(tick.get("time")),
        }
    }
    return orjson.dumps({"data": data}).decode()


class Fanout:
    """One pub/sub connection; per channel, the subscribers (socket → JSON ids)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.pubsub: PubSub = redis.pubsub(ignore_subscribe_messages=True)
        self.groups: dict[str, dict[WebSocket, list[str]]] = {}
        self.reader: asyncio.Task[None] | None = None

    async def join(self, channel: str, websocket: WebSocket, id_json: str) -> None:
        group = self.groups.get(channel)
        if group is None:
            group = self.groups[channel] = {}
            await self.pubsub.subscribe(channel)
            if self.reader is None:
                self.reader = asyncio.create_task(self._read())
        group.setdefault(websocket, []).append(id_json)

    def leave(self, websocket: WebSocket, id_json: str | None = None) -> None:
        """Remove one subscription (or all of the socket's, with ``id_json=None``)."""
        for group in self.groups.values():
            ids = group.get(websocket)
            if ids is None:
                continue
            if id_json is None:
                del group[websocket]
            elif id_json in ids:
                ids.remove(id_json)
                if not ids:
                    del group[websocket]

    async def _read(self) -> None:
        get_message = self.pubsub.get_message
        while True:
            message = await get_message(timeout=None)
            if message is None:
                continue
            latest = {message["channel"]: message["data"]}
            # Whatever is already buffered: keep only the newest value of each channel.
            while (message := await get_message(timeout=0.0)) is not None:
                latest[message["channel"]] = message["data"]
            for channel, data in latest.items():
                await self._fan_out(channel.decode(), data)

    async def _fan_out(self, channel: str, data: bytes) -> None:
        group = self.groups.get(channel)
        if not group:
            return
        symbol = channel.split(":", 2)[2]
        tail = ',"type":"next","payload":' + ticker_payload(symbol, data) + "}"
        for websocket, ids in list(group.items()):
            try:
                for id_json in list(ids):
                    await websocket.send_text('{"id":' + id_json + tail)
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.leave(websocket)

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
        await self.pubsub.aclose()  # type: ignore[no-untyped-call]


def create_app(redis_url: str, port: int = 0) -> Starlette:
    del port  # the factory signature of bench._common; the floor needs no settings

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # redis-py's pool allows 100 connections by default: not enough for 100 sockets
        # subscribing at once.
        redis = Redis.from_url(redis_url, decode_responses=False, max_connections=20_000)
        app.state.redis = redis
        app.state.fanout = Fanout(redis)
        try:
            yield
        finally:
            await app.state.fanout.close()
            await redis.aclose()

    async def subscribe(websocket: WebSocket, message: dict[str, Any]) -> None:
        id_json = orjson.dumps(message["id"]).decode()
        query = (message.get("payload") or {}).get("query") or ""
        match = TICKER_ARGS.search(query)
        if match is None:
            errors = [{"message": "the floor serves ticker(exchange, symbol) only"}]
            await websocket.send_text(
                orjson.dumps({"id": message["id"], "type": "error", "payload": errors}).decode()
            )
            return
        exchange, symbol = match.groups()
        raw = await websocket.app.state.redis.hget(f"tickers:{exchange}", symbol)
        await websocket.send_text(
            '{"id":' + id_json + ',"type":"next","payload":' + ticker_payload(symbol, raw) + "}"
        )
        await websocket.app.state.fanout.join(
            f"{CHANNEL_PREFIX}{exchange}:{symbol}", websocket, id_json
        )

    async def websocket_endpoint(websocket: WebSocket) -> None:
        fanout: Fanout = websocket.app.state.fanout
        await websocket.accept(subprotocol=TRANSPORT_WS)
        try:
            while True:
                message = orjson.loads(await websocket.receive_text())
                kind = message.get("type")
                if kind == "subscribe":
                    await subscribe(websocket, message)
                elif kind == "complete":
                    fanout.leave(websocket, orjson.dumps(message.get("id")).decode())
                elif kind == "connection_init":
                    await websocket.send_text('{"type":"connection_ack"}')
                elif kind == "ping":
                    await websocket.send_text('{"type":"pong"}')
        except WebSocketDisconnect:
            pass
        finally:
            fanout.leave(websocket)

    return Starlette(routes=[WebSocketRoute("/graphql", websocket_endpoint)], lifespan=lifespan)
