"""The WebSocket as the connection handler sees it: four operations and a few facts.

The handler (:mod:`fullon_cache_api.server.websocket`) depends on this small protocol, not
on Starlette or uvicorn, so its state machine and close codes are tested in memory
(``tests/test_websocket_protocol.py``) and run for real through :class:`StarletteSocket`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect


class SocketClosed(Exception):
    """The peer went away while sending."""


class Socket(Protocol):
    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def peer(self) -> str:
        """``host:port`` of the client, for logs."""
        ...

    @property
    def address(self) -> str:
        """The client's host, for per-address limits."""
        ...

    async def accept(self, subprotocol: str | None) -> None: ...

    async def receive(self) -> str | bytes | None:
        """The next message: text, bytes, or ``None`` once the peer has gone."""
        ...

    async def send(self, frames: list[str]) -> None:
        """Send text frames in order (raises :class:`SocketClosed`)."""
        ...

    async def close(self, code: int, reason: str) -> None: ...


class StarletteSocket:
    """:class:`Socket` over a Starlette (ASGI) WebSocket."""

    __slots__ = ("_ws",)

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    @property
    def headers(self) -> Mapping[str, str]:
        return self._ws.headers

    @property
    def peer(self) -> str:
        client = self._ws.client
        return f"{client.host}:{client.port}" if client else "unknown"

    @property
    def address(self) -> str:
        client = self._ws.client
        return client.host if client else "unknown"

    @property
    def offered_subprotocols(self) -> list[str]:
        return list(self._ws.scope.get("subprotocols", []))

    async def accept(self, subprotocol: str | None) -> None:
        await self._ws.accept(subprotocol=subprotocol)

    async def receive(self) -> str | bytes | None:
        try:
            message = await self._ws.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is not None:
            return str(text)
        data = message.get("bytes")
        return bytes(data) if data is not None else b""

    async def send(self, frames: list[str]) -> None:
        try:
            for frame in frames:
                await self._ws.send_text(frame)
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            raise SocketClosed from exc

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self._ws.close(code, reason)
