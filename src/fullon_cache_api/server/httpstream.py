"""Operations streamed over one HTTP response: what Server-Sent Events
(:mod:`server.sse`) and Apollo's multipart subscriptions (:mod:`server.multipart`) share.

An :class:`HttpStream` is a connection like a WebSocket: it has an
:class:`~fullon_cache_api.server.outbox.Outbox` (framed by the transport's
:class:`StreamFraming`), runs its operations with
:func:`~fullon_cache_api.server.operation.run_operation` (the same delivery groups, limits,
scopes, cost and persisted queries), sits in ``Services.connections`` (counted in
``/metrics`` by its framing's name, closed by the one shutdown path) and holds a place in
the connection limiter (``WS_MAX_CONNECTIONS``, ``WS_MAX_CONNECTIONS_PER_IP``).

Its response (:meth:`HttpStream.serve`) has one writer, which drains the outbox into the
response body, and one watcher, which waits for the client to go away; whichever ends first
ends the stream and releases everything its operations held. Besides that:

* a heartbeat every ``HTTP_STREAM_HEARTBEAT_S`` (an SSE comment, a multipart ``{}`` part),
  so proxies keep the response open and the client sees the server is alive;
* a response whose socket has taken nothing for ``WS_PONG_TIMEOUT`` is dropped (the
  connection is closed without finishing the body), as a WebSocket that never answers the
  keep-alive is closed with 1011;
* a close (server shutdown, a revoked key, ``OUTBOX_MAX_BYTES``) goes after what was queued,
  then ends the body the transport's way (:meth:`StreamFraming.ending`).

In "distinct connections" mode (multipart, and SSE without a token) a stream carries one
operation and ends when it does. An SSE reservation (single connection mode) carries any
number, added and stopped by separate requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from fullon_cache_api.errors import ErrorCode, error_dict
from fullon_cache_api.server import wire
from fullon_cache_api.server.keyring import Principal
from fullon_cache_api.server.operation import OperationHost
from fullon_cache_api.server.outbox import Framing, Lane
from fullon_cache_api.subscriptions.flag import Flag

if TYPE_CHECKING:
    from fullon_cache_api.server.services import Services

log = logging.getLogger("fullon.api.cache.httpstream")

NORMAL = 1000

#: The error that ends a stream the server closes early, by the WebSocket close code the
#: same cause has (:mod:`server.wire`).
CLOSE_ERRORS = {
    wire.GOING_AWAY: ErrorCode.SHUTTING_DOWN,
    wire.POLICY_VIOLATION: ErrorCode.SLOW_CONSUMER,
    wire.FORBIDDEN: ErrorCode.FORBIDDEN,
}


class StreamFraming(Framing, Protocol):
    """A transport's framing of a streamed response (besides the three operation messages)."""

    @property
    def name(self) -> str:
        """The protocol's name (``/metrics`` label, logs)."""
        ...

    @property
    def media_type(self) -> str: ...

    def opening(self) -> str:
        """Written right after the headers."""
        ...

    def heartbeat(self) -> str: ...

    def ending(self, errors: list[dict[str, Any]] | None) -> str:
        """The end of the body: after the stream finished (``errors`` is ``None``), or when
        the server ends it early, with why."""
        ...


class HttpStream(OperationHost):
    def __init__(
        self,
        services: Services,
        framing: StreamFraming,
        principal: Principal,
        *,
        address: str,
        peer: str,
        origin: str | None = None,
        single: bool = False,
    ) -> None:
        super().__init__(services, framing)
        self.framing = framing
        self.protocol = framing  # what Services.stats() counts connections by
        keys = services.keyring.enabled
        self.principal: Principal | None = principal if keys else None
        self.scopes = principal.scopes
        # As on a WebSocket, so that the same subscription shares a group across transports.
        self.scope_key = principal.scope_key if keys else ""
        self.address = address
        self.peer = peer
        self.origin = origin
        self.single = single  # carries operations added later (an SSE reservation)
        self.opened_at = time.monotonic()
        self.operation_count = 0
        self.finished = Flag()  # set once everything of this stream is released
        self.attached = False  # its response is claimed (being served, or about to be)
        self._served = False
        self.on_release: Callable[[], None] | None = None
        self._opened = False
        self._released = False
        self._releasing: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    # -- lifecycle ---------------------------------------------------------------------

    def open(self) -> None:
        """Join the server's connections (its place in the limiter is already taken)."""
        self._opened = True
        self.services.connections.add(self)
        log.info(
            "%s stream opened",
            self.framing.name,
            extra={"peer": self.peer, "origin": self.origin, "protocol": self.framing.name},
        )

    def close(self, code: int, reason: str = "") -> None:
        """End after what is already queued (``NORMAL``: the stream finished). A
        reservation whose response has not started is released at once."""
        if self._released:
            return
        self.outbox.close(code, reason)
        if self.single and not self.attached and self._releasing is None:
            self._releasing = asyncio.create_task(self._release(), name="stream-release")

    def claim(self) -> bool:
        """Claim the stream's response for a request; ``False`` when one has it already."""
        if self.attached:
            return False
        self.attached = True
        return True

    def deadline(self, seconds: float) -> None:
        """Release the stream unless its response has started within ``seconds`` (an SSE
        reservation nobody opened)."""

        async def expire() -> None:
            await asyncio.sleep(seconds)
            if not self.attached:
                self.close(NORMAL)

        self._tasks.append(asyncio.create_task(expire(), name="stream-deadline"))

    @property
    def closing(self) -> bool:
        return self.outbox.closing or self._released

    @property
    def coalesced(self) -> int:
        return self.outbox.coalesced

    # -- operations --------------------------------------------------------------------

    def start(self, op_id: str, payload: dict[str, Any]) -> None:
        """Run one operation on this stream (``op_id`` must not be running)."""
        lane = self.outbox.open(wire.encode_id(op_id))
        limit = self.services.settings.ws_max_operations
        if len(self.operations) >= limit:
            message = f"too many active operations on this stream (limit {limit})"
            self.outbox.finish(lane, [error_dict(message, ErrorCode.RATE_LIMITED)])
            return
        self.operation_count += 1
        task = asyncio.create_task(self._run(op_id, lane, payload), name="stream-operation")
        self.operations[op_id] = (task, lane)

    def stop(self, op_id: str) -> bool:
        """Stop an operation the client no longer wants; nothing more is sent for it."""
        entry = self.operations.pop(op_id, None)
        if entry is None:
            return False
        task, lane = entry
        task.cancel()
        self.outbox.drop(lane)
        return True

    async def _run(self, op_id: str, lane: Lane, payload: dict[str, Any]) -> None:
        try:
            # Idle polling after its answer (server/idle_poll.py).
            await self.run(lane, payload, on_answer=self.services.touch)
        finally:
            entry = self.operations.get(op_id)
            if entry is not None and entry[1] is lane:
                del self.operations[op_id]
            if not self.single:
                self.close(NORMAL)  # after its last message

    # -- the response ------------------------------------------------------------------

    async def serve(self, receive: Receive, send: Send) -> None:
        """Stream the response until it ends or the client goes away; then release
        everything."""
        if self._served:
            raise RuntimeError("this stream is already being served")
        self._served = self.attached = True
        writer = asyncio.create_task(self._write_loop(send), name="stream-write")
        watcher = asyncio.create_task(self._watch(receive), name="stream-watch")
        self._tasks += [writer, watcher]
        if self.services.settings.http_stream_heartbeat_s > 0:
            self._tasks.append(asyncio.create_task(self._heartbeat(writer), name="stream-beat"))
        try:
            await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self._release()

    async def _write_loop(self, send: Send) -> None:
        framing = self.framing
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", framing.media_type.encode()),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
                ],
            }
        )
        opening = framing.opening()
        if opening:
            await send(_body(opening, more=True))

        async def write(frames: list[str]) -> None:
            await send(_body("".join(frames), more=True))

        outbox = self.outbox
        while True:
            batch = await outbox.next_batch()
            if batch.frames:
                await outbox.send(write, batch.frames)
            if batch.close is not None:
                code, reason = batch.close
                errors = None
                if code != NORMAL:
                    errors = [error_dict(reason, CLOSE_ERRORS.get(code, ErrorCode.INTERNAL))]
                await send(_body(framing.ending(errors), more=False))
                return

    async def _watch(self, receive: Receive) -> None:
        """Until the client goes away (the request body was read already)."""
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                return

    async def _heartbeat(self, writer: asyncio.Task[None]) -> None:
        settings = self.services.settings
        interval = settings.http_stream_heartbeat_s
        beat = self.framing.heartbeat()
        while True:  # also while closing: a close the socket does not take is dropped too
            await asyncio.sleep(interval)
            stalled = self.outbox.stalled_for()
            if stalled >= settings.ws_pong_timeout:
                log.info(
                    "%s stream dropped: its socket took nothing for %.0f s",
                    self.framing.name,
                    stalled,
                    extra={"peer": self.peer, "protocol": self.framing.name},
                )
                writer.cancel()  # the response ends unfinished: the connection is closed
                return
            if stalled == 0.0:
                self.outbox.control(beat)

    async def _release(self) -> None:
        if self._released:
            return
        self._released = True
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        tasks += [task for task, _ in self.operations.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.operations.clear()
        services = self.services
        if self._opened:
            services.connections.discard(self)
            services.limiter.release(self.address)
        services.closed_coalesced += self.outbox.coalesced
        if self.on_release is not None:
            self.on_release()
        self.finished.set()
        if self._opened:
            log.info(
                "%s stream closed",
                self.framing.name,
                extra={
                    "peer": self.peer,
                    "origin": self.origin,
                    "protocol": self.framing.name,
                    "duration_s": round(time.monotonic() - self.opened_at, 3),
                    "operations": self.operation_count,
                    "key_id": self.principal.key_id if self.principal else None,
                },
            )


def _body(text: str, *, more: bool) -> Message:
    return {"type": "http.response.body", "body": text.encode(), "more_body": more}


class StreamResponse(Response):
    """A Starlette response that serves an :class:`HttpStream`."""

    def __init__(self, stream: HttpStream) -> None:
        self.stream = stream
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.stream.serve(receive, send)


def client_of(scope: Scope) -> tuple[str, str]:
    """``(address, "host:port")`` of the request's client."""
    client = scope.get("client")
    if not client:
        return "unknown", "unknown"
    host, port = client[0], client[1]
    return str(host), f"{host}:{port}"
