"""A first-in, first-out queue that holds nothing while it is empty.

uvicorn's WebSocket protocol keeps an ``asyncio.Queue`` per connection for its ASGI
``receive`` (three deques and an event, about 3 KB), and on the server's own protocol
(``ws_protocol.py``) that queue only ever carries the ``connect`` event and the end of the
connection: messages go to the handler's listener. :class:`Inbox` has the methods uvicorn
uses (``put_nowait``, ``get``, ``empty``, ``qsize``) and allocates only while it holds
items or its consumer waits (see BENCHMARKS.md, "Memory per idle WebSocket connection").
"""

from __future__ import annotations

from typing import Any

from fullon_cache_api.subscriptions.flag import Flag


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


__all__ = ["Inbox"]
