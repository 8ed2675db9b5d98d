"""One Redis pub/sub connection per server process, shared by every subscriber.

Channel and pattern subscriptions are reference-counted: the first listener subscribes
upstream, the last one unsubscribes. If Redis goes away the feed reconnects with backoff,
subscribes again, and tells every listener to re-snapshot (pub/sub has no replay).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from fullon_cache_api.subscriptions.flag import Flag

log = logging.getLogger("fullon.api.cache.feed")

MessageHandler = Callable[[str, bytes], None]
ResetHandler = Callable[[], None]


@dataclass(eq=False, slots=True)
class Listener:
    on_message: MessageHandler
    on_reset: ResetHandler | None = None


@dataclass(slots=True)
class _Entry:
    pattern: bool
    listeners: list[Listener] = field(default_factory=list)
    # Set once the (P)SUBSCRIBE was sent on a live connection: from then on every message
    # published reaches the listeners, so they may read the state (subscribe, then snapshot).
    sent: Flag = field(default_factory=Flag)


class RedisFeed:
    def __init__(
        self,
        redis: Redis,
        *,
        max_backoff_s: float = 5.0,
        idle_ping_s: float = 5.0,
        ping_timeout_s: float = 5.0,
    ) -> None:
        self.redis = redis
        self._entries: dict[str, _Entry] = {}
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._max_backoff = max_backoff_s
        self._idle_ping = idle_ping_s
        self._ping_timeout = ping_timeout_s
        #: How long a healthy Redis takes at most to answer: waiting longer for the feed
        #: means it is down.
        self.answer_within_s = ping_timeout_s
        self.messages_received = 0
        self.reconnects = 0
        self.last_message_at: float | None = None  # epoch seconds
        #: Called with True when the connection is (re)established, False when it is lost.
        self.on_connection: list[Callable[[bool], None]] = []

    # -- subscriptions -----------------------------------------------------------------

    async def subscribe(self, name: str, listener: Listener, *, pattern: bool = False) -> None:
        """Add a listener; returns once the subscription is in effect upstream (while Redis
        is unreachable, that is after the reconnect)."""
        entry = self._entries.get(name)
        if entry is None:
            entry = self._entries[name] = _Entry(pattern=pattern)
            self._ensure_running()
            await self._upstream(name, pattern, subscribe=True)
        entry.listeners.append(listener)
        await entry.sent.wait()

    async def unsubscribe(self, name: str, listener: Listener) -> None:
        entry = self._entries.get(name)
        if entry is None:
            return
        with contextlib.suppress(ValueError):
            entry.listeners.remove(listener)
        if not entry.listeners:
            del self._entries[name]
            await self._upstream(name, entry.pattern, subscribe=False)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def stats(self) -> dict[str, Any]:
        return {
            "channels": sum(1 for entry in self._entries.values() if not entry.pattern),
            "patterns": sum(1 for entry in self._entries.values() if entry.pattern),
            "messages": self.messages_received,
            "reconnects": self.reconnects,
            "connected": self.connected,
        }

    def _notify(self, connected: bool) -> None:
        for callback in list(self.on_connection):
            try:
                callback(connected)
            except Exception:
                log.exception("pub/sub connection callback failed")

    @property
    def channels(self) -> list[str]:
        return sorted(name for name, entry in self._entries.items() if not entry.pattern)

    @property
    def patterns(self) -> list[str]:
        return sorted(name for name, entry in self._entries.items() if entry.pattern)

    async def _upstream(self, name: str, pattern: bool, *, subscribe: bool) -> None:
        pubsub = self._pubsub
        if pubsub is None or not self._connected.is_set():
            return  # applied on (re)connect
        try:
            if subscribe:
                await (pubsub.psubscribe(name) if pattern else pubsub.subscribe(name))
                entry = self._entries.get(name)
                if entry is not None:
                    entry.sent.set()
            else:
                await (pubsub.punsubscribe(name) if pattern else pubsub.unsubscribe(name))
        except Exception as exc:  # the read loop notices and reconnects
            log.warning(
                "pub/sub %s of %s failed: %s",
                "subscribe" if subscribe else "unsubscribe",
                name,
                exc,
            )

    # -- connection --------------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="redis-feed")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._drop()

    async def _drop(self) -> None:
        if self._connected.is_set():
            self._connected.clear()
            self._notify(False)
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _connect(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        # Opens the connection and waits for PONG: raises if Redis is down, and times out
        # if it accepts connections but answers nothing (a paused server).
        try:
            await asyncio.wait_for(pubsub.ping(), self._ping_timeout)
            await asyncio.wait_for(self._pong(pubsub), self._ping_timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        # From here on new names subscribe directly; the ones known now are sent below
        # (a name sent twice is harmless).
        self._pubsub = pubsub
        self._connected.set()
        # Each list is taken right before its command is written (no await in between), so
        # a name unsubscribed meanwhile is not subscribed again.
        channels = {name: entry for name, entry in self._entries.items() if not entry.pattern}
        if channels:
            await pubsub.subscribe(*channels)
        patterns = {name: entry for name, entry in self._entries.items() if entry.pattern}
        if patterns:
            await pubsub.psubscribe(*patterns)
        for entry in (*channels.values(), *patterns.values()):
            entry.sent.set()

    async def _run(self) -> None:
        """Runs until ``close()``: connect, read, and on failure reconnect with backoff."""
        backoff = 0.05
        connected_before = False
        while True:
            try:
                await self._connect()
                if connected_before:
                    self.reconnects += 1
                    log.info("pub/sub feed reconnected; listeners re-snapshot")
                    self._reset_all()
                self._notify(True)
                connected_before = True
                backoff = 0.05
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
                log.warning("pub/sub feed lost: %s; retrying in %.2fs", reason, backoff)
                connected_before = True  # whatever was missed, listeners re-snapshot
                await self._drop()
                await asyncio.sleep(backoff * (1 + random.random() * 0.2))
                backoff = min(backoff * 2, self._max_backoff)

    @staticmethod
    async def _pong(pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is not None and message["type"] in ("pong", b"pong"):
                return

    async def _read(self) -> None:
        """Deliver messages. After ``idle_ping_s`` of silence it pings; the pub/sub
        connection has no socket timeout, so a PONG that does not come within
        ``ping_timeout_s`` (a dead or frozen server) is what ends the connection."""
        pubsub = self._pubsub
        assert pubsub is not None
        loop = asyncio.get_running_loop()
        pinged_at: float | None = None
        while True:
            if pinged_at is None:
                wait = self._idle_ping
            else:
                wait = max(0.0, pinged_at + self._ping_timeout - loop.time())
            message = await pubsub.get_message(timeout=wait)
            if message is None:
                if pinged_at is None:
                    await pubsub.ping()
                    pinged_at = loop.time()
                elif loop.time() - pinged_at >= self._ping_timeout:
                    raise ConnectionError("Redis did not answer the feed's ping")
                continue
            pinged_at = None  # anything that arrives shows the connection is alive
            kind = message["type"]
            if kind not in (b"message", b"pmessage", "message", "pmessage"):
                continue
            self.messages_received += 1
            self.last_message_at = time.time()
            channel = _text(message["channel"])
            key = _text(message["pattern"]) if kind in (b"pmessage", "pmessage") else channel
            entry = self._entries.get(key)
            if entry is None:
                continue
            data = message["data"]
            for listener in list(entry.listeners):
                try:
                    listener.on_message(channel, data)
                except Exception:
                    log.exception("pub/sub listener failed on %s", channel)

    def _reset_all(self) -> None:
        seen: set[int] = set()
        for entry in list(self._entries.values()):
            for listener in list(entry.listeners):
                if listener.on_reset is not None and id(listener) not in seen:
                    seen.add(id(listener))
                    listener.on_reset()


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or ""
