"""The benchmarks' Node.js reference peer (``bench/peers/node/``) answers like the product.

The peer is started the way the benchmarks start it (:mod:`bench.node_peer`: ``npm ci`` once,
then ``node server.mjs``) against the session's private redis-server, with a ticker written
by the simulator. A real WebSocket client (``websockets``, graphql-transport-ws) runs one
query and one subscription, and an HTTP client one query, in both of the peer's forms
(plain and with a document cache). Skipped only when ``node`` is not installed, or when
``npm`` is not installed and the peer's packages are not installed yet.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis.asyncio
from websockets.asyncio.client import ClientConnection, connect

from fullon_cache_api.simulator import CacheWriter

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # ``bench`` is not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from bench import node_peer  # noqa: E402

STEP_TIMEOUT_S = 10.0
TICK = {
    "symbol": "BTC/USDT",
    "exchange": "binance",
    "price": 105234.56,
    "volume": 18342.712,
    "time": 1748851200.125,
    "bid": 105234.55,
    "ask": 105234.57,
    "last": 105234.56,
}
QUERY = (
    "query T($e: String!, $s: String!) "
    "{ ticker(exchange: $e, symbol: $s) { symbol exchange price bid ask last volume time } }"
)
SUBSCRIPTION = (
    'subscription { ticker(exchange: "binance", symbol: "BTC/USDT") { symbol price time } }'
)
EXPECTED = {
    "symbol": "BTC/USDT",
    "exchange": "binance",
    "price": 105234.56,
    "bid": 105234.55,
    "ask": 105234.57,
    "last": 105234.56,
    "volume": 18342.712,
    "time": "2025-06-02T08:00:00.125000+00:00",
}

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None, reason="node is not installed: the Node.js peer cannot run"
)


@pytest_asyncio.fixture(params=sorted(node_peer.TARGETS))
async def peer(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Any]:
    """The peer (``node`` or ``node-cache``) serving ``redis_url``, stopped afterwards."""
    installed = (node_peer.PEER_DIR / "node_modules" / ".package-lock.json").exists()
    if shutil.which("npm") is None and not installed:
        pytest.skip("npm is not installed: cannot install bench/peers/node")
    reason = await asyncio.to_thread(node_peer.peer_available)
    assert reason is None, reason
    name = request.param
    server = node_peer.server_process(name, node_peer.TARGETS[name], redis_url)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.close)


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), STEP_TIMEOUT_S))
    return message


async def test_peer_query_and_subscription(peer: Any, redis_client: redis.asyncio.Redis) -> None:
    writer = CacheWriter(redis_client)
    await writer.set_ticker(TICK)

    async with connect(peer.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "graphql-transport-ws"
        await ws.send(json.dumps({"type": "connection_init"}))
        assert await receive(ws) == {"type": "connection_ack"}

        # One query: next, then complete.
        payload = {"query": QUERY, "variables": {"e": "binance", "s": "BTC/USDT"}}
        await ws.send(json.dumps({"id": "q", "type": "subscribe", "payload": payload}))
        assert await receive(ws) == {
            "id": "q",
            "type": "next",
            "payload": {"data": {"ticker": EXPECTED}},
        }
        assert await receive(ws) == {"id": "q", "type": "complete"}

        # One subscription: the current value, then a published update.
        subscribe = {"id": "s", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
        await ws.send(json.dumps(subscribe))
        snapshot = await receive(ws)
        assert snapshot["type"] == "next" and snapshot["id"] == "s"
        assert snapshot["payload"]["data"]["ticker"] == {
            "symbol": "BTC/USDT",
            "price": 105234.56,
            "time": EXPECTED["time"],
        }
        stamp = time.time()
        await writer.set_ticker({**TICK, "price": 107000.5, "time": stamp})
        update = await receive(ws)
        assert update["type"] == "next" and update["id"] == "s"
        assert update["payload"]["data"]["ticker"] == {
            "symbol": "BTC/USDT",
            "price": 107000.5,
            "time": datetime.fromtimestamp(stamp, tz=UTC).isoformat(),  # as the product's
        }
        await ws.send(json.dumps({"id": "s", "type": "complete"}))

        # A query the schema rejects gets graphql-transport-ws's error message.
        await ws.send(json.dumps({"id": "bad", "type": "subscribe", "payload": {"query": "{ x }"}}))
        error = await receive(ws)
        assert error["type"] == "error" and error["id"] == "bad"
        assert "Cannot query field" in error["payload"][0]["message"]

    # The same query over HTTP (graphql-http).
    async with httpx.AsyncClient(timeout=STEP_TIMEOUT_S) as client:
        response = await client.post(
            f"http://127.0.0.1:{peer.port}/graphql",
            json={"query": QUERY, "variables": {"e": "binance", "s": "BTC/USDT"}},
        )
    assert response.status_code == 200
    assert response.json()["data"]["ticker"] == {**EXPECTED, "price": 107000.5} | {
        "time": datetime.fromtimestamp(stamp, tz=UTC).isoformat()
    }
