"""The WebSocket protocol state machine, in memory: no uvicorn, no network.

``GraphQLWebSocket`` depends only on the small ``Socket`` protocol; here a ``MemorySocket``
feeds it messages and records what it sends and how it closes. The services behind it are
the real ones (``build_services``) pointed at a Redis port nobody listens on: these tests
are about frames and close codes, and operations that would read Redis stay pending.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from fullon_cache_api.schema import schema
from fullon_cache_api.server import wire
from fullon_cache_api.server.services import Services, build_services
from fullon_cache_api.server.socket import SocketClosed
from fullon_cache_api.server.websocket import GraphQLWebSocket, State
from support.server import make_settings

NOBODY = "redis://127.0.0.1:1/0"  # connection refused at once
KEY = "k" * 24


class MemorySocket:
    """A ``Socket``: what the test puts in ``incoming`` is received, what the handler
    sends is collected, and the close frame is kept."""

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self.incoming: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self.accepted: str | None = None
        self._headers = dict(headers or {})

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def peer(self) -> str:
        return "memory:1"

    @property
    def address(self) -> str:
        return "memory"

    def listen(self, on_message: Any) -> bool:
        return False  # messages are read with receive()

    async def accept(self, subprotocol: str | None) -> None:
        self.accepted = subprotocol

    async def receive(self) -> str | bytes | None:
        if self.closed.done():
            return None
        return await self.incoming.get()

    async def send(self, frames: list[str]) -> None:
        if not self.send_now(frames):
            raise SocketClosed

    def send_now(self, frames: list[str]) -> bool:
        if self.closed.done():
            return False
        for frame in frames:
            self.sent.put_nowait(json.loads(frame))
        return True

    async def close(self, code: int, reason: str) -> None:
        if not self.closed.done():
            self.closed.set_result((code, reason))
        self.incoming.put_nowait(None)

    # -- test side -----------------------------------------------------------------------

    def put(self, message: Any) -> None:
        self.incoming.put_nowait(
            message if isinstance(message, str | bytes) else json.dumps(message)
        )

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.sent.get(), 2)

    async def close_code(self) -> tuple[int, str]:
        return await asyncio.wait_for(asyncio.shield(self.closed), 2)


@pytest.fixture
async def services() -> AsyncIterator[Services]:
    settings = make_settings(NOBODY, ws_connection_init_timeout=0.3, ws_messages_per_second=0)
    built = await build_services(settings, schema)
    try:
        yield built
    finally:
        await built.shutdown(0)


async def connect(
    services: Services, protocol: wire.WireProtocol = wire.TRANSPORT, **headers: str
) -> tuple[MemorySocket, GraphQLWebSocket, asyncio.Task[None]]:
    socket = MemorySocket(headers)
    connection = GraphQLWebSocket(socket, protocol, services)
    task = asyncio.create_task(connection.serve())
    await asyncio.sleep(0)
    return socket, connection, task


async def ready(
    services: Services, protocol: wire.WireProtocol = wire.TRANSPORT
) -> tuple[MemorySocket, GraphQLWebSocket, asyncio.Task[None]]:
    socket, connection, task = await connect(services, protocol)
    socket.put({"type": "connection_init"})
    assert await socket.next() == {"type": "connection_ack"}
    assert connection.state is State.READY
    return socket, connection, task


async def test_init_ack_and_a_query(services: Services) -> None:
    socket, connection, task = await ready(services)
    assert socket.accepted == "graphql-transport-ws"
    socket.put({"type": "subscribe", "id": "q", "payload": {"query": "{ __typename }"}})
    assert await socket.next() == {
        "id": "q",
        "type": "next",
        "payload": {"data": {"__typename": "Query"}},
    }
    assert await socket.next() == {"id": "q", "type": "complete"}
    socket.put({"type": "ping"})
    assert await socket.next() == {"type": "pong"}
    await socket.close(1000, "")
    await asyncio.wait_for(task, 2)
    assert connection.state is State.CLOSED and connection.finished.is_set()


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        ([{"type": "subscribe", "id": "1", "payload": {"query": "{ __typename }"}}], 4401),
        ([{"type": "connection_init"}, {"type": "connection_init"}], 4429),
        (["{not json"], 4400),
        ([b"\x00binary"], 4400),
        ([{"no": "type"}], 4400),
        ([{"type": "connection_init"}, {"type": "nonsense"}], 4400),
        ([{"type": "connection_init", "payload": "text"}], 4400),
        ([{"type": "connection_init"}, {"type": "subscribe", "id": "", "payload": {}}], 4400),
        ([{"type": "connection_init"}, {"type": "subscribe", "id": "1", "payload": []}], 4400),
        ([{"type": "connection_init"}, {"type": "complete", "id": 5}], 4400),
        (["x" * 70_000], 1009),
    ],
)
async def test_protocol_violations_close_with_their_code(
    services: Services, messages: list[Any], code: int
) -> None:
    socket, connection, task = await connect(services)
    for message in messages:
        socket.put(message)
    assert (await socket.close_code())[0] == code
    await asyncio.wait_for(task, 2)
    assert connection.state is State.CLOSED


async def test_no_init_in_time_closes_4408(services: Services) -> None:
    socket, _connection, task = await connect(services)
    assert await socket.close_code() == (4408, "Connection initialisation timeout")
    await asyncio.wait_for(task, 2)


async def test_a_duplicate_id_closes_4409(services: Services) -> None:
    socket, connection, task = await ready(services)
    waiting = {"query": "subscription { bots { kind } }"}  # pending: Redis is unreachable
    socket.put({"type": "subscribe", "id": "s", "payload": waiting})
    socket.put({"type": "subscribe", "id": "s", "payload": waiting})
    assert (await socket.close_code())[0] == 4409
    await asyncio.wait_for(task, 2)
    assert connection.operations == {}


async def test_legacy_protocol_is_the_same_machine_with_other_data(services: Services) -> None:
    socket, _connection, task = await ready(services, wire.LEGACY)
    assert socket.accepted == "graphql-ws"
    socket.put({"type": "start", "id": "q", "payload": {"query": "{ __typename }"}})
    assert await socket.next() == {
        "id": "q",
        "type": "data",
        "payload": {"data": {"__typename": "Query"}},
    }
    assert await socket.next() == {"id": "q", "type": "complete"}
    socket.put({"type": "start", "id": "bad", "payload": {"query": "{ nope }"}})
    error = await socket.next()
    assert error["type"] == "error" and error["payload"]["errors"][0]["extensions"]["code"] == (
        "GRAPHQL_VALIDATION_FAILED"
    )
    socket.put({"type": "connection_terminate"})
    assert (await socket.close_code())[0] == 1000
    await asyncio.wait_for(task, 2)


async def test_a_close_goes_after_what_was_queued(services: Services) -> None:
    socket, connection, task = await ready(services)
    socket.put({"type": "subscribe", "id": "q", "payload": {"query": "{ __typename }"}})
    assert (await socket.next())["type"] == "next"
    assert (await socket.next())["type"] == "complete"
    connection.close(wire.GOING_AWAY, "server shutting down")
    connection.outbox.control('{"type":"ping"}')  # after the close: dropped
    assert await socket.close_code() == (1001, "server shutting down")
    await asyncio.wait_for(task, 2)
    assert socket.sent.empty()


async def test_keys_are_required_when_configured() -> None:
    settings = make_settings(NOBODY, api_keys=f"{KEY}:market")
    services = await build_services(settings, schema)
    try:
        socket, _connection, task = await connect(services)
        socket.put(
            {"type": "connection_init", "payload": {"authorization": "Bearer wrong-key-wrong"}}
        )
        assert (await socket.close_code())[0] == 4403
        await asyncio.wait_for(task, 2)
        socket, connection, task = await connect(services)
        socket.put({"type": "connection_init", "payload": {"authorization": f"Bearer {KEY}"}})
        assert await socket.next() == {"type": "connection_ack"}
        assert connection.scopes == frozenset({"market"})
        await socket.close(1000, "")
        await asyncio.wait_for(task, 2)
    finally:
        await services.shutdown(0)
