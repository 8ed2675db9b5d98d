"""Live data under stress: Redis dying mid-stream, a client that stops reading, keep-alive,
and server shutdown.

Each test starts its own redis-server and app (``support.live.live_env``), so killing Redis
or the server affects nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from fullon_cache_api.embedded_redis import EmbeddedRedis
from fullon_cache_api.simulator import CacheWriter
from support.live import (
    DB,
    Clock,
    LiveClient,
    LiveEnv,
    RawSocketClient,
    live_env,
    live_settings,
    tick,
    wait_until,
)
from support.server import running_server
from support.ws import raw_ws

JSONDict = dict[str, Any]

pytestmark = pytest.mark.chaos

STREAMS: dict[str, tuple[str, JSONDict | None]] = {
    "t": (
        'subscription { ticker(exchange: "binance", symbol: "BTC/USDT") { symbol price } }',
        None,
    ),
    "ts": (
        'subscription { tickers(exchange: "binance") { kind items { symbol price } } }',
        None,
    ),
    "b": ("subscription { bots { kind items { botId status } } }", None),
    "o": (
        'subscription { orders(exchange: "binance") { kind items { orderId status } } }',
        None,
    ),
    "q": ('subscription { openOrderQueue(localOid: "L1") }', None),
    "a": ('subscription { account(exId: "1") { exId balances { currency free } } }', None),
    "pb": ('subscription { processBroadcasts(type: "tick") { message } }', None),
}
LATEST_VALUE = {"t", "q", "a"}


async def seed(writer: CacheWriter, version: int) -> None:
    """State ``version`` of every stream in :data:`STREAMS`."""
    await writer.set_ticker(tick(100.0 * version))
    await writer.set_ticker(tick(10.0 * version, symbol="ETH/USDT"))
    await writer.update_bot(1, {"status": f"v{version}"})
    await writer.update_bot(version + 1, {"status": "running"})
    await writer.save_order("binance", {"ex_order_id": f"O{version}", "status": "open"})
    await writer.push_open_order(f"o{version}", "L1")
    await writer.upsert_user_account(1, {"USDT": {"free": float(version), "total": 1.0}})


def expected(version: int, *, orders: list[str], queue: list[str]) -> dict[str, Any]:
    """What each stream shows for the state written by ``seed(version)`` (after the
    given ``orders`` and ``queue``)."""
    return {
        "t": {"symbol": "BTC/USDT", "price": 100.0 * version},
        "ts": sorted(
            [
                {"symbol": "BTC/USDT", "price": 100.0 * version},
                {"symbol": "ETH/USDT", "price": 10.0 * version},
            ],
            key=lambda item: item["symbol"],
        ),
        "b": sorted(
            [
                {"botId": "1", "status": f"v{version}"},
                {"botId": str(version + 1), "status": "running"},
            ],
            key=lambda item: item["botId"],
        ),
        "o": [{"orderId": order, "status": "open"} for order in orders],
        "q": queue,
        "a": {"exId": "1", "balances": [{"currency": "USDT", "free": float(version)}]},
    }


class View:
    """A keyed stream's state as a client rebuilds it from SNAPSHOT/UPSERT/REMOVE."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.items: dict[Any, JSONDict] = {}

    def apply(self, event: JSONDict) -> None:
        if event["kind"] == "SNAPSHOT":
            self.items = {}
        for item in event["items"]:
            if event["kind"] == "REMOVE":
                self.items.pop(item[self.key], None)
            else:
                self.items[item[self.key]] = item

    def sorted(self) -> list[JSONDict]:
        return [self.items[key] for key in sorted(self.items)]


KEYS = {"ts": "symbol", "b": "botId", "o": "orderId"}


async def subscribe_all(client: LiveClient) -> None:
    for op_id, (query, variables) in STREAMS.items():
        await client.subscribe(op_id, query, variables)


async def converge(
    client: LiveClient,
    op_id: str,
    want: Any,
    *,
    first: Callable[[Any], None] | None = None,
    known: list[JSONDict] | None = None,
) -> None:
    """Read ``op_id`` until its state is ``want``; ``first`` checks the first item;
    ``known``: the items of a keyed stream the client already has."""
    view = View(KEYS[op_id]) if op_id in KEYS else None
    if view is not None and known:
        view.apply({"kind": "SNAPSHOT", "items": known})
    state: Any = object()
    count = 0
    while True:
        try:
            value = await client.data(op_id)
        except TimeoutError:
            raise AssertionError(f"{op_id}: stuck at {state!r}, want {want!r}") from None
        if first is not None and count == 0:
            first(value)
        count += 1
        if view is not None:
            view.apply(value)
            state = view.sorted()
        else:
            state = value
        if state == want:
            return


async def write_rdb(data_dir: Path, port: int, version: int) -> None:
    """Write ``seed(version)`` into ``data_dir/dump-{port}.rdb`` with another redis-server,
    so the restarted server comes back with that state already loaded."""
    helper = EmbeddedRedis(data_dir=data_dir)
    await asyncio.to_thread(helper.start)
    try:
        client = redis.asyncio.Redis.from_url(
            f"redis://{helper.host}:{helper.port}/{DB}", decode_responses=True
        )
        try:
            writer = CacheWriter(client, now=Clock())
            await seed(writer, version)
            await writer.push_open_order(f"o{version}b", "L1")
            await writer.save_order("binance", {"ex_order_id": f"O{version}b", "status": "open"})
            await client.save()
        finally:
            await client.aclose()
    finally:
        await asyncio.to_thread(helper.stop)
    os.replace(data_dir / f"dump-{helper.port}.rdb", data_dir / f"dump-{port}.rdb")


async def kill_and_wait_until_noticed(env: LiveEnv) -> None:
    """SIGKILL redis-server, then wait until the app has noticed: its pub/sub feed is down
    and, when polling, every polled topic has failed a read. (A polled topic that never
    saw Redis down, because the restart took less than one poll interval, reports the
    difference as UPSERT/REMOVE instead of a new SNAPSHOT.)"""
    hub = env.hub
    errors = {key: topic.stats.errors for key, topic in hub.topics.items()}
    env.redis_server.kill()

    def noticed() -> bool:
        if hub.feed._connected.is_set():
            return False
        if env.mode == "poll":
            return all(
                topic.stats.errors > errors.get(key, 0)
                for key, topic in hub.topics.items()
                if topic.spec.watch
            )
        return True

    await wait_until(noticed, 5, "the app to notice that Redis is down")


async def expect_outage(client: LiveClient) -> None:
    """Every stream's next message is ``data: null`` with a CACHE_UNAVAILABLE error at its
    root field, and the stream goes on."""
    for op_id, (query, _variables) in STREAMS.items():
        payload = (await client.message(op_id))["payload"]
        assert payload["data"] is None, (op_id, payload)
        (error,) = payload["errors"]
        assert error["extensions"]["code"] == "CACHE_UNAVAILABLE", (op_id, payload)
        assert error["path"] == [query.split("{")[1].split("(")[0].strip()], (op_id, payload)


# --------------------------------------------------------------------------- restart


@pytest.mark.parametrize("mode", ["keyspace", "poll"])
async def test_redis_restart_resumes_every_stream(mode: str, tmp_path: Path) -> None:
    async with live_env(mode, data_dir=tmp_path) as env, env.client() as client:
        await seed(env.writer, 1)
        await subscribe_all(client)
        want = expected(1, orders=["O1"], queue=["o1"])
        for op_id in want:
            value = await client.data(op_id)
            if op_id in KEYS:
                assert value["kind"] == "SNAPSHOT", value
                value = sorted(value["items"], key=lambda item: item[KEYS[op_id]])
            assert value == want[op_id], (op_id, value)
        await wait_until(lambda: env.numsub("process:broadcast:tick"))

        # 1. Redis dies (SIGKILL): every stream says so at once, with a coded error (a
        # quiet stream would look like a quiet market). Redis comes back with another state
        # already loaded (an RDB written meanwhile): every stream's next item is a fresh
        # snapshot of that state.
        redis_server = env.redis_server
        await kill_and_wait_until_noticed(env)
        await expect_outage(client)
        await write_rdb(tmp_path, redis_server.port, 2)
        await asyncio.to_thread(redis_server.start)
        await env.reconnect()
        want = expected(2, orders=["O2", "O2b"], queue=["o2", "o2b"])
        for op_id in want:
            value = await client.data(op_id, timeout=10)
            if op_id in KEYS:
                assert value["kind"] == "SNAPSHOT", (op_id, value)
                value = sorted(value["items"], key=lambda item: item[KEYS[op_id]])
            assert value == want[op_id], (op_id, value)
        await wait_until(lambda: env.numsub("process:broadcast:tick"), 10)
        await env.writer.broadcast_message("tick", "after restart")
        assert await client.data("pb") == {"message": "after restart"}
        # Changes flow again (after any repeated snapshot of the same state).
        await env.writer.set_ticker(tick(250.0))
        await converge(client, "t", {"symbol": "BTC/USDT", "price": 250.0})
        assert await client.data("ts") == {
            "kind": "UPSERT",
            "items": [{"symbol": "BTC/USDT", "price": 250.0}],
        }
        await env.writer.update_bot(9, {"status": "new"})
        await converge(client, "b", [*want["b"], {"botId": "9", "status": "new"}], known=want["b"])

        # 2. Redis dies and comes back empty; the test re-seeds it. The first item of
        # every keyed stream is a SNAPSHOT; each stream then reaches the new state.
        await kill_and_wait_until_noticed(env)
        await expect_outage(client)
        (tmp_path / f"dump-{redis_server.port}.rdb").unlink()
        await asyncio.to_thread(redis_server.start)
        await env.reconnect()
        await seed(env.writer, 3)
        want = expected(3, orders=["O3"], queue=["o3"])

        def snapshot_first(value: Any) -> None:
            assert value["kind"] == "SNAPSHOT", value

        await asyncio.gather(
            *(
                converge(
                    client, op_id, want[op_id], first=snapshot_first if op_id in KEYS else None
                )
                for op_id in want
            )
        )
        await wait_until(lambda: env.numsub("process:broadcast:tick"), 10)
        await env.writer.broadcast_message("tick", "again")
        assert await client.data("pb") == {"message": "again"}

        # The server process survived and still answers queries.
        body = await env.server.graphql(
            '{ ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'
        )
        assert body == {"data": {"ticker": {"price": 300.0}}}
        ready = await env.server.http.get("/ready")
        assert ready.status_code == 200
        assert env.hub.feed.reconnects >= 2


# --------------------------------------------------------------------------- slow


BIG_TICKER = (
    'subscription { ticker(exchange: "binance", symbol: "BTC/USDT") { '
    + " ".join(f"p{index}: price" for index in range(120))
    + " } }"
)
KEYED = 'subscription { tickers(exchange: "binance") { kind items { symbol price } } }'
GOOD = """
subscription { tickers(exchange: "binance", symbols: ["BTC/USDT"]) { kind items { price } } }
"""
BUFFER = 16
TICKER_SUBS = 20


async def test_client_that_never_reads() -> None:
    """A client that stops reading: what waits for it stays bounded by the state, not by
    time (its latest-value streams keep only the newest value, its keyed stream merges its
    changes by key), and it is not cut off; another client on the same data receives every
    event meanwhile. Once it reads again it gets the latest values, its keyed stream
    converges on the current state, and an id completed and reused meanwhile works."""
    settings = {"subscriber_buffer": BUFFER, "max_aliases": 200, "max_tokens": 5000}
    async with live_env("keyspace", **settings) as env:
        async with env.client() as good:
            await env.writer.set_ticker(tick(0.0))
            await good.subscribe("g", GOOD)
            assert await good.data("g") == {"kind": "SNAPSHOT", "items": [{"price": 0.0}]}

            slow = await RawSocketClient.connect(env.server.host, env.server.port, "/graphql")
            try:
                await slow.send({"type": "connection_init"})
                assert await slow.recv() == {"type": "connection_ack"}
                ids = [f"t{index}" for index in range(TICKER_SUBS)]
                for op_id in ids:
                    await slow.send(
                        {"type": "subscribe", "id": op_id, "payload": {"query": BIG_TICKER}}
                    )
                await slow.send({"type": "subscribe", "id": "k", "payload": {"query": KEYED}})
                first = {}
                while len(first) < TICKER_SUBS + 1:
                    message = await slow.recv()
                    assert message is not None and message["type"] == "next", message
                    first.setdefault(message["id"], message)
                connection = next(c for c in env.services.connections if "k" in c.operations)
                outbox = connection.outbox
                # From here on the slow client reads nothing.

                bound = TICKER_SUBS + 1 + 4  # one waiting item per subscription, and pings
                longest = 0
                price = 0.0

                async def burst(count: int) -> None:
                    nonlocal price, longest
                    start = price
                    for _ in range(count):
                        price += 1.0
                        await env.writer.set_ticker(tick(price))
                        longest = max(longest, outbox.pending)
                    # The good client gets every change, in order.
                    received: list[float] = []
                    while len(received) < count:
                        value = await good.data("g")
                        assert value["kind"] == "UPSERT", value
                        received.extend(item["price"] for item in value["items"])
                        longest = max(longest, outbox.pending)
                    assert received == [start + step for step in range(1, count + 1)]

                for _ in range(3000):
                    await burst(4)
                    if connection.coalesced > 200 and outbox.stalled_for() > 0:
                        break
                assert connection.coalesced > 200
                assert outbox.stalled_for() > 0, "the socket never filled up"
                assert longest <= bound, (longest, bound)
                assert "k" in connection.operations  # a keyed stream is merged, not ended
                assert not connection.closing  # bounded: no need to drop the connection

                per_id: dict[str, list[JSONDict]] = {}

                def route(message: JSONDict | None) -> None:
                    nonlocal longest
                    assert message is not None, slow.close_frame
                    per_id.setdefault(message["id"], []).append(message)
                    longest = max(longest, outbox.pending)

                async def drain() -> None:
                    """Read until nothing is queued or in flight for the client."""
                    while True:
                        try:
                            route(await slow.recv(timeout=0.3))
                        except TimeoutError:
                            if not outbox.pending and not outbox.stalled_for():
                                return

                # An id completed and reused while its last event is still queued (t1),
                # and one completed, drained, then reused (t0): the new subscriptions get
                # their own events.
                await slow.send({"type": "complete", "id": "t1"})
                await wait_until(lambda: "t1" not in connection.operations)
                await slow.send({"type": "subscribe", "id": "t1", "payload": {"query": BIG_TICKER}})
                await slow.send({"type": "complete", "id": "t0"})
                await wait_until(lambda: "t0" not in connection.operations)
                await drain()
                await slow.send({"type": "subscribe", "id": "t0", "payload": {"query": BIG_TICKER}})
                await wait_until(lambda: {"t0", "t1"} <= set(connection.operations))
                for _ in range(5):
                    await burst(4)
                final = price

                # Now read everything.
                done: set[str] = set()
                keyed_price: float | None = None
                while done != {*ids, "k"}:
                    try:
                        message = await slow.recv(timeout=5)
                    except TimeoutError:
                        missing = sorted({*ids, "k"} - done)
                        raise AssertionError(
                            f"no latest value ({final}) for {missing}: "
                            f"{[per_id.get(op_id, [])[-3:] for op_id in missing]}"
                        ) from None
                    route(message)
                    assert message is not None
                    payload = message.get("payload")
                    data = (payload.get("data") if isinstance(payload, dict) else None) or {}
                    if message["id"] in ids and (data.get("ticker") or {}).get("p0") == final:
                        done.add(message["id"])
                    if message["id"] == "k":
                        for item in data["tickers"]["items"]:
                            keyed_price = item["price"]
                        if keyed_price == final:
                            done.add("k")
                assert longest <= bound, (longest, bound)

                keyed = per_id.get("k", [])
                assert {m["type"] for m in keyed} == {"next"}, keyed[-3:]
                for op_id in ids:
                    assert {m["type"] for m in per_id[op_id]} == {"next"}, per_id[op_id]
                    prices = [m["payload"]["data"]["ticker"]["p0"] for m in per_id[op_id]]
                    assert prices == sorted(set(prices)), (op_id, prices)
                    assert prices[-1] == final
            finally:
                await slow.aclose()
        await env.wait_idle()


async def test_a_push_stream_reader_that_stalls_is_ended() -> None:
    """A PUSH stream keeps every message, so a reader whose socket takes nothing for
    SLOW_CONSUMER_S while SUBSCRIBER_BUFFER messages wait gets SLOW_CONSUMER; the
    connection itself stays, and a subscriber that reads keeps everything."""
    settings = {"subscriber_buffer": BUFFER, "slow_consumer_s": 0.5}
    async with live_env("keyspace", **settings) as env, env.client() as good:
        query = 'subscription { processBroadcasts(type: "tick") { message data } }'
        await good.subscribe("g", query)
        slow = await RawSocketClient.connect(env.server.host, env.server.port, "/graphql")
        try:
            await slow.send({"type": "connection_init"})
            assert await slow.recv() == {"type": "connection_ack"}
            await slow.send({"type": "subscribe", "id": "p", "payload": {"query": query}})
            await wait_until(lambda: env.numsub("process:broadcast:tick"))
            connection = next(c for c in env.services.connections if "p" in c.operations)
            sent = since_stall = 0
            padding = "x" * 2000
            while "p" in connection.operations:
                sent += 1
                await env.writer.broadcast_message("tick", f"m{sent}", {"pad": padding})
                assert (await good.data("g"))["message"] == f"m{sent}"
                assert sent < 5000, "never judged slow"
                if connection.outbox.stalled_for():
                    # The socket is full: publish at a steady 50 messages/s, so the backlog
                    # stays under 4 x SUBSCRIBER_BUFFER and the stall time decides.
                    since_stall += 1
                    await asyncio.sleep(0.02)
            assert BUFFER < since_stall < 4 * BUFFER, since_stall
            assert env.services.dropped == 1
            messages = []
            while True:
                message = await slow.recv(timeout=5)
                assert message is not None
                messages.append(message)
                if message["type"] == "error":
                    break
            assert messages[-1]["payload"][0]["extensions"]["code"] == "SLOW_CONSUMER"
            assert not connection.closing
        finally:
            await slow.aclose()


# --------------------------------------------------------------------------- keep-alive


async def test_keepalive_ping_pong_and_timeout() -> None:
    async with (
        live_env("poll", ws_ping_interval=0.2, ws_pong_timeout=0.5) as env,
        raw_ws(env.server.ws_url) as answering,
        raw_ws(env.server.ws_url) as silent,
    ):
        await answering.init()
        await silent.init()

        async def answer() -> int:
            pings = 0
            loop = asyncio.get_running_loop()
            start = loop.time()
            while loop.time() - start < 1.5:  # three pong timeouts
                message = await answering.recv(keepalive=True)
                assert message == {"type": "ping"}, message
                pings += 1
                await answering.send({"type": "pong"})
            return pings

        async def ignore() -> tuple[int, str]:
            loop = asyncio.get_running_loop()
            start = loop.time()
            message = await silent.recv(keepalive=True)
            assert message == {"type": "ping"}, message
            closed = await silent.expect_close(timeout=5)
            assert loop.time() - start >= 0.5  # not before the pong timeout
            return closed

        pings, (code, reason) = await asyncio.gather(answer(), ignore())
        assert pings >= 5
        assert code == 1011, (code, reason)
        assert all(frame in ('{"type":"ping"}',) for frame in silent.before_close), (
            silent.before_close
        )
        # The peer that answers is still served.
        payload = await answering.query('{ tickers(exchange: "binance") { symbol } }')
        assert payload == {"data": {"tickers": []}}


# --------------------------------------------------------------------------- shutdown


async def test_server_shutdown_releases_everything() -> None:
    redis_server = EmbeddedRedis(extra_args=("--notify-keyspace-events", "KA"))
    await asyncio.to_thread(redis_server.start)
    url = f"redis://{redis_server.host}:{redis_server.port}/{DB}"
    data = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        writer = CacheWriter(data, now=Clock())
        await writer.set_ticker(tick(1.0))
        server_context = running_server(live_settings(url, "keyspace"))
        server = await server_context.__aenter__()
        try:
            services = server.services
            hub, runner = services.live, services.runner
            async with contextlib.AsyncExitStack() as stack:
                clients = [await stack.enter_async_context(raw_ws(server.ws_url)) for _ in range(3)]
                for client in clients:
                    await client.init()
                    for op_id, (query, variables) in STREAMS.items():
                        payload: JSONDict = {"query": query}
                        if variables:
                            payload["variables"] = variables
                        await client.send({"type": "subscribe", "id": op_id, "payload": payload})
                await wait_until(lambda: runner.member_count == 3 * len(STREAMS))
                assert hub.topics
                assert await data.pubsub_numpat() > 0

                shutdown = asyncio.create_task(server_context.__aexit__(None, None, None))
                closes = await asyncio.gather(*(client.expect_close(10) for client in clients))
                await asyncio.wait_for(shutdown, 20)
                server_context = None
            assert hub.topics == {}
            assert runner.groups == {}
            assert hub.feed.channels == []
            assert hub.feed.patterns == []
            assert services.connections == set()
            await wait_until(lambda: _no_subscribers(data), 5, "Redis to lose our subscriptions")
            # The app closes its WebSockets with 1001 in its lifespan shutdown, but uvicorn
            # has already closed them with 1012 by then (Server.shutdown() runs
            # connection.shutdown() before the lifespan): the 1001 never reaches clients.
            assert [code for code, _reason in closes] == [1001] * len(clients), closes
        finally:
            if server_context is not None:
                await server_context.__aexit__(None, None, None)
    finally:
        await data.aclose()
        await asyncio.to_thread(redis_server.stop)


async def _no_subscribers(client: redis.asyncio.Redis) -> bool:
    return not await client.pubsub_channels() and await client.pubsub_numpat() == 0
