"""``LiveHub``: the process-wide owner of the Redis feed and the shared topics.

At start it decides how non-pub/sub data changes are noticed: keyspace notifications when
the Redis server publishes them (optionally enabling them, if the operator asked), else
polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Hashable
from typing import TYPE_CHECKING

from redis import exceptions as redis_errors

from fullon_cache_api.cache import CacheReader, create_redis
from fullon_cache_api.cache.watch import keyspace_supported, merged_keyspace_flags
from fullon_cache_api.settings import Settings
from fullon_cache_api.subscriptions.feed import RedisFeed
from fullon_cache_api.subscriptions.topics import Topic, TopicSpec

if TYPE_CHECKING:
    from fullon_cache_api.subscriptions.stream import TopicStream

log = logging.getLogger("fullon.api.cache.live")


class _KeyLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class LiveHub:
    def __init__(self, cache: CacheReader, settings: Settings) -> None:
        self.cache = cache
        self.settings = settings
        self.redis = cache.redis
        feed_client = create_redis(settings, client_name="fullon_cache_api:feed", for_pubsub=True)
        self.feed = RedisFeed(feed_client)
        self.topics: dict[Hashable, Topic] = {}
        self._locks: dict[Hashable, _KeyLock] = {}
        self.mode = "poll"
        self.db = int(self.redis.connection_pool.connection_kwargs.get("db", 0) or 0)

    async def start(self) -> None:
        self.mode = await self._detect_mode()
        log.info("live data: pub/sub for tickers and broadcasts, %s for the rest", self.mode)

    async def close(self) -> None:
        for topic in list(self.topics.values()):
            await topic.stop()
        self.topics.clear()
        await self.feed.close()
        await self.feed.redis.aclose()

    async def _detect_mode(self) -> str:
        wanted = self.settings.keyspace_notifications
        if wanted == "off":
            return "poll"
        try:
            flags = await self.cache.health.keyspace_events()
            if wanted == "enable" and not keyspace_supported(flags):
                await self.redis.config_set("notify-keyspace-events", merged_keyspace_flags(flags))
                flags = await self.cache.health.keyspace_events()
        except (redis_errors.RedisError, OSError) as exc:
            log.warning("could not read notify-keyspace-events (%s): polling", exc)
            return "poll"
        if keyspace_supported(flags):
            return "keyspace"
        if wanted == "on" and flags is None:
            # This Redis user may not read the configuration (CONFIG is often denied to
            # read-only users): trust the operator, who said the events are on.
            return "keyspace"
        if wanted in ("on", "enable"):
            log.warning("keyspace notifications requested but not available (%r): polling", flags)
        return "poll"

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

    async def attach(self, spec: TopicSpec, stream: TopicStream) -> Topic:
        async with self._locked(spec.key):
            topic = self.topics.get(spec.key)
            if topic is None:
                topic = Topic(
                    spec,
                    cache=self.cache,
                    feed=self.feed,
                    mode=self.mode,
                    poll_interval_s=self.poll_interval(spec.domain),
                    keyspace_db=self.db,
                )
                self.topics[spec.key] = topic
                try:
                    await topic.start()
                except BaseException:
                    del self.topics[spec.key]
                    await topic.stop()
                    raise
            topic.streams.add(stream)
            return topic

    async def detach(self, topic: Topic, stream: TopicStream) -> None:
        async with self._locked(topic.spec.key):
            topic.streams.discard(stream)
            if not topic.streams and self.topics.get(topic.spec.key) is topic:
                del self.topics[topic.spec.key]
                await topic.stop()

    @property
    def poller_count(self) -> int:
        return sum(topic.task_count for topic in self.topics.values())
