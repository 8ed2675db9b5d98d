"""A smoke test of an installed fullon_cache_api: serve it on a private redis-server, then
run a query over HTTP and a subscription over WebSocket, as a user would.

Needs only the package's own dependencies (no test tools), so it can check an install of
the lowest versions ``pyproject.toml`` allows (``.ci/lowest-deps``).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import redis
from websockets.asyncio.client import connect

from fullon_cache_api.embedded_redis import EmbeddedRedis

TICKER = {"symbol": "BTC/USDT", "exchange": "binance", "price": 100.0, "time": 1.0e9}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def query(port: int, text: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": text}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body: dict[str, object] = json.loads(response.read())
        return body


async def subscribe(port: int, client: redis.Redis) -> float:
    async with connect(
        f"ws://127.0.0.1:{port}/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        document = 'subscription { ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": document}}))
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["payload"]["data"] == {"ticker": {"price": 100.0}}, first
        tick = {**TICKER, "price": 101.0}
        client.hset("tickers:binance", "BTC/USDT", json.dumps(tick))
        client.publish("ticker_updates:binance:BTC/USDT", json.dumps(tick))
        second = json.loads(await asyncio.wait_for(ws.recv(), 10))
        price: float = second["payload"]["data"]["ticker"]["price"]
        return price


def main() -> int:
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        client.hset("tickers:binance", "BTC/USDT", json.dumps(TICKER))
        port = free_port()
        env = {**os.environ, "REDIS_URL": server.url, "LOG_CONSOLE": "false"}
        serve = subprocess.Popen(
            [sys.executable, "-m", "fullon_cache_api.cli", "serve", "--port", str(port)], env=env
        )
        try:
            wait_for(f"http://127.0.0.1:{port}/health")
            body = query(port, '{ ticker(exchange: "binance", symbol: "BTC/USDT") { price } }')
            assert body == {"data": {"ticker": {"price": 100.0}}}, body
            assert asyncio.run(subscribe(port, client)) == 101.0
        finally:
            serve.terminate()
            code = serve.wait(15)
        assert code == 0, f"the server exited with {code} on SIGTERM"
    print("smoke test passed: a query over HTTP and a subscription over WebSocket")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
