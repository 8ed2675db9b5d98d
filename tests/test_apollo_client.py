"""A real JavaScript client end to end: Apollo Client 3 (``tests/js/apollo_e2e.mjs``) runs a
query over HTTP and a subscription over graphql-transport-ws (graphql-ws + ws) against the
real server.

The npm packages (pinned in ``tests/js/package.json``) are installed by this test with
``npm install`` when ``tests/js/node_modules`` is missing. The test is skipped only when
``node`` is not installed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from fullon_cache_api.simulator import CacheWriter, seed_scenario
from support import RunningServer

JS = Path(__file__).resolve().parent / "js"
NODE = shutil.which("node")
INSTALL_TIMEOUT_S = 300
RUN_TIMEOUT_S = 60

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (needs Node.js 18+)")


async def _npm_install() -> None:
    """``npm install`` in tests/js, once (node_modules is gitignored)."""
    if (JS / "node_modules" / "@apollo" / "client").is_dir():
        return
    npm = shutil.which("npm")
    assert npm is not None, "node is installed but npm is not: cannot install tests/js"
    proc = await asyncio.create_subprocess_exec(
        npm,
        "install",
        "--no-audit",
        "--no-fund",
        cwd=JS,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), INSTALL_TIMEOUT_S)
    assert proc.returncode == 0, f"npm install failed:\n{out.decode()}"


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


async def test_apollo_client_query_and_subscription(
    api_server: RunningServer, redis_client: redis.asyncio.Redis
) -> None:
    await _npm_install()
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
