"""An ``asyncio.Event`` that costs nothing until someone waits (topics, streams, the feed,
and each connection's outbox, ``finished`` and transport ``writable`` in ``server/``)."""

from __future__ import annotations

import asyncio


class Flag:
    """``asyncio.Event``'s interface without its cost when nobody waits: an Event holds a
    624-byte deque from the start. Topics have two, streams one and the feed one per
    channel: with a topic per subscription, several KB a subscription. Waiters get a
    future each."""

    __slots__ = ("_set", "_waiters")

    def __init__(self, value: bool = False) -> None:
        self._set = value
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        """True once the flag is set (at once if it is), as ``asyncio.Event.wait``."""
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = [waiter]
        else:
            self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            waiters = self._waiters
            if waiters is not None and waiter in waiters:  # cancelled: no longer waits
                waiters.remove(waiter)
                if not waiters:
                    self._waiters = None
