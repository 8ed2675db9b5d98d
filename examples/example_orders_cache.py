"""Orders and local open-order queues (fullon_cache ``OrdersCache``).

::

    make demo                            # in another terminal
    .venv/bin/python examples/example_orders_cache.py
"""

from __future__ import annotations

import asyncio
import os

from fullon_cache_api import fullon_cache_api

LIVE_SECONDS = float(os.environ.get("EXAMPLE_LIVE_SECONDS", "5"))


async def main() -> None:
    async with fullon_cache_api() as api:
        keys = await api.get_order_keys()
        print("order_status keys:", keys)

        for order in await api.get_orders("binance"):
            print(f"  {order.order_id} {order.symbol} {order.side} {order.volume} {order.status}")

        # By exchange order id, under whichever order_status key holds it.
        order = await api.get_order_status("8389765493")
        if order is not None:
            print(f"order 8389765493: {order.status}, filled {order.final_volume}/{order.volume}")

        # After update_order the stored order_id may be a numeric DB id:
        bybit = await api.get_order_status("BYB-7731-0001", exchange="bybit")
        if bybit is not None:
            print(f"bybit order: stored order_id {bybit.stored_order_id}, status {bybit.status}")

        # Open-order queues are keyed by the local order id (not by exchange).
        print(
            "queue 3001:",
            await api.get_open_order_queue(3001),
            "length",
            await api.get_queue_length(3001),
        )

        async with api.stream_orders("binance", changes=True) as stream:
            snapshot = await anext(stream)
            print(snapshot.kind.value, [o.order_id for o in snapshot.items])
            try:
                async with asyncio.timeout(LIVE_SECONDS):
                    event = await anext(stream)
                    print(event.kind.value, [(o.order_id, o.status) for o in event.items])
            except TimeoutError:
                print(f"(no order change within {LIVE_SECONDS:g} s)")


if __name__ == "__main__":
    asyncio.run(main())
