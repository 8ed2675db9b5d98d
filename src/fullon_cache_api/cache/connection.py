"""One shared, hiredis-backed connection pool per process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError

from fullon_cache_api.settings import Settings


class WaitingConnectionPool(ConnectionPool):
    """A pool whose commands wait for a connection when all ``max_connections`` are busy.

    redis-py's ``ConnectionPool`` fails such a command at once ("Too many connections"), so
    a burst of more concurrent reads than the pool holds (2,000 subscriptions opening at
    once, each topic taking its first snapshot) failed most of them, and every failed
    topic retried with backoff: opening took seconds per hundred. ``BlockingConnectionPool``
    waits, but takes a condition and arms a timeout on every command, which cost 6-12 µs
    per command in a measured HGET loop; here only a command that finds the pool full
    waits, for at most ``wait_timeout`` seconds, then fails as before.
    """

    def __init__(self, *args: Any, wait_timeout: float = 5.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wait_timeout = wait_timeout
        # Commands waiting in ``get_connection`` and callers of ``wait_free``, in turn.
        self._waiters: deque[asyncio.Future[bool]] = deque()
        # ``wait_free`` callers by deadline, and one timer for the earliest (not a timer
        # each: with uvloop a timer costs some 600 bytes, times 1,900 waiting callers).
        self._turns: deque[_Turn] = deque()
        self._expiry: asyncio.TimerHandle | None = None

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        deadline: float | None = None
        while True:
            try:
                connection: AbstractConnection = await super().get_connection(  # type: ignore[no-untyped-call]
                    *args, **kwargs
                )
                return connection
            except RedisConnectionError:
                if self.can_get_connection():
                    raise  # a real connection failure, not a full pool
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.wait_timeout
            if now >= deadline:
                raise RedisConnectionError("Too many connections: none freed in time")
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, deadline - now)
            except TimeoutError:
                pass
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken, then cancelled: pass the turn on
                raise
            finally:
                if not waiter.done():
                    waiter.cancel()
                    self._waiters.remove(waiter)

    async def wait_free(self) -> bool:
        """Wait until a connection is free, without taking it; False when none was freed
        within ``wait_timeout``.

        A caller about to send a command waits here, with a shallow stack, instead of deep
        inside redis-py's command path: 2,000 topics taking their first snapshot at once
        otherwise park 1,900 full command stacks (a few KB each) while the pool's
        connections serve the others, and that peak stays in the process as allocator
        fragmentation. Woken by a release, the caller takes the freed connection in the
        same turn of the loop (a command that takes it first only makes it wait again,
        in ``get_connection``)."""
        if not self._waiters and self.can_get_connection():
            return True
        loop = asyncio.get_running_loop()
        turn = _Turn(loop.time() + self.wait_timeout)
        self._turns.append(turn)  # deadlines only grow: the deque stays in order
        if self._expiry is None:
            self._expiry = loop.call_at(turn.deadline, self._expire)
        behind_others = True
        try:
            while True:
                waiter: asyncio.Future[bool] = loop.create_future()
                turn.waiter = waiter
                if behind_others:
                    self._waiters.append(waiter)
                else:  # woken, but another caller took the connection: first in line again
                    self._waiters.appendleft(waiter)
                try:
                    woken = await waiter
                except BaseException:
                    if waiter.done() and not waiter.cancelled() and waiter.result():
                        self._wake_one()  # woken, then cancelled: pass the turn on
                    raise
                finally:
                    if not waiter.done():
                        waiter.cancel()
                    if waiter.cancelled() or not waiter.result():  # still in line
                        with contextlib.suppress(ValueError):
                            self._waiters.remove(waiter)
                if not woken:
                    return False
                if self.can_get_connection():
                    return True
                if loop.time() >= turn.deadline:
                    return False
                behind_others = False
        finally:
            turn.waiter = None
            turns = self._turns
            while turns and turns[0].waiter is None:
                turns.popleft()

    def _expire(self) -> None:
        """Time out the ``wait_free`` callers past their deadline; re-arm for the next."""
        self._expiry = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        turns = self._turns
        while turns:
            turn = turns[0]
            if turn.waiter is not None:
                if turn.deadline > now:
                    self._expiry = loop.call_at(turn.deadline, self._expire)
                    return
                if not turn.waiter.done():
                    turn.waiter.set_result(False)
            turns.popleft()

    def pass_on(self) -> None:
        """A caller woken by ``wait_free`` is done (it may not have taken the connection
        after all): if a connection is free while others wait, wake the next."""
        if self._waiters and self.can_get_connection():
            self._wake_one()

    async def release(self, connection: AbstractConnection) -> None:
        await super().release(connection)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return


class _Turn:
    """One ``wait_free`` call: its deadline, and the future it waits on now (None once
    it has returned)."""

    __slots__ = ("deadline", "waiter")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.waiter: asyncio.Future[bool] | None = None


def create_redis(
    settings: Settings, *, client_name: str = "fullon_cache_api", for_pubsub: bool = False
) -> Redis:
    """A client on its own pool (one for queries, one for the pub/sub feed).

    Values stay bytes: decoding is done per item, so a foreign non-UTF-8 value (fullon_orm's
    dogpile cache) degrades one item, not a reply. When every connection is busy, a read
    waits for one (up to ``REDIS_SOCKET_TIMEOUT``) instead of failing: a burst of reads is
    not an unavailable Redis (:class:`WaitingConnectionPool`)."""
    pool = WaitingConnectionPool.from_url(
        settings.redis_dsn(),
        max_connections=settings.redis_max_connections,
        wait_timeout=settings.redis_socket_timeout,
        # A pub/sub connection waits for messages indefinitely; the feed pings it instead.
        socket_timeout=None if for_pubsub else settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_socket_connect_timeout,
        health_check_interval=30,
        client_name=client_name,
        decode_responses=False,
    )
    return Redis(connection_pool=pool)
