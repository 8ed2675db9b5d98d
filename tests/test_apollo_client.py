"""A real JavaScript client end to end: Apollo Client 3 (``tests/js/apollo_e2e.mjs``) runs a
query over HTTP and a subscription over graphql-transport-ws (graphql-ws + ws) against the
real server.

The npm packages (pinned in ``tests/js/package.json`` and its lock file) are installed by
this test with ``npm ci`` (:mod:`support.npm`) when ``tests/js/node_modules`` does not match
the lock. The test is skipped only when ``node`` or ``npm`` is not installed.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from fullon_cache_api.simulator import CacheWriter, seed_scenario
from support import RunningServer
from support.npm import INSTALL_TIMEOUT_S, NODE, NPM, npm_ci

JS = Path(__file__).resolve().parent / "js"
RUN_TIMEOUT_S = 60

pytestmark = pytest.mark.skipif(
    NODE is None or NPM is None, reason="node/npm are not installed (needs Node.js 18+)"
)


async def _next_result(stream: asyncio.StreamReader, seen: list[str]) -> dict[str, Any]:
    """The next ``RESULT {json}`` line of the script (other lines are kept in ``seen``)."""
    while True:
        line = await stream.readline()
        if not line:
            raise AssertionError("the script ended early:\n" + "".join(seen))
        text = line.decode()
        seen.append(text)
        if text.startswith("RESULT "):
            result: dict[str, Any] = json.loads(text[len("RESULT ") :])
            return result


@pytest.mark.timeout(INSTALL_TIMEOUT_S + RUN_TIMEOUT_S)
async def test_apollo_client_query_and_subscription(
    api_server: RunningServer, redis_client: redis.asyncio.Redis
) -> None:
    await asyncio.to_thread(npm_ci, JS)
    writer = CacheWriter(redis_client)
    await seed_scenario(writer)

    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(JS / "apollo_e2e.mjs"),
        api_server.http_url,
        api_server.ws_url,
        cwd=JS,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(RUN_TIMEOUT_S):
            query = await _next_result(proc.stdout, seen)
            assert query["step"] == "query" and query["errors"] is None
            ticker = query["data"]["ticker"]
            assert (ticker["exchange"], ticker["symbol"], ticker["price"]) == (
                "binance",
                "BTC/USDT",
                105234.56,
            )
            assert (ticker["bid"], ticker["ask"]) == (105234.55, 105234.57)
            assert ticker["time"].endswith("+00:00")
            assert sorted(query["data"]["exchanges"]) == [
                "binance",
                "bybit",
                "hyperliquid",
                "kraken",
            ]

            connected = await _next_result(proc.stdout, seen)
            assert connected == {"step": "connected", "protocol": "graphql-transport-ws"}

            snapshot = await _next_result(proc.stdout, seen)
            assert snapshot["step"] == "snapshot"
            event = snapshot["data"]["tickers"]
            assert event["kind"] == "SNAPSHOT"
            assert [(t["symbol"], t["price"]) for t in event["items"]] == [("BTC/USDT", 105234.56)]

            await writer.set_ticker(
                {
                    "symbol": "BTC/USDT",
                    "exchange": "binance",
                    "price": 107000.5,
                    "volume": 1.0,
                    "time": time.time(),
                    "bid": 107000.0,
                    "ask": 107001.0,
                    "last": 107000.5,
                }
            )
            update = await _next_result(proc.stdout, seen)
            assert update["step"] == "update"
            event = update["data"]["tickers"]
            assert event["kind"] == "UPSERT"
            assert [(t["symbol"], t["price"]) for t in event["items"]] == [("BTC/USDT", 107000.5)]
            assert await proc.wait() == 0, "".join(seen)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
