"""Bots, exchange blocks and opening positions (fullon_cache ``BotCache``).

::

    make demo                            # in another terminal
    .venv/bin/python examples/example_bot_cache.py
"""

from __future__ import annotations

import asyncio
import os

from fullon_cache_api import fullon_cache_api

LIVE_SECONDS = float(os.environ.get("EXAMPLE_LIVE_SECONDS", "5"))


async def main() -> None:
    async with fullon_cache_api() as api:
        for bot in await api.get_bots():
            updated = bot.updated_at.isoformat() if bot.updated_at else "-"
            print(f"bot {bot.bot_id}: status={bot.status} updated={updated}")

        bot = await api.get_bot(1)
        if bot is not None:
            feeds = [feed["symbol"] for feed in bot.data.values() if isinstance(feed, dict)]
            print("bot 1 feeds:", feeds)

        for block in await api.get_blocks():
            print(f"blocked: ex_id {block.ex_id} {block.symbol} by bot {block.bot_id}")
        print("who blocks ex_id 1 BTC/USDT?", await api.is_blocked(1, "BTC/USDT"))
        print("who blocks ex_id 1 DOGE/USDT?", await api.is_blocked(1, "DOGE/USDT"))

        for opening in await api.get_opening_positions():
            print(f"opening: ex_id {opening.ex_id} {opening.symbol} (bot {opening.bot_id})")
        print("opening ex_id 1 BTC/USDT?", await api.is_opening_position(1, "BTC/USDT"))

        async with api.stream_bot_status(changes=True) as stream:
            snapshot = await anext(stream)
            print(snapshot.kind.value, "of", len(snapshot.items), "bots")
            try:
                async with asyncio.timeout(LIVE_SECONDS):
                    event = await anext(stream)
                    print(event.kind.value, [b.bot_id for b in event.items])
            except TimeoutError:
                print(f"(no bot status change within {LIVE_SECONDS:g} s)")


if __name__ == "__main__":
    asyncio.run(main())
