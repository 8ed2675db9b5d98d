"""``LiveHub``: the process-wide owner of the Redis feed and the shared topics.

It decides how non-pub/sub data changes are noticed — keyspace notifications when the Redis
server publishes them (enabling them, if the operator asked), else polling — and checks
that decision again whenever the feed reconnects (a restarted Redis forgets a ``CONFIG
SET``), every ``KEYSPACE_RECHECK_S``, and whenever a topic's safety re-read finds a change
no notification announced. Topics switch mode in place; nothing a subscriber sees stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from redis import exceptions as redis_errors

from fullon_cache_api.cache import CacheReader, create_redis
from fullon_cache_api.cache.records import CacheHealthRecord
from fullon_cache_api.cache.watch import keyspace_supported, merged_keyspace_flags
from fullon_cache_api.settings import Settings
from fullon_cache_api.subscriptions.feed import RedisFeed
from fullon_cache_api.subscriptions.topics import Topic, TopicOptions, TopicSpec

if TYPE_CHECKING:
    from fullon_cache_api.subscriptions.stream import TopicStream

log = logging.getLogger("fullon.api.cache.live")

KEYSPACE = "keyspace"
POLL = "poll"


class _KeyLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """What the live layer can say about itself (the ``health`` fields and metrics)."""

    feed_connected: bool
    mode: str
    topics: int
    failing_topics: list[str]
    last_message_at: float | None  # epoch seconds of the last pub/sub message


class LiveHub:
    def __init__(self, cache: CacheReader, settings: Settings) -> None:
        self.cache = cache
        self.settings = settings
        self.redis = cache.redis
        feed_client = create_redis(settings, client_name="fullon_cache_api:feed", for_pubsub=True)
        self.feed = RedisFeed(
            feed_client,
            idle_ping_s=settings.feed_idle_ping_s,
            ping_timeout_s=settings.redis_socket_timeout,
        )
        self.feed.on_connection.append(self._on_feed_connection)
        self.topics: dict[Hashable, Topic] = {}
        self.mode = POLL
        self.mode_switches = 0
        self.db = int(self.redis.connection_pool.connection_kwargs.get("db", 0) or 0)
        self.status_listeners: list[Callable[[], None]] = []
        self._locks: dict[Hashable, _KeyLock] = {}
        self._recheck: asyncio.Task[None] | None = None
        self._periodic: asyncio.Task[None] | None = None
        self._status_due = False
        self._domain_options: dict[str, TopicOptions] = {}
        self._closed = False

    async def start(self) -> None:
        self.mode = await self._detect_mode() or POLL
        log.info("live data: pub/sub for tickers and broadcasts, %s for the rest", self.mode)
        interval = self.settings.keyspace_recheck_s
        if interval > 0 and self.settings.keyspace_notifications != "off":
            self._periodic = asyncio.create_task(self._recheck_every(interval), name="mode-check")

    async def close(self) -> None:
        self._closed = True
        for task in (self._periodic, self._recheck):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for topic in list(self.topics.values()):
            await topic.stop()
        self.topics.clear()
        await self.feed.close()
        await self.feed.redis.aclose()

    # -- change detection mode -----------------------------------------------------------

    async def _detect_mode(self) -> str | None:
        """The mode to use, or ``None`` when Redis could not be asked right now."""
        wanted = self.settings.keyspace_notifications
        if wanted == "off":
            return POLL
        try:
            flags = await self.cache.health.keyspace_events()
            if wanted == "enable" and not keyspace_supported(flags):
                # Asked to, at start-up and again whenever Redis forgot it (a restart).
                await self.redis.config_set("notify-keyspace-events", merged_keyspace_flags(flags))
                log.info("notify-keyspace-events set to include %s", merged_keyspace_flags(None))
                flags = await self.cache.health.keyspace_events()
        except (redis_errors.RedisError, OSError) as exc:
            log.warning("could not read notify-keyspace-events (%s)", exc)
            return None
        if keyspace_supported(flags):
            return KEYSPACE
        if wanted == "on" and flags is None:
            # This Redis user may not read the configuration (CONFIG is often denied to
            # read-only users): trust the operator, who said the events are on. Safety
            # re-reads catch it if they are not.
            return KEYSPACE
        if wanted in ("on", "enable"):
            log.warning("keyspace notifications requested but not available (%r): polling", flags)
        return POLL

    async def set_mode(self, mode: str, reason: str) -> None:
        if mode == self.mode or self._closed:
            return
        log.warning("live data: switching from %s to %s (%s)", self.mode, mode, reason)
        self.mode = mode
        self.mode_switches += 1
        for topic in list(self.topics.values()):
            await topic.set_mode(mode)
        self._status_changed()

    def _schedule_recheck(self, reason: str) -> None:
        if self._closed or (self._recheck is not None and not self._recheck.done()):
            return
        self._recheck = asyncio.create_task(self._check_mode(reason), name="mode-recheck")

    async def _check_mode(self, reason: str) -> None:
        """Detect the mode again (a few tries: right after a reconnect the first command
        may meet a connection Redis already closed) and switch if it changed."""
        try:
            for attempt in range(3):
                mode = await self._detect_mode()
                if mode is not None:
                    await self.set_mode(mode, reason)
                    return
                await asyncio.sleep(0.2 * (attempt + 1))
            log.warning("could not check the change-detection mode; still %s", self.mode)
        except Exception:
            log.exception("checking the change-detection mode failed")

    async def _recheck_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._check_mode("periodic check of notify-keyspace-events")

    def _on_feed_connection(self, connected: bool) -> None:
        if connected:
            self._schedule_recheck("the pub/sub feed reconnected")
        else:
            for topic in list(self.topics.values()):
                topic.feed_lost()
        self._status_changed()

    def _missed_notification(self, topic: Topic) -> None:
        """A topic saw a change that no keyspace notification announced."""
        if self.mode != KEYSPACE:
            return
        log.warning(
            "topic %s changed without a keyspace notification: notifications are not "
            "reaching this server",
            topic.spec.key,
        )
        self._schedule_recheck_to_poll()

    def _schedule_recheck_to_poll(self) -> None:
        if self._closed:
            return

        async def to_poll() -> None:
            mode = await self._detect_mode() or POLL
            if mode == KEYSPACE and self.settings.keyspace_notifications == "on":
                mode = POLL  # CONFIG cannot be read: believe the missed change
            if mode == KEYSPACE:  # readable and on: the change was a race, keep it
                return
            await self.set_mode(POLL, "a change arrived without its keyspace notification")

        self._recheck = asyncio.create_task(to_poll(), name="mode-to-poll")

    # -- status --------------------------------------------------------------------------

    def status(self) -> LiveStatus:
        failing = sorted(_describe(key) for key, topic in self.topics.items() if topic.failing)
        return LiveStatus(
            feed_connected=self.feed.connected,
            mode=self.mode,
            topics=len(self.topics),
            failing_topics=failing,
            last_message_at=self.feed.last_message_at,
        )

    async def health(self) -> CacheHealthRecord:
        """Redis's health (never raises) with the live layer's own status."""
        record = await self.cache.health.check()
        status = self.status()
        last = status.last_message_at
        return dataclasses.replace(
            record,
            change_detection=status.mode,
            feed_connected=status.feed_connected,
            failing_topics=status.failing_topics,
            last_message_at=datetime.fromtimestamp(last, UTC) if last is not None else None,
        )

    def _status_changed(self) -> None:
        """Tell the streams that show the live layer's status, once per turn of the loop:
        a lost feed fails every topic at once, and each failure reports here."""
        if self._status_due:
            return
        self._status_due = True
        try:
            asyncio.get_running_loop().call_soon(self._announce_status)
        except RuntimeError:  # no loop running (closing): nobody is listening
            self._status_due = False

    def _announce_status(self) -> None:
        self._status_due = False
        for topic in list(self.topics.values()):
            if topic.spec.live_status:
                topic.touch()
        for listener in list(self.status_listeners):
            try:
                listener()
            except Exception:
                log.exception("live status listener failed")

    def stats(self) -> dict[str, Any]:
        """Counters and gauges for ``/metrics``."""
        return {
            "topics": len(self.topics),
            "failing_topics": sum(1 for topic in self.topics.values() if topic.failing),
            "mode": self.mode,
            "mode_switches": self.mode_switches,
            "lingering_topics": sum(1 for t in self.topics.values() if t.linger is not None),
            **self.feed.stats(),
        }

    # -- topics ------------------------------------------------------------------------

    def poll_interval(self, domain: str) -> float:
        overrides = self.settings.poll_intervals_ms
        return overrides.get(domain, self.settings.poll_interval_ms) / 1000.0

    @contextlib.asynccontextmanager
    async def _locked(self, key: Hashable) -> AsyncIterator[None]:
        """Serialise starting and stopping one topic. The lock lives only while someone
        holds or waits for it: a server that opens many distinct topics keeps none."""
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = _KeyLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if not entry.users:
                del self._locks[key]

    def _options(self, spec: TopicSpec) -> TopicOptions:
        """The options of a topic of ``spec``'s domain (one object per domain, shared)."""
        options = self._domain_options.get(spec.domain)
        if options is None:
            options = self._domain_options[spec.domain] = self._new_options(spec)
        return options

    def _new_options(self, spec: TopicSpec) -> TopicOptions:
        settings = self.settings
        return TopicOptions(
            poll_interval_s=self.poll_interval(spec.domain),
            keyspace_db=self.db,
            safety_poll_s=settings.keyspace_safety_poll_s or None,
            replay_events=settings.replay_events,
            on_missed_notification=self._missed_notification,
            on_status=self._status_changed,
        )

    async def attach(self, spec: TopicSpec, stream: TopicStream) -> Topic:
        async with self._locked(spec.key):
            topic = self.topics.get(spec.key)
            if topic is None:
                topic = Topic(
                    spec,
                    cache=self.cache,
                    feed=self.feed,
                    mode=self.mode,
                    options=self._options(spec),
                )
                self.topics[spec.key] = topic
                try:
                    await topic.start()
                except BaseException:
                    del self.topics[spec.key]
                    await topic.stop()
                    raise
            elif topic.linger is not None:
                topic.linger.cancel()  # someone is back: it stays
                topic.linger = None
            topic.streams.add(stream)
            return topic

    async def detach(self, topic: Topic, stream: TopicStream) -> None:
        async with self._locked(topic.spec.key):
            topic.streams.discard(stream)
            if topic.streams or self.topics.get(topic.spec.key) is not topic:
                return
            linger = self.settings.topic_linger_s
            if linger > 0 and not self._closed:
                # Kept a little while, still subscribed upstream, so a client that comes
                # back (a reconnect) resumes from the replay buffer instead of a snapshot.
                loop = asyncio.get_running_loop()
                topic.linger = loop.call_later(linger, self._expire, topic)
                return
            del self.topics[topic.spec.key]
            await topic.stop()

    def _expire(self, topic: Topic) -> None:
        async def stop() -> None:
            async with self._locked(topic.spec.key):
                if topic.streams or self.topics.get(topic.spec.key) is not topic:
                    return
                del self.topics[topic.spec.key]
                await topic.stop()

        topic.linger = None
        asyncio.get_running_loop().create_task(stop(), name="topic-expire")

    @property
    def poller_count(self) -> int:
        return sum(topic.task_count for topic in self.topics.values())


def _describe(key: Hashable) -> str:
    """A topic key as text: ``("ticker", "binance", "BTC/USDT")`` is
    ``ticker(binance, BTC/USDT)``."""
    if isinstance(key, tuple) and key:
        return f"{key[0]}({', '.join(str(part) for part in key[1:] if part is not None)})"
    return str(key)


__all__ = ["KEYSPACE", "POLL", "LiveHub", "LiveStatus"]
