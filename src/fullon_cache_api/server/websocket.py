"""One GraphQL WebSocket connection: a state machine from messages in to frames out.

States (:class:`State`): ``AWAITING_INIT`` until a valid ``connection_init`` (acknowledged),
then ``READY``; ``CLOSING`` once a close is decided (queued frames still go out first), and
``CLOSED`` when everything of the connection is released. The handler depends only on a
small :class:`~fullon_cache_api.server.socket.Socket`, on the wire protocol's data
(:class:`~fullon_cache_api.server.wire.WireProtocol`) and on an
:class:`~fullon_cache_api.server.outbox.Outbox`; one writer task drains the outbox, so frames
from concurrent operations never interleave and a close goes after what was queued before
it.

An idle connection holds little (BENCHMARKS.md, "Memory per idle WebSocket connection"): on
the server's own protocol, where messages arrive through ``Socket.listen``, the ASGI task
itself waits for the end of the connection (no reader task) and the writer task runs only
while there is something to send (``Outbox.write_on_demand``); the ``connection_init``
deadline and the keep-alive are timer handles of the loop, not sleeping tasks.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from enum import Enum
from typing import TYPE_CHECKING, Any

import orjson

from fullon_cache_api.auth import ALL_SCOPES
from fullon_cache_api.errors import ErrorCode, error_dict
from fullon_cache_api.server import wire
from fullon_cache_api.server.abuse import TokenBucket
from fullon_cache_api.server.idle_poll import ClientPace
from fullon_cache_api.server.keyring import Principal, bearer_token, init_authorization
from fullon_cache_api.server.operation import OperationHost
from fullon_cache_api.server.outbox import Lane
from fullon_cache_api.server.socket import Socket, SocketClosed
from fullon_cache_api.subscriptions.flag import Flag

if TYPE_CHECKING:
    from fullon_cache_api.server.services import Services

log = logging.getLogger("fullon.api.cache.websocket")


class State(Enum):
    AWAITING_INIT = "awaiting_init"
    READY = "ready"
    CLOSING = "closing"
    CLOSED = "closed"


class GraphQLWebSocket(OperationHost):
    def __init__(self, socket: Socket, protocol: wire.WireProtocol, services: Services) -> None:
        super().__init__(services, protocol, write_now=socket.send_now)
        self.socket = socket
        self.protocol = protocol
        self.settings = settings = services.settings
        self.state = State.AWAITING_INIT
        self.init_received = False
        self.opened_at = time.monotonic()
        self.finished = Flag()  # set once everything of this connection is released
        self.operation_count = 0
        self.last_pong = time.monotonic()
        self.principal: Principal | None = None  # set by an accepted connection_init
        self.scopes: frozenset[str] = ALL_SCOPES
        self.scope_key = ""
        rate = settings.ws_messages_per_second
        self._bucket = TokenBucket(rate, settings.ws_message_burst) if rate else None
        # The connection_init deadline, then the keep-alive: loop timer handles, not
        # sleeping tasks (a task and its frame cost about 1 KB per idle connection).
        self._timer: asyncio.TimerHandle | None = None
        self._pushed = False  # the socket delivers messages to _on_message (Socket.listen)
        self._writer: asyncio.Task[None] | None = None
        self._pace = ClientPace()  # whether the client's next query comes within IDLE_POLL_US

    # -- lifecycle ---------------------------------------------------------------------

    async def serve(self) -> None:
        # Before the accept: no message can arrive before the handshake's answer.
        self._pushed = self.socket.listen(self._on_message)
        if self._pushed:
            # The writer runs only while there is something to send (outbox.py).
            self.outbox.write_on_demand(self._start_writer)
        try:
            await self.socket.accept(self.protocol.name)
        except BaseException:
            if self._pushed:
                self.socket.listen(None)
            raise
        self.services.connections.add(self)
        log.info(
            "websocket opened",
            extra={
                "peer": self.socket.peer,
                "origin": self.socket.headers.get("origin"),
                "protocol": self.protocol.name,
            },
        )
        tasks: list[asyncio.Task[None]] = []
        if not self.init_received:
            self._timer = asyncio.get_running_loop().call_later(
                self.settings.ws_connection_init_timeout, self._init_deadline
            )
        try:
            if self._pushed:
                # Messages come through _on_message; this task (the ASGI one) only waits
                # for the end of the connection, which also comes after the writer sent
                # the close frame or found the socket closed (the protocol queues
                # ``websocket.disconnect`` then, or when the connection is lost). No
                # reader task, and a writer task only while something is being sent: each
                # task costs an idle connection about 1-1.5 KB.
                await self._wait_for_disconnect()
            else:
                reader = asyncio.create_task(self._read_loop(), name="ws-read")
                writer = asyncio.create_task(self._write_loop(), name="ws-write")
                tasks += (reader, writer)
                await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.state = State.CLOSED
            if self._pushed:
                self.socket.listen(None)  # the protocol stops holding this handler
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._writer is not None:
                tasks.append(self._writer)
                self._writer = None
            tasks += [task for task, _ in self.operations.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.operations.clear()
            self.services.connections.discard(self)
            self.services.closed_coalesced += self.outbox.coalesced
            self.finished.set()
            log.info(
                "websocket closed",
                extra={
                    "peer": self.socket.peer,
                    "origin": self.socket.headers.get("origin"),
                    "protocol": self.protocol.name,
                    "duration_s": round(time.monotonic() - self.opened_at, 3),
                    "operations": self.operation_count,
                    "key_id": self.principal.key_id if self.principal else None,
                },
            )

    def close(self, code: int, reason: str = "") -> None:
        """Close after whatever is already queued; later frames are dropped.

        Server shutdown closes with 1001 (going away) and no ``complete``: to a client,
        ``complete`` means the stream finished for good, and graphql-ws/Apollo clients
        would not resubscribe after reconnecting to another instance."""
        if self.state in (State.CLOSING, State.CLOSED):
            return
        self.state = State.CLOSING
        self.outbox.close(code, reason)

    @property
    def closing(self) -> bool:
        return self.state in (State.CLOSING, State.CLOSED)

    @property
    def acknowledged(self) -> bool:
        return self.init_received and self.state is not State.AWAITING_INIT

    @property
    def coalesced(self) -> int:
        return self.outbox.coalesced

    # -- writing -----------------------------------------------------------------------

    def _start_writer(self) -> None:
        """Something to send, and no writer running (``Outbox.write_on_demand``)."""
        if self.state is not State.CLOSED:
            self._writer = asyncio.create_task(self._write_loop(), name="ws-write")

    async def _write_loop(self) -> None:
        outbox = self.outbox
        on_demand = self._pushed
        try:
            while True:
                if on_demand:
                    next_batch = await outbox.take_batch()
                    if next_batch is None:  # all sent: this writer ends
                        self._writer = None
                        return
                    batch = next_batch
                else:
                    batch = await outbox.next_batch()
                try:
                    if batch.frames:
                        await outbox.send(self.socket.send, batch.frames)
                    if batch.close is not None:
                        await self.socket.close(*batch.close)
                        return
                except SocketClosed:
                    self.state = State.CLOSING
                    return
        except Exception:
            # Not expected. The connection ends with a close frame, so the client sees
            # it and the protocol reports the end (serve() waits for that).
            log.exception("websocket writer failed")
            self.state = State.CLOSING
            await self.socket.close(wire.INTERNAL_ERROR, "internal error")

    # -- reading -----------------------------------------------------------------------

    async def _wait_for_disconnect(self) -> None:
        """Messages arrive through _on_message as the protocol reads them (below ASGI);
        this only waits for the end of the connection."""
        socket = self.socket
        while True:
            text = await socket.receive()
            if text is None:
                return
            self._on_message(text)  # not expected: delivered here all the same

    async def _read_loop(self) -> None:
        socket = self.socket
        while not self.closing:
            text = await socket.receive()
            if text is None or not self._on_message(text):
                return

    def _on_message(self, text: str | bytes) -> bool:
        """One message from the client; False once the connection is closing (nothing
        more is read)."""
        if self.closing:
            return False
        bucket = self._bucket
        if bucket is not None and not bucket.take():
            self.close(wire.TOO_MANY_MESSAGES, "Too many messages")
            return False
        if isinstance(text, bytes):
            self.close(wire.BAD_REQUEST, "binary frames are not supported")
            return False
        limit = self.settings.ws_max_message_bytes
        if len(text) > limit:
            self.close(wire.MESSAGE_TOO_BIG, f"message larger than {limit} bytes")
            return False
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            self.close(wire.BAD_REQUEST, "invalid JSON")
            return False
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.close(wire.BAD_REQUEST, "a message must be an object with a string type")
            return False
        self.dispatch(message)
        return not self.closing

    def dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        protocol = self.protocol
        if kind == protocol.init:
            self._on_init(message.get("payload"))
        elif kind == protocol.subscribe:
            self._on_subscribe(message)
        elif kind == protocol.complete_from_client:
            self._on_complete(message.get("id"))
        elif kind == protocol.ping:
            self.outbox.control(protocol.pong_message())
        elif kind == protocol.pong:
            self.last_pong = time.monotonic()
        elif kind == protocol.terminate:
            self.close(1000, "terminated by the client")
        else:
            self.close(wire.BAD_REQUEST, f"unknown message type {kind[:40]!r}")

    def _on_init(self, payload: Any) -> None:
        if self.init_received:
            self.close(wire.TOO_MANY_INITIALISATIONS, "Too many initialisation requests")
            return
        self.init_received = True
        if self._timer is not None:  # the init deadline: met
            self._timer.cancel()
            self._timer = None
        if payload is not None and not isinstance(payload, dict):
            self.close(wire.BAD_REQUEST, "connection_init payload must be an object")
            return
        keyring = self.services.keyring
        if keyring.enabled:
            present, value = init_authorization(payload)
            if not present:
                value = self.socket.headers.get("authorization")
            principal = keyring.authenticate(bearer_token(value))
            if principal is None:
                log.info("websocket refused: missing or invalid API key")
                self.close(wire.FORBIDDEN, "Forbidden")
                return
            self.principal = principal
            self.scopes = principal.scopes
            self.scope_key = principal.scope_key
        self.state = State.READY
        self.last_pong = time.monotonic()
        self.outbox.control(self.protocol.ack_message())
        if self.settings.ws_ping_interval > 0 and not self.closing:
            self._timer = asyncio.get_running_loop().call_later(
                self.settings.ws_ping_interval, self._keepalive
            )

    def _on_subscribe(self, message: dict[str, Any]) -> None:
        if self.state is not State.READY:
            self.close(wire.UNAUTHORIZED, "Unauthorized")
            return
        op_id = message.get("id")
        payload = message.get("payload")
        if not isinstance(op_id, str) or not op_id or len(op_id) > 128:
            self.close(wire.BAD_REQUEST, "an operation id must be a non-empty string")
            return
        if not isinstance(payload, dict):
            self.close(wire.BAD_REQUEST, "the operation payload must be an object")
            return
        if op_id in self.operations:
            self.close(wire.DUPLICATE_ID, f"Subscriber for {op_id[:64]} already exists")
            return
        lane = self.outbox.open(wire.encode_id(op_id))
        if len(self.operations) >= self.settings.ws_max_operations:
            message_text = (
                "too many active operations on this connection "
                f"(limit {self.settings.ws_max_operations})"
            )
            self.outbox.finish(lane, [error_dict(message_text, ErrorCode.RATE_LIMITED)])
            return
        self.operation_count += 1
        poll = self.services.idle_poll
        if poll is not None:  # the loop polls while the operation waits for Redis
            poll.operation_read(self._pace)
        # The operation itself is the task (no wrapper coroutine: a subscription's task
        # lives as long as it does, and each frame it holds costs memory).
        ended = functools.partial(self._ended, op_id, lane)
        task = asyncio.create_task(self.run(lane, payload, ended, self._answered))
        self.operations[op_id] = (task, lane)

    def _on_complete(self, op_id: Any) -> None:
        if not isinstance(op_id, str):
            self.close(wire.BAD_REQUEST, "complete needs an operation id")
            return
        entry = self.operations.pop(op_id, None)
        if entry is not None:
            task, lane = entry
            task.cancel()
            self.outbox.drop(lane)

    def _answered(self) -> None:
        poll = self.services.idle_poll
        if poll is not None:
            poll.answered(self._pace)

    def _ended(self, op_id: str, lane: Lane) -> None:
        entry = self.operations.get(op_id)
        if entry is not None and entry[1] is lane:
            del self.operations[op_id]

    # -- timers ------------------------------------------------------------------------

    def _init_deadline(self) -> None:
        self._timer = None
        if not self.init_received:
            self.close(wire.INIT_TIMEOUT, "Connection initialisation timeout")

    def _keepalive(self) -> None:
        """Every ``WS_PING_INTERVAL`` once acknowledged: a ping (graphql-transport-ws) or a
        ``ka`` (graphql-ws), unless the client's last pong is older than
        ``WS_PONG_TIMEOUT``: then the connection closes (1011, keep-alive timeout)."""
        self._timer = None
        if self.closing:
            return
        if (
            self.protocol.pong is not None
            and time.monotonic() - self.last_pong > self.settings.ws_pong_timeout
        ):
            self.close(wire.KEEPALIVE_TIMEOUT, "no pong within the keep-alive timeout")
            return
        self.outbox.control(self.protocol.keepalive_message())
        self._timer = asyncio.get_running_loop().call_later(
            self.settings.ws_ping_interval, self._keepalive
        )


async def reject(socket: Socket, code: int, reason: str, offered: list[str]) -> None:
    """Accept and close at once, so the client sees the close code and reason. The accept
    names a subprotocol the client offered: browsers fail a handshake that offered some and
    got none back (close 1006, the code and reason lost)."""
    protocol = wire.choose(offered)
    try:
        await socket.accept(protocol.name if protocol is not None else None)
    except Exception:
        return
    await socket.close(code, reason)
