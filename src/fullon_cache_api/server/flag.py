"""An :class:`asyncio.Event` that costs nothing while nobody waits on it.

``asyncio.Event`` allocates a ``collections.deque`` for its waiters when it is created
(about 600-760 bytes with its first block), and a connection has several events that are
rarely or never awaited: the outbox's wake-up, the connection's ``finished``, the
transport's ``writable``, the ASGI receive queue. :class:`Flag` has the same ``set``,
``clear``, ``is_set`` and ``wait``, and keeps a list of waiters only while someone waits
(see BENCHMARKS.md, "Memory per idle WebSocket connection").
"""

from __future__ import annotations

import asyncio
from typing import Any


class Flag:
    """``set``/``clear``/``is_set``/``wait`` as :class:`asyncio.Event`: ``set`` wakes every
    waiter (a ``clear`` right after does not take that back), ``wait`` returns at once when
    the flag is set."""

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
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters
        if waiters is None:
            self._waiters = [waiter]
        else:
            waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            waiters = self._waiters
            if waiters is not None and waiter in waiters:  # cancelled: no longer waits
                waiters.remove(waiter)
                if not waiters:
                    self._waiters = None


class Inbox:
    """A first-in, first-out queue with one consumer at a time, as uvicorn's WebSocket
    protocol uses its ASGI receive queue (``put_nowait``, ``get``, ``empty``), without
    ``asyncio.Queue``'s three deques and event: nothing is held while it is empty."""

    __slots__ = ("_items", "_nonempty")

    def __init__(self) -> None:
        self._items: list[Any] | None = None
        self._nonempty = Flag()

    def put_nowait(self, item: Any) -> None:
        items = self._items
        if items is None:
            self._items = [item]
        else:
            items.append(item)
        self._nonempty.set()

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items is not None else 0

    async def get(self) -> Any:
        while not self._items:
            self._nonempty.clear()
            await self._nonempty.wait()
        items = self._items
        assert items is not None
        item = items.pop(0)
        if not items:
            self._items = None
        return item


__all__ = ["Flag", "Inbox"]
