"""A lean pipelined read path for the hot read commands, below redis-py's command path.

Why it is written here: a query reads one or two keys, and redis-py's path around each
read costs more than the round trip's own work. Per command it awaits
``Redis.initialize``, takes a connection from the pool and gives it back (a lock and two
sets), runs the command through ``Retry.call_with_retry`` with a lambda, records
observability metrics, writes (``asyncio.wait_for`` while a socket timeout is set, see
``PromptWriteConnection``), then reads through ``StreamReader.read`` under another
``asyncio.wait_for`` (on Python 3.11 a task and an extra loop turn each) before hiredis
parses the reply; a pipeline adds its command stack and its own pass over the replies.
Measured in one process under uvloop against a local redis-server (``HGET`` of a small
field, medians of 6 rounds, process CPU time per command): one at a time, 92.7 µs on
redis-py's path (with ``PromptWriteConnection``) against 45.2 µs here (round trip 131
against 92 µs); 100 at once (``gather``), 16.7 µs against 6.0 µs. In the server, see
BENCHMARKS.md, "Issue 14" → "Queries".

Here every connection is an ``asyncio.Protocol`` with its own ``hiredis.Reader``:
commands go out in order, each with a future in a FIFO, and ``data_received`` feeds the
reader and resolves the futures in turn (natural pipelining, as ioredis does): no pool
acquire or release per command, no task or timer per command. A command sent while the
connection waits for replies is buffered and everything buffered leaves in one write at
the next turn of the loop; a command on an idle connection is written at once.

Connections are opened by redis-py itself (``pool.make_connection()`` and its
``connect()``: TCP, Unix socket or TLS, AUTH, SELECT, CLIENT SETNAME, all from the same
URL and settings), then the transport is handed to the protocol. Replies get redis-py's
response callbacks, and error replies redis-py's exception classes (its parser's
``parse_error``), so results and errors are those redis-py would give. A connection that
speaks RESP3, or decodes replies, is not taken over, nor one whose transport cannot
change protocol: the client then keeps redis-py's path for good (:attr:`LeanReads.usable`).

Failures: one timer per connection checks the oldest command waiting for a reply; one
that waited ``socket_timeout`` fails with redis ``TimeoutError``, and the connection is
dropped with every other pending command failing the same way. A lost connection fails
its pending commands with redis ``ConnectionError``; the next command opens a new one
(within the connect timeout). At most ``max_pending`` commands wait on one connection;
beyond that a second one is opened (up to ``max_connections``), and beyond those a
command waits for room, up to the socket timeout. A connection Redis closes (EOF) is
dropped at once, so no command is sent on it after that.

Health checks, as redis-py's pool does them and from the same setting (the pool's
``health_check_interval``, read from ``connection_kwargs`` when a connection opens; 0 or
unset means none): a connection on which nothing was written for longer than the
interval, and on which nothing is pending, is checked before the next command goes on
it. The check writes ``PING`` and waits for its reply at most :data:`HEALTH_CHECK_TIMEOUT`
(never longer than the socket timeout); any reply will do, an error reply included (a
user whose ACL refuses ``PING`` is still connected). A connection that does not answer
in time (a NAT or firewall that dropped it silently: no FIN, no RST, so nothing else
would tell) is aborted, and the command goes on a fresh one. Commands that arrive
meanwhile wait for that one check instead of taking the connection or opening another,
and then go on the connection it left; a connection with commands in flight is never
checked, so a busy connection's reads pay nothing for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from typing import Any

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Options redis-py's ``parse_response`` understands (``redis.client``'s names).
_EMPTY_RESPONSE = "EMPTY_RESPONSE"
_NEVER_DECODE = "NEVER_DECODE"

# Types hiredis packs exactly as redis-py's encoder does (not bool: redis-py refuses it).
_PACKABLE = (str, bytes, int)

_Pending = tuple["asyncio.Future[Any]", float]

# The longest a health check waits for its PING's reply (and never beyond the socket
# timeout). A local or same-datacentre Redis answers in well under a millisecond; a Redis
# that takes longer (a slow command running) costs only a reconnect, after which the
# command waits for it under the socket timeout as any other does.
HEALTH_CHECK_TIMEOUT = 1.0

_PING = ("PING",)


class RespProtocol(asyncio.Protocol):
    """One Redis connection: commands out in order, replies matched to a FIFO of futures."""

    def __init__(
        self,
        owner: LeanReads,
        connection: AbstractConnection,
        transport: asyncio.Transport,
        timeout: float | None,
        health_check_interval: float = 0,
    ) -> None:
        self._owner = owner
        self._connection = connection  # redis-py's, kept for its packer and to close it
        self._transport = transport
        self._timeout = timeout
        self._reader = hiredis.Reader(
            protocolError=_InvalidReply, replyError=BaseParser.parse_error
        )
        self._loop = asyncio.get_running_loop()
        self.pending: deque[_Pending] = deque()
        self._out: list[bytes] = []
        self._flush: asyncio.Handle | None = None
        self._timer: asyncio.TimerHandle | None = None
        # Health checks: how long the connection may stay unused, and when it was last
        # written to (its opening counts). The write time, not the last reply's, so
        # checks come at least as often as redis-py's (it counts from the last reply),
        # and a busy connection's reads pay nothing: the time is taken anyway.
        self._interval = health_check_interval or math.inf
        self._written = self._loop.time()
        self.streams: tuple[Any, Any] | None = None
        self.open = True

    # Sending

    def send(self, args: tuple[Any, ...], checked: bool = False) -> asyncio.Future[Any] | None:
        """Send one command; its reply (or error reply) comes in the returned future.

        None, and nothing sent, when the connection has been idle for longer than the
        health-check interval: the owner checks it first (:meth:`LeanReads._checked`),
        then sends with ``checked`` (what the check itself does too)."""
        if all(type(arg) in _PACKABLE for arg in args):
            packed: bytes = hiredis.pack_command(args)
        else:  # floats, memoryviews, ...: redis-py's own encoding
            packed = b"".join(self._connection.pack_command(*args))
        loop = self._loop
        if not self.pending and not self._out:  # idle: straight out
            now = loop.time()
            if now - self._written > self._interval and not checked:
                return None  # idle too long: checked first
            future = loop.create_future()
            self._transport.write(packed)
            self._written = now
            self.pending.append((future, now))
            self._arm(now)
            return future
        future = loop.create_future()
        self._out.append(packed)
        self.pending.append((future, 0.0))  # stamped when written
        if self._flush is None:
            self._flush = loop.call_soon(self._write_out)
        return future

    def _write_out(self) -> None:
        self._flush = None
        out = self._out
        if not out or not self.open:
            return
        self._out = []
        self._transport.write(out[0] if len(out) == 1 else b"".join(out))
        now = self._written = self._loop.time()
        pending = self.pending
        # The unwritten commands are the last len(out) entries.
        for index in range(len(pending) - len(out), len(pending)):
            future, _ = pending[index]
            pending[index] = (future, now)
        self._arm(now)

    # Time-outs: one timer for the oldest command waiting

    def _arm(self, sent: float) -> None:
        if self._timer is None and self._timeout:
            self._timer = self._loop.call_at(sent + self._timeout, self._check)

    def _check(self) -> None:
        self._timer = None
        if not self.open or not self.pending:
            return
        assert self._timeout is not None
        sent = self.pending[0][1]
        now = self._loop.time()
        if sent and now - sent < self._timeout:
            self._timer = self._loop.call_at(sent + self._timeout, self._check)
            return
        if not sent:  # not written yet (cannot happen past a turn): look again
            self._timer = self._loop.call_at(now + self._timeout, self._check)
            return
        self._fail(RedisTimeoutError("Timeout reading from Redis"))
        self._transport.abort()

    # Receiving

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        pending = self.pending
        while True:
            try:
                reply = reader.gets()
            except Exception as exc:  # a protocol error: the stream is lost
                self._fail(RedisConnectionError(f"Redis protocol error: {exc}"))
                self._transport.abort()
                return
            if reply is False:
                break
            if not pending:
                self._fail(RedisConnectionError("Redis sent a reply nobody asked for"))
                self._transport.abort()
                return
            future = pending.popleft()[0]
            if not future.done():  # its caller may have been cancelled
                future.set_result(reply)
        self._owner._room(self)

    def eof_received(self) -> bool:
        # Redis closed its side (CLIENT KILL, its idle ``timeout``, a restart): dropped now,
        # not at ``connection_lost`` a loop turn later, so no command is sent on it meanwhile.
        self._fail(RedisConnectionError("Connection closed by Redis"))
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError("Connection closed by Redis"))

    def _fail(self, error: Exception) -> None:
        if self.open:
            self.open = False
            self._owner._lost(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self._out = []
        pending, self.pending = self.pending, deque()
        for future, _ in pending:
            if not future.done():
                future.set_exception(error)
                future.exception()  # a cancelled caller's future: retrieved, not logged

    def close(self) -> None:
        self._fail(RedisConnectionError("Connection closed"))
        self._transport.close()

    def drop(self, error: Exception) -> None:
        """Fail what is pending with ``error`` and abort the transport (no goodbye: the
        peer may be gone)."""
        self._fail(error)
        self._transport.abort()


class _InvalidReply(Exception):
    pass


class Unsupported(Exception):
    """The connection redis-py opened cannot be taken over: the caller falls back to
    redis-py's path, for good (:attr:`LeanReads.usable` is then False)."""


class LeanReads:
    """The read path of one client: up to ``max_connections`` connections of its own,
    opened from redis-py's pool settings. ``execute`` returns what redis-py's
    ``execute_command`` would."""

    def __init__(
        self,
        pool: ConnectionPool,
        response_callbacks: Any,
        *,
        max_pending: int = 1024,
        max_connections: int = 2,
    ) -> None:
        self._pool = pool
        self._callbacks = response_callbacks
        kwargs = pool.connection_kwargs
        self._timeout: float | None = kwargs.get("socket_timeout")
        self._connect_timeout: float | None = kwargs.get("socket_connect_timeout")
        self.max_pending = max_pending
        self.max_connections = max_connections
        self._connections: list[RespProtocol] = []
        # Connections being health-checked, out of ``_connections`` until they pass.
        self._checks: dict[RespProtocol, asyncio.Task[bool]] = {}
        self._opening: asyncio.Task[RespProtocol] | None = None
        self._room_waiters: deque[asyncio.Future[None]] = deque()
        self.usable = not kwargs.get("decode_responses") and kwargs.get("protocol") in (
            None,
            2,
            "2",
        )
        self.opened = 0  # connections opened (for tests and /metrics)
        self._closed = False

    async def execute(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        connection = self._pick()
        if connection is None:
            connection = await self._connection()
        sent = connection.send(args)
        if sent is None:  # idle longer than the health-check interval: checked first
            sent = await self._send_checked(connection, args)
        reply = await sent
        if isinstance(reply, ResponseError):
            if _EMPTY_RESPONSE in options:
                return options[_EMPTY_RESPONSE]
            raise reply
        callback = self._callbacks.get(args[0])
        if callback is None:
            return reply
        if options:
            options = {
                name: value
                for name, value in options.items()
                if name not in (_EMPTY_RESPONSE, _NEVER_DECODE, "keys")
            }
        return callback(reply, **options)

    async def _send_checked(
        self, connection: RespProtocol, args: tuple[Any, ...]
    ) -> asyncio.Future[Any]:
        """Send ``args`` once ``connection`` (idle past the interval) is checked: on it if
        it answered, else on whichever connection is there (or opens) next."""
        while True:
            if (
                await self._checked(connection)
                and connection.open
                and len(connection.pending) < self.max_pending
            ):
                sent = connection.send(args, True)
            else:
                connection = self._pick() or await self._connection()
                sent = connection.send(args)
            if sent is not None:
                return sent
            # The connection picked instead was idle past the interval too: check it.

    async def _checked(self, connection: RespProtocol) -> bool:
        """Whether ``connection`` answered its health check: one check at a time per
        connection, shared by every command that waits for it."""
        check = self._checks.get(connection)
        if check is None:
            if not connection.open:
                return False
            check = asyncio.create_task(self._health_check(connection))
            self._checks[connection] = check
            with contextlib.suppress(ValueError):  # nothing else is sent on it meanwhile
                self._connections.remove(connection)
        # Shielded: a caller that gives up does not cancel the others' check.
        return await asyncio.shield(check)

    async def _health_check(self, connection: RespProtocol) -> bool:
        alive = False
        try:
            if connection.open:  # (not lost since the check was asked for)
                ping = connection.send(_PING, True)
                assert ping is not None
                bound = min(HEALTH_CHECK_TIMEOUT, self._timeout or math.inf)
                await asyncio.wait_for(ping, bound)  # any reply: an error reply is a reply
                alive = True
        except (TimeoutError, RedisConnectionError, RedisTimeoutError):
            pass
        finally:
            del self._checks[connection]
            if not alive:  # no reply in time, or cancelled (the loop is ending): not kept
                connection.drop(RedisTimeoutError("Redis did not answer a health check in time"))
        if not alive or not connection.open or self._closed:
            return False
        self._connections.insert(0, connection)  # the connection known to be alive first
        self._wake_waiters()
        return True

    def _pick(self) -> RespProtocol | None:
        for connection in self._connections:
            if len(connection.pending) < self.max_pending:
                return connection
        return None

    async def _connection(self) -> RespProtocol:
        while True:
            if self._closed:
                raise RedisConnectionError("the client is closed")
            if not self.usable:
                raise Unsupported("the lean path is off for this client")
            connection = self._pick()
            if connection is not None:
                return connection
            if self._checks:  # a connection is being checked: wait for it, open none
                await self._checked(next(iter(self._checks)))
                continue
            if len(self._connections) < self.max_connections:
                opening = self._opening
                if opening is None:
                    opening = self._opening = asyncio.create_task(self._open())
                    opening.add_done_callback(self._opened)
                opened = await asyncio.shield(opening)
                if opened.open and len(opened.pending) < self.max_pending:
                    return opened
                continue
            # Every connection is full: wait for room, at most the socket timeout.
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._room_waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, self._timeout)
            except TimeoutError:
                raise RedisTimeoutError("no room on the Redis connections in time") from None
            finally:
                with contextlib.suppress(ValueError):
                    self._room_waiters.remove(waiter)

    def _opened(self, task: asyncio.Task[RespProtocol]) -> None:
        if self._opening is task:
            self._opening = None
        if not task.cancelled():
            task.exception()  # retrieved: every waiter gets it from the shield

    async def _open(self) -> RespProtocol:
        connection: AbstractConnection = self._pool.make_connection()  # type: ignore[no-untyped-call]
        # redis-py's own connect: TCP/Unix/TLS, connect timeout, AUTH, SELECT, SETNAME.
        await connection.connect()  # type: ignore[no-untyped-call]
        writer = getattr(connection, "_writer", None)
        reader = getattr(connection, "_reader", None)
        transport = getattr(writer, "transport", None)
        if transport is None or reader is None or bool(getattr(reader, "_buffer", None)):
            await connection.disconnect()
            self.usable = False
            raise Unsupported("redis-py's connection has no transport to take over")
        protocol = RespProtocol(
            self,
            connection,
            transport,
            self._timeout,
            # redis-py's pool setting, read where its own connections read it.
            self._pool.connection_kwargs.get("health_check_interval") or 0,
        )
        protocol.streams = (reader, writer)  # alive while it is: a dropped writer closes
        try:
            transport.set_protocol(protocol)
        except (AttributeError, NotImplementedError) as exc:  # a transport that cannot
            await connection.disconnect()
            self.usable = False
            raise Unsupported(f"the transport cannot change protocol: {exc}") from exc
        # The transport is the protocol's now: redis-py's object keeps only its encoder.
        connection._writer = None
        connection._reader = None
        if self._closed:
            protocol.close()
            raise RedisConnectionError("the client is closed")
        self._connections.append(protocol)
        self.opened += 1
        return protocol

    def _lost(self, connection: RespProtocol) -> None:
        with contextlib.suppress(ValueError):
            self._connections.remove(connection)
        self._wake_waiters()

    def _room(self, connection: RespProtocol) -> None:
        if self._room_waiters and len(connection.pending) < self.max_pending:
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        while self._room_waiters:
            waiter = self._room_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    @property
    def pending(self) -> int:
        return sum(len(connection.pending) for connection in self._connections) + sum(
            len(connection.pending) for connection in self._checks
        )

    async def aclose(self) -> None:
        self._closed = True
        if self._opening is not None:
            self._opening.cancel()
            with contextlib.suppress(BaseException):
                await self._opening
        for connection in list(self._connections):
            connection.close()
        self._connections.clear()
        checks = list(self._checks.values())
        for connection in list(self._checks):
            connection.close()  # its check fails, and the commands waiting for it
        self._wake_waiters()
        await asyncio.gather(*checks, return_exceptions=True)
