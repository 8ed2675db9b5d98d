"""Reading a client's WebSocket frames: the common frame here, every other one by websockets.

A client's message is nearly always one complete frame in one read: masked, final, text or
binary, perhaps compressed, and under the size limit. :class:`DirectFrames` reads such a
frame itself (RFC 6455 §5.2: a two- to fourteen-byte header, then the masked payload) and
hands the message straight to the connection's listener. Any other frame (control frames,
fragments, reserved bits, an unmasked or oversized frame, one that has not fully arrived)
goes whole, as bytes, to the ``websockets`` parser the protocol already runs, which answers
pings, runs the closing handshake and fails the connection as it always does. So the parser
only ever receives whole frames (or the rest of the one it is reading), and it is always at
a frame boundary when this reader takes the next frame.

Why: websockets' generator-based parser, with uvicorn's event dispatch, costs about 4 µs
per message (a 230-byte query, in a loop; more in the server, 9% of its samples at 10
connections) against about 1 µs here; every query pays it once. See BENCHMARKS.md, "Reading
frames directly". A permessage-deflate payload is still inflated by websockets' own
extension object, so its decompression context stays the one websockets keeps.

The direct path starts only on a connection whose parser is known to be at a frame boundary:
the handshake is done, a listener is set, and no byte arrived after the upgrade request
before that (a client must wait for the server's answer: RFC 6455 §4.1). Otherwise, and for
the rest of a connection once it is closing or failed, every byte goes to the parser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

if TYPE_CHECKING:
    from websockets.server import ServerProtocol

_TEXT = 0x1
_BINARY = 0x2
_FIN = 0x80
_RSV1 = 0x40
_RSV23 = 0x30
_OPCODE = 0x0F
_MASKED = 0x80
_LENGTH = 0x7F
_END_OF_REQUEST = b"\r\n\r\n"


class DirectFrames:
    """The frame reader of one connection (see the module's text).

    ``feed`` hands bytes to the websockets parser (and lets the protocol handle what it
    produced); ``deliver`` takes one complete message (text or binary, as its opcode says);
    ``failed`` is called after this reader failed the connection (the parser's
    ``parser_exc`` set, a close frame queued), as the protocol does when the parser fails.
    """

    __slots__ = (
        "_conn",
        "_deflate",
        "_deliver",
        "_failed",
        "_fed",
        "_feed",
        "_held",
        "_mode",
        "_parser_owes",
        "_request_end",
        "_tail",
        "engaged",
    )

    _UNDECIDED, _DIRECT, _PARSER = 0, 1, 2

    def __init__(
        self,
        conn: ServerProtocol,
        feed: Callable[[bytes], None],
        deliver: Callable[[bool, bytes], None],
        failed: Callable[[], None],
    ) -> None:
        self._conn = conn
        self._feed = feed
        self._deliver = deliver
        self._failed = failed
        self._mode = self._UNDECIDED
        self._fed = 0  # bytes given to the parser before deciding
        self._request_end: int | None = None  # where the upgrade request ends in them
        self._tail = b""  # the last bytes before ``_fed``, to find the request's end
        self._held = b""  # the start of a frame header that has not fully arrived
        self._parser_owes = 0  # bytes of a frame the parser has begun and not received
        self._deflate: PerMessageDeflate | None = None
        self.engaged = False  # the direct path started on this connection (tests, benchmarks)

    @property
    def direct(self) -> bool:
        """Whether frames are being read here now."""
        return self._mode == self._DIRECT

    def disable(self) -> None:
        """Leave every frame to the parser (before the direct path started: tests and
        benchmarks compare the two ways)."""
        if self._mode == self._UNDECIDED:
            self._mode = self._PARSER

    def data_received(self, data: bytes, ready: bool) -> None:
        """Bytes from the transport. ``ready``: the handshake is done and a listener is
        set, so the direct path may start with these bytes."""
        mode = self._mode
        if mode == self._DIRECT:
            self._read(data)
        elif mode == self._PARSER:
            self._feed(data)
        elif ready and self._may_start():
            self._mode = self._DIRECT
            self.engaged = True
            self._read(data)
        else:
            self._before_start(data)

    # Deciding

    def _before_start(self, data: bytes) -> None:
        if self._request_end is None:
            window = self._tail + data
            index = window.find(_END_OF_REQUEST)
            if index >= 0:
                self._request_end = self._fed - len(self._tail) + index + len(_END_OF_REQUEST)
            self._tail = window[-(len(_END_OF_REQUEST) - 1) :]
        self._fed += len(data)
        if self._request_end is not None and self._fed > self._request_end:
            self._mode = self._PARSER  # bytes followed the request: the parser keeps them
        self._feed(data)

    def _may_start(self) -> bool:
        conn = self._conn
        if conn.state is not State.OPEN or conn.parser_exc is not None:
            self._mode = self._PARSER
            return False
        if self._request_end is None or self._fed != self._request_end:
            self._mode = self._PARSER
            return False
        deflate: PerMessageDeflate | None = None
        for extension in conn.extensions:
            if not isinstance(extension, PerMessageDeflate):
                self._mode = self._PARSER  # an extension this reader does not know
                return False
            deflate = extension
        self._deflate = deflate
        self._tail = b""
        return True

    # Reading

    def _usable(self) -> bool:
        conn = self._conn
        return conn.state is State.OPEN and conn.parser_exc is None

    def _read(self, data: bytes) -> None:
        if self._held:
            data = self._held + data
            self._held = b""
        owed = self._parser_owes
        if owed:
            if len(data) <= owed:
                self._parser_owes = owed - len(data)
                self._feed(data)
                return
            self._parser_owes = 0
            self._feed(data[:owed])
            data = data[owed:]
        conn = self._conn
        end = len(data)
        pos = 0
        while pos < end:
            if not self._usable():
                self._mode = self._PARSER  # closing or failed: the parser discards the rest
                self._feed(data[pos:])
                return
            if end - pos < 2:
                self._held = data[pos:]
                return
            first = data[pos]
            second = data[pos + 1]
            length = second & _LENGTH
            extended = 0 if length < 126 else 2 if length == 126 else 8
            head = 2 + extended + (4 if second & _MASKED else 0)
            if end - pos < head:
                self._held = data[pos:]  # at most 13 bytes
                return
            if extended:
                length = int.from_bytes(data[pos + 2 : pos + 2 + extended], "big")
            size = head + length
            if end - pos < size:
                # Not all here: the parser reads it (and buffers the rest as it comes).
                self._parser_owes = size - (end - pos)
                self._feed(data[pos:])
                return
            opcode = first & _OPCODE
            limit = conn.max_message_size
            if (
                opcode in (_TEXT, _BINARY)
                and first & _FIN
                and not first & _RSV23
                and (not first & _RSV1 or self._deflate is not None)
                and second & _MASKED
                and (limit is None or length <= limit)
                and conn.current_size is None
            ):
                mask = data[pos + head - 4 : pos + head]
                payload = apply_mask(data[pos + head : pos + size], mask)
                pos += size
                if first & _RSV1:
                    inflated = self._inflate(opcode, payload, limit)
                    if inflated is None:
                        return
                    payload = inflated
                if conn.debug:  # as the parser logs each frame it reads (redacted: redact.py)
                    conn.logger.debug("< %s", Frame(Opcode(opcode), payload))
                self._deliver(opcode == _TEXT, payload)
            else:
                self._feed(data[pos : pos + size])  # one whole frame, for the parser
                pos += size

    def _inflate(self, opcode: int, payload: bytes, limit: int | None) -> bytes | None:
        """A compressed message, inflated by the negotiated extension; ``None`` when that
        failed the connection (as websockets' parser fails it)."""
        deflate = self._deflate
        assert deflate is not None
        frame = Frame(Opcode(opcode), payload, fin=True, rsv1=True)
        conn = self._conn
        try:
            return bytes(deflate.decode(frame, max_size=limit).data)
        except ProtocolError as exc:
            conn.fail(CloseCode.PROTOCOL_ERROR, str(exc))
            conn.parser_exc = exc
        except PayloadTooBig as exc:
            exc.set_current_size(conn.current_size)
            conn.fail(CloseCode.MESSAGE_TOO_BIG, str(exc))
            conn.parser_exc = exc
        self._mode = self._PARSER
        self._failed()
        return None


__all__ = ["DirectFrames"]
