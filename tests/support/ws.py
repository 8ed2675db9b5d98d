"""A tiny GraphQL-over-WebSocket client that speaks raw frames (``websockets`` library).

::

    async with raw_ws(server.ws_url) as ws:              # graphql-transport-ws
        await ws.init()
        payload = await ws.query("{ exchanges }")         # the 'next' payload
    async with raw_ws(server.ws_url, subprotocol="graphql-ws") as ws:   # legacy
        await ws.init()
        payload = await ws.query("{ exchanges }")         # the 'data' payload
    async with raw_ws(server.ws_url) as ws:
        await ws.send({"type": "subscribe", "id": "1", "payload": {...}})
        assert (await ws.expect_close())[0] == 4401

Nothing is hidden: frames are sent as given and every frame received is returned, except
keep-alives (``ping``, answered with ``pong``, and legacy ``ka``), which ``recv`` skips unless
``keepalive=True``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin, Subprotocol

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


class WsClosed(AssertionError):
    """The server closed the connection while a message was expected."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"connection closed: {code} {reason!r}")
        self.code = code
        self.reason = reason


class WsOperationError(AssertionError):
    """An operation answered with an ``error`` message instead of a result."""

    def __init__(self, message: dict[str, Any]) -> None:
        super().__init__(f"operation failed: {message!r}")
        self.message = message
        self.payload = message.get("payload")


def _close_of(exc: ConnectionClosed) -> tuple[int, str]:
    frame = exc.rcvd
    if frame is None:  # no close frame: the TCP connection was dropped
        return 1006, ""
    return frame.code, frame.reason


class RawWebSocket:
    def __init__(self, connection: ClientConnection, protocol: str | None) -> None:
        self.connection = connection
        self.protocol = protocol
        #: Messages read by :meth:`expect_close` before the close frame.
        self.before_close: list[Any] = []

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected."""
        return self.connection.subprotocol

    @property
    def _legacy(self) -> bool:
        return self.protocol == LEGACY_WS

    async def send(self, message: Any) -> None:
        """Send ``message`` as a JSON text frame."""
        await self.connection.send(json.dumps(message))

    async def send_raw(self, data: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) frame exactly as given."""
        await self.connection.send(data)

    async def recv(
        self,
        timeout: float = 5,  # noqa: ASYNC109
        *,
        keepalive: bool = False,
    ) -> dict[str, Any]:
        """The next message, parsed. Raises ``WsClosed`` if the connection closes first and
        ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    raw = await self.connection.recv()
                except ConnectionClosed as exc:
                    raise WsClosed(*_close_of(exc)) from None
                message: dict[str, Any] = json.loads(raw)
                kind = message.get("type")
                if not keepalive and kind == "ping" and not self._legacy:
                    await self.send({"type": "pong"})
                    continue
                if not keepalive and kind == "ka" and self._legacy:
                    continue
                return message

    async def init(self, payload: Any = None, timeout: float = 5) -> dict[str, Any]:  # noqa: ASYNC109
        """``connection_init`` (with ``payload`` if given), then expect ``connection_ack``."""
        message: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        await self.send(message)
        ack = await self.recv(timeout)
        assert ack.get("type") == "connection_ack", ack
        return ack

    def _start_message(
        self, op_id: str, query: str, variables: dict[str, Any] | None, operation_name: str | None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        if operation_name is not None:
            payload["operationName"] = operation_name
        return {"type": "start" if self._legacy else "subscribe", "id": op_id, "payload": payload}

    async def operation(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        id: str = "1",
        operation_name: str | None = None,
        timeout: float = 5,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Start an operation; return its messages up to and including ``complete`` or
        ``error``. Messages of other operations are not expected and fail the call."""
        await self.send(self._start_message(id, query, variables, operation_name))
        messages: list[dict[str, Any]] = []
        while True:
            message = await self.recv(timeout)
            assert message.get("id") == id, (id, message)
            messages.append(message)
            if message.get("type") in ("complete", "error"):
                return messages

    async def query(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        id: str = "1",
        operation_name: str | None = None,
        timeout: float = 5,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Run a query; return the payload of its single ``next`` (legacy: ``data``) message.
        The operation must then ``complete``; an ``error`` message raises
        ``WsOperationError``."""
        messages = await self.operation(query, variables, id, operation_name, timeout)
        last = messages[-1]
        if last.get("type") == "error":
            raise WsOperationError(last)
        result_type = "data" if self._legacy else "next"
        assert [m.get("type") for m in messages] == [result_type, "complete"], messages
        payload: dict[str, Any] = messages[0]["payload"]
        return payload

    async def expect_close(self, timeout: float = 5) -> tuple[int, str]:  # noqa: ASYNC109
        """Wait for the server to close; return ``(code, reason)``. Messages received
        first are kept in :attr:`before_close`."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    raw = await self.connection.recv()
                except ConnectionClosed as exc:
                    return _close_of(exc)
                self.before_close.append(raw)


@contextlib.asynccontextmanager
async def raw_ws(
    url: str,
    subprotocol: str | None = TRANSPORT_WS,
    *,
    subprotocols: Sequence[str] | None = None,
    origin: str | None = None,
    headers: dict[str, str] | None = None,
    open_timeout: float = 5,
) -> AsyncIterator[RawWebSocket]:
    """Open a WebSocket offering ``subprotocol`` (or the list ``subprotocols``; ``None`` for
    none), optionally with an ``Origin`` header. Closed on exit."""
    offered = list(subprotocols) if subprotocols is not None else None
    if offered is None and subprotocol is not None:
        offered = [subprotocol]
    connection = await connect(
        url,
        subprotocols=[Subprotocol(name) for name in offered] if offered else None,
        origin=Origin(origin) if origin is not None else None,
        additional_headers=headers,
        open_timeout=open_timeout,
        close_timeout=2,
        max_size=None,
        ping_interval=None,
        compression=None,
    )
    try:
        yield RawWebSocket(connection, connection.subprotocol)
    finally:
        await connection.close()
