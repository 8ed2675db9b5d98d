"""Accounts, balances and positions (fullon_cache ``AccountCache``), and their streams.

::

    make demo                            # in another terminal
    .venv/bin/python examples/example_account_cache.py
"""

from __future__ import annotations

import asyncio
import os

from fullon_cache_api import fullon_cache_api

LIVE_SECONDS = float(os.environ.get("EXAMPLE_LIVE_SECONDS", "5"))


async def main() -> None:
    async with fullon_cache_api() as api:
        for account in await api.get_accounts():
            currencies = ", ".join(f"{b.currency}={b.total}" for b in account.balances)
            print(f"account {account.ex_id}: {currencies}")

        account = await api.get_account(1)
        if account is not None:
            usdt = account.balance("USDT")
            print("ex_id 1 USDT free:", usdt.free if usdt else None)

        btc = await api.get_balance(1, "BTC")
        print("ex_id 1 BTC:", btc)

        for position in await api.get_positions(1):
            print(f"  {position.symbol}: volume {position.volume} at {position.price}")

        position = await api.get_position(2, "BTC/USD")
        print("ex_id 2 BTC/USD volume:", position.volume if position else None)
        print("positions across accounts:", len(await api.get_all_positions()))

        # The account now, then on every change (latest value: conflation is fine here).
        async with api.stream_account(1) as stream:
            current = await anext(stream)
            print("streamed account 1 with", len(current.balances) if current else 0, "balances")
            try:
                async with asyncio.timeout(LIVE_SECONDS):
                    changed = await anext(stream)
                    print("account changed:", changed)
            except TimeoutError:
                print(f"(no account change within {LIVE_SECONDS:g} s)")

        # One position per item: the snapshot's first, each with its change kind.
        async with api.stream_positions(1) as stream:
            position = await anext(stream)
            print(position.change, position["symbol"], position["volume"])


if __name__ == "__main__":
    asyncio.run(main())
