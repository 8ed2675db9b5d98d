"""The composition root: every long-lived object of a server process, built in one step
(:func:`build_services`) and shut down along one path (:meth:`Services.shutdown`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import strawberry

from fullon_cache_api.auth import ALL_SCOPES
from fullon_cache_api.cache import CacheReader, create_redis
from fullon_cache_api.context import RequestContext
from fullon_cache_api.server import wire
from fullon_cache_api.server.abuse import ConnectionLimiter
from fullon_cache_api.server.delivery import DeliveryRunner
from fullon_cache_api.server.execution import Executor
from fullon_cache_api.server.idle_poll import IdlePoll
from fullon_cache_api.server.keyring import KeyRing, Principal
from fullon_cache_api.server.loop_lag import watch_lag
from fullon_cache_api.server.metrics import Metrics
from fullon_cache_api.settings import Settings
from fullon_cache_api.subscriptions.flag import Flag
from fullon_cache_api.subscriptions.hub import LiveHub

if TYPE_CHECKING:
    from fullon_cache_api.server.httpstream import HttpStream

log = logging.getLogger("fullon.api.cache.server")


class Named(Protocol):
    @property
    def name(self) -> str: ...


class Connection(Protocol):
    """What the server's one shutdown path, the key watcher and ``/metrics`` need of a
    connection: a WebSocket (:mod:`server.websocket`) or an HTTP stream
    (:mod:`server.httpstream`)."""

    @property
    def protocol(self) -> Named: ...

    @property
    def principal(self) -> Principal | None: ...

    @property
    def finished(self) -> Flag: ...

    @property
    def coalesced(self) -> int: ...

    def close(self, code: int, reason: str = "") -> None: ...


@dataclass(eq=False)
class Services:
    settings: Settings
    cache: CacheReader
    live: LiveHub
    executor: Executor
    runner: DeliveryRunner
    keyring: KeyRing
    limiter: ConnectionLimiter
    metrics: Metrics
    idle_poll: IdlePoll | None = None  # IDLE_POLL_US; None when 0
    connections: set[Connection] = field(default_factory=set)
    reservations: dict[str, HttpStream] = field(default_factory=dict)  # SSE, by token
    dropped: int = 0  # subscriptions ended as SLOW_CONSUMER
    closed_coalesced: int = 0  # events coalesced by connections already closed
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _shut_down: bool = False

    def context(self, scopes: frozenset[str] = ALL_SCOPES) -> RequestContext:
        return RequestContext(
            cache=self.cache,
            settings=self.settings,
            live=self.live,
            scopes=scopes,
            timer=self.metrics,
        )

    def touch(self) -> None:
        """An HTTP client was just answered, or its query is waiting for Redis: the loop
        polls instead of sleeping, for ``IDLE_POLL_US`` (:mod:`server.idle_poll`; a
        WebSocket goes by its client's pace instead)."""
        if self.idle_poll is not None:
            self.idle_poll.touch()

    def background(self, task: asyncio.Task[None]) -> None:
        """A task that lives as long as the services (cancelled at shutdown)."""
        self._tasks.append(task)

    async def shutdown(self, grace_s: float | None = None) -> None:
        """Close every connection (WebSockets with 1001, going away; HTTP streams the
        same way, :mod:`server.httpstream`) after what was queued for it, give
        them ``grace_s`` (``SHUTDOWN_GRACE_S``) to drain, then release everything. Called
        once the server stops accepting, and again (a no-op) when the app's lifespan ends.

        No ``complete`` is sent: to a client it means the stream finished for good, and
        graphql-ws/Apollo clients would not resubscribe after reconnecting to another
        instance. A 1001 close makes them reconnect and resubscribe."""
        if self._shut_down:
            return
        self._shut_down = True
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        connections = list(self.connections)
        if connections:
            log.info("closing %d connection(s)", len(connections))
            for connection in connections:
                connection.close(wire.GOING_AWAY, "server shutting down")
            finished = [connection.finished.wait() for connection in connections]
            try:
                await asyncio.wait_for(asyncio.gather(*finished), grace)
            except TimeoutError:
                still = sum(1 for connection in connections if not connection.finished.is_set())
                log.warning("%d connection(s) still open after the grace period", still)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.runner.close()
        await self.live.close()
        await self.cache.close()

    def stats(self) -> dict[str, Any]:
        """What ``/metrics`` reports: each component's own stats."""
        connections = list(self.connections)
        by_protocol: dict[str, int] = {}
        for connection in connections:
            name = connection.protocol.name
            by_protocol[name] = by_protocol.get(name, 0) + 1
        return {
            "connections": by_protocol,
            "coalesced": self.closed_coalesced + sum(c.coalesced for c in connections),
            "dropped": self.dropped,
            "redis_errors": self.cache.stats.unavailable,
            "delivery": self.runner.stats(),
            "live": self.live.stats(),
            "admission": self.executor.budget.stats(),
            "idle_polled_s": self.idle_poll.polled_s if self.idle_poll is not None else 0.0,
        }


async def build_services(settings: Settings, schema: strawberry.Schema) -> Services:
    """Every component of a server process, connected and started."""
    cache = CacheReader(
        create_redis(settings), process_stale_after_s=settings.process_stale_seconds
    )
    live = LiveHub(cache, settings)
    await live.start()
    executor = Executor(schema, settings)
    metrics = Metrics()

    def context(scopes: frozenset[str]) -> RequestContext:
        return RequestContext(
            cache=cache, settings=settings, live=live, scopes=scopes, timer=metrics
        )

    services = Services(
        settings=settings,
        cache=cache,
        live=live,
        executor=executor,
        runner=DeliveryRunner(executor, context),
        keyring=KeyRing(settings),
        limiter=ConnectionLimiter(settings),
        metrics=metrics,
        idle_poll=(
            IdlePoll(asyncio.get_running_loop(), settings.idle_poll_us / 1e6)
            if settings.idle_poll_us
            else None
        ),
    )
    metrics.report(services.stats)
    services.background(asyncio.create_task(watch_lag(metrics.loop_lag.observe), name="loop-lag"))
    if settings.gc_freeze:
        # Objects created at start-up never need collecting: keep them out of the GC's
        # generations so collection pauses stay short under fan-out.
        gc.collect()
        gc.freeze()
    return services
