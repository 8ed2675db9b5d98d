"""Admission by cost: expensive queries take turns, so together they cannot overload the
process.

Every query is priced before it runs (:mod:`fullon_cache_api.server.cost`, roughly the
objects it can return). A query costing more than ``ADMISSION_FREE_COST`` must hold that
much of a shared budget, ``MAX_INFLIGHT_COST``, while it runs; when the budget is used up it
waits its turn (first come, first served), and after ``ADMISSION_WAIT_S`` it is refused
with ``RATE_LIMITED``. Cheap queries (a ticker, a health probe) never wait. So the memory
held by queries in flight is bounded, and the Redis replies of the queries that run are
read in time: many heavy queries at once would otherwise starve each other's reads until
they time out, and healthy Redis would look unavailable.

asyncio has no weighted semaphore; this one is a counter and a FIFO of futures.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

from fullon_cache_api.errors import ErrorCode, error_dict
from fullon_cache_api.server.memory import MemoryTrimmer


class Overloaded(Exception):
    """No turn within the wait limit."""

    def __init__(self, cost: int, wait_s: float) -> None:
        super().__init__(f"the server is busy with expensive queries: this one (cost {cost}) "
                         f"waited {wait_s:g} s for its turn; retry later")  # fmt: skip
        self.error = error_dict(str(self), ErrorCode.RATE_LIMITED)


class CostBudget:
    def __init__(
        self,
        capacity: int,
        free_cost: int,
        wait_s: float,
        trimmer: MemoryTrimmer | None = None,
    ) -> None:
        self.capacity = capacity
        self.trimmer = trimmer  # told when expensive queries start and when all are done
        self.free_cost = free_cost
        self.wait_s = wait_s
        self.in_use = 0
        self.waited = 0  # queries that had to wait (for /metrics)
        self.refused = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def stats(self) -> dict[str, int]:
        return {
            "in_use": self.in_use,
            "queued": len(self._waiters),
            "waited": self.waited,
            "refused": self.refused,
        }

    @contextlib.asynccontextmanager
    async def admit(self, cost: int) -> AsyncIterator[None]:
        """Hold ``cost`` of the budget while the block runs (nothing if it is cheap)."""
        if cost <= self.free_cost:
            yield
            return
        units = min(cost, self.capacity)
        await self._acquire(units, cost)
        if self.trimmer is not None:
            self.trimmer.busy()
        try:
            yield
        finally:
            self.in_use -= units
            self._wake()
            if self.trimmer is not None and self.in_use == 0:
                self.trimmer.idle()

    async def _acquire(self, units: int, cost: int) -> None:
        if not self._waiters and self.in_use + units <= self.capacity:
            self.in_use += units
            return
        self.waited += 1
        waiter = asyncio.get_running_loop().create_future()
        entry = (units, waiter)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.wait_s)
        except TimeoutError:
            if waiter.done():  # granted just now: keep it
                return
            self._waiters.remove(entry)
            waiter.cancel()
            self.refused += 1
            raise Overloaded(cost, self.wait_s) from None
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.in_use -= units  # granted, but the caller went away
                self._wake()
            elif entry in self._waiters:
                self._waiters.remove(entry)
            raise

    def _wake(self) -> None:
        while self._waiters:
            units, waiter = self._waiters[0]
            if self.in_use + units > self.capacity:
                return
            self._waiters.popleft()
            if not waiter.done():
                self.in_use += units
                waiter.set_result(None)
