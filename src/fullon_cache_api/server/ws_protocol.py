"""The WebSocket protocol the server runs on: uvicorn's, with a way out below the ASGI chain.

:class:`FramedWebSocketProtocol` is uvicorn's ``websockets-sansio`` protocol (what
``--ws auto`` picks), unchanged for everything it does: the handshake, subprotocol and
permessage-deflate negotiation, reading, pings, the closing handshake, shutdown. It adds one
thing: the ASGI scope of each connection carries a :class:`Wire` (extension
``"fullon.websocket.wire"``) through which the connection handler
(:class:`~fullon_cache_api.server.socket.FramedSocket`) writes a whole batch of frames,
framed by itself, with one ``transport.write``, and receives each data message as the
protocol reads it (:meth:`Wire.listen`): a callback run from ``data_received`` instead of
uvicorn's per-message ASGI queue, its read pause/resume, and Starlette's ``receive``. The
end of the connection (the peer's close, a lost connection, shutdown) still comes through
ASGI as ``websocket.disconnect``. While a listener is set, the common client frame is read
by :class:`~fullon_cache_api.server.ws_frames.DirectFrames` rather than by websockets'
parser, which still reads every other frame.

Why (issue 14, measured with py-spy at 1,000 subscribers x 100 pub/s before the change): one
``transport.write`` system call per message was 49% of the server's CPU, the ASGI send
chain (Starlette's ``send_text``, uvicorn's ``send``) 10% and framing with the websockets
library 10%. Through the ASGI chain, every message is one ``websocket.send``: one call chain,
one frame built by ``websockets``, one ``transport.write``. A batch sent through the
:class:`Wire` costs one write whatever its size, and framing a text message here (a two- to
ten-byte header, RFC 6455 §5.2) costs about 0.3 µs against 1.8 µs for ``websockets``'
``send_text`` + ``data_to_send``.

Alternatives measured (see BENCHMARKS.md, "Fan-out: the WebSocket write path"): the same
handler over plain uvicorn (``--ws auto``, ``websockets`` or ``wsproto``: one ASGI send per
frame), and this protocol with the batch framed by ``websockets``' sans-I/O
``ServerProtocol.send_text`` instead of by hand. A custom protocol class passed to uvicorn
(``ws=``) is a supported extension point, where reaching the transport through the ASGI
``send`` callable would depend on how Starlette wraps it.

The app works on any uvicorn WebSocket implementation: without the extension it sends
through Starlette, one frame at a time (:class:`~fullon_cache_api.server.socket.StarletteSocket`).
``fullon-cache-api serve`` uses this protocol; embedders pass
``ws="fullon_cache_api.server.ws_protocol:FramedWebSocketProtocol"`` to uvicorn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import PerMessageDeflate

from fullon_cache_api.server.inbox import Inbox
from fullon_cache_api.server.ws_frames import DirectFrames
from fullon_cache_api.subscriptions.flag import Flag

EXTENSION = "fullon.websocket.wire"
PROTOCOL_PATH = "fullon_cache_api.server.ws_protocol:FramedWebSocketProtocol"


class Wire:
    """What the connection handler may do with its connection below ASGI: write bytes it
    framed itself, wait while the transport's buffer is full, and learn whether
    permessage-deflate was negotiated."""

    __slots__ = ("_protocol",)

    def listen(self, on_message: Callable[[str | bytes], object] | None) -> None:
        """From now on, each complete data message (text as ``str``, binary as ``bytes``)
        goes to ``on_message`` as soon as it is read, instead of into the ASGI queue. Call it
        before accepting: nothing can be queued before the handshake's answer. ``None``
        stops (the handler is done: the protocol no longer holds it)."""
        self._protocol.listener = on_message

    def __init__(self, protocol: FramedWebSocketProtocol) -> None:
        self._protocol = protocol

    @property
    def open(self) -> bool:
        """Data frames may still be written (the handshake is done, no close was sent,
        the peer is connected)."""
        protocol = self._protocol
        return (
            protocol.handshake_complete
            and not protocol.close_sent
            and not protocol.disconnected
            and not protocol.transport.is_closing()
        )

    @property
    def writable(self) -> bool:
        """The transport's buffer is under its high-water mark."""
        return self._protocol.writable.is_set()

    async def drain(self) -> None:
        """Wait until the transport takes more (or the connection is lost)."""
        await self._protocol.writable.wait()

    def write(self, data: bytes) -> None:
        self._protocol.transport.write(data)

    @property
    def deflate(self) -> PerMessageDeflate | None:
        """The negotiated permessage-deflate extension, shared with the protocol's own
        sends, so its compression context stays the one the client inflates with."""
        for extension in self._protocol.conn.extensions:
            if isinstance(extension, PerMessageDeflate):
                return extension
        return None


class FramedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, offering a :class:`Wire` to the app. While a
    listener is set, client frames are read by :class:`~.ws_frames.DirectFrames` (the
    common frame directly, the others by websockets' parser, as uvicorn reads them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Memory per idle connection: uvicorn's ASGI receive queue (an ``asyncio.Queue``:
        # three deques and an event, about 3 KB) and its ``writable`` event (a deque, about
        # 760 bytes) are replaced by objects with the methods uvicorn uses that hold nothing
        # while nobody waits (``server/inbox.py``, ``subscriptions/flag.py``). Here the
        # queue carries only the ``connect`` event and the end of the connection (messages
        # go to the listener), and ``writable`` is awaited only while the transport's
        # buffer is full.
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag(True)  # type: ignore[assignment]
        self.listener: Callable[[str | bytes], object] | None = None
        self.frames_reader = DirectFrames(
            self.conn, super().data_received, self._deliver, self.handle_parser_exception
        )

    def data_received(self, data: bytes) -> None:
        self.frames_reader.data_received(
            data, self.handshake_complete and self.listener is not None
        )

    def _deliver(self, text: bool, data: bytes) -> None:
        self.curr_msg_data_type = "text" if text else "bytes"
        self.frames = [data]
        self.send_receive_event_to_app()

    def send_receive_event_to_app(self) -> None:
        """A complete message: to the listener when one is set (:meth:`Wire.listen`), else
        into the ASGI queue as uvicorn does. Nothing pauses reading: the listener handles
        each message before the next is parsed (and the app bounds what that may cost)."""
        listener = self.listener
        if listener is None:
            super().send_receive_event_to_app()
            return
        frames = self.frames
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        self.frames = []
        if self.close_sent:
            return  # past the close: discarded, as uvicorn does
        message: str | bytes
        if self.curr_msg_data_type == "text":
            try:
                message = data.decode()
            except UnicodeDecodeError:
                # As uvicorn: 1007 (invalid frame payload data) and the connection ends.
                self.logger.info("Invalid UTF-8 sequence received from client.")
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        else:
            message = bytes(data)
        try:
            listener(message)
        except Exception:
            self.logger.exception("WebSocket message handler failed")
            self.conn.fail(1011, "internal error")
            if self.conn.close_sent is not None:
                self.handle_parser_exception()
            else:
                self.transport.close()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # uvicorn keeps the handshake's response (its headers) for the life of the
            # connection but reads it only to send it, which it just did: let it go
            # (about 2 KB per connection; nothing reads it once the handshake is complete).
            self.response = None  # type: ignore[assignment]

    async def run_asgi(self) -> None:
        # Set here, in the ASGI task, before the app sees the scope.
        extensions = self.scope.setdefault("extensions", {})
        extensions[EXTENSION] = {"wire": Wire(self)}
        await super().run_asgi()


__all__ = ["EXTENSION", "PROTOCOL_PATH", "FramedWebSocketProtocol", "Wire"]
