"""Abuse limits, end to end over raw frames: protocol violations, message floods, connection
bursts, query cost, introspection switched off, and documents built to make parsing or
validation slow. Each refusal is checked for its close code or ``extensions.code``, and for
leaving every other connection alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from fullon_cache_api.schema import schema
from fullon_cache_api.server.cost import operation_cost
from fullon_cache_api.simulator import CacheWriter
from support import RunningServer, make_settings, raw_ws, running_server
from support.ws import LEGACY_WS, TRANSPORT_WS, RawWebSocket

JSONDict = dict[str, Any]
Redis = redis.asyncio.Redis

TICKER_SUB = 'subscription { ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'


def codes(body: JSONDict | list[JSONDict]) -> list[str]:
    errors = body if isinstance(body, list) else body.get("errors", [])
    return [error["extensions"]["code"] for error in errors]


def start_type(protocol: str) -> str:
    return "start" if protocol == LEGACY_WS else "subscribe"


# ------------------------------------------------------------------ raw frame abuse


class Watcher:
    """A healthy connection with an open ticker subscription, checked after each abuse."""

    def __init__(self, ws: RawWebSocket, writer: CacheWriter) -> None:
        self.ws = ws
        self.writer = writer
        self.price = 1.0

    async def still_receiving(self) -> None:
        self.price += 1
        await self.writer.set_ticker(
            {"symbol": "BTC/USDT", "exchange": "binance", "price": self.price, "time": 1.7e9}
        )
        message = await self.ws.recv()
        assert message["payload"]["data"] == {"ticker": {"price": self.price}}, message


@pytest_asyncio.fixture
async def abuse_server(redis_url: str) -> AsyncIterator[RunningServer]:
    settings = make_settings(redis_url, ws_messages_per_second=20, ws_message_burst=40)
    async with running_server(settings) as server:
        yield server


@pytest_asyncio.fixture
async def watcher(abuse_server: RunningServer, redis_client: Redis) -> AsyncIterator[Watcher]:
    async with raw_ws(abuse_server.ws_url) as ws:
        await ws.init()
        await ws.send({"type": "subscribe", "id": "w", "payload": {"query": TICKER_SUB}})
        assert (await ws.recv())["payload"]["data"] == {"ticker": None}
        watcher = Watcher(ws, CacheWriter(redis_client))
        await watcher.still_receiving()
        yield watcher


def _big(server: RunningServer) -> str:
    return '{"type": "ping", "pad": "' + "x" * server.settings.ws_max_message_bytes + '"}'


ABUSES: dict[str, tuple[bool, list[Any], int]] = {
    # name: (init first, frames, expected close code)
    "malformed-json": (True, ['{"type": "subscribe", "id": '], 4400),
    "not-an-object": (True, ['"connection_init"'], 4400),
    "no-type": (True, ['{"id": "1"}'], 4400),
    "unknown-type": (True, ['{"type": "subscribe_all_the_things"}'], 4400),
    "binary-frame": (True, [b'{"type": "ping"}'], 4400),
    "oversized-frame": (True, ["BIG"], 1009),
    "subscribe-before-ack": (
        False,
        ['{"type": "SUBSCRIBE", "id": "1", "payload": {"query": "{ exchanges }"}}'],
        4401,
    ),
    "duplicate-init": (True, ['{"type": "connection_init"}'], 4429),
    "duplicate-id": (
        True,
        [
            '{"type": "SUBSCRIBE", "id": "x", "payload": {"query": "'
            + TICKER_SUB.replace('"', '\\"')
            + '"}}',
            '{"type": "SUBSCRIBE", "id": "x", "payload": {"query": "{ exchanges }"}}',
        ],
        4409,
    ),
    "bad-id": (
        True,
        ['{"type": "SUBSCRIBE", "id": 7, "payload": {"query": "{ exchanges }"}}'],
        4400,
    ),
    "bad-payload": (True, ['{"type": "SUBSCRIBE", "id": "1", "payload": "{ exchanges }"}'], 4400),
    "bad-init-payload": (False, ['{"type": "connection_init", "payload": [1]}'], 4400),
}


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize("abuse", list(ABUSES))
async def test_protocol_abuse_closes_only_that_connection(
    abuse_server: RunningServer, watcher: Watcher, abuse: str, protocol: str
) -> None:
    init, frames, expected = ABUSES[abuse]
    async with raw_ws(abuse_server.ws_url, protocol) as ws:
        if init:
            await ws.init()
        for frame in frames:
            if frame == "BIG":
                frame = _big(abuse_server)
            if isinstance(frame, str):
                frame = frame.replace("SUBSCRIBE", start_type(protocol))
            await ws.send_raw(frame)
        code, _reason = await ws.expect_close()
        assert code == expected, (abuse, protocol, code, _reason)
        # Only a duplicate id may have produced output first (the first subscription's).
        if abuse != "duplicate-id":
            assert ws.before_close == []
    await watcher.still_receiving()
    assert len(abuse_server.services.connections) == 1  # the watcher only
    body = await abuse_server.graphql("{ health { reachable } }")
    assert body == {"data": {"health": {"reachable": True}}}


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_legacy_hardening_start_before_init_runs_nothing(
    abuse_server: RunningServer, protocol: str
) -> None:
    """CVE-2026-35526 class: an operation before ``connection_init`` must not run, even
    when ``connection_init`` follows right behind it."""
    async with raw_ws(abuse_server.ws_url, protocol) as ws:
        await ws.send(
            {"type": start_type(protocol), "id": "1", "payload": {"query": "{ exchanges }"}}
        )
        await ws.send({"type": "connection_init"})
        assert (await ws.expect_close())[0] == 4401
        assert ws.before_close == []


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_id_can_be_reused_after_complete(abuse_server: RunningServer, protocol: str) -> None:
    async with raw_ws(abuse_server.ws_url, protocol) as ws:
        await ws.init()
        for _ in range(3):
            assert await ws.query("{ exchanges }", id="same") == {"data": {"exchanges": []}}


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_message_flood_closes_4429(
    abuse_server: RunningServer, watcher: Watcher, protocol: str
) -> None:
    flood = '{"type": "ping"}' if protocol == TRANSPORT_WS else '{"type": "stop", "id": "n"}'
    async with raw_ws(abuse_server.ws_url, protocol) as ws:
        await ws.init()
        for _ in range(200):
            try:
                await ws.send_raw(flood)
            except ConnectionClosed:
                break
        code, reason = await ws.expect_close()
        assert code == 4429, (code, reason)
        assert reason == "Too many messages"
        # The rest of the burst of 40 (connection_init took one) was answered before the
        # limit hit, and the flood was cut short.
        if protocol == TRANSPORT_WS:
            assert 39 <= len(ws.before_close) < 200
    await watcher.still_receiving()


async def test_message_rate_refills(abuse_server: RunningServer) -> None:
    """A client within the rate is never cut off: 45 messages (more than the burst of 40)
    at 15/s (the rate is 20/s)."""
    async with raw_ws(abuse_server.ws_url) as ws:
        await ws.init()
        for index in range(45):
            assert await ws.query("{ exchanges }", id=str(index)) == {"data": {"exchanges": []}}
            await asyncio.sleep(1 / 15)


async def test_rate_limit_off(redis_url: str) -> None:
    settings = make_settings(redis_url, ws_messages_per_second=0)
    async with running_server(settings) as server, raw_ws(server.ws_url) as ws:
        await ws.init()
        for _ in range(1000):
            await ws.send_raw('{"type": "ping"}')
        for _ in range(1000):
            assert (await ws.recv(keepalive=True))["type"] == "pong"


async def test_operations_per_connection(redis_url: str) -> None:
    settings = make_settings(redis_url, ws_max_operations=2)
    async with running_server(settings) as server, raw_ws(server.ws_url) as ws:
        await ws.init()
        for op_id in ("a", "b"):
            await ws.send({"type": "subscribe", "id": op_id, "payload": {"query": TICKER_SUB}})
            assert (await ws.recv())["type"] == "next"
        (refused,) = await ws.operation("{ exchanges }", id="c")
        assert refused["type"] == "error"
        assert codes(refused["payload"]) == ["RATE_LIMITED"]
        await ws.send({"type": "complete", "id": "a"})
        assert await ws.query("{ exchanges }", id="d") == {"data": {"exchanges": []}}


# ------------------------------------------------------------------ connection limits


async def _handshake(url: str, source: str) -> tuple[str, ClientConnection | None, str]:
    """``("ok", connection, "")`` once acknowledged, or ``("refused", None, reason)``."""
    try:
        connection = await connect(
            url,
            subprotocols=[Subprotocol(TRANSPORT_WS)],
            local_addr=(source, 0),
            open_timeout=20,
            close_timeout=1,
            ping_interval=None,
        )
    except (OSError, TimeoutError) as exc:  # not expected on loopback
        return "error", None, repr(exc)
    try:
        await connection.send('{"type": "connection_init"}')
        reply = await asyncio.wait_for(connection.recv(), 20)
    except ConnectionClosed as exc:
        frame = exc.rcvd
        await connection.close()
        if frame is not None and frame.code == 1013:
            return "refused", None, frame.reason
        return "error", None, f"closed {frame}"
    assert reply == '{"type":"connection_ack"}', reply
    return "ok", connection, ""


async def _burst(url: str, source: str, count: int) -> tuple[list[ClientConnection], list[str]]:
    results = await asyncio.gather(*(_handshake(url, source) for _ in range(count)))
    errors = [detail for outcome, _, detail in results if outcome == "error"]
    assert not errors, errors[:3]
    accepted = [connection for outcome, connection, _ in results if connection is not None]
    reasons = [detail for outcome, _, detail in results if outcome == "refused"]
    return accepted, reasons


async def test_connection_limits_hold_under_a_burst(redis_url: str) -> None:
    per_ip, total = 40, 60
    settings = make_settings(redis_url, ws_max_connections_per_ip=per_ip, ws_max_connections=total)
    async with running_server(settings) as server:
        limiter = server.services.limiter
        accepted, reasons = await _burst(server.ws_url, "127.0.0.1", 500)
        try:
            assert len(accepted) == per_ip
            assert len(reasons) == 500 - per_ip
            assert set(reasons) == {"too many connections from this address, try again later"}
            # Another address gets the rest of the total.
            more, reasons = await _burst(server.ws_url, "127.0.0.2", 100)
            accepted += more
            assert len(more) == total - per_ip
            assert set(reasons) == {"server connection limit reached, try again later"}
            assert limiter.total == total
            assert len(server.services.connections) == total
            # Accepted connections work.
            await accepted[0].send(
                '{"type":"subscribe","id":"1","payload":{"query":"{ exchanges }"}}'
            )
            assert '"exchanges":[]' in str(await accepted[0].recv())
            assert (await server.graphql("{ exchanges }")) == {"data": {"exchanges": []}}
        finally:
            await asyncio.gather(*(connection.close() for connection in accepted))
        deadline = time.monotonic() + 5
        while limiter.total or limiter.by_address:
            assert time.monotonic() < deadline, (limiter.total, limiter.by_address)
            await asyncio.sleep(0.02)
        # Everything was released: a new burst gets the full allowance again.
        accepted, _ = await _burst(server.ws_url, "127.0.0.1", per_ip + 5)
        assert len(accepted) == per_ip
        await asyncio.gather(*(connection.close() for connection in accepted))


async def test_per_address_limit_off(redis_url: str) -> None:
    settings = make_settings(redis_url, ws_max_connections_per_ip=0, ws_max_connections=30)
    async with running_server(settings) as server:
        accepted, reasons = await _burst(server.ws_url, "127.0.0.1", 50)
        assert len(accepted) == 30 and len(reasons) == 20
        await asyncio.gather(*(connection.close() for connection in accepted))


# ------------------------------------------------------------------------ query cost


def cost_of(query: str, variables: JSONDict | None = None) -> tuple[int, bool]:
    document = parse(query)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return operation_cost(schema._schema, fragments, operation, variables, page_default=100)


OHLCV = 'ohlcv(symbol: "BTC/USDT", timeframe: "1m"{}) {{ close }}'


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        ("{ exchanges }", None, (1, False)),
        ("{ __typename health { reachable } }", None, (1, False)),
        ("{ tickers { price } }", None, (10, False)),
        ("{ accounts { exId balances { total } } }", None, (110, False)),
        ("{ " + OHLCV.format("") + " }", None, (100, False)),
        ("{ " + OHLCV.format(", count: 5000") + " }", None, (5000, False)),
        ('{ trades(exchange: "b", symbol: "s", last: 7) { price } }', None, (7, False)),
        # Without first/last, the default page (LIST_PAGE_DEFAULT, 100) is what is read.
        ('{ trades(exchange: "b", symbol: "s") { price } }', None, (100, False)),
        ('{ trades(exchange: "b", symbol: "s", first: 3) { price } }', None, (3, False)),
        ("query($n: Int!) { " + OHLCV.format(", count: $n") + " }", {"n": 3000}, (3000, True)),
        # An omitted variable leaves the argument's default (100).
        ("query($n: Int) { " + OHLCV.format(", count: $n") + " }", None, (100, True)),
        ("query($n: Int = 40) { " + OHLCV.format(", count: $n") + " }", None, (40, True)),
        ("query($n: Int = 40) { " + OHLCV.format(", count: $n") + " }", {"n": 9}, (9, True)),
        ("query($n: Int!) { " + OHLCV.format(", count: $n") + " }", {"n": "x"}, (10, True)),
        ("query($n: Int!) { " + OHLCV.format(", count: $n") + " }", {"n": 1e99}, (10**9, True)),
        (
            "{ a: exchanges b: exchanges ...F ...F } fragment F on Query { exchanges }",
            None,
            (3, False),
        ),
        ("{ __schema { types { fields { name } } } }", None, (1, False)),
        (
            'subscription { ohlcv(symbol: "s", timeframe: "1m", count: 500) { items { close } } }',
            None,
            (501, False),
        ),
    ],
)
def test_cost_model(query: str, variables: JSONDict | None, expected: tuple[int, bool]) -> None:
    assert cost_of(query, variables) == expected


async def test_query_cost_limit(api_server: RunningServer) -> None:
    limit = api_server.settings.max_query_cost
    one = OHLCV.format(", count: 10000")
    assert (await api_server.graphql("{ " + one + " }"))["data"] == {"ohlcv": []}
    expensive = "{ " + " ".join(f"a{i}: {one}" for i in range(limit // 10000 + 1)) + " }"
    response = await api_server.post(expensive)
    assert response.status_code == 400
    body = response.json()
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert f"the limit is {limit}" in body["errors"][0]["message"]
    async with raw_ws(api_server.ws_url) as ws:
        await ws.init()
        (message,) = await ws.operation(expensive)
        assert message["type"] == "error"
        assert codes(message["payload"]) == ["QUERY_TOO_COMPLEX"]


async def test_query_cost_with_variables_is_checked_per_execution(
    api_server: RunningServer,
) -> None:
    """The same (cached) document passes or fails on its variables' values."""
    query = (
        "query($n: Int!) { a: "
        + OHLCV.format(", count: $n")
        + " b: "
        + OHLCV.format(", count: $n")
        + " c: "
        + OHLCV.format(", count: $n")
        + " }"
    )
    for n, ok in ((100, True), (9000, False), (10, True), (7000, False), (6000, True)):
        response = await api_server.post(query, {"n": n})
        if ok:
            assert response.json() == {"data": {"a": [], "b": [], "c": []}}, n
        else:
            assert response.status_code == 400, n
            assert codes(response.json()) == ["QUERY_TOO_COMPLEX"]
    async with raw_ws(api_server.ws_url) as ws:
        await ws.init()
        assert await ws.query(query, {"n": 5}) == {"data": {"a": [], "b": [], "c": []}}
        (message,) = await ws.operation(query, {"n": 10000}, id="2")
        assert codes(message["payload"]) == ["QUERY_TOO_COMPLEX"]


async def test_subscription_cost(redis_url: str) -> None:
    async with running_server(make_settings(redis_url, max_query_cost=500)) as server:
        query = (
            'subscription($n: Int!) { ohlcv(symbol: "BTC/USDT", timeframe: "1m", count: $n) '
            "{ items { close } } }"
        )
        async with raw_ws(server.ws_url) as ws:
            await ws.init()
            (message,) = await ws.operation(query, {"n": 1000})
            assert codes(message["payload"]) == ["QUERY_TOO_COMPLEX"]
            await ws.send(
                {
                    "type": "subscribe",
                    "id": "ok",
                    "payload": {"query": query, "variables": {"n": 50}},
                }
            )
            assert (await ws.recv())["type"] == "next"


# -------------------------------------------------------------- introspection switch


async def test_introspection_off(redis_url: str) -> None:
    settings = make_settings(redis_url, introspection=False, graphiql=False)
    async with running_server(settings) as server:
        for query in (
            "{ __schema { queryType { name } } }",
            '{ __type(name: "Query") { name } }',
            "query { ...F } fragment F on Query { __schema { types { name } } }",
        ):
            response = await server.post(query)
            assert response.status_code == 400, query
            assert set(codes(response.json())) == {"GRAPHQL_VALIDATION_FAILED"}
        assert await server.graphql("{ __typename }") == {"data": {"__typename": "Query"}}
        # No "Did you mean …?": the schema cannot be mapped by guessing.
        for query in (
            "{ tickerz { price } }",
            '{ ticker(exchange: "b", symbl: "s") { price } }',
            "{ tickers { prise } }",
            '{ ticker(exchange: "b", symbol: "s") { ...on Tickr { price } } }',
        ):
            response = await server.post(query)
            assert response.status_code == 400
            assert "Did you mean" not in response.text, response.text
        async with raw_ws(server.ws_url) as ws:
            await ws.init()
            (message,) = await ws.operation("{ tickerz { price } }")
            assert "Did you mean" not in str(message)
            (message,) = await ws.operation("{ __schema { queryType { name } } }", id="2")
            assert set(codes(message["payload"])) == {"GRAPHQL_VALIDATION_FAILED"}
        page = await server.http.get(server.graphql_path, headers={"accept": "text/html"})
        assert page.status_code == 404


async def test_introspection_on_suggests(api_server: RunningServer) -> None:
    response = await api_server.post("{ tickerz { price } }")
    assert "Did you mean" in response.text
    assert (await api_server.graphql("{ __schema { queryType { name } } }"))["data"]


# ------------------------------------------------- documents that are slow to check


async def test_fragment_fan_out_is_linear(api_server: RunningServer) -> None:
    """Each fragment spreads the next one twice: 2**60 paths. Found by fuzzing: the depth
    check walked every path and never returned."""
    levels = 60
    fragments = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    query = "{ ...F0 } " + fragments + f" fragment F{levels} on Query {{ exchanges }}"
    started = time.monotonic()
    assert await api_server.graphql(query) == {"data": {"exchanges": []}}
    too_deep = "a { " * 13 + "b" + " }" * 13
    deep = "{ ...F0 } " + fragments + f" fragment F{levels} on Query {{ {too_deep} }}"
    response = await api_server.post(deep)
    assert response.status_code == 400
    assert codes(response.json()) == ["QUERY_TOO_COMPLEX"]
    assert time.monotonic() - started < 2


async def test_repeated_selections_count_like_aliases(api_server: RunningServer) -> None:
    """300 copies of one object field take graphql-core's overlap check ~0.3 s each time."""
    limit = api_server.settings.max_aliases
    started = time.monotonic()
    body = await api_server.graphql("{ " + "health { reachable } " * limit + "}")
    assert body["data"] == {"health": {"reachable": True}}
    for query in (
        "{ " + "health { reachable } " * 300 + "}",
        "{ " + "... on Query { health { reachable } } " * 100 + "}",
        "{ health { reachable } " + "h: health { reachable } " * limit + "}",
    ):
        response = await api_server.post(query)
        assert response.status_code == 400
        assert codes(response.json()) == ["QUERY_TOO_COMPLEX"]
        assert "repeated" in response.json()["errors"][0]["message"]
    assert time.monotonic() - started < 1.5
    # Repeated leaves are cheap to check and are not counted.
    body = await api_server.graphql("{ health { " + "reachable " * 500 + "} }")
    assert body["data"] == {"health": {"reachable": True}}


async def test_deep_nesting_is_too_complex(api_server: RunningServer) -> None:
    query = "{" + "a{" * 300 + "b" + "}" * 301
    response = await api_server.post(query)
    assert response.status_code == 400
    assert codes(response.json()) == ["QUERY_TOO_COMPLEX"]
