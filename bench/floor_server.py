"""The floor: the least a ``ticker`` query can cost over the product's stack, minus GraphQL.

A hand-written ``graphql-transport-ws`` server (and an HTTP POST endpoint) on the same
uvicorn + Starlette as the product. It ignores the query text: every ``subscribe`` does the
``HGET tickers:{exchange} {symbol}`` the product's resolver does (redis.asyncio, hiredis,
``decode_responses=False``), decodes the JSON the way the product's codec does (floats,
epoch time → UTC ISO-8601), builds the response of the benchmark's selection
(``symbol exchange price bid ask last volume time``) and encodes it with orjson.

Serve it with ``python -m bench._common bench.floor_server:create_app --redis-url ... --port
...``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

TRANSPORT_WS = "graphql-transport-ws"


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _time(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC).isoformat()
    if isinstance(value, str) and value and value != "None":
        try:
            return datetime.fromtimestamp(float(value), tz=UTC).isoformat()
        except ValueError:
            return datetime.fromisoformat(value).astimezone(UTC).isoformat()
    return None


async def ticker_data(redis: Redis, variables: dict[str, Any]) -> dict[str, Any]:
    """``{"ticker": {...}}`` for the variables ``e`` (exchange) and ``s`` (symbol)."""
    exchange, symbol = variables["e"], variables["s"]
    raw = await redis.hget(f"tickers:{exchange}", symbol)
    if raw is None:
        return {"ticker": None}
    tick = orjson.loads(raw)
    return {
        "ticker": {
            "symbol": symbol,
            "exchange": exchange,
            "price": _float(tick.get("price")),
            "bid": _float(tick.get("bid")),
            "ask": _float(tick.get("ask")),
            "last": _float(tick.get("last")),
            "volume": _float(tick.get("volume")),
            "time": _time(tick.get("time")),
        }
    }


def create_app(redis_url: str, port: int = 0) -> Starlette:
    del port  # the factory signature of bench._common; the floor needs no settings

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.redis = Redis.from_url(redis_url, decode_responses=False)
        try:
            yield
        finally:
            await app.state.redis.aclose()

    async def websocket_endpoint(websocket: WebSocket) -> None:
        redis: Redis = websocket.app.state.redis
        await websocket.accept(subprotocol=TRANSPORT_WS)
        try:
            while True:
                message = orjson.loads(await websocket.receive_text())
                kind = message.get("type")
                if kind == "subscribe":
                    id_json = orjson.dumps(message["id"]).decode()
                    variables = message["payload"].get("variables") or {}
                    payload = orjson.dumps({"data": await ticker_data(redis, variables)})
                    await websocket.send_text(
                        f'{{"id":{id_json},"type":"next","payload":{payload.decode()}}}'
                    )
                    await websocket.send_text(f'{{"id":{id_json},"type":"complete"}}')
                elif kind == "connection_init":
                    await websocket.send_text('{"type":"connection_ack"}')
                elif kind == "ping":
                    await websocket.send_text('{"type":"pong"}')
        except WebSocketDisconnect:
            return

    async def http_endpoint(request: Request) -> Response:
        body = orjson.loads(await request.body())
        data = await ticker_data(request.app.state.redis, body.get("variables") or {})
        return Response(orjson.dumps({"data": data}), media_type="application/json")

    return Starlette(
        routes=[
            Route("/graphql", http_endpoint, methods=["POST"]),
            WebSocketRoute("/graphql", websocket_endpoint),
        ],
        lifespan=lifespan,
    )
