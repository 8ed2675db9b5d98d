"""What an idle WebSocket connection holds on the server, so a regression fails here
(``bench/connection_memory.py`` measures the memory; see BENCHMARKS.md, "Memory per idle
WebSocket connection").

Idle: connected, ``connection_init`` acknowledged, one query run. Such a connection holds
one task (the ASGI one, which waits for the end of the connection; a writer task runs only
while something is being sent), its keep-alive as a timer handle of the loop, and no deque
or event that nobody waits on; a connection that has not sent ``connection_init`` yet
holds its deadline as a timer handle, not a task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio

from fullon_cache_api.server.inbox import Inbox
from fullon_cache_api.server.websocket import GraphQLWebSocket, State
from fullon_cache_api.server.ws_protocol import FramedWebSocketProtocol
from fullon_cache_api.subscriptions.flag import Flag
from support.live import LiveClient, LiveEnv, live_env, task_kinds, wait_until

QUERY = '{ ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'
IDLE_TASKS = {"FramedWebSocketProtocol.run_asgi": 1}


@pytest_asyncio.fixture
async def live() -> AsyncIterator[LiveEnv]:
    async with live_env("keyspace") as env:
        yield env


def _tasks_since(before: set[asyncio.Task[Any]]) -> Callable[[], dict[str, int]]:
    """The kinds of tasks started since ``before``, but the one shared upstream feed."""

    def new_tasks() -> dict[str, int]:
        kinds = task_kinds(set(asyncio.all_tasks()) - before)
        kinds.pop("RedisFeed._run", None)
        return kinds

    return new_tasks


def _handlers(live: LiveEnv) -> list[GraphQLWebSocket]:
    return [c for c in live.services.connections if isinstance(c, GraphQLWebSocket)]


def _protocols(live: LiveEnv) -> list[FramedWebSocketProtocol]:
    connections = live.server.uvicorn.server_state.connections
    return [p for p in connections if isinstance(p, FramedWebSocketProtocol)]


async def _query(client: LiveClient, op_id: str) -> None:
    await client.subscribe(op_id, QUERY)
    assert (await client.message(op_id))["type"] == "next"
    assert (await client.message(op_id))["type"] == "complete"


async def test_an_idle_connection_holds_one_task_and_no_idle_deque(live: LiveEnv) -> None:
    n = 10
    new_tasks = _tasks_since(set(asyncio.all_tasks()))

    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(live.client()) for _ in range(n)]
        for index, client in enumerate(clients):
            await _query(client, f"q{index}")
        expected = {name: count * n for name, count in IDLE_TASKS.items()}
        await wait_until(lambda: new_tasks() == expected, message="one task per connection")

        handlers = _handlers(live)
        assert len(handlers) == n
        for handler in handlers:
            assert handler.state is State.READY
            # The keep-alive is a timer handle of the loop (the init deadline is gone).
            assert isinstance(handler._timer, asyncio.TimerHandle)
            assert not handler._timer.cancelled()
            assert isinstance(handler.finished, Flag) and handler.finished._waiters is None
            outbox = handler.outbox
            assert outbox._ready is None and outbox._control == []
            assert outbox._wake._waiters is None
            assert handler._writer is None  # no writer task while nothing is sent
            assert not handler.operations
        protocols = _protocols(live)
        assert len(protocols) == n
        for protocol in protocols:
            assert isinstance(protocol.queue, Inbox) and protocol.queue.empty()
            assert isinstance(protocol.writable, Flag) and protocol.writable._waiters is None
            assert protocol.response is None  # the handshake's response, released

        # Still a working connection: another query, a ping.
        await _query(clients[0], "again")
        await clients[0].ws.send({"type": "ping"})
        assert await clients[0].ws.recv(5.0) == {"type": "pong"}

    await wait_until(lambda: not new_tasks(), message="every task of the connections ended")
    await wait_until(lambda: not _handlers(live), message="every connection released")


async def test_a_connection_awaiting_init_holds_its_deadline_as_a_timer(live: LiveEnv) -> None:
    new_tasks = _tasks_since(set(asyncio.all_tasks()))

    async with live.client(init=False) as client:
        await wait_until(lambda: new_tasks() == IDLE_TASKS, message="one task, no deadline task")
        (handler,) = _handlers(live)
        assert handler.state is State.AWAITING_INIT
        deadline = handler._timer
        assert isinstance(deadline, asyncio.TimerHandle) and not deadline.cancelled()
        await client.ws.init()
        assert deadline.cancelled()  # met: the keep-alive's handle took its place
        assert handler._timer is not deadline and handler._timer is not None
        await _query(client, "q")
