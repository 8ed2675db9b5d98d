"""Helpers for the live-data tests: a private redis-server plus the real app, a multiplexing
subscription client over raw graphql-transport-ws frames, and condition polling.

::

    async with live_env("keyspace") as env:           # or "poll"
        async with env.client() as client:
            await client.subscribe("t", TICKER, {"exchange": "binance", "symbol": "BTC/USDT"})
            first = await client.data("t")           # the 'next' payload's data
            await env.writer.set_ticker({...})
            second = await client.data("t")

Nothing here sleeps to synchronise: frames are awaited with timeouts and server state is
polled with a deadline (:func:`wait_until`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio

from fullon_cache_api.embedded_redis import EmbeddedRedis
from fullon_cache_api.simulator import CacheWriter
from support.server import RunningServer, make_settings, running_server
from support.ws import RawWebSocket, WsClosed, raw_ws

JSONDict = dict[str, Any]

#: The writer's fixed clock (everything the cache stamps except process times).
T0 = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
#: Database used on the private servers (not 0: the keyspace channel carries the db).
DB = 1
#: Poll interval of the polling-mode servers.
POLL_MS = 50

KEYSPACE_ARGS = ("--notify-keyspace-events", "KA")


def task_kinds(tasks: set[asyncio.Task[Any]]) -> dict[str, int]:
    """How many of ``tasks`` run each coroutine (by qualified name)."""
    kinds: dict[str, int] = {}
    for task in tasks:
        name = getattr(task.get_coro(), "__qualname__", repr(task.get_coro()))
        kinds[name] = kinds.get(name, 0) + 1
    return kinds


class Clock:
    """A settable clock for ``CacheWriter``; ``None`` means the wall clock."""

    def __init__(self, when: datetime | None = T0) -> None:
        self.current = when

    def __call__(self) -> datetime:
        return self.current if self.current is not None else datetime.now(UTC)


async def wait_until(
    predicate: Callable[[], Any] | Callable[[], Awaitable[Any]],
    timeout: float = 5.0,  # noqa: ASYNC109
    message: str = "condition",
    interval: float = 0.01,
) -> Any:
    """Poll ``predicate`` (sync or async) until it returns a truthy value; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


def tick(
    price: float, *, exchange: str = "binance", symbol: str = "BTC/USDT", time_s: float = 1.0e9
) -> JSONDict:
    """A ticker as fullon_orm's ``Tick.to_dict()`` stores it."""
    return {
        "symbol": symbol,
        "exchange": exchange,
        "price": price,
        "volume": 10.0,
        "time": time_s + price,
        "bid": price - 0.5,
        "ask": price + 0.5,
        "last": price,
    }


# --------------------------------------------------------------------------- client


class LiveClient:
    """A graphql-transport-ws connection carrying several subscriptions; frames are routed
    to per-id queues so each subscription can be read on its own."""

    def __init__(self, ws: RawWebSocket) -> None:
        self.ws = ws
        self.queues: dict[str, deque[JSONDict]] = {}
        self._reading = asyncio.Lock()

    async def subscribe(
        self,
        op_id: str,
        query: str,
        variables: JSONDict | None = None,
        operation_name: str | None = None,
        *,
        extensions: JSONDict | None = None,
    ) -> None:
        payload: JSONDict = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        if operation_name is not None:
            payload["operationName"] = operation_name
        if extensions is not None:
            payload["extensions"] = extensions
        self.queues.setdefault(op_id, deque())
        await self.ws.send({"type": "subscribe", "id": op_id, "payload": payload})

    async def complete(self, op_id: str) -> None:
        await self.ws.send({"type": "complete", "id": op_id})

    async def _pump_one(self, timeout: float) -> None:  # noqa: ASYNC109
        message = await self.ws.recv(timeout)
        op_id = message.get("id")
        if op_id is None:
            raise AssertionError(f"unexpected message without an id: {message!r}")
        self.queues.setdefault(op_id, deque()).append(message)

    async def message(self, op_id: str, timeout: float = 5.0) -> JSONDict:  # noqa: ASYNC109
        """The next message (``next``/``error``/``complete``) of one operation."""
        queue = self.queues.setdefault(op_id, deque())
        deadline = time.monotonic() + timeout
        while not queue:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                async with asyncio.timeout(remaining), self._reading:
                    # Several readers may wait (one per operation): one reads the socket
                    # at a time, routing what it reads to the others' queues.
                    if not queue:
                        await self._pump_one(remaining)
            except TimeoutError:
                raise TimeoutError(
                    f"no message for operation {op_id!r} within {timeout}s"
                ) from None
        return queue.popleft()

    async def payload(self, op_id: str, timeout: float = 5.0) -> JSONDict:  # noqa: ASYNC109
        """The payload of the next message, which must be ``next`` without errors."""
        payload = await self.payload_or_error(op_id, timeout)
        assert "errors" not in payload, payload
        return payload

    async def payload_or_error(
        self,
        op_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> JSONDict:
        """The payload of the next message, which must be ``next`` (errors allowed: a
        stream reports trouble in-band and goes on)."""
        message = await self.message(op_id, timeout)
        assert message.get("type") == "next", message
        payload: JSONDict = message["payload"]
        return payload

    async def data(self, op_id: str, timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        """The value of the (single) root field of the next ``next`` message."""
        data = (await self.payload(op_id, timeout))["data"]
        assert len(data) == 1, data
        return next(iter(data.values()))

    def pending(self, op_id: str) -> int:
        """Messages of ``op_id`` already received and not yet read."""
        return len(self.queues.get(op_id, ()))


@contextlib.asynccontextmanager
async def live_client(url: str, *, init: bool = True) -> AsyncIterator[LiveClient]:
    async with raw_ws(url) as ws:
        if init:
            await ws.init()
        yield LiveClient(ws)


# --------------------------------------------------------------------------- raw socket


class RawSocketClient:
    """A WebSocket client on a bare TCP socket (handshake and framing by hand) with a tiny
    receive buffer, so a test can *stop reading* and make the server's sends block: the
    kernel buffer is 4 KiB and the stream reader pauses the transport past 2 KiB."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.close_frame: tuple[int, str] | None = None

    @classmethod
    async def connect(cls, host: str, port: int, path: str) -> RawSocketClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"graphql-transport-ws" in head, head
        return cls(reader, writer)

    async def send(self, message: JSONDict) -> None:
        self._send_frame(0x1, json.dumps(message).encode())
        await self.writer.drain()

    def _send_frame(self, opcode: int, data: bytes) -> None:
        mask = os.urandom(4)
        length = len(data)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))
        self.writer.write(header + mask + masked)

    async def recv(self, timeout: float = 5.0) -> JSONDict | None:  # noqa: ASYNC109
        """The next text message, parsed; ``None`` once the server has closed."""
        async with asyncio.timeout(timeout):
            while True:
                first, second = await self.reader.readexactly(2)
                length = second & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", await self.reader.readexactly(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
                data = await self.reader.readexactly(length)
                opcode = first & 0x0F
                if opcode == 0x1:
                    message: JSONDict = json.loads(data)
                    return message
                if opcode == 0x8:
                    code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                    self.close_frame = (code, data[2:].decode(errors="replace"))
                    return None
                if opcode == 0x9:  # a WebSocket-level ping (uvicorn's): pong
                    self._send_frame(0xA, data)
                    await self.writer.drain()

    async def aclose(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


# --------------------------------------------------------------------------- server


@dataclass
class LiveEnv:
    """A private redis-server, the app serving it, and a writer."""

    mode: str
    redis_server: EmbeddedRedis
    server: RunningServer
    redis: redis.asyncio.Redis
    clock: Clock
    writer: CacheWriter

    @property
    def url(self) -> str:
        return f"redis://{self.redis_server.host}:{self.redis_server.port}/{DB}"

    @property
    def services(self) -> Any:
        return self.server.services

    @property
    def hub(self) -> Any:
        return self.services.live

    @property
    def runner(self) -> Any:
        return self.services.runner

    def client(self, *, init: bool = True) -> contextlib.AbstractAsyncContextManager[LiveClient]:
        return live_client(self.server.ws_url, init=init)

    async def reconnect(self) -> None:
        """A new client for the test's own reads and writes (after Redis restarted)."""
        old = self.redis
        self.redis = redis.asyncio.Redis.from_url(self.url, decode_responses=True)
        self.writer.redis = self.redis
        with contextlib.suppress(Exception):
            await old.aclose()

    async def numsub(self, channel: str) -> int:
        """``PUBSUB NUMSUB channel`` on the Redis server itself."""
        reply = await self.redis.pubsub_numsub(channel)
        return int(reply[0][1])

    async def numpat(self) -> int:
        return int(await self.redis.pubsub_numpat())

    async def our_channels(self) -> list[str]:
        """Channels with subscribers on the server, other than keyspace channels of other
        databases (there are none: this Redis is private)."""
        return list(await self.redis.pubsub_channels())

    async def wait_idle(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Until no topic, group, connection or upstream subscription is left."""

        async def idle() -> bool:
            return not await self.leftovers()

        try:
            await wait_until(idle, timeout, "the live layer to be idle")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; left: {await self.leftovers()!r}") from None

    async def leftovers(self) -> JSONDict:
        """What is still live: topics, groups, connections, upstream subscriptions."""
        hub = self.hub
        state: JSONDict = {
            "topics": list(hub.topics),
            "groups": [(key[1:], len(group.members)) for key, group in self.runner.groups.items()],
            "connections": len(self.services.connections),
            "feed.channels": hub.feed.channels,
            "feed.patterns": hub.feed.patterns,
            "pollers": hub.poller_count,
            "redis channels": await self.our_channels(),
            "redis numpat": await self.numpat(),
        }
        return {name: value for name, value in state.items() if value}

    async def reset(self) -> None:
        """Start a test from an empty database and an idle server."""
        await self.wait_idle()
        await self.redis.flushdb()
        self.clock.current = T0


def live_settings(url: str, mode: str, **overrides: Any) -> Any:
    """Settings of a live test server: keyspace detection (``auto``) or polling (``off``)
    every :data:`POLL_MS` for every domain."""
    values: JSONDict = {
        "keyspace_notifications": "auto" if mode == "keyspace" else "off",
        "poll_interval_ms": POLL_MS,
        "poll_intervals_ms": {"processes": POLL_MS, "health": POLL_MS},
    }
    values.update(overrides)
    return make_settings(url, **values)


@contextlib.asynccontextmanager
async def live_env(
    mode: str = "keyspace", *, data_dir: Path | None = None, **overrides: Any
) -> AsyncIterator[LiveEnv]:
    """A private redis-server (keyspace notifications on for ``mode="keyspace"``; its RDB
    file in ``data_dir`` if given) and the app serving its database :data:`DB`."""
    assert mode in ("keyspace", "poll"), mode
    server = EmbeddedRedis(
        extra_args=KEYSPACE_ARGS if mode == "keyspace" else (), data_dir=data_dir
    )
    await asyncio.to_thread(server.start)
    client = redis.asyncio.Redis.from_url(
        f"redis://{server.host}:{server.port}/{DB}", decode_responses=True
    )
    try:
        clock = Clock()
        url = f"redis://{server.host}:{server.port}/{DB}"
        async with running_server(live_settings(url, mode, **overrides)) as running:
            hub = running.services.live
            assert hub is not None
            if "keyspace_notifications" not in overrides:
                assert hub.mode == mode, (hub.mode, mode)
            yield LiveEnv(
                mode=mode,
                redis_server=server,
                server=running,
                redis=client,
                clock=clock,
                writer=CacheWriter(client, now=clock),
            )
    finally:
        await client.aclose()
        await asyncio.to_thread(server.stop)


__all__ = [
    "DB",
    "POLL_MS",
    "T0",
    "Clock",
    "LiveClient",
    "LiveEnv",
    "RawSocketClient",
    "WsClosed",
    "live_client",
    "live_env",
    "live_settings",
    "tick",
    "wait_until",
]
