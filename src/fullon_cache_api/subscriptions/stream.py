"""``TopicStream``: what a Subscription field returns — an async iterator over one topic's
events, as one consumer (a delivery group) sees them.

It keeps its own view of the state as of the last event it yielded, so a subscriber that
joins a shared group later gets a snapshot consistent with what the group has delivered so
far, and it can replay the events a resuming subscriber missed. When its consumer falls
behind, queued events are coalesced by the stream's kind (:class:`StreamKind`): a VALUE
stream keeps only the newest value, a KEYED stream merges its changes by key (a REMOVE
wins), a PUSH stream keeps each message (up to a bound). Optional: an item filter, a
minimum interval between events, and, for keyed streams, full results.

**Full results** (``full=True``, a subscription's ``live: FULL``): every event the stream
yields is a SNAPSHOT of its whole view (filtered), taken after everything queued was
applied, so a consumer needs no merge code. Its consumers see a VALUE stream (:attr:`kind`):
each event is the whole current value, and only the newest one matters. With a minimum
interval (``maxRate``), the changes of each interval become one snapshot.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from fullon_cache_api.cache import Problem
from fullon_cache_api.errors import ApiError
from fullon_cache_api.subscriptions.events import ChangeEvent, ChangeKind, ChangeSet, StreamKind
from fullon_cache_api.subscriptions.flag import Flag
from fullon_cache_api.subscriptions.topics import UNKNOWN, Topic, TopicEvent, TopicSpec

if TYPE_CHECKING:
    from fullon_cache_api.subscriptions.hub import LiveHub

#: PUSH messages a stream holds for a consumer that is behind; the oldest go first.
PUSH_BACKLOG = 1024

_NOTHING: Any = object()  # an event that changes nothing this stream shows


class TopicStream:
    # Slots, a queue made on first use and a Flag instead of an Event: a stream
    # per delivery group, so per subscription when every subscription has its own topic.
    __slots__ = (
        "_closed",
        "_merged",
        "_next_at",
        "_queue",
        "_snapshot_sent",
        "_value",
        "_view",
        "_wake",
        "dropped",
        "emit_snapshot",
        "error",
        "full",
        "hub",
        "item_filter",
        "kind",
        "min_interval",
        "observed_at",
        "problems",
        "seq",
        "source_kind",
        "spec",
        "superseded",
        "topic",
        "unknown",
        "waker",
    )

    def __init__(
        self,
        hub: LiveHub,
        spec: TopicSpec,
        *,
        item_filter: Callable[[Any], bool] | None = None,
        min_interval_ms: float | None = None,
        full: bool = False,
    ) -> None:
        if full and spec.kind is not StreamKind.KEYED:
            raise ValueError("full results are for keyed streams")
        self.hub = hub
        self.spec = spec
        self.source_kind = spec.kind  # what the topic publishes
        self.full = full
        # What a consumer (a delivery group, an outbox) sees: whole values for full results.
        self.kind = StreamKind.VALUE if full else spec.kind
        self.item_filter = item_filter
        self.min_interval = (min_interval_ms or 0) / 1000.0
        self.emit_snapshot = True
        self.topic: Topic | None = None
        self.seq = 0  # the topic event the view reflects
        self.observed_at = 0.0
        self.problems: tuple[Problem, ...] = ()
        self.error: ApiError | None = None
        self.unknown = False
        self.superseded = 0  # events folded into newer ones before they were taken
        self.dropped = 0  # PUSH messages dropped from a full backlog
        self._queue: deque[TopicEvent] | None = None  # events not taken yet
        self._merged: list[TopicEvent] = []  # merged events not yielded yet
        self._wake = Flag()  # events arrived (or the stream closed)
        # A consumer that takes events with ``take_ready`` instead of iterating: called
        # (instead of waking a waiting task) when events arrive or the stream closes.
        self.waker: Callable[[], None] | None = None
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
            if self._queue is not None:
                self._queue.clear()
            self._adopt(self.topic.snapshot())
            self._mark_sent()  # the snapshot is the first event: the interval starts now

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self.waker is not None:
            self.waker()
        if self.topic is not None:
            topic, self.topic = self.topic, None
            await self.hub.detach(topic, self)

    @property
    def has_ready(self) -> bool:
        """Something for ``take_ready``: events queued, or the stream closed."""
        return bool(self._queue or self._merged or self._closed)

    @property
    def epoch(self) -> str:
        return self.topic.epoch if self.topic is not None else ""

    # -- state -------------------------------------------------------------------------

    def deliver(self, event: TopicEvent) -> None:
        """Called by the topic for every event, in order.

        A latest-value stream keeps only the newest untaken event: a consumer that is
        behind executes and sends only the newest value, so its work follows what is
        delivered, not what is published. Keyed events are merged when taken."""
        queue = self._queue
        if queue is None:
            maxlen = PUSH_BACKLOG if self.source_kind is StreamKind.PUSH else None
            queue = self._queue = deque(maxlen=maxlen)
        if self.source_kind is StreamKind.VALUE and queue:
            queue[-1] = event
            self.superseded += 1
        else:
            if queue.maxlen is not None and len(queue) == queue.maxlen:
                self.dropped += 1
            queue.append(event)
        self._wake.set()
        if self.waker is not None:
            self.waker()

    def snapshot_event(self) -> TopicEvent | None:
        """The state as of the last event yielded (``None`` for PUSH streams, which have
        no state)."""
        if self.source_kind is StreamKind.PUSH:
            return None
        change: Any
        if self.unknown:
            change = UNKNOWN
        elif self.source_kind is StreamKind.KEYED:
            change = ChangeEvent(ChangeKind.SNAPSHOT, list(self._view.values()))
        else:
            change = self._value
        return TopicEvent(self.seq, self.observed_at, change, self.problems, self.error)

    def events_since(self, seq: int) -> list[TopicEvent] | None:
        """The events after topic event ``seq`` up to this stream's view, as this stream
        shows them (filtered), or ``None`` when they are no longer all buffered (or a
        snapshot is what this stream sends anyway: full results)."""
        if self.topic is None or self.kind is StreamKind.VALUE:
            return None
        if seq >= self.seq:
            return []
        events = self.topic.events_since(seq)
        if events is None:
            return None
        shown = []
        for event in events:
            if event.seq > self.seq:
                break
            filtered = self._filtered(event)
            if filtered is not _NOTHING:
                shown.append(filtered)
        return shown

    def _filtered(self, event: TopicEvent) -> Any:
        if self.item_filter is None or not isinstance(event.change, ChangeEvent):
            return event
        items = [item for item in event.change.items if self.item_filter(item)]
        if not items and event.change.kind is not ChangeKind.SNAPSHOT and not event.problems:
            return _NOTHING
        return _with_change(event, ChangeEvent(event.change.kind, items))

    def _adopt(self, event: TopicEvent) -> Any:
        """Apply an event to the view; return what to yield (``_NOTHING``: nothing for us)."""
        self.seq = event.seq
        self.observed_at = event.observed_at
        self.problems = event.problems
        self.error = event.error
        self.unknown = not event.known
        if self.source_kind is StreamKind.PUSH or not event.known:
            return event
        if self.source_kind is StreamKind.VALUE:
            self._value = event.change
            return event
        filtered = self._filtered(event)
        if filtered is _NOTHING:
            return _NOTHING
        change: ChangeEvent[Any] = filtered.change
        item_key = self.spec.item_key
        assert item_key is not None
        if change.kind is ChangeKind.SNAPSHOT:
            self._view = {item_key(item): item for item in change.items}
        elif change.kind is ChangeKind.REMOVE:
            for item in change.items:
                self._view.pop(item_key(item), None)
        else:
            for item in change.items:
                self._view[item_key(item)] = item
        return filtered

    # -- iteration ---------------------------------------------------------------------

    def __aiter__(self) -> TopicStream:
        return self

    async def __anext__(self) -> TopicEvent:
        await self.ready()
        if self.emit_snapshot and not self._snapshot_sent:
            self._snapshot_sent = True
            snapshot = self.snapshot_event()
            if snapshot is not None:
                self._mark_sent()
                return snapshot
        while True:
            event = await self.take_ready()
            if event is not None:
                return event
            self._wake.clear()
            await self._wake.wait()

    async def take_ready(self) -> TopicEvent | None:
        """The next event when one is queued (waiting out the minimum interval first),
        ``None`` when nothing is: then ``waker`` (or a waiting ``__anext__``) hears of the
        next. ``StopAsyncIteration`` once the stream is closed."""
        while True:
            if self._closed:
                raise StopAsyncIteration
            if not self._queue and not self._merged:
                return None
            if self.min_interval and time.monotonic() < self._next_at:
                await asyncio.sleep(self._next_at - time.monotonic())
            out = self._take()
            if out is not _NOTHING:
                self._mark_sent()
                return out  # type: ignore[no-any-return]

    def _mark_sent(self) -> None:
        if self.min_interval:
            self._next_at = time.monotonic() + self.min_interval

    def _take(self) -> Any:
        """The next event to yield: one queued event, or, for a keyed stream that is
        behind, everything queued merged by key (at most a REMOVE and an UPSERT, or one
        SNAPSHOT; the latest state wins over older news)."""
        if self._merged:
            return self._merged.pop(0)
        if self.full:
            return self._take_full()
        queue = self._queue
        assert queue is not None
        if self.source_kind is not StreamKind.KEYED or len(queue) == 1:
            return self._adopt(queue.popleft())
        events = list(queue)
        queue.clear()
        problems = self.problems
        assert self.spec.item_key is not None
        changes: ChangeSet[Any] = ChangeSet(self.spec.item_key)
        last: TopicEvent | None = None
        for event in events:
            adopted = self._adopt(event)
            if adopted is _NOTHING:
                continue
            if not adopted.known:  # the state is unknown: older news no longer matters
                changes, last = ChangeSet(self.spec.item_key), adopted
                continue
            changes.add(adopted.change)
            last = adopted
        if last is None:
            return _NOTHING
        if not last.known:
            merged = [last]
        else:
            merged = [_with_change(last, change) for change in changes.events()]
            if not merged and last.problems != problems:
                merged = [_with_change(last, ChangeEvent(ChangeKind.UPSERT, []))]
        self.superseded += len(events) - len(merged)
        if not merged:
            return _NOTHING
        self._merged.extend(merged[1:])
        return merged[0]

    def _take_full(self) -> Any:
        """Full results: everything queued applied to the view, then the view itself (a
        SNAPSHOT, or the error when the state is unknown), if anything shown changed."""
        queue = self._queue
        assert queue is not None
        events = list(queue)
        queue.clear()
        problems, unknown = self.problems, self.unknown
        changed = False
        for event in events:
            if self._adopt(event) is not _NOTHING:
                changed = True
        if not changed and self.problems == problems and self.unknown == unknown:
            return _NOTHING
        self.superseded += len(events) - 1
        return self.snapshot_event()


def _with_change(event: TopicEvent, change: Any) -> TopicEvent:
    return TopicEvent(event.seq, event.observed_at, change, event.problems, event.error)
