"""Client frames read directly (``server/ws_frames.py``) behave exactly as websockets' parser.

The differential test runs the server's own protocol (uvicorn's websockets-sansio with the
direct reader) twice on the same bytes: once as shipped, once with every frame left to the
parser. Both get a real handshake from a ``websockets`` client (with or without
permessage-deflate), then the same stream of frames (messages, fragments with pings between
them, pings, pongs, a close, and hand-made bad frames: unmasked, reserved bits, unknown
opcodes, invalid UTF-8, oversized), cut into reads at random places (for the parser, also
at every frame's end; see ``_compare``). What each delivers to the listener, writes back
(pongs, close frames) and how it ends must be the same.

The end-to-end test sends real queries over TCP in pieces, with pings and fragments.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from fullon_cache_api.server.ws_protocol import EXTENSION, FramedWebSocketProtocol
from fullon_cache_api.simulator import CacheWriter
from support.live import tick
from support.server import make_settings, running_server

MAX_SIZE = 2048  # the server's ws_max_size in the protocol tests


class _Transport(asyncio.Transport):
    """What the protocol writes, and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@dataclass
class Side:
    """One server protocol with its transport and what its listener received."""

    protocol: FramedWebSocketProtocol
    transport: _Transport
    received: list[str | bytes] = field(default_factory=list)

    def outcome(self) -> tuple[Any, ...]:
        close = self.protocol.conn.close_sent
        return (
            self.received,
            bytes(self.transport.written),
            self.transport.closed,
            self.protocol.conn.state,
            None if close is None else (close.code, close.reason),
        )


async def _open(
    deflate: bool, *, direct: bool, max_size: int = MAX_SIZE, early: bytes = b""
) -> tuple[Side, ClientProtocol]:
    """A server protocol after a real handshake with a websockets client; ``early``: bytes
    the client sends right behind its request, without waiting for the answer."""
    accepted = asyncio.Event()
    received: list[str | bytes] = []

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Any) -> None:
        scope["extensions"][EXTENSION]["wire"].listen(received.append)
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        accepted.set()
        while (await receive())["type"] != "websocket.disconnect":
            pass

    config = Config(
        app=app, ws=FramedWebSocketProtocol, ws_max_size=max_size, ws_ping_interval=None
    )
    config.load()
    protocol = FramedWebSocketProtocol(config=config, server_state=ServerState(), app_state={})
    if not direct:
        protocol.frames_reader.disable()
    transport = _Transport()
    protocol.connection_made(transport)
    client = ClientProtocol(
        parse_uri("ws://127.0.0.1:8000/graphql"),
        extensions=[ClientPerMessageDeflateFactory()] if deflate else None,
    )
    client.send_request(client.connect())
    protocol.data_received(b"".join(client.data_to_send()) + early)
    await asyncio.wait_for(accepted.wait(), 5)
    client.receive_data(bytes(transport.written))
    [response] = client.events_received()
    assert isinstance(response, Response) and response.status_code == 101
    assert client.state is State.OPEN
    assert bool(client.extensions) == deflate
    transport.written.clear()
    return Side(protocol, transport, received), client


def _raw(first: int, payload: bytes, *, masked: bool = True, length: int | None = None) -> bytes:
    """A hand-made client frame (websockets refuses to build bad ones)."""
    size = len(payload) if length is None else length
    mask_bit = 0x80 if masked else 0
    if size < 126:
        header = struct.pack("!BB", first, mask_bit | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, size)
    if not masked:
        return header + payload
    mask = os.urandom(4)
    return header + mask + bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))


UNFINISHED = _raw(0x01, b"unfinished ")  # a text frame without FIN
texts = st.text(max_size=300)
actions = st.one_of(
    st.tuples(st.just("text"), texts),
    st.tuples(st.just("big"), st.integers(MAX_SIZE - 10, MAX_SIZE * 3)),
    st.tuples(st.just("big"), st.integers(65530, 65540)),  # 16- and 64-bit lengths
    st.tuples(st.just("binary"), st.binary(max_size=300)),
    st.tuples(st.just("fragments"), st.lists(texts, min_size=2, max_size=4), st.booleans()),
    st.tuples(st.just("ping"), st.binary(max_size=125)),
    st.tuples(st.just("pong"), st.binary(max_size=20)),
    st.tuples(st.just("close"), st.sampled_from([1000, 1001, 4400])),
    st.tuples(
        st.just("raw"),
        st.sampled_from(
            [
                _raw(0x81, b'{"type":"ping"}', masked=False),  # unmasked
                _raw(0xA1, b"reserved bit 2"),  # RSV2
                _raw(0x83, b"opcode 3"),  # reserved opcode
                _raw(0x81, b"\xff\xfe not UTF-8"),  # invalid UTF-8 text
                _raw(0x80, b"continuation with nothing to continue"),
                UNFINISHED,
                _raw(0x89, b"p" * 126),  # a control frame too long
                _raw(0x81, b"", length=MAX_SIZE + 1)[:20],  # declares more than the limit
                _raw(0x81, b'{"type":"ping"}'),  # a plain text frame, by hand
                _raw(0xC1, b"not deflated at all"),  # RSV1: garbage when deflate is on
            ]
        ),
    ),
)


def _frames(client: ClientProtocol, script: list[tuple[Any, ...]]) -> list[bytes]:
    """The client's frames for ``script``, one bytes each (after a close, only hand-made
    frames follow)."""
    out: list[bytes] = []
    for action in script:
        kind = action[0]
        if kind == "raw":
            out.extend(client.data_to_send())
            out.append(action[1])
            continue
        if client.state is not State.OPEN:
            continue
        if kind == "text":
            client.send_text(action[1].encode())
        elif kind == "big":
            client.send_text(b"x" * action[1])
        elif kind == "binary":
            client.send_binary(action[1])
        elif kind == "fragments":
            pieces, ping_between = action[1], action[2]
            client.send_text(pieces[0].encode(), fin=False)
            for piece in pieces[1:-1]:
                client.send_continuation(piece.encode(), fin=False)
            if ping_between:
                client.send_ping(b"between")
            client.send_continuation(pieces[-1].encode(), fin=True)
        elif kind == "ping":
            client.send_ping(action[1])
        elif kind == "pong":
            client.send_pong(action[1])
        elif kind == "close":
            client.send_close(action[1])
    out.extend(client.data_to_send())
    return [frame for frame in out if frame]


def _frame_ends(data: bytes) -> set[int]:
    """Where each frame of the stream ends, by its header's length (RFC 6455 §5.2), as a
    reader walks it: a hand-made frame may claim more bytes than it brought."""
    ends = set()
    position = 0
    while position + 2 <= len(data):
        second = data[position + 1]
        length = second & 0x7F
        extra = {126: 2, 127: 8}.get(length, 0)
        header = 2 + extra + (4 if second & 0x80 else 0)
        if extra:
            length = int.from_bytes(data[position + 2 : position + 2 + extra], "big")
        position += header + length
        ends.add(min(position, len(data)))
    return ends


def _cut(data: bytes, points: set[int]) -> list[bytes]:
    ordered = sorted({point % (len(data) + 1) for point in points} | {0, len(data)})
    return [data[start:end] for start, end in itertools.pairwise(ordered)]


async def _compare(
    deflate: bool, script: list[tuple[Any, ...]], cuts: list[int], max_size: int = MAX_SIZE
) -> None:
    """The direct reader, on reads cut anywhere, against uvicorn's parser reading one frame
    (or less) per read. (Given several frames in one read, uvicorn parses them all before
    handling any: one that fails the connection drops the messages before it. One frame
    per read is what the parser is meant to do, whatever the reads.)"""
    direct, client = await _open(deflate, direct=True, max_size=max_size)
    parser, _ = await _open(deflate, direct=False, max_size=max_size)
    data = b"".join(_frames(client, script))
    for chunk in _cut(data, set(cuts)):
        direct.protocol.data_received(chunk)
    for chunk in _cut(data, set(cuts) | _frame_ends(data)):
        parser.protocol.data_received(chunk)
    # The two runs took different paths (the direct one starts with the first bytes).
    assert direct.protocol.frames_reader.engaged == bool(data)
    assert not parser.protocol.frames_reader.engaged
    assert direct.outcome() == parser.outcome()
    await _close(direct.protocol, parser.protocol)


async def _close(*protocols: FramedWebSocketProtocol) -> None:
    """Connections lost; their apps see the disconnect and end."""
    for protocol in protocols:
        protocol.connection_lost(None)
    tasks = [task for protocol in protocols for task in protocol.tasks]
    if tasks:
        await asyncio.wait_for(asyncio.gather(*tasks), 5)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@example(
    deflate=False,
    script=[("raw", UNFINISHED), ("text", "not a continuation")],
    cuts=[],
    max_size=MAX_SIZE,
)
@example(
    deflate=True,
    script=[("text", "a"), ("big", MAX_SIZE + 1), ("text", "b")],
    cuts=[9],
    max_size=MAX_SIZE,
)
@example(
    deflate=True,
    script=[("fragments", ["a", "b", "c"], True), ("text", "d")],
    cuts=[1, 3],
    max_size=MAX_SIZE,
)
@example(deflate=False, script=[("big", 65540), ("text", "after")], cuts=[5], max_size=1 << 20)
@example(  # a frame claiming more than it brought takes the next frame's bytes as its own
    deflate=False,
    script=[("raw", _raw(0x81, b"", length=2049)), ("big", 2043)],
    cuts=[],
    max_size=1 << 20,
)
@given(
    deflate=st.booleans(),
    script=st.lists(actions, max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=8),
    max_size=st.sampled_from([MAX_SIZE, 1 << 20]),
)
def test_direct_reading_is_the_parser_s_reading(
    deflate: bool, script: list[tuple[Any, ...]], cuts: list[int], max_size: int
) -> None:
    asyncio.run(_compare(deflate, script, cuts, max_size))


def test_byte_by_byte_compressed_messages_arrive_whole() -> None:
    async def scenario() -> None:
        side, client = await _open(True, direct=True)
        messages = [f'{{"n":{n},"pad":"{"y" * n * 40}"}}' for n in range(20)]
        for text in messages:
            client.send_text(text.encode())
            client.send_ping(b"p")
        data = b"".join(client.data_to_send())
        for index in range(len(data)):
            side.protocol.data_received(data[index : index + 1])
        assert side.received == messages
        assert side.protocol.frames_reader.direct
        client.receive_data(bytes(side.transport.written))
        assert [event.data for event in client.events_received()] == [b"p"] * 20  # pongs
        await _close(side.protocol)

    asyncio.run(scenario())


def test_frames_sent_with_the_upgrade_request_leave_the_connection_to_the_parser() -> None:
    """A client that does not wait for the handshake's answer (RFC 6455 §4.1 says it must):
    its early frame is read by the parser, as uvicorn reads it, and so is everything after."""

    async def scenario() -> None:
        side, _ = await _open(False, direct=True, early=_raw(0x81, b"early"))
        side.protocol.data_received(_raw(0x81, b"later"))
        assert not side.protocol.frames_reader.engaged
        # "early" came before the listener: into uvicorn's queue, as uvicorn reads it.
        assert side.received == ["later"]
        await _close(side.protocol)

    asyncio.run(scenario())


@pytest.mark.parametrize("deflate", [True, False])
async def test_queries_in_pieces_with_pings_and_fragments_over_tcp(
    redis_url: str, deflate: bool
) -> None:
    """The real server: a query sent in 1-byte writes, a fragmented one with a ping in
    the middle, and a third in one write; all answered, the ping ponged. With
    permessage-deflate turned on (the client offers it), and off (declined)."""
    client_redis = redis.asyncio.Redis.from_url(redis_url)
    await CacheWriter(client_redis).set_ticker(tick(101.5))
    await client_redis.aclose()
    async with running_server(make_settings(redis_url, ws_per_message_deflate=deflate)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        client = ClientProtocol(
            parse_uri(f"ws://127.0.0.1:{server.port}/graphql"),
            extensions=[ClientPerMessageDeflateFactory()],
            subprotocols=[Subprotocol("graphql-transport-ws")],
        )
        client.send_request(client.connect())

        async def flush(one_byte_at_a_time: bool = False) -> None:
            data = b"".join(client.data_to_send())
            if one_byte_at_a_time:
                for index in range(len(data)):
                    writer.write(data[index : index + 1])
                    await writer.drain()
            else:
                writer.write(data)
                await writer.drain()

        events: list[Any] = []

        async def next_event() -> Any:
            async with asyncio.timeout(5):
                while not events:
                    chunk = await reader.read(65536)
                    assert chunk, "the server closed the connection"
                    client.receive_data(chunk)
                    events.extend(client.events_received())
            return events.pop(0)

        await flush()
        assert (await next_event()).status_code == 101
        assert client.state is State.OPEN
        assert bool(client.extensions) == deflate
        client.send_text(b'{"type":"connection_init"}')
        await flush()
        assert b"connection_ack" in (await next_event()).data

        document = '{ ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'

        def query(op_id: str) -> bytes:
            payload = {"query": document}
            return json.dumps({"id": op_id, "type": "subscribe", "payload": payload}).encode()

        client.send_text(query("a"))
        await flush(one_byte_at_a_time=True)
        text = query("b")
        client.send_text(text[:30], fin=False)
        client.send_ping(b"mid")
        client.send_continuation(text[30:], fin=True)
        await flush()
        client.send_text(query("c"))
        await flush()

        seen: list[Any] = []
        while len([event for event in seen if b'"complete"' in event.data]) < 3:
            seen.append(await next_event())
        assert [event.data for event in seen if event.opcode.name == "PONG"] == [b"mid"]
        answers = [event.data for event in seen if b'"next"' in event.data]
        assert len(answers) == 3
        for op_id in "abc":
            assert any(f'"id":"{op_id}"'.encode() in answer for answer in answers)
            assert all(b'"price":101.5' in answer for answer in answers)
        writer.close()
