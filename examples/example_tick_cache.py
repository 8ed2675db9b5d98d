"""Tickers: the fullon_cache ``TickCache`` reads, and the live ticker stream.

::

    make demo                            # in another terminal
    .venv/bin/python examples/example_tick_cache.py
"""

from __future__ import annotations

import asyncio
import os

from fullon_cache_api import fullon_cache_api
from fullon_cache_api.client import ChangeKind

LIVE_SECONDS = float(os.environ.get("EXAMPLE_LIVE_SECONDS", "5"))


async def main() -> None:
    async with fullon_cache_api() as api:
        exchanges = await api.get_exchanges()
        print("exchanges with tickers:", exchanges)

        for ticker in await api.get_all_tickers("binance"):
            print(f"  {ticker.symbol:<12} {ticker.price}  spread {ticker.spread_percentage} %")

        print("all exchanges:", len(await api.get_all_tickers()), "tickers")

        freshest = await api.get_any_ticker("BTC/USDT")
        if freshest is not None:
            print(f"freshest BTC/USDT: {freshest.exchange} at {freshest.price}")

        when = await api.get_ticker_time("kraken", "BTC/USD")
        print("kraken BTC/USD written at", when.isoformat() if when else None)

        missing = await api.get_ticker("binance", "NOPE/USDT")
        print("unknown symbol:", missing)  # None, not an error

        # Ticker by ticker: the snapshot's first, then each one that changes.
        async with api.stream_tickers("binance", ["BTC/USDT", "ETH/USDT"]) as updates:
            try:
                async with asyncio.timeout(LIVE_SECONDS):
                    for _ in range(5):
                        update = await anext(updates)
                        print(f"Live: {update['symbol']} {update['price']} ({update.change})")
            except TimeoutError:
                print(f"(no live ticker within {LIVE_SECONDS:g} s)")

        # Whole events (changes=True): a SNAPSHOT first, then UPSERTs as prices move.
        async with api.stream_tickers("binance", ["BTC/USDT"], changes=True) as stream:
            snapshot = await anext(stream)
            assert snapshot.kind is ChangeKind.SNAPSHOT
            print("snapshot:", {t.symbol: t.price for t in snapshot.items})


if __name__ == "__main__":
    asyncio.run(main())
