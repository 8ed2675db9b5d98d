"""How late the event loop runs: a coroutine that should wake every ``interval`` seconds
measures how much later it does. Anything that holds the loop (a long decode, a GC pause,
a blocked process) shows up here, for every connection at once (``/metrics``:
``fullon_cache_api_event_loop_lag_seconds``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def watch_lag(observe: Callable[[float], None], interval: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval)
        observe(max(0.0, loop.time() - started - interval))
