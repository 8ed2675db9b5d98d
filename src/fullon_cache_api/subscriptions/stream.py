"""``TopicStream``: what a Subscription field returns — an async iterator over one topic.

It keeps its own view of the state as of the last event it yielded, so a subscriber that
joins a shared fan-out group later gets a snapshot consistent with what the group has
delivered so far. Optional: an item filter and a minimum interval between events (latest
values are coalesced meanwhile).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from fullon_cache_api.subscriptions.events import ChangeEvent, ChangeKind
from fullon_cache_api.subscriptions.topics import Topic, TopicSpec

if TYPE_CHECKING:
    from fullon_cache_api.subscriptions.hub import LiveHub

NO_SNAPSHOT = object()
_NOTHING = object()  # an event that changes nothing this stream shows (``None`` is a value)


class TopicStream:
    def __init__(
        self,
        hub: LiveHub,
        spec: TopicSpec,
        *,
        item_filter: Callable[[Any], bool] | None = None,
        min_interval_ms: int | None = None,
    ) -> None:
        self.hub = hub
        self.spec = spec
        self.item_filter = item_filter
        self.min_interval = (min_interval_ms or 0) / 1000.0
        self.emit_snapshot = True
        self.topic: Topic | None = None
        self._queue: deque[Any] = deque()
        self._latest_only = not spec.keyed and not spec.stateless
        self.superseded = 0
        self._wake = asyncio.Event()
        self._view: dict[Hashable, Any] = {}
        self._value: Any = None
        self._next_at = 0.0
        self._snapshot_sent = False
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------

    async def ready(self) -> None:
        """Attach to the shared topic and wait for its first snapshot."""
        if self.topic is None:
            self.topic = await self.hub.attach(self.spec, self)
            await self.topic.ready.wait()
            # The topic updates its state before delivering, so the snapshot already
            # includes anything queued while waiting: drop those to avoid repeats.
            self._queue.clear()
            self._adopt(self.topic.snapshot())

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self.topic is not None:
            topic, self.topic = self.topic, None
            await self.hub.detach(topic, self)

    # -- state -------------------------------------------------------------------------

    def deliver(self, event: Any) -> None:
        """Called by the topic for every event, in order.

        For a latest-value stream a newer value replaces one not yet taken: when the
        consumer (a fan-out group) is behind, it executes and sends only the newest tick,
        so its work follows what is delivered, not what is published."""
        if self._latest_only and self._queue:
            self._queue[-1] = event
            self.superseded += 1
        else:
            self._queue.append(event)
        self._wake.set()

    def snapshot_event(self) -> Any:
        """The state as of the last event yielded (``NO_SNAPSHOT`` for pure push streams)."""
        if self.spec.stateless:
            return NO_SNAPSHOT
        if self.spec.keyed:
            return ChangeEvent(ChangeKind.SNAPSHOT, list(self._view.values()))
        return self._value

    def _adopt(self, event: Any) -> Any:
        """Apply an event to the view; return what to yield (``_NOTHING``: nothing for us)."""
        spec = self.spec
        if spec.stateless:
            return event
        if not spec.keyed:
            self._value = event
            return event
        assert spec.item_key is not None and isinstance(event, ChangeEvent)
        items = event.items
        if self.item_filter is not None:
            items = [item for item in items if self.item_filter(item)]
        if event.kind is ChangeKind.SNAPSHOT:
            self._view = {spec.item_key(item): item for item in items}
            return ChangeEvent(ChangeKind.SNAPSHOT, items)
        if not items:
            return _NOTHING
        if event.kind is ChangeKind.REMOVE:
            for item in items:
                self._view.pop(spec.item_key(item), None)
        else:
            for item in items:
                self._view[spec.item_key(item)] = item
        return ChangeEvent(event.kind, items)

    # -- iteration ---------------------------------------------------------------------

    def __aiter__(self) -> TopicStream:
        return self

    async def __anext__(self) -> Any:
        await self.ready()
        if self.emit_snapshot and not self._snapshot_sent:
            self._snapshot_sent = True
            snapshot = self.snapshot_event()
            if snapshot is not NO_SNAPSHOT:
                self._mark_sent()
                return snapshot
        while True:
            if self._closed:
                raise StopAsyncIteration
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.min_interval and time.monotonic() < self._next_at:
                await asyncio.sleep(self._next_at - time.monotonic())
                out = self._coalesce()
            else:
                out = self._adopt(self._queue.popleft())
            if out is not _NOTHING:
                self._mark_sent()
                return out

    def _mark_sent(self) -> None:
        if self.min_interval:
            self._next_at = time.monotonic() + self.min_interval

    def _coalesce(self) -> Any:
        """Everything queued during the throttle window, as one event."""
        events = list(self._queue)
        self._queue.clear()
        if not self.spec.keyed:
            return self._adopt(events[-1]) if events else _NOTHING
        before = dict(self._view)
        for event in events:
            self._adopt(event)
        after = self._view
        removed = [item for key, item in before.items() if key not in after]
        changed = [item for key, item in after.items() if before.get(key) is not item]
        if removed and changed:
            # Both kinds happened: the whole state says it in one event.
            return ChangeEvent(ChangeKind.SNAPSHOT, list(after.values()))
        if removed:
            return ChangeEvent(ChangeKind.REMOVE, removed)
        if changed:
            return ChangeEvent(ChangeKind.UPSERT, changed)
        return _NOTHING
