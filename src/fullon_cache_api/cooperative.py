"""Long loops that share the event loop.

A request that completes or decodes thousands of items runs Python code for tens or
hundreds of milliseconds; done in one go, it would hold every other connection (a ticker
stream, a health probe) for that long. Such loops ``await pause()`` once per item: it
returns at once until the slice of time is used up, then yields to the event loop. Time,
not an item count, decides: items cost from a microsecond to a millisecond.

The slice belongs to the event loop, not to a loop or a request: all long loops draw on
one ``SLICE_S`` of CPU per turn of the event loop. When it is used up, every one of them
waits for the next turn, and the loop that used it up goes on first, so long loops run
one after another (each at most a page long), not all at once. Measured against the
alternatives, with four clients sending 20 aliases of 1,000 records each: a slice per
loop held the event loop for 50 to 250 ms (eighty slices in a row); this keeps the lag
p99 at 25 ms. Taking turns loop by loop instead kept as low a lag but held every answer
half-built at once: a peak RSS of 130 MB instead of 116 MB, and 10 MB more afterwards.
"""

from __future__ import annotations

import asyncio
import time

#: CPU time long loops may run, together, before the event loop gets a turn.
SLICE_S = 0.001


class _Slice:
    """The event loop's current slice: started by the first check after a turn."""

    __slots__ = ("deadline", "loop", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.deadline: float | None = None  # None: the next check starts a new slice
        self.waiting = False  # used up: every loop waits for the next turn

    def next_turn(self) -> None:
        self.waiting = False
        self.deadline = None


_current: _Slice | None = None


def _slice_of(loop: asyncio.AbstractEventLoop) -> _Slice:
    global _current
    current = _current
    if current is None or current.loop is not loop:
        current = _current = _Slice(loop)
    return current


async def pause() -> None:
    """Yield to the event loop if the slice is used up; return at once otherwise."""
    state = _slice_of(asyncio.get_running_loop())
    if not state.waiting:
        now = time.perf_counter()
        if state.deadline is None:
            state.deadline = now + SLICE_S
            return
        if now < state.deadline:
            return
        state.waiting = True
        # Runs on the next turn, before the loops yielding below resume (ready callbacks
        # run in order); the first of them to check again starts the new slice.
        state.loop.call_soon(state.next_turn)
    # A loop may wake to find the slice used up again by one that woke before it: it
    # yields once more. sleep(0) is exactly "one turn"; an Event would cost a future.
    while state.waiting:  # noqa: ASYNC110
        await asyncio.sleep(0)
