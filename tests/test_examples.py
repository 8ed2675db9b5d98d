"""``examples/run_all.py`` against a real server holding the demo scenario: every example runs
in its own process and exits 0."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import redis.asyncio

from fullon_cache_api.simulator import CacheWriter, seed_scenario
from support import RunningServer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


async def test_run_all_examples(
    api_server: RunningServer, redis_client: redis.asyncio.Redis
) -> None:
    await seed_scenario(CacheWriter(redis_client))
    env = {
        **os.environ,
        "FULLON_CACHE_API_URL": api_server.ws_url,
        "EXAMPLE_LIVE_SECONDS": "0.5",  # static data: no live events to wait for
        "PYTHONUNBUFFERED": "1",
    }
    # A subprocess driven by asyncio: the server runs in this event loop.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / "run_all.py"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 100)
    output = out.decode()
    assert proc.returncode == 0, output
    assert "8/8 examples succeeded" in output
    # The examples printed seeded values, not just "ok".
    assert "binance BTC/USDT: 105234.56" in output
    assert "order 8389765493: partially_filled" in output
    assert "series BTC/USDT 1m: 300 bars" in output
    assert "who blocks ex_id 1 BTC/USDT? 1" in output


async def test_run_all_fails_when_an_example_fails(api_server: RunningServer) -> None:
    env = {**os.environ, "FULLON_CACHE_API_URL": "ws://127.0.0.1:9/graphql"}  # nothing there
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / "run_all.py"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 100)
    assert proc.returncode == 1, out.decode()
    assert "0/8 examples succeeded" in out.decode()
