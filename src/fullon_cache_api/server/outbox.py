"""One connection's outbound queue, the same for every transport (WebSocket, SSE, multipart).

Frames wait here until the connection's writer sends them, in batches:

* **control frames** (``ping``/``pong``, an acknowledgement, the error that ends a subscription
  early) go first, whatever else waits;
* each operation has its own :class:`Lane`, and lanes with something to send take turns, one
  item each per batch, so one busy subscription cannot hold up the others;
* a subscription's lane is coalesced by its stream's kind (:class:`StreamKind`): a VALUE
  stream keeps only its newest event; a KEYED stream merges its changes by key (the newest
  change of a key wins, so a REMOVE after an UPSERT wins; a SNAPSHOT replaces everything
  before it); a PUSH stream keeps each message. So what a slow reader costs is bounded by
  the state, not by time;
* a reader is judged by what it fails to take: a PUSH subscription that falls
  ``SUBSCRIBER_BUFFER`` messages behind while its socket has been taking one batch for
  ``SLOW_CONSUMER_S`` ends with ``SLOW_CONSUMER`` (a backlog that built up while the server
  itself was busy does not count); past four times the buffer it ends anyway, and a
  connection holding more than ``OUTBOX_MAX_BYTES`` of rendered payloads is closed.

Payloads rendered once for many subscribers (a delivery group's) are shared; what only one
subscriber needs (its snapshot, its merged changes) is rendered when it is sent.

**When nothing waits, frames skip the queue.** A transport that can write without waiting
(``write_now``: the WebSocket on the server's own protocol) gets a rendered event or query
result at the end of the current turn of the event loop, without waking the writer: every
frame queued for the connection in that turn (all its subscriptions due for one event, or a
query's ``next`` and ``complete``) leaves in one write. Anything else (something queued,
the writer busy, the transport's buffer full, a payload to render) takes the queue; frames
that could not be written then go first in the writer's next batch, so order holds.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from fullon_cache_api.errors import ErrorCode, error_dict
from fullon_cache_api.subscriptions.events import ChangeEvent, ChangeSet, StreamKind
from fullon_cache_api.subscriptions.flag import Flag
from fullon_cache_api.subscriptions.topics import TopicEvent


class Framing(Protocol):
    """How a transport frames the three kinds of operation message."""

    def next_message(self, id_json: str, payload_json: str) -> str: ...

    def error_message(self, id_json: str, errors: list[dict[str, Any]]) -> str: ...

    def complete_message(self, id_json: str) -> str: ...


class Renderer(Protocol):
    """Renders a subscription event to its payload JSON (a delivery group)."""

    item_key: Callable[[Any], Hashable] | None

    async def render(self, event: TopicEvent) -> str | None: ...


@dataclass(slots=True)
class Delivery:
    """One event for one subscription: the shared payload, or ``None`` to render it for
    this subscriber alone."""

    event: TopicEvent
    payload: str | None = None


class Lane:
    """One operation's queue in an outbox; the handle its producers hold. Once dropped
    (completed by the client) or finished, nothing more is queued through it, so an id the
    client reuses gets a fresh lane and a late result of the old operation goes nowhere."""

    __slots__ = (
        "changes",
        "closed",
        "id_json",
        "kind",
        "last",
        "pending",
        "queued",
        "renderer",
        "terminal",
    )

    def __init__(self, id_json: str) -> None:
        self.id_json = id_json
        self.closed = False
        self.queued = False  # waiting for its turn in the outbox
        self.kind: StreamKind | None = None  # None: a query (one result)
        self.renderer: Renderer | None = None
        # A list, not a deque: an empty deque takes 624 bytes, and most lanes are empty
        # (a lane holds at most one VALUE event, merged KEYED changes, or a PUSH backlog).
        self.pending: list[Delivery] = []
        self.changes: ChangeSet[Any] | None = None  # KEYED: merged changes of a backlog
        self.last: TopicEvent | None = None  # KEYED: the newest event merged
        self.terminal: str | None = None  # complete/error, sent after what is pending

    @property
    def ready(self) -> bool:
        return bool(self.pending or self.changes is not None or self.terminal is not None)


@dataclass(frozen=True, slots=True)
class Batch:
    frames: list[str]
    close: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class OutboxLimits:
    buffer: int = 256  # SUBSCRIBER_BUFFER: PUSH messages before a reader is judged
    slow_after_s: float = 10.0  # SLOW_CONSUMER_S
    max_bytes: int = 16 * 1024 * 1024  # OUTBOX_MAX_BYTES


_NO_EVENT = TopicEvent(0, 0.0, None)


class Outbox:
    def __init__(
        self,
        framing: Framing,
        limits: OutboxLimits,
        *,
        on_slow: Callable[[Lane], None] | None = None,
        on_overflow: Callable[[], None] | None = None,
        write_now: Callable[[list[str]], bool] | None = None,  # False: cannot write now
    ) -> None:
        self.framing = framing
        self.limits = limits
        self.on_slow = on_slow  # a subscription ended as a slow consumer
        self.on_overflow = on_overflow  # past OUTBOX_MAX_BYTES: the connection must close
        self.coalesced = 0  # events folded into newer ones before they were sent
        self.bytes = 0  # rendered payload bytes held
        # What an idle connection holds is kept small (BENCHMARKS.md, "Memory per idle
        # WebSocket connection"): control frames in a list (an empty deque takes 624
        # bytes, an empty list 56), the lanes' turns in a deque only while some lane has
        # something to send, and a wake-up that allocates only while the writer waits.
        self._control: list[str] = []
        self._ready: deque[Lane] | None = None  # lanes with something to send, in turn
        self._wake = Flag()
        self._close: tuple[int, str] | None = None
        self._closed = False
        self._send_started: float | None = None
        # Writing straight away (see the module's docstring).
        self._write_now = write_now
        self._now: list[str] = []  # frames for the end of this loop turn, before the queue
        self._flush_due = False
        self._parked = False  # the writer waits with nothing to send (or is not running)
        # Set by write_on_demand(): the writer runs only while there is something to send.
        self._start_writer: Callable[[], None] | None = None

    # -- operations ----------------------------------------------------------------------

    def open(self, id_json: str) -> Lane:
        """A lane for a new operation (its kind is set by :meth:`bind` if it subscribes)."""
        return Lane(id_json)

    def bind(self, lane: Lane, kind: StreamKind, renderer: Renderer) -> None:
        """The operation is a subscription of this kind, rendered by ``renderer``."""
        lane.kind = kind
        lane.renderer = renderer

    def drop(self, lane: Lane) -> None:
        """Forget an operation and whatever it still had queued (completed by the client)."""
        if not lane.closed:
            lane.closed = True
            self.bytes -= sum(len(item.payload or "") for item in lane.pending)
            lane.pending.clear()
            lane.changes = None

    def deliver(self, lane: Lane, delivery: Delivery) -> None:
        """Queue one subscription event, coalesced by the stream's kind (or write it at the
        end of this turn, when nothing waits)."""
        if not self._accepts(lane):
            return
        payload = delivery.payload
        if payload is not None and self._parked and not self._ready and not self._control:
            self._send_soon(self.framing.next_message(lane.id_json, payload))
            return
        kind = lane.kind
        if kind is StreamKind.VALUE and lane.pending:
            self._replace(lane, delivery)
        elif kind is StreamKind.KEYED and (lane.pending or lane.changes is not None):
            self._merge(lane, delivery)
        elif kind is StreamKind.PUSH and len(lane.pending) >= self.limits.buffer:
            if not self._judge(lane, delivery):
                return
        else:
            self._append(lane, delivery)
        self._mark_ready(lane)

    def result(self, lane: Lane, payload: str) -> None:
        """A query's result: ``next`` and ``complete``, sent together."""
        if not self._accepts(lane):
            return
        complete = self.framing.complete_message(lane.id_json)
        if self._parked and not self._ready and not self._control:
            lane.closed = True
            self._now.append(self.framing.next_message(lane.id_json, payload))
            self._now.append(complete)
            # Nothing else is due for this result: written now, not at the end of the turn
            # (with whatever else was due this turn, in order).
            self._flush()
            return
        self._append(lane, Delivery(_NO_EVENT, payload))
        lane.terminal = complete
        self._mark_ready(lane)

    def finish(self, lane: Lane, errors: list[dict[str, Any]] | None = None) -> None:
        """End an operation after what it has queued: ``complete``, or ``error``."""
        if not self._accepts(lane):
            return
        if errors is None:
            lane.terminal = self.framing.complete_message(lane.id_json)
        else:
            lane.terminal = self.framing.error_message(lane.id_json, errors)
        self._mark_ready(lane)

    def fail_now(self, lane: Lane, errors: list[dict[str, Any]]) -> None:
        """End an operation at once with ``errors``: what it had queued is dropped."""
        if lane.closed:
            return
        self.drop(lane)
        self.control(self.framing.error_message(lane.id_json, errors))

    def control(self, frame: str) -> None:
        """A frame that goes before every queued event (keep-alive, acknowledgement)."""
        if self._close is not None:
            return
        self._control.append(frame)
        self._wakeup()

    def close(self, code: int, reason: str) -> None:
        """Close after what is already queued; later frames are dropped."""
        if self._close is None:
            self._close = (code, reason[:120])
        self._wakeup()

    @property
    def closing(self) -> bool:
        return self._close is not None

    def stalled_for(self) -> float:
        """How long the socket has been taking the current batch (0 while idle)."""
        started = self._send_started
        return 0.0 if started is None else time.monotonic() - started

    @property
    def pending(self) -> int:
        """Lanes with something waiting to be sent, plus control frames."""
        return len(self._ready or ()) + len(self._control)

    # -- coalescing ----------------------------------------------------------------------

    def _accepts(self, lane: Lane) -> bool:
        return not lane.closed and lane.terminal is None and self._close is None

    def _append(self, lane: Lane, delivery: Delivery) -> None:
        lane.pending.append(delivery)
        self.bytes += len(delivery.payload or "")
        if self.bytes > self.limits.max_bytes and self.on_overflow is not None:
            self.on_overflow()

    def _replace(self, lane: Lane, delivery: Delivery) -> None:
        old = lane.pending.pop()
        self.bytes -= len(old.payload or "")
        self.coalesced += 1
        self._append(lane, delivery)

    def _merge(self, lane: Lane, delivery: Delivery) -> None:
        """A keyed stream that is behind: merge its changes by key."""
        event = delivery.event
        if not event.known:  # the state is unknown now: only that is worth saying
            self._reset_changes(lane)
            self._append(lane, delivery)
            return
        renderer = lane.renderer
        assert renderer is not None and renderer.item_key is not None
        if lane.changes is None:
            lane.changes = ChangeSet(renderer.item_key)
            while lane.pending:
                old = lane.pending.pop(0)
                self.bytes -= len(old.payload or "")
                self.coalesced += 1
                if old.event.known and isinstance(old.event.change, ChangeEvent):
                    lane.changes.add(old.event.change)
                lane.last = old.event
        assert isinstance(event.change, ChangeEvent)
        lane.changes.add(event.change)
        lane.last = event
        self.coalesced += 1

    def _reset_changes(self, lane: Lane) -> None:
        for old in lane.pending:
            self.bytes -= len(old.payload or "")
        self.coalesced += len(lane.pending)
        lane.pending.clear()
        lane.changes = None
        lane.last = None

    def _judge(self, lane: Lane, delivery: Delivery) -> bool:
        """A PUSH subscription at its buffer: keep it (True) unless its reader is slow."""
        stalled = self.stalled_for() >= self.limits.slow_after_s
        if stalled or len(lane.pending) >= 4 * self.limits.buffer:
            self.fail_now(
                lane,
                [
                    error_dict(
                        "subscription ended: the client is reading too slowly "
                        f"(more than {self.limits.buffer} messages behind)",
                        ErrorCode.SLOW_CONSUMER,
                    )
                ],
            )
            if self.on_slow is not None:
                self.on_slow(lane)
            return False
        self._append(lane, delivery)
        return True

    def _mark_ready(self, lane: Lane) -> None:
        if not lane.queued:
            lane.queued = True
            ready = self._ready
            if ready is None:
                self._ready = deque((lane,))
            else:
                ready.append(lane)
        self._wakeup()

    # -- writing straight away ------------------------------------------------------------

    def _send_soon(self, frame: str) -> None:
        self._now.append(frame)
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush_at_end_of_turn)

    def _flush_at_end_of_turn(self) -> None:
        self._flush_due = False
        self._flush()

    def _flush(self) -> None:
        """End of the turn: write what was sent soon in one go, else let the writer."""
        if not self._now:
            return  # the writer took them
        if self._parked and self._write_now is not None and self._write_now(self._now):
            self._now = []
            return
        self._wakeup()  # the writer sends them (and finds out if the socket is gone)

    # -- the writer's side ---------------------------------------------------------------

    def write_on_demand(self, start_writer: Callable[[], None]) -> None:
        """From now on no writer waits while there is nothing to send: ``start_writer``
        starts one when something is queued, which calls :meth:`take_batch` until it
        returns ``None`` (nothing left) and then ends. An idle connection then holds no
        writer task (about 1.5 KB with its frames). Frames are written straight away
        (``write_now``) while no writer runs, as while one is parked."""
        self._start_writer = start_writer
        self._parked = True

    def _wakeup(self) -> None:
        start = self._start_writer
        if start is None:
            self._wake.set()
        elif self._parked and not self._closed:
            self._parked = False
            start()

    async def next_batch(self) -> Batch:
        """Wait for something to send: every control frame, then one item of each lane
        with something queued, in turn; the close frame once everything before it left."""
        batch = await self._next(idle=False)
        assert batch is not None
        return batch

    async def take_batch(self) -> Batch | None:
        """As :meth:`next_batch`, for a writer started on demand (:meth:`write_on_demand`):
        ``None`` instead of waiting when there is nothing to send (the writer ends)."""
        return await self._next(idle=True)

    async def _next(self, idle: bool) -> Batch | None:
        self._parked = False
        while True:
            if self._closed:
                return Batch([], self._close or (1000, ""))
            frames = self._now
            self._now = []
            if self._control:
                frames.extend(self._control)
                self._control.clear()
            ready = self._ready
            if ready is not None:
                for _ in range(len(ready)):
                    lane = ready.popleft()
                    lane.queued = False
                    if lane.closed:
                        continue  # completed by the client (or ended) meanwhile
                    frames.extend(await self._take(lane))
                    if lane.ready and not lane.closed:
                        self._mark_ready(lane)
                if not ready and self._ready is ready:
                    self._ready = None  # nothing waits its turn: let the deque go
            if frames:
                return Batch(frames)
            if self._close is not None and not self._ready and not self._control:
                self._closed = True
                return Batch([], self._close)
            if not self._ready and not self._control and self._close is None:
                if idle:  # a writer started on demand ends; the next one starts on demand
                    self._parked = True
                    return None
                self._wake.clear()
                self._parked = self._write_now is not None
                try:
                    await self._wake.wait()
                finally:
                    self._parked = False

    async def _take(self, lane: Lane) -> list[str]:
        frames: list[str] = []
        if lane.changes is not None:
            changes, last = lane.changes, lane.last
            lane.changes, lane.last = None, None
            assert last is not None and lane.renderer is not None
            for change in changes.events():
                event = TopicEvent(last.seq, last.observed_at, change, last.problems, last.error)
                payload = await lane.renderer.render(event)
                if payload is not None:
                    frames.append(self.framing.next_message(lane.id_json, payload))
        elif lane.pending:
            delivery = lane.pending.pop(0)
            payload = delivery.payload
            self.bytes -= len(payload or "")
            if payload is None and lane.renderer is not None:
                payload = await lane.renderer.render(delivery.event)
            if payload is not None:
                frames.append(self.framing.next_message(lane.id_json, payload))
        if lane.closed:  # dropped while its event was rendered
            return []
        if not lane.pending and lane.changes is None and lane.terminal is not None:
            frames.append(lane.terminal)
            lane.closed = True
        return frames

    async def send(self, write: Callable[[list[str]], Awaitable[None]], frames: list[str]) -> None:
        """Write a batch, timing how long the socket takes it (see :meth:`stalled_for`)."""
        self._send_started = time.monotonic()
        try:
            await write(frames)
        finally:
            self._send_started = None
