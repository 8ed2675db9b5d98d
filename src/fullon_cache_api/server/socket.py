"""The WebSocket as the connection handler sees it: a few operations and a few facts.

The handler (:mod:`fullon_cache_api.server.websocket`) depends on this small protocol, not
on Starlette or uvicorn, so its state machine and close codes are tested in memory
(``tests/test_websocket_protocol.py``) and run for real through :class:`FramedSocket` (on
the server's own uvicorn protocol, :mod:`fullon_cache_api.server.ws_protocol`: a batch is
framed here and written with one system call) or :class:`StarletteSocket` (any other uvicorn
WebSocket implementation: one ASGI send per frame).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable, Mapping
from typing import Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

from fullon_cache_api.server.ws_protocol import EXTENSION, Wire


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

    def listen(self, on_message: Callable[[str | bytes], object] | None) -> bool:
        """Deliver each incoming message to ``on_message`` as it is read (called before
        :meth:`accept`); :meth:`receive` then only says when the peer has gone. False
        when the socket cannot: read messages with :meth:`receive`. ``None`` stops."""
        ...

    async def receive(self) -> str | bytes | None:
        """The next message: text, bytes, or ``None`` once the peer has gone."""
        ...

    async def send(self, frames: list[str]) -> None:
        """Send text frames in order (raises :class:`SocketClosed`)."""
        ...

    def send_now(self, frames: list[str]) -> bool:
        """Write text frames at once, without waiting, if the socket can: False when it
        cannot take them now, or is closed (send them with :meth:`send`, which says)."""
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

    def listen(self, on_message: Callable[[str | bytes], object] | None) -> bool:
        return False  # every message comes through Starlette's receive

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

    def send_now(self, frames: list[str]) -> bool:
        return False  # every ASGI send is awaited

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self._ws.close(code, reason)


_TEXT = 0x81  # FIN + text opcode
_COMPRESSED_TEXT = 0xC1  # FIN + RSV1 (permessage-deflate) + text opcode
_SHORT = struct.Struct("!BBH").pack
_LONG = struct.Struct("!BBQ").pack


def _header(first: int, length: int) -> bytes:
    if length < 126:
        return bytes((first, length))
    if length < 65536:
        return _SHORT(first, 126, length)
    return _LONG(first, 127, length)


def encode_frames(
    frames: list[str], deflate: PerMessageDeflate | None, compress_min_bytes: int
) -> bytes:
    """Text frames as one run of unmasked server-to-client WebSocket frames (RFC 6455
    §5.2), one message each. With permessage-deflate negotiated, a message of at least
    ``compress_min_bytes`` is compressed (RFC 7692: RSV1 set) through the connection's own
    extension object; a smaller one is sent as it is, which the extension allows per
    message. The compression context only ever sees what it compressed, like the peer's."""
    chunks: list[bytes] = []
    append = chunks.append
    for frame in frames:
        data = frame.encode()
        if deflate is not None and len(data) >= compress_min_bytes:
            data = bytes(deflate.encode(Frame(Opcode.TEXT, data)).data)
            append(_header(_COMPRESSED_TEXT, len(data)))
        else:
            append(_header(_TEXT, len(data)))
        append(data)
    return b"".join(chunks)


class FramedSocket(StarletteSocket):
    """:class:`Socket` over the server's own uvicorn protocol (``ws_protocol``): the
    handshake and closing go through Starlette as usual; incoming messages reach the
    handler from the protocol itself (:meth:`listen`, ``Wire.listen``), and data frames are
    framed here and each batch is written with one ``transport.write``
    (:func:`encode_frames`).

    ``compress_min_bytes`` (``WS_COMPRESS_MIN_BYTES``) keeps small messages out of zlib:
    deflating a 168-byte ticker event cost 23% of the fan-out's CPU and saves little."""

    __slots__ = ("_compress_min", "_deflate", "_wire")

    def __init__(self, websocket: WebSocket, wire: Wire, compress_min_bytes: int) -> None:
        super().__init__(websocket)
        self._wire = wire
        self._compress_min = compress_min_bytes
        # Negotiated in the handshake, before the app runs: the same for every message.
        self._deflate = wire.deflate

    def listen(self, on_message: Callable[[str | bytes], object] | None) -> bool:
        self._wire.listen(on_message)
        return True

    async def send(self, frames: list[str]) -> None:
        wire = self._wire
        if not wire.writable:
            await wire.drain()
        self._write(frames)

    def send_now(self, frames: list[str]) -> bool:
        wire = self._wire
        if not wire.writable or not wire.open:
            return False
        self._write(frames)
        return True

    def _write(self, frames: list[str]) -> None:
        wire = self._wire
        if not wire.open:
            raise SocketClosed
        wire.write(encode_frames(frames, self._deflate, self._compress_min))


def socket_for(websocket: WebSocket, compress_min_bytes: int) -> StarletteSocket:
    """A :class:`FramedSocket` when the server runs the product's uvicorn protocol, else a
    :class:`StarletteSocket`."""
    extensions = websocket.scope.get("extensions") or {}
    wire = (extensions.get(EXTENSION) or {}).get("wire")
    if isinstance(wire, Wire):
        return FramedSocket(websocket, wire, compress_min_bytes)
    return StarletteSocket(websocket)
