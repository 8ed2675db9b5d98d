"""What reaches a WebSocket client, frame by frame, on the server's own protocol
(``server/ws_protocol.py``: batches framed by the server, one write each) and on plain
uvicorn (``--ws auto``: one ASGI send per frame).

* permessage-deflate: messages under ``WS_COMPRESS_MIN_BYTES`` arrive uncompressed (RSV1
  clear), larger ones compressed, and all of them decode; ``WS_PER_MESSAGE_DEFLATE=false``
  declines the extension.
* Several subscriptions of one connection due for one event all get it, whichever way the
  server writes.

The client is the ``websockets`` library with a permessage-deflate extension that records
the RSV1 bit of every data frame it inflates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
import redis.asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.base import ClientExtensionFactory, Extension
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)
from websockets.frames import Frame, Opcode
from websockets.typing import ExtensionParameter, Subprotocol

from fullon_cache_api.settings import Settings
from fullon_cache_api.simulator import CacheWriter
from support.live import tick
from support.server import make_settings, running_server

TICKER = 'subscription { ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'
BIG_QUERY = "{ " + " ".join(f"alias{n}: __typename" for n in range(25)) + " }"  # ~500 bytes


class RecordingDeflate(PerMessageDeflate):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.compressed: list[bool] = []  # RSV1 of every data frame, in order

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self.compressed.append(frame.rsv1)
        return super().decode(frame, max_size=max_size)


class RecordingFactory(ClientPerMessageDeflateFactory):
    def __init__(self) -> None:
        super().__init__(client_max_window_bits=True)
        self.extension: RecordingDeflate | None = None

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> PerMessageDeflate:
        negotiated = super().process_response_params(params, accepted_extensions)
        self.extension = RecordingDeflate(
            negotiated.remote_no_context_takeover,
            negotiated.local_no_context_takeover,
            negotiated.remote_max_window_bits,
            negotiated.local_max_window_bits,
        )
        return self.extension


async def _exchange(url: str, factory: ClientExtensionFactory | None) -> list[dict[str, Any]]:
    """Init, a small query and a large one; every message received, in order."""
    received: list[dict[str, Any]] = []
    async with connect(
        url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        compression=None,
        extensions=[factory] if factory is not None else None,
    ) as ws:
        await ws.send('{"type":"connection_init"}')
        received.append(json.loads(await ws.recv()))
        for op_id, query in (("small", "{ __typename }"), ("big", BIG_QUERY)):
            await ws.send(
                json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": query}})
            )
            received.append(json.loads(await ws.recv()))
            received.append(json.loads(await ws.recv()))
    return received


def _expected() -> list[dict[str, Any]]:
    big = {f"alias{n}": "Query" for n in range(25)}
    return [
        {"type": "connection_ack"},
        {"id": "small", "type": "next", "payload": {"data": {"__typename": "Query"}}},
        {"id": "small", "type": "complete"},
        {"id": "big", "type": "next", "payload": {"data": big}},
        {"id": "big", "type": "complete"},
    ]


@pytest.mark.parametrize(
    ("ws", "compress_min", "compressed"),
    [
        # Only the large result is compressed; ack, small result and completes are not.
        (None, 256, [False, False, False, True, False]),
        (None, 0, [True] * 5),  # 0: every message
        ("auto", 256, [True] * 5),  # uvicorn's own protocol compresses every message
    ],
)
async def test_small_messages_skip_deflate(
    redis_url: str, ws: str | None, compress_min: int, compressed: list[bool]
) -> None:
    settings = make_settings(
        redis_url, ws_per_message_deflate=True, ws_compress_min_bytes=compress_min
    )
    async with running_server(settings, ws=ws) as server:
        factory = RecordingFactory()
        assert await _exchange(server.ws_url, factory) == _expected()
        assert factory.extension is not None
        assert factory.extension.compressed == compressed


@pytest.mark.parametrize("ws", [None, "auto"])
async def test_deflate_is_declined_by_default(redis_url: str, ws: str | None) -> None:
    assert Settings().ws_per_message_deflate is False
    settings = make_settings(redis_url)
    async with running_server(settings, ws=ws) as server:
        factory = RecordingFactory()
        assert await _exchange(server.ws_url, factory) == _expected()
        assert factory.extension is None  # not negotiated: the server answered without it


@pytest.mark.parametrize("ws", [None, "auto"])
@pytest.mark.parametrize("compression", ["deflate", None])
async def test_every_subscription_of_a_connection_gets_each_event(
    redis_url: str, ws: str | None, compression: str | None
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    writer = CacheWriter(client)
    try:
        await writer.set_ticker(tick(1.0))
        async with (
            running_server(make_settings(redis_url, ws_per_message_deflate=True), ws=ws) as server,
            connect(
                server.ws_url,
                subprotocols=[Subprotocol("graphql-transport-ws")],
                compression=compression,
            ) as socket,
        ):
            await socket.send('{"type":"connection_init"}')
            assert json.loads(await socket.recv()) == {"type": "connection_ack"}
            ids = [str(n) for n in range(5)]
            for op_id in ids:
                message = {"id": op_id, "type": "subscribe", "payload": {"query": TICKER}}
                await socket.send(json.dumps(message))
            snapshots = [json.loads(await socket.recv()) for _ in ids]
            assert sorted(message["id"] for message in snapshots) == ids
            for price in (2.0, 3.0):
                await writer.set_ticker(tick(price))
                events = [json.loads(await socket.recv()) for _ in ids]
                assert sorted(message["id"] for message in events) == ids
                for message in events:
                    assert message["payload"]["data"] == {"ticker": {"price": price}}
    finally:
        await client.aclose()


# ------------------------------------------------------------------- reading messages
# On the server's own protocol each message reaches the handler as the protocol reads it
# (``Wire.listen``, below uvicorn's ASGI queue and Starlette's receive); on ``--ws auto``
# through ASGI. Both must read the same way.

QUERY = '{ ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'


@pytest.mark.parametrize("ws", [None, "auto"])
async def test_messages_read_the_same_on_either_path(redis_url: str, ws: str | None) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await CacheWriter(client).set_ticker(tick(2.5))
        async with (
            running_server(make_settings(redis_url, ws_per_message_deflate=True), ws=ws) as server,
            connect(server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket,
        ):
            # A message in fragments (continuation frames) is one message.
            init = '{"type":"connection_init"}'
            await socket.send([init[:5], init[5:12], init[12:]])
            assert json.loads(await socket.recv()) == {"type": "connection_ack"}
            # A burst sent without waiting: every operation answered, each with its own id.
            ids = [str(n) for n in range(20)]
            for op_id in ids:
                message = {"id": op_id, "type": "subscribe", "payload": {"query": QUERY}}
                await socket.send(json.dumps(message))
            seen: dict[str, list[str]] = {op_id: [] for op_id in ids}
            for _ in range(2 * len(ids)):
                frame = json.loads(await socket.recv())
                seen[frame["id"]].append(frame["type"])
                if frame["type"] == "next":
                    assert frame["payload"] == {"data": {"ticker": {"price": 2.5}}}
            assert seen == {op_id: ["next", "complete"] for op_id in ids}
    finally:
        await client.aclose()


@pytest.mark.parametrize("ws", [None, "auto"])
@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param(b"\xff\xfe not utf-8", 1007, id="invalid-utf8"),
        pytest.param(None, 1009, id="too-big"),
        pytest.param(b'{"type": "connection_init"}', 4400, id="binary"),
        pytest.param("{not json", 4400, id="invalid-json"),
    ],
)
async def test_bad_messages_close_on_either_path(
    redis_url: str, ws: str | None, frame: str | bytes | None, code: int
) -> None:
    settings = make_settings(redis_url, ws_max_message_bytes=1000)
    async with (
        running_server(settings, ws=ws) as server,
        connect(server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket,
    ):
        await socket.send('{"type":"connection_init"}')
        assert json.loads(await socket.recv()) == {"type": "connection_ack"}
        if frame is None:  # one byte over WS_MAX_MESSAGE_BYTES
            padding = " " * 1001
            await socket.send(
                '{"type":"subscribe","id":"1","payload":{"query":"{ exchanges }"}}' + padding
            )
        elif code == 1007:
            await socket.send(frame, text=True)  # a text frame that is not UTF-8
        else:
            await socket.send(frame)
        with pytest.raises(ConnectionClosed):
            while True:
                await socket.recv()
        assert socket.close_code == code
