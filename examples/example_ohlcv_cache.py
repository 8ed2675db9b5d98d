"""OHLCV series and bars (fullon_cache ``OHLCVCache``).

::

    make demo                            # in another terminal
    .venv/bin/python examples/example_ohlcv_cache.py
"""

from __future__ import annotations

import asyncio
import os

from fullon_cache_api import fullon_cache_api

LIVE_SECONDS = float(os.environ.get("EXAMPLE_LIVE_SECONDS", "5"))


async def main() -> None:
    async with fullon_cache_api() as api:
        for series in await api.get_ohlcv_series():
            print(f"series {series.symbol} {series.timeframe}: {series.bars} bars")

        bars = await api.get_latest_ohlcv_bars("BTC/USDT", "1m", count=5)
        for bar in bars:
            print(
                f"  {bar.timestamp:%Y-%m-%d %H:%M} O {bar.open} H {bar.high} "
                f"L {bar.low} C {bar.close} V {bar.volume}"
            )

        # The symbol is matched exactly as stored: "BTCUSD" is its own series.
        hourly = await api.get_latest_ohlcv_bars("BTCUSD", "1h", count=3)
        print("BTCUSD 1h closes:", [bar.close for bar in hourly])

        async with api.stream_ohlcv("BTC/USDT", "1m", count=10, changes=True) as stream:
            snapshot = await anext(stream)
            print(
                snapshot.kind.value,
                len(snapshot.items),
                "bars, last close",
                snapshot.items[-1].close if snapshot.items else None,
            )
            try:
                async with asyncio.timeout(LIVE_SECONDS):
                    event = await anext(stream)
                    print(event.kind.value, [bar.close for bar in event.items])
            except TimeoutError:
                print(f"(no new bar within {LIVE_SECONDS:g} s)")


if __name__ == "__main__":
    asyncio.run(main())
