"""Topics: one shared upstream per logical stream, whatever the number of subscribers.

A topic keeps the current state, learns about changes from the best source available —
pub/sub payloads, keyspace notifications (then re-reads), or polling with change detection —
and hands every stream attached to it the same :class:`TopicEvent`\\ s, numbered in order.
It runs only while streams listen (and a short linger after the last one leaves, so a
client that reconnects can resume where it was).

A topic never goes quiet about trouble: items it could not decode travel with the events as
``problems``, and when it cannot refresh at all (Redis unreachable, a value it cannot read)
it publishes one event whose ``error`` says so, then a SNAPSHOT once it has read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fullon_cache_api.cache import CacheReader, Listing, Problem
from fullon_cache_api.cache.results import Appended, ValueRead
from fullon_cache_api.cache.watch import keyspace_channel
from fullon_cache_api.errors import ApiError, CacheUnavailable, CorruptData, InternalError
from fullon_cache_api.subscriptions.events import ChangeEvent, ChangeKind, StreamKind
from fullon_cache_api.subscriptions.feed import Listener, RedisFeed
from fullon_cache_api.subscriptions.flag import Flag

if TYPE_CHECKING:
    from fullon_cache_api.subscriptions.stream import TopicStream

log = logging.getLogger("fullon.api.cache.topics")

Loader = Callable[[CacheReader], Awaitable[Any]]
MessageDecoder = Callable[[str, bytes], Any]


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
"""The ``change`` of an event whose state could not be read (see ``error``)."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """What a topic reads and how it learns about changes.

    * ``kind``: how its events relate (:class:`StreamKind`); every layer reads its policy
      from it.
    * ``load`` reads the whole state: a value, or for keyed topics a ``Listing`` (or list)
      of records.
    * ``item_key`` (keyed topics) names an item; items are compared by equality.
    * ``channel``/``pattern`` with ``decode``: pub/sub pushes the new value (no re-read).
    * ``watch``: keys or key patterns whose keyspace events mean "re-read".
    * ``domain``: the polling interval group, used when keyspace events are off.
    * ``refresh_s``: re-read on a timer as well (state that changes with time alone).
    * ``absent``: the state when the stored data is corrupt (keyed topics: no items). Without
      it, a corrupt read is retried like an unavailable cache.
    * ``live_status``: the state includes the live layer's status (the ``health`` stream):
      re-read whenever it changes.
    * ``window`` with ``load_appended``: a keyed topic over a list that only grows at the
      tail (trades): the first read takes the newest ``window`` items, later reads only what
      was appended since (``load_appended(cache, cursor) -> (Appended, cursor)``), and the
      view keeps the newest ``window`` items. A list that shrank or was replaced is read
      whole again (bounded to the window) and published as a SNAPSHOT.
    """

    key: Hashable
    kind: StreamKind
    domain: str
    load: Loader | None = None
    item_key: Callable[[Any], Hashable] | None = None
    channel: str | None = None
    pattern: str | None = None
    decode: MessageDecoder | None = None
    watch: tuple[str, ...] = ()
    refresh_s: float | None = None
    absent: Callable[[], Any] | None = None
    live_status: bool = False  # re-read whenever the live layer's own status changes
    window: int | None = None
    load_appended: Callable[[CacheReader, Any], Awaitable[tuple[Appended[Any], Any]]] | None = None


@dataclass(frozen=True, slots=True)
class TopicEvent:
    """One event of a topic.

    ``seq`` numbers a topic's events from 1 (``epoch`` names the topic's lifetime, so a
    cursor ``epoch.seq`` is never reused); ``observed_at`` is when the server saw the change
    (epoch seconds). ``change`` is the new value (VALUE), a :class:`ChangeEvent` (KEYED), a
    message (PUSH), or :data:`UNKNOWN` when ``error`` says the state could not be read.
    ``problems`` are the stored items left out of the state as it is now."""

    seq: int
    observed_at: float
    change: Any
    problems: tuple[Problem, ...] = ()
    error: ApiError | None = None

    @property
    def known(self) -> bool:
        return self.change is not UNKNOWN


@dataclass(slots=True)
class TopicStats:
    loads: int = 0
    events: int = 0
    errors: int = 0


_epochs = itertools.count(1)
_PROCESS = os.urandom(3).hex()


def new_epoch() -> str:
    """A name for a topic's lifetime, unique within this process and across restarts."""
    return f"{_PROCESS}{next(_epochs):x}"


@dataclass
class TopicOptions:
    """Topic settings the hub passes on (from ``Settings``)."""

    poll_interval_s: float = 0.5
    keyspace_db: int = 0
    safety_poll_s: float | None = 30.0  # keyspace mode: re-read this often anyway
    replay_events: int = 256
    on_missed_notification: Callable[[Topic], None] | None = None
    on_status: Callable[[], None] | None = None  # failing / recovered
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)


class Topic:
    # Slots and a replay buffer made on first use: a server with many distinct topics
    # (every subscription on its own ticker) holds one of these per subscription.
    __slots__ = (
        "_changed",
        "_dirty",
        "_early",
        "_keyspace",
        "_list_cursor",
        "_mode_timers",
        "_push",
        "_reader",
        "_reading",
        "_resnapshot",
        "_safety_check",
        "_stopped",
        "_subscriptions",
        "_tasks",
        "_timers",
        "cache",
        "epoch",
        "error",
        "feed",
        "items",
        "last_notified",
        "linger",
        "mode",
        "options",
        "problems",
        "ready",
        "replay",
        "seq",
        "spec",
        "stats",
        "streams",
        "unknown",
        "value",
    )

    def __init__(
        self,
        spec: TopicSpec,
        *,
        cache: CacheReader,
        feed: RedisFeed,
        mode: str,
        options: TopicOptions,
    ) -> None:
        self.spec = spec
        self.cache = cache
        self.feed = feed
        self.mode = mode  # "keyspace" or "poll"
        self.options = options
        self.epoch = new_epoch()
        self.seq = 0
        self.streams: set[TopicStream] = set()
        self.ready = Flag()
        self.value: Any = None
        self.items: dict[Hashable, Any] = {}
        self.problems: tuple[Problem, ...] = ()
        self.error: ApiError | None = None  # what is wrong with the current state
        self.unknown = False  # the state cannot be read (``error`` says why)
        self.replay: deque[TopicEvent] | None = None  # KEYED and PUSH: the newest events
        self.stats = TopicStats()
        self.linger: asyncio.TimerHandle | None = None
        self.last_notified = 0.0  # monotonic time of the last keyspace notification
        self._tasks: list[asyncio.Task[None]] = []
        # No task while idle: the reader runs only while a re-read is due (see
        # ``_mark_dirty``), and the timers are the loop's timer handles, not sleeping tasks.
        self._reader: asyncio.Task[None] | None = None
        self._reading = False  # subscribed and in its mode: re-reads may start
        self._timers: list[_Timer] = []
        self._mode_timers: list[_Timer] = []
        self._push = Listener(self._on_push, self._on_reset)
        self._changed: Listener | None = None  # made when keyspace events are watched
        self._subscriptions: list[tuple[str, bool, Listener]] = []
        self._keyspace: list[tuple[str, bool, Listener]] = []
        self._dirty = False  # a re-read is due
        self._safety_check = False
        self._resnapshot = False  # the next read is published as a SNAPSHOT
        self._stopped = False
        self._early: list[Any] = []
        self._list_cursor: Any = None  # where an append-only list was last read

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        spec = self.spec
        if spec.channel:
            self._subscriptions.append((spec.channel, False, self._push))
        if spec.pattern:
            self._subscriptions.append((spec.pattern, True, self._push))
        uses_feed = self._subscriptions or (self.mode == "keyspace" and spec.watch)
        if not uses_feed or self.feed.connected:
            await self._begin()
            return
        # Subscribing waits for the feed to (re)connect. If that takes longer than a
        # healthy Redis would, the topic is ready with its state unknown, so its streams
        # hear why at once; it carries on when the feed is back.
        begin = asyncio.create_task(self._begin(), name=f"topic-{spec.key}")
        self._tasks.append(begin)
        await asyncio.wait({begin}, timeout=self.feed.answer_within_s)
        if not begin.done():
            self._fail(CacheUnavailable("the live feed from the cache (Redis) is down"))
        elif (error := begin.exception()) is not None:
            raise error

    async def _begin(self) -> None:
        """Subscribe first, then snapshot: pub/sub has no replay."""
        spec = self.spec
        for name, is_pattern, listener in self._subscriptions:
            await self.feed.subscribe(name, listener, pattern=is_pattern)
        if self._stopped:
            return
        if spec.kind is StreamKind.PUSH:
            if self.unknown:  # subscribed: messages flow from now on
                self._read_again(None)
            self.ready.set()
            return
        await self._enter_mode()
        if self._stopped:
            return
        self._reading = True
        self._mark_dirty()
        if spec.refresh_s:
            self._timers.append(_Timer(self, spec.refresh_s, safety=False))

    async def stop(self) -> None:
        # The flag, not only the cancellation, ends the loops: on Python 3.11 a task
        # cancelled while a redis-py command completes can lose the cancellation (redis-py
        # writes through ``asyncio.wait_for``, which then returns the result instead of
        # raising), and the reader would read again.
        self._stopped = True
        if self.linger is not None:
            self.linger.cancel()
            self.linger = None
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        await self._leave_mode()
        tasks, self._tasks = self._tasks, []
        if self._reader is not None:
            tasks.append(self._reader)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for name, _pattern, listener in self._subscriptions:
            await self.feed.unsubscribe(name, listener)
        self._subscriptions.clear()

    async def set_mode(self, mode: str) -> None:
        """Switch between keyspace notifications and polling; re-read, since changes may
        have been missed."""
        if mode == self.mode or self._stopped:
            return
        await self._leave_mode()
        self.mode = mode
        if not self._stopped:
            await self._enter_mode()
            self._mark_dirty()

    async def _enter_mode(self) -> None:
        spec = self.spec
        if not spec.watch:
            return
        if self.mode == "keyspace":
            for key in spec.watch:
                channel = keyspace_channel(self.options.keyspace_db, key)
                if self._changed is None:
                    self._changed = Listener(self._on_changed, self._on_reset)
                self._keyspace.append((channel, "*" in key, self._changed))
            for name, is_pattern, listener in self._keyspace:
                await self.feed.subscribe(name, listener, pattern=is_pattern)
            if self.options.safety_poll_s:
                self._mode_timers.append(_Timer(self, self.options.safety_poll_s, safety=True))
        else:
            self._mode_timers.append(_Timer(self, self.options.poll_interval_s, safety=False))

    async def _leave_mode(self) -> None:
        for timer in self._mode_timers:
            timer.cancel()
        self._mode_timers.clear()
        keyspace, self._keyspace = self._keyspace, []
        for name, _pattern, listener in keyspace:
            await self.feed.unsubscribe(name, listener)

    @property
    def task_count(self) -> int:
        """Timers armed and tasks running (an idle topic with no timer: none)."""
        tasks = sum(1 for task in self._tasks if not task.done())
        reading = 1 if self._reader is not None and not self._reader.done() else 0
        return len(self._timers) + len(self._mode_timers) + tasks + reading

    @property
    def failing(self) -> bool:
        return self.unknown

    # -- state -------------------------------------------------------------------------

    def snapshot(self) -> TopicEvent:
        """The current state as an event: a value, or a keyed SNAPSHOT (``UNKNOWN`` with
        the error while the state cannot be read)."""
        change: Any
        if self.failing:
            change = UNKNOWN
        elif self.spec.kind is StreamKind.KEYED:
            change = ChangeEvent(ChangeKind.SNAPSHOT, list(self.items.values()))
        else:
            change = self.value
        return TopicEvent(self.seq, self._observed_at(), change, self.problems, self.error)

    def events_since(self, seq: int) -> list[TopicEvent] | None:
        """The events after ``seq``, or ``None`` when they are no longer all buffered."""
        if seq > self.seq:
            return None
        if seq == self.seq:
            return []
        buffered = list(self.replay or ())
        if not buffered or buffered[0].seq > seq + 1:
            return None
        return [event for event in buffered if event.seq > seq]

    def _observed_at(self) -> float:
        return self.replay[-1].observed_at if self.replay else time.time()

    def _publish(self, change: Any) -> None:
        self.seq += 1
        event = TopicEvent(self.seq, time.time(), change, self.problems, self.error)
        self.stats.events += 1
        if self.spec.kind is not StreamKind.VALUE:
            if self.replay is None:
                self.replay = deque(maxlen=self.options.replay_events or 1)
            self.replay.append(event)
        for stream in list(self.streams):
            stream.deliver(event)

    def _replace(self, state: Any, problems: tuple[Problem, ...], *, as_snapshot: bool) -> None:
        """Adopt a freshly read state and publish what changed (or all of it)."""
        first = not self.ready.is_set()
        problems_changed = problems != self.problems
        self.problems = problems
        spec = self.spec
        if spec.kind is StreamKind.KEYED:
            assert spec.item_key is not None
            new = {spec.item_key(item): item for item in state}
            old = self.items
            self.items = new
            self._merge_early()
            if first:
                self.ready.set()
                return
            if as_snapshot:
                self._publish(ChangeEvent(ChangeKind.SNAPSHOT, list(self.items.values())))
                return
            removed = [item for key, item in old.items() if key not in new]
            changed = [item for key, item in new.items() if old.get(key) != item]
            if removed:
                self._publish(ChangeEvent(ChangeKind.REMOVE, removed))
            if changed:
                self._publish(ChangeEvent(ChangeKind.UPSERT, changed))
            if problems_changed and not removed and not changed:
                self._publish(ChangeEvent(ChangeKind.UPSERT, []))  # carries the problems
            return
        old_value, self.value = self.value, state
        self._merge_early()
        if first:
            self.ready.set()
        elif as_snapshot or old_value != self.value or problems_changed:
            self._publish(self.value)

    def _adopt_appended(self, appended: Appended[Any]) -> None:
        """Adopt the items appended to an append-only list (``TopicSpec.load_appended``)."""
        spec = self.spec
        assert spec.item_key is not None and spec.window is not None
        items = appended.items
        for item in items:
            self.items[spec.item_key(item)] = item
        while len(self.items) > spec.window:  # the oldest leave the window quietly
            del self.items[next(iter(self.items))]
        problems = tuple(appended.problems)
        if items or problems != self.problems:
            self.problems = problems
            self._publish(ChangeEvent(ChangeKind.UPSERT, items))

    def _merge_early(self) -> None:
        """Apply the pushes held back while loading: the load may or may not include them
        (re-applying a value already loaded changes nothing)."""
        early, self._early = self._early, []
        for record in early:
            if self.spec.kind is StreamKind.KEYED:
                assert self.spec.item_key is not None
                self.items[self.spec.item_key(record)] = record
            else:
                self.value = record

    # -- sources -----------------------------------------------------------------------

    def _on_push(self, channel: str, payload: bytes) -> None:
        """A pub/sub data message: its payload is the new value, no re-read needed."""
        assert self.spec.decode is not None
        try:
            decoded = self.spec.decode(channel, payload)
        except Exception as exc:
            self.stats.errors += 1
            log.warning("undecodable message on %s skipped: %s", channel, exc)
            return
        if self.spec.kind is StreamKind.PUSH:
            self._publish(decoded)
        elif self.ready.is_set() and not self._resnapshot and self.error is None:
            self._apply_push(decoded)
        else:
            # Before the first load, or while a re-snapshot is due (reconnect, failed
            # read): held back and folded into that snapshot, so it comes first.
            self._early.append(decoded)

    def _on_changed(self, _channel: str, _event: bytes) -> None:
        """A keyspace event: the key changed, re-read it (bursts collapse into one read)."""
        self.last_notified = time.monotonic()
        self._mark_dirty()

    def _apply_push(self, record: Any) -> None:
        spec = self.spec
        if spec.kind is StreamKind.KEYED:
            assert spec.item_key is not None
            key = spec.item_key(record)
            if self.items.get(key) != record:
                self.items[key] = record
                self._publish(ChangeEvent(ChangeKind.UPSERT, [record]))
        elif self.value != record:
            self.value = record
            self._publish(record)

    def _on_reset(self) -> None:
        """The feed reconnected: whatever happened meanwhile is unknown; re-snapshot."""
        if self.spec.kind is StreamKind.PUSH:
            if self.unknown:  # messages flow again; what was published meanwhile is lost
                self._read_again(None)
            return
        self._resnapshot = True
        self._mark_dirty()

    def feed_lost(self) -> None:
        """The pub/sub feed is down: no change can be noticed until it is back (for pub/sub
        and keyspace topics alike), so the streams are told now instead of going quiet."""
        spec = self.spec
        uses_feed = spec.channel or spec.pattern or (self.mode == "keyspace" and spec.watch)
        if self.ready.is_set() and uses_feed:
            self._fail(CacheUnavailable("the live feed from the cache (Redis) is down"))

    def touch(self) -> None:
        """Re-read now (something this topic's state depends on changed)."""
        self._mark_dirty()

    def _timer_fired(self, safety: bool) -> None:
        if self._stopped:
            return
        if safety:
            self._safety_check = True
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        """A re-read is due: bursts collapse into one read. The reader is a task only
        while there is something to read; started here when none runs (once the topic
        is subscribed and in its mode, see ``_begin``)."""
        self._dirty = True
        if self._reader is None and self._reading and not self._stopped:
            self._reader = asyncio.create_task(self._reload(), name=f"topic-{self.spec.key}")

    # -- reading -----------------------------------------------------------------------

    def _fail(self, error: ApiError) -> None:
        """The state cannot be read: tell the streams once, then keep retrying. A first
        read that fails makes the topic ready all the same, with its state unknown: a
        stream opened while Redis is down starts with the error, not with silence."""
        self.stats.errors += 1
        self._resnapshot = True
        if not self.unknown or type(self.error) is not type(error):
            self.unknown = True
            self.error = error
            if self.ready.is_set():
                self._publish(UNKNOWN)
            else:
                self.ready.set()
            if self.options.on_status is not None:
                self.options.on_status()

    def _read_again(self, error: ApiError | None) -> None:
        """A read succeeded; ``error`` is what is still wrong with the state it read."""
        if self.unknown:
            log.info("topic %s reads the cache again", self.spec.key)
            self.unknown = False
            if self.options.on_status is not None:
                self.options.on_status()
        self.error = error

    async def _read(self) -> tuple[Any, tuple[Problem, ...], bool]:
        """``(state, problems, appended)`` of one read: the whole state, or for an
        append-only list the items appended since the last read (``appended``)."""
        # Waiting for a connection here, not inside the read: see ``connection_free``.
        await self.cache.connection_free()
        try:
            return await self._read_now()
        finally:
            self.cache.read_done()

    async def _read_now(self) -> tuple[Any, tuple[Problem, ...], bool]:
        spec = self.spec
        if spec.load_appended is not None:
            if self._resnapshot or not self.ready.is_set():
                self._list_cursor = None
            result, self._list_cursor = await spec.load_appended(self.cache, self._list_cursor)
            if result.more:
                self._dirty = True  # more was appended than one read takes
            return result, tuple(result.problems), not result.snapshot
        assert spec.load is not None
        state = await spec.load(self.cache)
        if isinstance(state, Listing):
            return state.items, tuple(state.problems), False
        if isinstance(state, ValueRead):
            return state.value, tuple(state.problems), False
        return state, (), False

    async def _reload(self) -> None:
        """Re-reads the state while it is marked dirty (retrying while the cache cannot
        be read), then ends: the next ``_mark_dirty`` starts it again."""
        try:
            await self._read_while_dirty()
        finally:
            self._reader = None

    async def _read_while_dirty(self) -> None:
        backoff = 0.05
        while self._dirty:
            if self._stopped:
                return
            self._dirty = False
            safety, self._safety_check = self._safety_check, False
            resnapshot = self._resnapshot
            read_at = time.monotonic()
            corrupt: ApiError | None = None
            try:
                state, problems, appended = await self._read()
            except CorruptData as exc:
                if self.spec.kind is StreamKind.VALUE and self.spec.absent is None:
                    self._fail(exc)
                    await self.options.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    self._dirty = True
                    continue
                # Retrying cannot fix stored data: like a corrupt list item, a corrupt value
                # (or a key of the wrong Redis type) reads as absent until it is rewritten,
                # and the error says so.
                self.stats.errors += 1
                log.warning("topic %s: corrupt data read as absent: %s", self.spec.key, exc.message)
                state = self.spec.absent() if self.spec.absent is not None else []
                problems, appended, corrupt = (), False, exc
            except ApiError as exc:
                log.warning("topic %s could not read the cache: %s", self.spec.key, exc.message)
                self._fail(exc)
                await self.options.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._dirty = True
                continue
            except Exception:
                log.exception("topic %s failed to load", self.spec.key)
                self._fail(InternalError("the stream could not read the cache"))
                await self.options.sleep(1.0)
                self._dirty = True
                continue
            if self._stopped:
                return
            backoff = 0.05
            self.stats.loads += 1
            was_unknown = self.unknown
            self._resnapshot = False
            self._read_again(corrupt)
            before = self.seq
            if appended:
                self._adopt_appended(state)
            else:
                # A list read whole again (it shrank or was replaced) says so: SNAPSHOT.
                reread = isinstance(state, Appended) and state.snapshot
                items = state.items if isinstance(state, Appended) else state
                self._replace(items, problems, as_snapshot=resnapshot or was_unknown or reread)
            if safety and self.seq != before and not resnapshot:
                self._check_notified(read_at)

    def _check_notified(self, read_at: float) -> None:
        """A safety re-read found a change: unless its keyspace notification arrives soon
        (it may be on its way), notifications are not reaching this server."""

        async def confirm() -> None:
            await self.options.sleep(1.0)
            missed = self.last_notified < read_at - 1.0
            if missed and self.options.on_missed_notification is not None:
                self.options.on_missed_notification(self)

        if self.mode == "keyspace":
            self._tasks.append(asyncio.create_task(confirm(), name="topic-safety-confirm"))


class _Timer:
    """Marks a topic dirty every ``interval`` seconds: a timer handle of the event loop,
    re-armed each time it fires (no task sleeping between)."""

    __slots__ = ("handle", "interval", "safety", "topic")

    def __init__(self, topic: Topic, interval: float, *, safety: bool) -> None:
        self.topic = topic
        self.interval = interval
        self.safety = safety
        self.handle = asyncio.get_running_loop().call_later(interval, self._fire)

    def _fire(self) -> None:
        self.handle = asyncio.get_running_loop().call_later(self.interval, self._fire)
        self.topic._timer_fired(self.safety)

    def cancel(self) -> None:
        self.handle.cancel()
