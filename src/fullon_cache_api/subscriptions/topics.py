"""Topics: one shared upstream per logical stream, whatever the number of subscribers.

A topic keeps the current state, learns about changes from the best source available —
pub/sub payloads, keyspace notifications (then re-reads), or polling with change detection —
and hands every stream attached to it the same events. It runs only while streams listen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fullon_cache_api.cache import CacheReader
from fullon_cache_api.cache.watch import keyspace_channel
from fullon_cache_api.errors import ApiError, CorruptData
from fullon_cache_api.subscriptions.events import ChangeEvent, ChangeKind, StreamKind
from fullon_cache_api.subscriptions.feed import Listener, RedisFeed

if TYPE_CHECKING:
    from fullon_cache_api.subscriptions.stream import TopicStream

log = logging.getLogger("fullon.api.cache.topics")

Loader = Callable[[CacheReader], Awaitable[Any]]
MessageDecoder = Callable[[str, bytes], Any]


@dataclass(frozen=True)
class TopicSpec:
    """What a topic reads and how it learns about changes.

    * ``kind``: how its events relate (:class:`StreamKind`); every layer reads its policy
      from it.
    * ``load`` reads the whole state: a value, or for keyed topics a list of records.
    * ``item_key`` (keyed topics) names an item; items are compared by equality.
    * ``channel``/``pattern`` with ``decode``: pub/sub pushes the new value (no re-read).
    * ``watch``: keys or key patterns whose keyspace events mean "re-read".
    * ``domain``: the polling interval group, used when keyspace events are off.
    * ``refresh_s``: re-read on a timer as well (state that changes with time alone).
    * ``absent``: the state when the stored data is corrupt (keyed topics: no items). Without
      it, a corrupt read is retried like an unavailable cache.
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

    @property
    def keyed(self) -> bool:
        return self.kind is StreamKind.KEYED

    @property
    def stateless(self) -> bool:
        return self.kind is StreamKind.PUSH


@dataclass
class TopicStats:
    loads: int = 0
    events: int = 0
    errors: int = 0


class Topic:
    def __init__(
        self,
        spec: TopicSpec,
        *,
        cache: CacheReader,
        feed: RedisFeed,
        mode: str,
        poll_interval_s: float,
        keyspace_db: int,
    ) -> None:
        self.spec = spec
        self.cache = cache
        self.feed = feed
        self.mode = mode  # "keyspace" or "poll"
        self.poll_interval_s = poll_interval_s
        self.keyspace_db = keyspace_db
        self.streams: set[TopicStream] = set()
        self.ready = asyncio.Event()
        self.value: Any = None
        self.items: dict[Hashable, Any] = {}
        self.stats = TopicStats()
        self._tasks: list[asyncio.Task[None]] = []
        self._push = Listener(self._on_push, self._on_reset)
        self._changed = Listener(self._on_changed, self._on_reset)
        self._subscriptions: list[tuple[str, bool, Listener]] = []
        self._dirty = asyncio.Event()
        self._failed = False
        self._stopped = False
        self._early: list[Any] = []

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        spec = self.spec
        if spec.channel:
            self._subscriptions.append((spec.channel, False, self._push))
        if spec.pattern:
            self._subscriptions.append((spec.pattern, True, self._push))
        if spec.watch and self.mode == "keyspace":
            for key in spec.watch:
                channel = keyspace_channel(self.keyspace_db, key)
                self._subscriptions.append((channel, "*" in key, self._changed))
        for name, is_pattern, listener in self._subscriptions:
            await self.feed.subscribe(name, listener, pattern=is_pattern)
        if spec.stateless:
            self.ready.set()
            return
        # Subscribe first, then snapshot: pub/sub has no replay.
        self._tasks.append(asyncio.create_task(self._reloader(), name=f"topic-{spec.key}"))
        self._dirty.set()
        if spec.watch and self.mode == "poll":
            self._tasks.append(asyncio.create_task(self._poller(self.poll_interval_s)))
        if spec.refresh_s:
            self._tasks.append(asyncio.create_task(self._poller(spec.refresh_s)))

    async def stop(self) -> None:
        # The flag, not only the cancellation, ends the loops: on Python 3.11 a task
        # cancelled while a redis-py command completes can lose the cancellation (redis-py
        # writes through ``asyncio.wait_for``, which then returns the result instead of
        # raising), and the reloader would wait for the next change forever.
        self._stopped = True
        self._dirty.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for name, _pattern, listener in self._subscriptions:
            await self.feed.unsubscribe(name, listener)
        self._subscriptions.clear()

    @property
    def task_count(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    # -- state -------------------------------------------------------------------------

    def snapshot(self) -> Any:
        """The current state as an event: a value, or a keyed SNAPSHOT."""
        if self.spec.keyed:
            return ChangeEvent(ChangeKind.SNAPSHOT, list(self.items.values()))
        return self.value

    def _publish(self, event: Any) -> None:
        self.stats.events += 1
        for stream in list(self.streams):
            stream.deliver(event)

    def _replace(self, state: Any, *, as_snapshot: bool) -> None:
        """Adopt a freshly read state and publish what changed (or all of it)."""
        first = not self.ready.is_set()
        spec = self.spec
        if spec.keyed:
            assert spec.item_key is not None
            new = {spec.item_key(item): item for item in state}
            old = self.items
            self.items = new
            self._merge_early()
            if first:
                self.ready.set()
                return
            if as_snapshot:
                self._publish(self.snapshot())
                return
            removed = [item for key, item in old.items() if key not in new]
            changed = [item for key, item in new.items() if old.get(key) != item]
            if removed:
                self._publish(ChangeEvent(ChangeKind.REMOVE, removed))
            if changed:
                self._publish(ChangeEvent(ChangeKind.UPSERT, changed))
            return
        old_value, self.value = self.value, state
        self._merge_early()
        state = self.value
        if first:
            self.ready.set()
        elif as_snapshot or old_value != state:
            self._publish(state)

    def _merge_early(self) -> None:
        """Apply the pushes held back while loading: the load may or may not include them
        (re-applying a value already loaded changes nothing)."""
        early, self._early = self._early, []
        for record in early:
            if self.spec.keyed:
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
        if self.spec.stateless:
            self._publish(decoded)
        elif self.ready.is_set() and not self._failed:
            self._apply_push(decoded)
        else:
            # Before the first load, or while a re-snapshot is due (reconnect, failed
            # read): held back and folded into that snapshot, so it comes first.
            self._early.append(decoded)

    def _on_changed(self, _channel: str, _event: bytes) -> None:
        """A keyspace event: the key changed, re-read it (bursts collapse into one read)."""
        self._dirty.set()

    def _apply_push(self, record: Any) -> None:
        spec = self.spec
        if spec.keyed:
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
        if not self.spec.stateless:
            self._failed = True
            self._dirty.set()

    async def _poller(self, interval: float) -> None:
        while not self._stopped:
            await asyncio.sleep(interval)
            self._dirty.set()

    def _retry_later(self, exc: ApiError) -> None:
        self.stats.errors += 1
        self._failed = True
        self._dirty.set()
        log.warning("topic %s could not read the cache: %s", self.spec.key, exc.message)

    async def _reloader(self) -> None:
        """Re-reads the state whenever it is marked dirty; bursts collapse into one read."""
        assert self.spec.load is not None
        backoff = 0.05
        while True:
            await self._dirty.wait()
            if self._stopped:
                return
            self._dirty.clear()
            try:
                state = await self.spec.load(self.cache)
            except CorruptData as exc:
                if not self.spec.keyed and self.spec.absent is None:
                    self._retry_later(exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                # Retrying cannot fix stored data: like a corrupt list item, a corrupt value
                # (or a key of the wrong Redis type) reads as absent until it is rewritten.
                self.stats.errors += 1
                log.warning("topic %s: corrupt data read as absent: %s", self.spec.key, exc.message)
                state = self.spec.absent() if self.spec.absent is not None else []
            except ApiError as exc:
                self._retry_later(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            except Exception:
                self.stats.errors += 1
                log.exception("topic %s failed to load", self.spec.key)
                await asyncio.sleep(1.0)
                self._dirty.set()
                continue
            if self._stopped:
                return
            backoff = 0.05
            self.stats.loads += 1
            recovered, self._failed = self._failed, False
            self._replace(state, as_snapshot=recovered)
