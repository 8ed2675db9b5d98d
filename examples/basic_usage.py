"""Basic usage: connect, run a few queries, then watch a ticker for a moment.

Run a server with seeded demo data first (``make demo``), then::

    .venv/bin/python examples/basic_usage.py

The URL comes from ``FULLON_CACHE_API_URL`` (default ``ws://127.0.0.1:8000/graphql``).
``EXAMPLE_LIVE_SECONDS`` (default 5) bounds the wait for live events.
"""

from __future__ import annotations

import asyncio
import os

from fullon_cache_api import fullon_cache_api

LIVE_SECONDS = float(os.environ.get("EXAMPLE_LIVE_SECONDS", "5"))


async def main() -> None:
    # One WebSocket for everything; closed when the block ends.
    async with fullon_cache_api() as api:
        ping = await api.ping()  # {"status": "ok", "latency_ms": ..., "server_version": ...}
        print(
            f"connected to {api.url}: {ping['status']}, server {ping['server_version']}, "
            f"redis {ping['redis']}, round trip {ping['latency_ms']:.1f} ms"
        )

        health = await api.get_cache_health()
        print(f"Redis reachable: {health.reachable} (version {health.redis_version})")

        print("exchanges:", ", ".join(await api.get_exchanges()))

        ticker = await api.get_ticker("binance", "BTC/USDT")
        if ticker is not None:
            # Results work as objects and as read-only mappings (snake_case keys).
            print(
                f"binance BTC/USDT: {ticker.price} (bid {ticker['bid']}, ask {ticker.get('ask')}) "
                f"at {ticker.timestamp:%H:%M:%S} UTC"
            )

        # A stream yields the current value first, then every update. It resumes by
        # itself if the connection drops.
        async with api.stream_ticker("binance", "BTC/USDT") as ticks:
            first = await anext(ticks)
            print("stream started at price", first.price if first else None)
            try:
                async with asyncio.timeout(LIVE_SECONDS):
                    for _ in range(3):
                        tick = await anext(ticks)
                        print("update:", tick.price if tick else None)
            except TimeoutError:
                print(
                    f"(no live update within {LIVE_SECONDS:g} s: the demo data is static "
                    "unless the live simulator runs)"
                )


if __name__ == "__main__":
    asyncio.run(main())
