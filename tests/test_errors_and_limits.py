"""Failure modes and abuse limits, end to end through uvicorn: bad arguments, Redis down and
back, masked internal errors, query complexity limits and the WebSocket protocol's close
codes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio
from websockets.exceptions import InvalidStatus

from fullon_cache_api.embedded_redis import EmbeddedRedis
from fullon_cache_api.simulator import CacheWriter
from support import RunningServer, make_settings, raw_ws, running_server
from support.private_redis import private_redis
from support.ws import LEGACY_WS, TRANSPORT_WS
from test_queries import T0_S

JSONDict = dict[str, Any]
Redis = redis.asyncio.Redis

TICK = {"symbol": "BTC/USDT", "exchange": "binance", "price": 50000.0, "time": T0_S}


def codes(body: JSONDict) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def ws_query(server: RunningServer, query: str, variables: JSONDict | None = None) -> Any:
    """A query's 'next' payload over graphql-transport-ws, or the 'error' message payload."""
    async with raw_ws(server.ws_url) as ws:
        await ws.init()
        messages = await ws.operation(query, variables)
        return messages[0]["payload"]


# --------------------------------------------------------------------- bad arguments

LONG_SYMBOL = "A" * 60 + "/USDT"  # 65 characters: one more than allowed

BAD_ARGUMENTS = [
    ('{ tickers(exchange: "") { price } }', "tickers", "exchange"),
    ('{ balance(exId: "1", currency: "US\\u0000D") { free } }', "balance", "currency"),
    ('{ ticker(exchange: "bin\\u007fance", symbol: "BTC/USDT") { price } }', "ticker", "exchange"),
    ('{ ticker(exchange: "binance\\n", symbol: "BTC/USDT") { price } }', "ticker", "exchange"),
    (f'{{ ticker(exchange: "binance", symbol: "{LONG_SYMBOL}") {{ price }} }}', "ticker", "symbol"),
    ('{ ohlcv(symbol: "BTC/USDT", timeframe: "1m", count: 0) { close } }', "ohlcv", "count"),
    ('{ ohlcv(symbol: "BTC/USDT", timeframe: "1m", count: 10001) { close } }', "ohlcv", "count"),
    ('{ ohlcv(symbol: "BTC/USDT", timeframe: "1 m") { close } }', "ohlcv", "timeframe"),
    ('{ ohlcv(symbol: "BTC/USDT", timeframe: "1m*") { close } }', "ohlcv", "timeframe"),
    ('{ ohlcv(symbol: "BTC/USDT", timeframe: "12345678901") { close } }', "ohlcv", "timeframe"),
    ('{ trades(exchange: "binance", symbol: "BTC/USDT", last: 0) { price } }', "trades", "last"),
    ('{ order(exchange: "binance", orderId: "12*") { status } }', "order", "orderId"),
    ('{ process(processId: "tick:[a-z]*") { status } }', "process", "processId"),
    ("{ activeProcesses(sinceMinutes: 0) { status } }", "activeProcesses", "sinceMinutes"),
    ("{ activeProcesses(sinceMinutes: 20000) { status } }", "activeProcesses", "sinceMinutes"),
]


#: Names fullon_cache itself accepts (issue 11): spaces, any script and, where no key
#: pattern is built (a plain HGET/LRANGE), glob characters. They read as absent.
ACCEPTED_NAMES = [
    ('{ ticker(exchange: "bin ance", symbol: "BTC/USDT") { price } }', "ticker", None),
    ('{ ticker(exchange: "bin*", symbol: "BTC/USDT") { price } }', "ticker", None),
    ('{ tickers(exchange: "kr?ken") { price } }', "tickers", []),
    ('{ tickers(exchange: "[bk]raken") { price } }', "tickers", []),
    ('{ anyTicker(symbol: "BTC USDT") { price } }', "anyTicker", None),
    ('{ anyTicker(symbol: "BTC/*") { price } }', "anyTicker", None),
    ('{ orders(exchange: "bin ance") { status } }', "orders", []),
    ('{ activeProcesses(type: "ti ck") { status } }', "activeProcesses", []),
    ('{ isBlocked(exId: "1 2", symbol: "BTC/USDT") }', "isBlocked", None),
    ('{ openOrderQueue(localOid: "*") }', "openOrderQueue", []),
    ('{ userTrades(uid: "1", exchange: "bin?ance") { price } }', "userTrades", []),
    ('{ ticker(exchange: "币安", symbol: "币安人生/USDT") { price } }', "ticker", None),
]


@pytest.mark.parametrize(("query", "field", "value"), ACCEPTED_NAMES)
async def test_names_fullon_cache_accepts_are_not_refused(
    api_server: RunningServer, query: str, field: str, value: object
) -> None:
    body = await api_server.graphql(query)
    assert "errors" not in body, body
    assert body["data"] == {field: value}


@pytest.mark.parametrize(("query", "field", "argument"), BAD_ARGUMENTS)
async def test_bad_arguments_are_invalid_argument(
    api_server: RunningServer, query: str, field: str, argument: str | None
) -> None:
    body = await api_server.graphql(query)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INVALID_ARGUMENT", error
    assert error["path"] == [field]
    if argument is not None:
        assert error["extensions"]["argument"] == argument
    # A nullable field is null; a non-null list nulls the whole data.
    assert body["data"] in (None, {field: None})


async def test_bad_argument_over_websocket(api_server: RunningServer) -> None:
    payload = await ws_query(
        api_server, '{ ohlcv(symbol: "BTC/USDT", timeframe: "1m", count: 0) { close } }'
    )
    assert codes(payload) == ["INVALID_ARGUMENT"]
    assert payload["data"] == {"ohlcv": None}  # root fields are nullable: only it is null


# ---------------------------------------------------------------------- Redis outage


@pytest.fixture
async def own_redis() -> AsyncIterator[EmbeddedRedis]:
    """A private redis-server this test may stop and restart (on the same port)."""
    async with private_redis() as server:
        yield server


async def seed(url: str) -> None:
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        await CacheWriter(client).set_ticker(TICK)
    finally:
        await client.aclose()


async def test_redis_down_then_back(own_redis: EmbeddedRedis) -> None:
    url = f"redis://{own_redis.host}:{own_redis.port}/1"
    await seed(url)
    settings = make_settings(url, redis_socket_timeout=1, redis_socket_connect_timeout=1)
    ticker = '{ ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'
    async with running_server(settings) as server:
        assert (await server.graphql(ticker))["data"] == {"ticker": {"price": 50000.0}}
        assert (await server.http.get("/ready")).status_code == 200

        await asyncio.to_thread(own_redis.stop)
        started = time.monotonic()
        body = await server.graphql(ticker)
        assert body["data"] == {"ticker": None}
        assert codes(body) == ["CACHE_UNAVAILABLE"]
        assert body["errors"][0]["path"] == ["ticker"]
        body = await server.graphql("{ exchanges }")
        assert body["data"] == {"exchanges": None}
        assert codes(body) == ["CACHE_UNAVAILABLE"]
        # Root fields are nullable: a failing one does not wipe out its siblings.
        body = await server.graphql("{ exchanges health { reachable } }")
        assert body["data"] == {"exchanges": None, "health": {"reachable": False}}
        assert codes(body) == ["CACHE_UNAVAILABLE"]
        payload = await ws_query(server, ticker)
        assert codes(payload) == ["CACHE_UNAVAILABLE"]
        # health never fails: it reports.
        health = await server.graphql("{ health { reachable error latencyMs } }")
        assert health == {
            "data": {"health": {"reachable": False, "error": "unreachable", "latencyMs": None}}
        }
        ready = await server.http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        live = await server.http.get("/health")
        assert live.status_code == 200
        assert live.json()["status"] == "ok"
        assert time.monotonic() - started < 10, "failing fast, not hanging on a dead Redis"

        # Back on the same port (empty: nothing is persisted), re-seeded by the writer.
        await asyncio.to_thread(own_redis.start)
        await seed(url)
        deadline = time.monotonic() + 10
        while True:
            body = await server.graphql(ticker)
            if "errors" not in body:
                break
            assert codes(body) == ["CACHE_UNAVAILABLE"]
            assert time.monotonic() < deadline, body
            await asyncio.sleep(0.05)
        assert body["data"] == {"ticker": {"price": 50000.0}}
        assert (await server.http.get("/ready")).status_code == 200
        assert (await ws_query(server, ticker))["data"] == {"ticker": {"price": 50000.0}}


# ------------------------------------------------------------------ masked internals


async def test_resolver_exception_is_masked(
    api_server: RunningServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret detail: redis://admin:hunter2@10.0.0.5")

    monkeypatch.setattr(api_server.services.cache.tickers, "get", explode)
    query = '{ ticker(exchange: "binance", symbol: "BTC/USDT") { price } exchanges }'
    response = await api_server.post(query)
    assert response.status_code == 200
    assert "secret" not in response.text
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    body = response.json()
    assert body["data"] == {"ticker": None, "exchanges": []}  # the other field still answers
    (error,) = body["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {"code": "INTERNAL"}
    assert error["path"] == ["ticker"]
    # The detail is in the server log, not in the response.
    assert any("secret detail" in str(record.exc_info) for record in caplog.records)

    async with raw_ws(api_server.ws_url) as ws:
        await ws.init()
        await ws.send({"type": "subscribe", "id": "1", "payload": {"query": query}})
        raw = await ws.connection.recv()
        assert isinstance(raw, str)
        assert "secret" not in raw
        assert "hunter2" not in raw
        assert '"code":"INTERNAL"' in raw
        assert (await ws.recv())["type"] == "complete"


# ------------------------------------------------------------------ query complexity


def nested(depth: int) -> str:
    return "{ " + "a { " * (depth - 1) + "a" + " }" * depth


async def assert_too_complex(server: RunningServer, query: str) -> JSONDict:
    response = await server.post(query)
    assert response.status_code == 400, response.text
    body: JSONDict = response.json()
    assert "data" not in body
    assert codes(body) == ["QUERY_TOO_COMPLEX"], body
    payload = await ws_query(server, query)  # an 'error' message: payload is the error list
    assert [error["extensions"]["code"] for error in payload] == ["QUERY_TOO_COMPLEX"]
    return body


async def test_too_deep_query(api_server: RunningServer) -> None:
    await assert_too_complex(api_server, nested(api_server.settings.max_query_depth + 1))
    # Fragments count toward depth, and a fragment cycle does not hang the check.
    cyclic = "query { ...A } fragment A on Query { " + "a { " * 13 + "...A" + " }" * 13 + " }"
    await assert_too_complex(api_server, cyclic)


async def test_depth_limit_counts_real_fields(redis_url: str) -> None:
    query = """query { ...F } fragment F on Query {
        componentStatus(component: "x") { process { processId } } }"""
    async with running_server(make_settings(redis_url, max_query_depth=2)) as server:
        body = await assert_too_complex(server, query)
        assert "2" in body["errors"][0]["message"]
        assert (await server.graphql("{ exchanges }"))["data"] == {"exchanges": []}


async def test_alias_bomb(api_server: RunningServer) -> None:
    limit = api_server.settings.max_aliases
    fields = " ".join(f"a{i}: health {{ reachable }}" for i in range(limit + 1))
    await assert_too_complex(api_server, f"{{ {fields} }}")
    fields = " ".join(f"a{i}: exchanges" for i in range(limit))
    assert len((await api_server.graphql(f"{{ {fields} }}"))["data"]) == limit


async def test_token_limit_bomb(api_server: RunningServer) -> None:
    tokens = api_server.settings.max_tokens
    query = "{ health { " + "reachable " * 2 + "a " * tokens + "} }"
    assert len(query) < api_server.settings.max_query_bytes
    await assert_too_complex(api_server, query)


async def test_oversized_query(api_server: RunningServer) -> None:
    query = "{ exchanges }" + " " * api_server.settings.max_query_bytes
    await assert_too_complex(api_server, query)
    # A body far beyond the limit is refused before it is parsed.
    response = await api_server.http.post(
        api_server.graphql_path,
        content=b'{"query": "' + b" " * (api_server.settings.max_query_bytes + 70_000) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert codes(response.json()) == ["BAD_REQUEST"]


# --------------------------------------------------------------- WebSocket protocol


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_ws_oversized_message_closes_1009(api_server: RunningServer, protocol: str) -> None:
    async with raw_ws(api_server.ws_url, protocol) as ws:
        await ws.init()
        start = "start" if protocol == LEGACY_WS else "subscribe"
        padding = " " * (api_server.settings.ws_max_message_bytes + 1)
        await ws.send({"type": start, "id": "1", "payload": {"query": "{ exchanges }" + padding}})
        code, _reason = await ws.expect_close()
        assert code == 1009


async def test_ws_foreign_origin_refused(api_server: RunningServer) -> None:
    try:
        async with raw_ws(api_server.ws_url, origin="https://evil.example") as ws:
            code, reason = await ws.expect_close()
            assert code == 4403, (code, reason)
            assert ws.before_close == []
    except InvalidStatus as refused:  # a rejected handshake is as good
        assert refused.response.status_code in (403, 401)
    # Same origin (a browser on the server's own page) and no Origin (scripts) pass.
    for origin in (api_server.origin, None):
        async with raw_ws(api_server.ws_url, origin=origin) as ws:
            await ws.init()
            assert (await ws.query("{ exchanges }"))["data"] == {"exchanges": []}


async def test_ws_allowed_origins_setting(redis_url: str) -> None:
    settings = make_settings(redis_url, allowed_origins="https://app.example, https://b.example")
    async with running_server(settings) as server:
        async with raw_ws(server.ws_url, origin="https://app.example") as ws:
            await ws.init()
            assert (await ws.query("{ exchanges }"))["data"] == {"exchanges": []}
        async with raw_ws(server.ws_url, origin="https://c.example") as ws:
            assert (await ws.expect_close())[0] == 4403


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_ws_connection_init_timeout(redis_url: str, protocol: str) -> None:
    settings = make_settings(redis_url, ws_connection_init_timeout=0.2)
    async with running_server(settings) as server:
        async with raw_ws(server.ws_url, protocol) as ws:
            started = time.monotonic()
            code, _reason = await ws.expect_close(timeout=5)
            assert code == 4408
            assert time.monotonic() - started < 3
        # A connection that does initialise in time is not closed by the timer.
        async with raw_ws(server.ws_url, protocol) as ws:
            await ws.init()
            await asyncio.sleep(0.3)  # past the init deadline, on purpose
            assert (await ws.query("{ exchanges }"))["data"] == {"exchanges": []}


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_ws_subscribe_before_ack_closes_4401(
    api_server: RunningServer, protocol: str
) -> None:
    start = "start" if protocol == LEGACY_WS else "subscribe"
    async with raw_ws(api_server.ws_url, protocol) as ws:
        await ws.send({"type": start, "id": "1", "payload": {"query": "{ exchanges }"}})
        assert (await ws.expect_close())[0] == 4401
        assert ws.before_close == []


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_ws_duplicate_init_closes_4429(api_server: RunningServer, protocol: str) -> None:
    async with raw_ws(api_server.ws_url, protocol) as ws:
        await ws.init()
        await ws.send({"type": "connection_init"})
        assert (await ws.expect_close())[0] == 4429


@pytest.mark.parametrize("offered", [["chat"], ["graphql-transport-ws-v2", "foo"], None])
async def test_ws_unknown_subprotocol_closes_4406(
    api_server: RunningServer, offered: list[str] | None
) -> None:
    try:
        async with raw_ws(api_server.ws_url, subprotocol=None, subprotocols=offered) as ws:
            assert ws.subprotocol is None
            assert (await ws.expect_close())[0] == 4406
    except InvalidStatus as refused:
        assert refused.response.status_code in (400, 403, 426)


async def test_ws_modern_protocol_preferred(api_server: RunningServer) -> None:
    async with raw_ws(api_server.ws_url, subprotocols=[LEGACY_WS, TRANSPORT_WS]) as ws:
        assert ws.subprotocol == TRANSPORT_WS


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(b'{"type": "connection_init"}', id="binary"),
        pytest.param("{not json", id="invalid-json"),
        pytest.param("[1, 2]", id="not-an-object"),
        pytest.param('{"type": 1}', id="type-not-a-string"),
        pytest.param('{"type": "launch_missiles"}', id="unknown-type"),
    ],
)
async def test_ws_bad_frames_close_4400(api_server: RunningServer, frame: str | bytes) -> None:
    async with raw_ws(api_server.ws_url) as ws:
        await ws.send_raw(frame)
        assert (await ws.expect_close())[0] == 4400


async def test_ws_bad_subscribe_messages_close_4400(api_server: RunningServer) -> None:
    for message in (
        {"type": "subscribe", "payload": {"query": "{ exchanges }"}},  # no id
        {"type": "subscribe", "id": "", "payload": {"query": "{ exchanges }"}},
        {"type": "subscribe", "id": "x" * 129, "payload": {"query": "{ exchanges }"}},
        {"type": "subscribe", "id": "1", "payload": "{ exchanges }"},  # payload not an object
    ):
        async with raw_ws(api_server.ws_url) as ws:
            await ws.init()
            await ws.send(message)
            assert (await ws.expect_close())[0] == 4400, message


async def test_ws_abuse_closes_only_that_connection(
    api_server: RunningServer, redis_client: Redis
) -> None:
    await CacheWriter(redis_client).set_ticker(TICK)
    query = '{ ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'
    expected = {"data": {"ticker": {"price": 50000.0}}}
    async with raw_ws(api_server.ws_url) as healthy, raw_ws(api_server.ws_url) as idle:
        await healthy.init()
        await idle.init()
        for index, frame in enumerate(("{not json", b"\x00\x01", "x" * 70_000)):
            async with raw_ws(api_server.ws_url) as abuser:
                await abuser.init()
                await abuser.send_raw(frame)
                assert (await abuser.expect_close())[0] in (4400, 1009)
            assert await healthy.query(query, id=f"h{index}") == expected
        assert await idle.query(query) == expected
        # HTTP and new connections are fine too.
        assert await api_server.graphql(query) == expected
        async with raw_ws(api_server.ws_url) as fresh:
            await fresh.init()
            assert await fresh.query(query) == expected


async def test_http_bad_requests(api_server: RunningServer) -> None:
    http: httpx.AsyncClient = api_server.http
    path = api_server.graphql_path
    json_type = {"content-type": "application/json"}
    cases = [
        (await http.post(path, content=b"{not json", headers=json_type), "BAD_REQUEST"),
        (await http.post(path, json=[{"query": "{ exchanges }"}]), "BAD_REQUEST"),  # batch
        (await http.post(path, json={"query": 5}), "BAD_REQUEST"),
        (await http.post(path, json={"query": "{ exchanges }", "variables": [1]}), "BAD_REQUEST"),
        (await http.post(path, json={"query": "{ exchanges"}), "GRAPHQL_PARSE_FAILED"),
        (await http.post(path, json={"query": "{ nope }"}), "GRAPHQL_VALIDATION_FAILED"),
        (await http.get(path, params={"query": "{ exchanges }", "variables": "{x"}), "BAD_REQUEST"),
    ]  # fmt: skip
    for response, code in cases:
        assert response.status_code == 400, response.text
        assert codes(response.json()) == [code], response.text
