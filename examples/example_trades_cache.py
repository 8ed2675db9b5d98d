"""Trades, user trades and their markers (fullon_cache ``TradesCache``).

::

    make demo                            # in another terminal
    .venv/bin/python examples/example_trades_cache.py
"""

from __future__ import annotations

import asyncio
import os

from fullon_cache_api import fullon_cache_api

LIVE_SECONDS = float(os.environ.get("EXAMPLE_LIVE_SECONDS", "5"))


async def main() -> None:
    async with fullon_cache_api() as api:
        # Argument order as in fullon_cache: symbol first, then exchange.
        for trade in await api.get_trades("BTC/USDT", "binance"):
            print(f"  {trade.trade_id} {trade.side} {trade.volume} @ {trade.price} {trade.time}")
        newest = await api.get_trades("BTC/USDT", "binance", last=1)
        print("newest binance BTC/USDT trade:", newest[0].trade_id if newest else None)

        for status in await api.get_trade_statuses():
            print(f"trade marker {status.key}: {status.timestamp}")
        print("binance marker:", await api.get_trade_status("binance"))

        user_trades = await api.get_user_trades(1, "binance")
        print("user 1 on binance:", [t.trade_id for t in user_trades])
        print("user marker binance:1:", await api.get_user_trade_status("binance:1"))
        print("user markers:", [s.key for s in await api.get_user_trade_statuses()])

        # Whole events of one symbol: a SNAPSHOT, then UPSERT (pushed) / REMOVE (drained).
        async with api.stream_trades("BTC/USDT", "binance", changes=True) as stream:
            snapshot = await anext(stream)
            print(snapshot.kind.value, [t.trade_id for t in snapshot.items])

        # Every symbol of the exchange, one trade per item (its change kind on it).
        async with api.stream_trade_updates("binance") as trades:
            try:
                async with asyncio.timeout(LIVE_SECONDS):
                    while True:
                        trade = await anext(trades)
                        print(trade.change, trade["symbol"], trade["trade_id"], trade["price"])
            except TimeoutError:
                print(f"(no more trades within {LIVE_SECONDS:g} s)")


if __name__ == "__main__":
    asyncio.run(main())
