"""One shared, hiredis-backed connection pool per process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from fullon_cache_api.cache.resp import LeanReads, Unsupported
from fullon_cache_api.settings import Settings

# Whether query clients read the routed commands on the lean path (``cache/resp.py``);
# the benchmark's variant turns it off to measure what it saves.
LEAN_READS = True


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


# What a command write may be and still fit in a transport whose buffer is empty without
# reaching asyncio's default high-water mark (64 KiB): such a write cannot wait.
_UNBLOCKED_WRITE_BYTES = 16 * 1024


class PromptWriteConnection:
    """A mixin for redis-py's connection classes: a command write that cannot wait is
    made without a timeout.

    With ``socket_timeout`` set, redis-py wraps every command write in
    ``asyncio.wait_for``, which on Python 3.11 creates a task and takes an extra turn of
    the event loop: about 7 µs per command, for a write that in practice never waits (it
    waits only while the transport's buffer is over its high-water mark). Here, when the
    connection is open, its transport's buffer is empty and the command is small, the
    write goes without the timer; anything else (a first write, a health check, a large
    pipeline, a buffer still draining) takes redis-py's own path, timeout and all. Reads
    keep ``socket_timeout`` either way. A write on a connection already lost fails as a
    connection error before anything is written."""

    socket_timeout: float | None
    _writer: asyncio.StreamWriter | None

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        writer = self._writer
        if writer is not None and writer.transport.is_closing():
            # Lost (a reset the pool could not see): a connection error, which the pool's
            # retry answers with a fresh connection. Written anyway, asyncio's selector
            # transport on Python 3.12+ raises AttributeError or TypeError from
            # ``writelines`` (CPython gh-136234), which nothing would retry.
            raise RedisConnectionError("Connection closed")
        timeout = self.socket_timeout
        if not timeout or self._writer is None:  # no timeout, or not connected yet
            await super().send_packed_command(command, check_health)  # type: ignore[misc]
            return
        if check_health:
            await self.check_health()  # type: ignore[attr-defined]  # a PING when due
        writer = self._writer
        if (
            writer is not None
            and writer.transport.get_write_buffer_size() == 0
            and _packed_size(command) <= _UNBLOCKED_WRITE_BYTES
        ):
            self.socket_timeout = None  # only the write below sees it unset
            try:
                await super().send_packed_command(command, False)  # type: ignore[misc]
            finally:
                self.socket_timeout = timeout
            return
        await super().send_packed_command(command, False)  # type: ignore[misc]


def _packed_size(command: Any) -> int:
    if isinstance(command, bytes | str):
        return len(command)
    return sum(len(chunk) for chunk in command)


def _prompt_writes(pool: ConnectionPool) -> None:
    """Make the pool's connections :class:`PromptWriteConnection` (TCP, TLS or Unix
    socket alike: the class the URL chose, with the mixin in front)."""
    base = pool.connection_class
    if not issubclass(base, PromptWriteConnection):
        pool.connection_class = type(
            f"PromptWrite{base.__name__}", (PromptWriteConnection, base), {}
        )


# Read commands that may share a write with other queries' commands (one reply each, no
# blocking, no connection state). Anything else takes redis-py's own path.
_PIPELINED = frozenset(
    {
        "GET",
        "MGET",
        "EXISTS",
        "TYPE",
        "HGET",
        "HMGET",
        "HGETALL",
        "HEXISTS",
        "HLEN",
        "HKEYS",
        "LLEN",
        "LINDEX",
        "LRANGE",
        "SMEMBERS",
        "SCARD",
        "ZCARD",
        "ZRANGE",
    }
)

# The routed reads whose reply is one value or a count: these go on the lean path
# (``cache/resp.py``), where replies come back in order on a shared connection. A read whose
# reply can be as big as a whole hash, list or set (HGETALL, LRANGE, MGET, ...) stays on a
# pooled connection of its own, so a huge reply (a hostile or corrupt key) delays only its
# own query, not every small read queued behind it.
_LEAN = frozenset(
    {
        "GET",
        "EXISTS",
        "TYPE",
        "HGET",
        "HMGET",
        "HEXISTS",
        "HLEN",
        "LLEN",
        "LINDEX",
        "SCARD",
        "ZCARD",
    }
)

# The most commands one pipeline carries: a larger burst goes out as several, so one reply
# list (and the wait for its last reply) stays bounded.
MAX_BATCH = 256

_Queued = tuple[tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]


class AutoPipelinedRedis(Redis):
    """A client whose read commands issued in the same turn of the event loop share one
    write and one round trip (what ioredis calls auto-pipelining).

    With ``lean_reads`` (what :func:`create_redis` passes, :data:`LEAN_READS`), the
    single-value reads (:data:`_LEAN`) go on the lean path of ``cache/resp.py`` instead:
    connections of its own, opened by redis-py from the same pool settings, each a
    protocol with a FIFO of replies (pipelined by construction, no pool or task per
    command). Without it, or when the URL asks for what that path does not handle (RESP3,
    decoded replies), they take the path below, on redis-py's pool:

    The first read command of a turn lets the rest of the turn run (one ``sleep(0)``):
    queries dispatched from the same batch of socket reads (10 WebSocket connections, one
    epoll wake-up) reach their reads meanwhile and queue them behind it. Alone, it runs
    as redis-py runs any command; with company, all of them go out as one
    ``pipeline(transaction=False)`` (at most :data:`MAX_BATCH` commands; a larger burst
    makes several) on one pooled connection, in their own task, and each
    caller gets its own reply or its own error reply (``ResponseError``). A connection
    failure (after redis-py's retries) fails every command of the batch with the same
    exception, so each read reports ``CACHE_UNAVAILABLE``; a batch waits for a pooled
    connection like any command (:class:`WaitingConnectionPool`). A caller cancelled while
    its batch runs only stops waiting: the others still get their replies."""

    def __init__(self, *args: Any, lean_reads: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The routed reads on connections of their own (``cache/resp.py``), when enabled.
        self.lean: LeanReads | None = None
        if lean_reads:
            lean = LeanReads(self.connection_pool, self.response_callbacks)
            if lean.usable:
                self.lean = lean
        self._turn: list[_Queued] | None = None  # this turn's followers, while one waits
        self._batches: set[asyncio.Task[None]] = set()
        self.pipelined_batches = 0  # batches sent (two commands or more)
        self.pipelined_commands = 0  # commands in them

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if args[0] not in _PIPELINED:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        lean = self.lean
        if lean is not None and args[0] in _LEAN:
            try:
                return await lean.execute(args, options)
            except Unsupported:
                self.lean = None  # redis-py's path from now on
                return await self.execute_command(*args, **options)
        turn = self._turn
        if turn is not None:  # a command of this turn is collecting: join it
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            turn.append((args, options, future))
            if len(turn) >= MAX_BATCH - 1:  # full (with its leader): the next read collects anew
                self._turn = None
            return await future
        turn = self._turn = []
        try:
            await asyncio.sleep(0)  # the rest of this turn may add its commands
        except BaseException:
            self._stop_collecting(turn)
            if turn:  # cancelled meanwhile: the others still run
                self._start(turn)
            raise
        self._stop_collecting(turn)
        if not turn:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        own: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        turn.insert(0, (args, options, own))
        self._start(turn)
        return await own

    def _stop_collecting(self, turn: list[_Queued]) -> None:
        if self._turn is turn:
            self._turn = None

    def _start(self, batch: list[_Queued]) -> None:
        if len(batch) == 1:  # a lone follower whose leader was cancelled
            args, options, future = batch[0]
            task = asyncio.create_task(self._run_one(args, options, future))
        else:
            task = asyncio.create_task(self._run_batch(batch))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _run_one(
        self, args: tuple[Any, ...], options: dict[str, Any], future: asyncio.Future[Any]
    ) -> None:
        try:
            result = await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except BaseException as exc:
            _settle(future, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        if not future.done():
            future.set_result(result)

    async def _run_batch(self, batch: list[_Queued]) -> None:
        self.pipelined_batches += 1
        self.pipelined_commands += len(batch)
        try:
            async with self.pipeline(transaction=False) as pipe:
                for args, options, _ in batch:
                    pipe.execute_command(*args, **options)
                replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:
            for _, _, future in batch:
                _settle(future, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue  # its caller was cancelled
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        for task in list(self._batches):
            task.cancel()
        await asyncio.gather(*self._batches, return_exceptions=True)
        if self.lean is not None:
            await self.lean.aclose()
        await super().aclose(close_connection_pool)


def _settle(future: asyncio.Future[Any], exc: BaseException) -> None:
    if future.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(exc)


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
        # A connection idle for longer is PINGed before its next command; the lean read
        # path's connections (``cache/resp.py``) read this same setting.
        health_check_interval=30,
        # A read that fails on a broken connection (one the pool could not tell was dead: a
        # Redis restart can leave a pooled connection reset rather than closed) is sent once
        # more, on a fresh connection. Every command here is a read, so running one twice
        # is harmless; a Redis that is really down fails the retry at once (refused). Not
        # on a time-out: a stalled Redis would double the wait. The feed reconnects itself.
        retry=None if for_pubsub else Retry(NoBackoff(), 1, (RedisConnectionError,)),
        client_name=client_name,
        decode_responses=False,
    )
    if for_pubsub:
        return Redis(connection_pool=pool)
    _prompt_writes(pool)
    return AutoPipelinedRedis(connection_pool=pool, lean_reads=LEAN_READS)
