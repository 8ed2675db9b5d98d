"""Long loops that share the event loop.

A request that completes or decodes thousands of items runs Python code for tens or
hundreds of milliseconds; done in one go, it would hold every other connection (a ticker
stream, a health probe) for that long. Such loops call :meth:`TimeSlice.pause` once per
item: it returns at once until the slice of time is used up, then yields to the event
loop. Time, not an item count, decides: items cost from a microsecond to a millisecond.
"""

from __future__ import annotations

import asyncio
import time

#: CPU time a loop may run before it lets others in. Several busy requests take turns, so
#: what another connection waits is roughly this times the number of busy requests.
SLICE_S = 0.001


class TimeSlice:
    __slots__ = ("_deadline", "_length")

    def __init__(self, length_s: float = SLICE_S) -> None:
        self._length = length_s
        self._deadline = time.perf_counter() + length_s

    def used_up(self) -> bool:
        return time.perf_counter() >= self._deadline

    async def pause(self) -> None:
        """Yield to the event loop if this slice is used up (then start a new one)."""
        if time.perf_counter() >= self._deadline:
            await asyncio.sleep(0)
            self._deadline = time.perf_counter() + self._length
