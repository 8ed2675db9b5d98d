"""One GraphQL WebSocket connection: frames in, operations, results out.

A single writer task drains the connection's outbox, so results from concurrent operations
never interleave on the socket and a close is sent after what was queued before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

import orjson
from graphql import OperationType
from starlette.websockets import WebSocket, WebSocketDisconnect

from fullon_cache_api.auth import ALL_SCOPES
from fullon_cache_api.errors import ErrorCode
from fullon_cache_api.server import ws_protocols as wire
from fullon_cache_api.server.abuse import TokenBucket
from fullon_cache_api.server.execution import RequestError, dumps
from fullon_cache_api.server.keyring import Principal, bearer_token, init_authorization
from fullon_cache_api.server.services import Services

log = logging.getLogger("fullon.api.cache.websocket")

_CLOSE = object()


class _Sub:
    """One live operation id: what of it is queued. Kept per operation, not per id, so an
    id the client completes and reuses starts clean (what the old one left queued is
    dropped, not sent under the new one)."""

    __slots__ = ("backlog", "id_json", "latest")

    def __init__(self, id_json: str) -> None:
        self.id_json = id_json
        self.latest: _Pending | None = None  # the unsent event of a latest-value stream
        self.backlog = 0  # unsent events of other streams


class _Pending:
    """A queued subscription event; a newer value of a latest-value stream replaces it."""

    __slots__ = ("sub", "text")

    def __init__(self, sub: _Sub, text: str) -> None:
        self.sub = sub
        self.text = text


class GraphQLWebSocket:
    def __init__(
        self, websocket: WebSocket, protocol: wire.WireProtocol, services: Services
    ) -> None:
        self.ws = websocket
        self.protocol = protocol
        self.services = services
        self.settings = services.settings
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.init_received = False
        self.acknowledged = False
        self.closing = False
        self.opened_at = time.monotonic()
        self.finished = asyncio.Event()  # set once everything of this connection is released
        self.operation_count = 0
        self.last_pong = time.monotonic()
        self.principal: Principal | None = None  # set by an accepted connection_init
        self.scopes: frozenset[str] = ALL_SCOPES
        self.scope_key = ""
        self.coalesced = 0
        rate = services.settings.ws_messages_per_second
        self._bucket = TokenBucket(rate, services.settings.ws_message_burst) if rate else None
        self._outbox: deque[Any] = deque()
        self._subs: dict[str, _Sub] = {}  # by JSON id: operations whose events may be sent
        self._wake = asyncio.Event()
        self._close_frame: tuple[int, str] = (1000, "")
        self._runner = services.runner

    # -- lifecycle ---------------------------------------------------------------------

    async def serve(self) -> None:
        await self.ws.accept(subprotocol=self.protocol.name)
        self.services.connections.add(self)
        log.info(
            "websocket opened",
            extra={
                "peer": client_addr(self.ws),
                "origin": self.ws.headers.get("origin"),
                "protocol": self.protocol.name,
            },
        )
        reader = asyncio.create_task(self._read_loop(), name="ws-read")
        writer = asyncio.create_task(self._write_loop(), name="ws-write")
        timers = [asyncio.create_task(self._init_deadline(), name="ws-init-deadline")]
        try:
            await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.closing = True
            for task in (reader, writer, *timers, *self.operations.values()):
                task.cancel()
            tasks = [reader, writer, *timers, *self.operations.values()]
            await asyncio.gather(*tasks, return_exceptions=True)
            self.operations.clear()
            self.services.connections.discard(self)
            self.services.metrics.totals.closed_coalesced += self.coalesced
            self.finished.set()
            log.info(
                "websocket closed",
                extra={
                    "peer": client_addr(self.ws),
                    "origin": self.ws.headers.get("origin"),
                    "protocol": self.protocol.name,
                    "duration_s": round(time.monotonic() - self.opened_at, 3),
                    "operations": self.operation_count,
                    "key_id": self.principal.key_id if self.principal else None,
                },
            )

    def shut_down(self) -> None:
        """Server shutdown: end every operation here and close with 1001 (going away).

        No ``complete`` is sent: to a client it means the stream finished for good, and
        graphql-ws/Apollo clients would not resubscribe after reconnecting to another
        instance. A 1001 close makes them reconnect and resubscribe."""
        self._subs.clear()
        self.close(wire.GOING_AWAY, "server shutting down")

    def close(self, code: int, reason: str = "") -> None:
        """Close after whatever is already queued; later sends are dropped."""
        if self.closing:
            return
        self.closing = True
        self._close_frame = (code, reason[:120])
        self._outbox.append(_CLOSE)
        self._wake.set()

    # -- sending -----------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        if self.closing:
            return
        self._outbox.append(text)
        self._wake.set()

    def send_event(self, id_json: str, payload: str, *, coalesce: bool) -> None:
        """A subscription event whose payload was serialised once for many subscribers.

        Latest-value streams keep at most one unsent event per subscription: a newer one
        replaces it (counted in ``coalesced``). Other streams may fall ``subscriber_buffer``
        events behind; past that the subscription ends with ``SLOW_CONSUMER``, and a
        connection whose queue passes the hard cap is closed.
        """
        if self.closing:
            return
        sub = self._subs.get(id_json)
        if sub is None:
            return  # completed, or ended as a slow consumer: nothing more is sent for it
        text = self.protocol.next_message(id_json, payload)
        if coalesce:
            if sub.latest is not None:
                sub.latest.text = text
                self.coalesced += 1
                return
            sub.latest = _Pending(sub, text)
            self._outbox.append(sub.latest)
        else:
            if sub.backlog >= self.settings.subscriber_buffer:
                self._drop_slow(sub)
                return
            sub.backlog += 1
            self._outbox.append(_Pending(sub, text))
        if len(self._outbox) > self.settings.subscriber_buffer * 4:
            self.close(wire.POLICY_VIOLATION, "slow consumer: too far behind, closing")
            return
        self._wake.set()

    def _drop_slow(self, sub: _Sub) -> None:
        self.services.metrics.totals.dropped += 1
        id_json = sub.id_json
        del self._subs[id_json]  # what is still queued for it is dropped, not sent
        task = self.operations.pop(orjson.loads(id_json), None)
        if task is not None:
            task.cancel()
        self.send_errors(
            id_json,
            [
                {
                    "message": "subscription ended: the client is reading too slowly "
                    f"(more than {self.settings.subscriber_buffer} events behind)",
                    "extensions": {"code": ErrorCode.SLOW_CONSUMER.value},
                }
            ],
        )

    def send_result(self, id_json: str, result: dict[str, Any]) -> None:
        self.send_text(self.protocol.next_message(id_json, dumps(result).decode()))

    def send_errors(self, id_json: str, errors: list[dict[str, Any]]) -> None:
        self.send_text(self.protocol.error_message(id_json, errors))

    def send_complete(self, id_json: str) -> None:
        self.send_text(self.protocol.complete_message(id_json))

    async def _write_loop(self) -> None:
        outbox = self._outbox
        while True:
            await self._wake.wait()
            self._wake.clear()
            while outbox:
                item = outbox.popleft()
                try:
                    if item is _CLOSE:
                        code, reason = self._close_frame
                        await self.ws.close(code, reason)
                        return
                    if isinstance(item, _Pending):
                        sub = item.sub
                        if sub.latest is item:
                            sub.latest = None
                        else:
                            sub.backlog -= 1
                        if self._subs.get(sub.id_json) is not sub:
                            continue  # completed by the client (or dropped) meanwhile
                        item = item.text
                    await self.ws.send_text(item)
                except (WebSocketDisconnect, RuntimeError, OSError):
                    self.closing = True
                    return

    # -- receiving ---------------------------------------------------------------------

    async def _read_loop(self) -> None:
        limit = self.settings.ws_max_message_bytes
        bucket = self._bucket
        while not self.closing:
            try:
                frame = await self.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if frame["type"] == "websocket.disconnect":
                return
            if bucket is not None and not bucket.take():
                self.close(wire.TOO_MANY_MESSAGES, "Too many messages")
                return
            text = frame.get("text")
            if text is None:
                self.close(wire.BAD_REQUEST, "binary frames are not supported")
                return
            if len(text) > limit:
                self.close(wire.MESSAGE_TOO_BIG, f"message larger than {limit} bytes")
                return
            try:
                message = orjson.loads(text)
            except orjson.JSONDecodeError:
                self.close(wire.BAD_REQUEST, "invalid JSON")
                return
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                self.close(wire.BAD_REQUEST, "a message must be an object with a string type")
                return
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        protocol = self.protocol
        if kind == protocol.init:
            self._on_init(message.get("payload"))
        elif kind == protocol.subscribe:
            self._on_subscribe(message)
        elif kind == protocol.complete_from_client:
            self._on_complete(message.get("id"))
        elif protocol is wire.TRANSPORT and kind == "ping":
            self.send_text('{"type":"pong"}')
        elif protocol is wire.TRANSPORT and kind == "pong":
            self.last_pong = time.monotonic()
        elif protocol is wire.LEGACY and kind == "connection_terminate":
            self.close(1000, "terminated by the client")
        else:
            self.close(wire.BAD_REQUEST, f"unknown message type {kind[:40]!r}")

    def _on_init(self, payload: Any) -> None:
        if self.init_received:
            self.close(wire.TOO_MANY_INITIALISATIONS, "Too many initialisation requests")
            return
        self.init_received = True
        if payload is not None and not isinstance(payload, dict):
            self.close(wire.BAD_REQUEST, "connection_init payload must be an object")
            return
        keyring = self.services.keyring
        if keyring.enabled:
            present, value = init_authorization(payload)
            if not present:
                value = self.ws.headers.get("authorization")
            principal = keyring.authenticate(bearer_token(value))
            if principal is None:
                log.info("websocket refused: missing or invalid API key")
                self.close(wire.FORBIDDEN, "Forbidden")
                return
            self.principal = principal
            self.scopes = principal.scopes
            self.scope_key = principal.scope_key
        self.acknowledged = True
        self.last_pong = time.monotonic()
        self.send_text(self.protocol.ack_message())
        if self.settings.ws_ping_interval > 0:
            self.operations["\x00keepalive"] = asyncio.create_task(self._keepalive())

    def _on_subscribe(self, message: dict[str, Any]) -> None:
        if not self.acknowledged:
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
        id_json = wire.encode_id(op_id)
        if self._active_operations() >= self.settings.ws_max_operations:
            self.send_errors(
                id_json,
                [
                    {
                        "message": "too many active operations on this connection "
                        f"(limit {self.settings.ws_max_operations})",
                        "extensions": {"code": ErrorCode.RATE_LIMITED.value},
                    }
                ],
            )
            return
        self.operation_count += 1
        sub = self._subs[id_json] = _Sub(id_json)
        task = asyncio.create_task(self._run_operation(op_id, sub, payload))
        self.operations[op_id] = task

    def _on_complete(self, op_id: Any) -> None:
        if not isinstance(op_id, str):
            self.close(wire.BAD_REQUEST, "complete needs an operation id")
            return
        task = self.operations.pop(op_id, None)
        if task is not None:
            task.cancel()
            self._subs.pop(wire.encode_id(op_id), None)

    def _active_operations(self) -> int:
        return sum(1 for key in self.operations if not key.startswith("\x00"))

    # -- operations --------------------------------------------------------------------

    async def _run_operation(self, op_id: str, sub: _Sub, payload: dict[str, Any]) -> None:
        id_json = sub.id_json
        executor = self.services.executor
        result: dict[str, Any] | None = None
        errors: list[dict[str, Any]] | None = None
        try:
            variables = payload.get("variables")
            prepared = executor.prepare(
                payload.get("query"),
                payload.get("operationName"),
                variables,
                payload.get("extensions"),  # persisted queries (server/persisted.py)
            )
            if prepared.kind is OperationType.SUBSCRIPTION:
                executor.authorize(prepared, self.scopes)
                await self._runner.run(self, id_json, prepared, variables)
            else:
                result = await executor.execute(
                    prepared, variables, context=self.services.context(self.scopes)
                )
        except RequestError as error:
            errors = error.errors
        except Exception:
            log.exception("operation %s failed", op_id[:64])
            errors = [{"message": "Internal server error", "extensions": {"code": "INTERNAL"}}]
        finally:
            if self.operations.get(op_id) is asyncio.current_task():
                del self.operations[op_id]
        # Nothing more is sent for an id the client completed meanwhile (a cancellation
        # can be lost while a Redis command finishes: the operation then runs to the end).
        if self._subs.get(id_json) is not sub:
            return
        del self._subs[id_json]
        if errors is not None:
            self.send_errors(id_json, errors)
            return
        if result is not None:
            self.send_result(id_json, result)
        self.send_complete(id_json)

    # -- timers ------------------------------------------------------------------------

    async def _init_deadline(self) -> None:
        await asyncio.sleep(self.settings.ws_connection_init_timeout)
        if not self.init_received:
            self.close(wire.INIT_TIMEOUT, "Connection initialisation timeout")

    async def _keepalive(self) -> None:
        interval = self.settings.ws_ping_interval
        timeout = self.settings.ws_pong_timeout
        keepalive = self.protocol.keepalive
        message = f'{{"type":"{keepalive}"}}'
        while not self.closing:
            await asyncio.sleep(interval)
            if self.protocol is wire.TRANSPORT and time.monotonic() - self.last_pong > timeout:
                self.close(wire.KEEPALIVE_TIMEOUT, "no pong within the keep-alive timeout")
                return
            self.send_text(message)


def client_addr(websocket: WebSocket) -> str:
    client = websocket.client
    return f"{client.host}:{client.port}" if client else "unknown"


async def reject(websocket: WebSocket, code: int, reason: str) -> None:
    """Accept and close at once, so the client sees the close code and reason. The accept
    names a subprotocol the client offered: browsers fail a handshake that offered some and
    got none back (close 1006, the code and reason lost)."""
    offered = wire.choose(websocket.scope.get("subprotocols", []))
    with contextlib.suppress(Exception):
        await websocket.accept(subprotocol=offered.name if offered is not None else None)
        await websocket.close(code, reason)
