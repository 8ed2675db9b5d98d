"""Property-based fuzzing of the server (hypothesis), bounded for CI.

Three surfaces, each against the real app in uvicorn:

* WebSocket frames and protocol sequences, both subprotocols;
* GraphQL documents (real queries, mutated, and random text) with random variables and
  operation names, over HTTP and WebSocket;
* arbitrary bytes, wrong Redis types and odd JSON stored in the keys the API reads.

Whatever comes in, the server must answer with data or errors that carry a known
``extensions.code`` (never ``INTERNAL``, which would be an unexpected exception), close
WebSockets only with documented codes, never show a traceback, a Redis error or a file path,
keep answering a health query, and leave no connection, subscription group or task behind.

Reproduce a failure with ``pytest tests/test_fuzz.py --hypothesis-seed=N``; fuzz longer with
``FUZZ_SCALE=10`` (multiplies every test's number of examples).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
import redis.asyncio
from graphql import (
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    get_named_type,
    is_leaf_type,
)
from graphql.pyutils import Undefined
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from fullon_cache_api.embedded_redis import EmbeddedRedis
from fullon_cache_api.errors import ErrorCode
from fullon_cache_api.schema import schema
from fullon_cache_api.simulator import CacheWriter, seed_scenario
from support import RunningServer, make_settings, raw_ws, running_server
from support.ws import LEGACY_WS, TRANSPORT_WS, RawWebSocket

JSONDict = dict[str, Any]

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def fuzz(examples: int) -> settings:
    return settings(FUZZ, max_examples=examples * int(os.environ.get("FUZZ_SCALE", "1")))


CODES = {code.value for code in ErrorCode} - {"INTERNAL"}
CLOSE_CODES = {1000, 1001, 1008, 1009, 1011, 1013, 4400, 4401, 4403, 4406, 4408, 4409, 4429}
LEAKS = (
    "Traceback",
    "ResponseError",
    "WRONGTYPE",
    "redis.",
    "redis:",
    "Redis(",
    'File "',
    ".py",
    "site-packages",
    "/work/",
    "object at 0x",
    "Internal server error",
)
SERVER_TYPES = {
    "connection_ack",
    "next",
    "data",
    "error",
    "complete",
    "ping",
    "pong",
    "ka",
}


def sent_text(*sent: Any) -> str:
    """What the example sent, as text: a marker found in it may be echoed back (a syntax
    error quotes the unexpected token; hypothesis also draws strings from this module)."""
    parts = []
    for item in sent:
        if isinstance(item, bytes | bytearray):
            parts.append(item.decode("utf-8", "replace"))
        parts.append(item if isinstance(item, str) else repr(item))
        with contextlib.suppress(TypeError, ValueError):
            parts.append(json.dumps(item))
    return "\n".join(parts)


def assert_no_leak(text: str, sent: str = "") -> None:
    for marker in LEAKS:
        if marker not in sent:
            assert marker not in text, (marker, text[:2000])


def assert_errors_coded(errors: Any) -> None:
    assert isinstance(errors, list) and errors, errors
    for error in errors:
        assert isinstance(error, dict), error
        assert isinstance(error.get("message"), str), error
        assert error.get("extensions", {}).get("code") in CODES, error


def assert_response(body: Any) -> None:
    """A GraphQL response: ``data`` and/or coded ``errors``, and for a subscription event
    its position (``extensions``: seq, cursor, observedAt), nothing else."""
    assert isinstance(body, dict), body
    assert set(body) <= {"data", "errors", "extensions"} and body, body
    if "extensions" in body:
        extensions = body["extensions"]
        assert set(extensions) == {"seq", "cursor", "observedAt"}, extensions
        assert isinstance(extensions["seq"], int) and extensions["seq"] >= 0, extensions
        assert extensions["cursor"].endswith(f".{extensions['seq']}"), extensions
    if "errors" in body:
        assert_errors_coded(body["errors"])
    else:
        assert isinstance(body["data"], dict), body


# ------------------------------------------------------------------------ the server


@pytest_asyncio.fixture(scope="module")
async def fuzz_server(redis_server: EmbeddedRedis) -> AsyncIterator[RunningServer]:
    url = f"redis://{redis_server.host}:{redis_server.port}/1"
    settings_ = make_settings(
        url,
        ws_connection_init_timeout=2,
        ws_ping_interval=0,
        max_tokens=20_000,
        max_query_bytes=256 * 1024,
        max_aliases=100,
        max_query_cost=1_000_000,
    )
    async with running_server(settings_) as server:
        yield server


@pytest_asyncio.fixture
async def server(fuzz_server: RunningServer, redis_url: str) -> AsyncIterator[RunningServer]:
    """The fuzz server, on a flushed database; checks it is intact afterwards."""
    tasks_before = len(asyncio.all_tasks())
    yield fuzz_server
    await settled(fuzz_server)
    assert len(asyncio.all_tasks()) <= tasks_before + 2, "tasks leaked"


async def settled(server: RunningServer) -> None:
    """Every connection of the example is gone, no subscription group is left, and the
    server still answers a health query."""
    services = server.services
    runner: Any = services.runner
    deadline = time.monotonic() + 5
    while services.connections or runner.groups or services.limiter.total:
        assert time.monotonic() < deadline, (
            len(services.connections),
            list(runner.groups)[:3],
            services.limiter.total,
        )
        await asyncio.sleep(0.005)
    body = await server.graphql("{ health { reachable } }")
    assert body == {"data": {"health": {"reachable": True}}}


# ------------------------------------------------------------------ real documents


def _root(type_name: str) -> GraphQLObjectType:
    root = schema._schema.get_type(type_name)
    assert isinstance(root, GraphQLObjectType)
    return root


ARGUMENTS = {
    "exchange": "binance",
    "symbol": "BTC/USDT",
    "exId": "1",
    "uid": "1",
    "localOid": "1001",
    "key": "binance:1",
    "orderId": "8389765493",
    "botId": "1",
    "processId": "tick:binance:1",
    "component": "binance",
    "type": "tick",
    "timeframe": "1m",
    "currency": "BTC",
}


def selection(type_: Any, depth: int = 3) -> str:
    """Every argument-free field of an object type, nested objects down to ``depth``."""
    named = get_named_type(type_)
    if is_leaf_type(named):
        return ""
    assert isinstance(named, GraphQLObjectType)
    parts = []
    for name, field in named.fields.items():
        if any(isinstance(arg.type, GraphQLNonNull) for arg in field.args.values()):
            continue
        inner = get_named_type(field.type)
        if is_leaf_type(inner):
            parts.append(name)
        elif depth > 0:
            parts.append(f"{name} {selection(field.type, depth - 1)}")
    return "{ " + " ".join(parts or ["__typename"]) + " }"


def root_selection(name: str, field: GraphQLField) -> str:
    arguments = [
        f"{arg_name}: {json.dumps(ARGUMENTS.get(arg_name, 'x'))}"
        for arg_name, arg in field.args.items()
        if isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
    ]
    text = name + (f"({', '.join(arguments)})" if arguments else "")
    return f"{text} {selection(field.type)}"


QUERY_FIELDS = sorted(_root("Query").fields)
SUBSCRIPTION_FIELDS = sorted(_root("Subscription").fields)
FULL_QUERY = (
    "{ " + " ".join(root_selection(n, _root("Query").fields[n]) for n in QUERY_FIELDS) + " }"
)
SUBSCRIPTIONS = {
    name: "subscription { " + root_selection(name, _root("Subscription").fields[name]) + " }"
    for name in SUBSCRIPTION_FIELDS
    if name != "processBroadcasts"  # no snapshot: nothing to wait for
}
SEEDS = [
    *("{ " + root_selection(n, _root("Query").fields[n]) + " }" for n in QUERY_FIELDS),
    *SUBSCRIPTIONS.values(),
    'query Q($n: Int!, $e: String) { ohlcv(symbol: "BTC/USDT", timeframe: "1m", count: $n) '
    "{ close } tickers(exchange: $e) { ...T } } fragment T on Ticker { symbol price }",
    "query A { exchanges } query B { bots { botId status } }",
    '{ a: ticker(exchange: "binance", symbol: "BTC/USDT") { ... on Ticker { price } } '
    "__typename __schema { queryType { name } } }",
    "query($since: Float!) { activeProcesses(sinceMinutes: $since) { processId } }",
]


# --------------------------------------------------------------------- strategies

GRAPHQL_TOKENS = [
    "{", "}", "(", ")", "[", "]", ":", "$", "@", "!", "...", "=", ",", '"', "'", "\\", "\n",
    "#", " ", "query", "subscription", "mutation", "fragment", "on", "true", "null", "1e999",
    "-0", "99999999999999999999", "__typename", "__schema", "__type", "@skip(if: true)",
    "@include(if: $x)", "$n", "ticker", "ohlcv", "count", "exchange", '"\\u0000"', '"\\ud800"',
    "\u0000", "\ud7ff", "é", "a" * 70,
]  # fmt: skip


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        size = len(text)
        start = draw(st.integers(0, size))
        end = draw(st.integers(start, min(size, start + 20)))
        action = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        insert = draw(st.one_of(st.sampled_from(GRAPHQL_TOKENS), st.text(max_size=8)))
        if action == "delete":
            text = text[:start] + text[end:]
        elif action == "insert":
            text = text[:start] + insert + text[start:]
        elif action == "replace":
            text = text[:start] + insert + text[end:]
        else:
            text = text[:end] + text[start:end] + text[end:]
    return text


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
variables = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["n", "e", "since", "x", "exchange", "symbol", ""]), json_values, max_size=4
    ),
    json_values,
)
documents = st.one_of(mutated_documents(), st.sampled_from(SEEDS), st.text(max_size=60))
operation_names = st.one_of(st.none(), st.sampled_from(["Q", "A", "B", "nope"]), json_values)


# -------------------------------------------------------------- GraphQL documents


@fuzz(200)
@given(query=documents, variables=variables, operation_name=operation_names)
async def test_fuzz_documents_over_http(
    server: RunningServer, query: Any, variables: Any, operation_name: Any
) -> None:
    body: JSONDict = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if operation_name is not None:
        body["operationName"] = operation_name
    response = await server.http.post(server.graphql_path, json=body)
    assert response.status_code in (200, 400), response.text
    assert_no_leak(response.text, sent_text(body))
    assert_response(response.json())
    if response.status_code == 400:
        assert "data" not in response.json()


@fuzz(100)
@given(query=documents, variables=st.one_of(st.none(), st.text(max_size=30)))
async def test_fuzz_documents_over_http_get(
    server: RunningServer, query: str, variables: str | None
) -> None:
    params = {"query": query}
    if variables is not None:
        params["variables"] = variables
    try:
        response = await server.http.get(server.graphql_path, params=params)
    except httpx.InvalidURL:  # the client refuses the URL (e.g. NUL); nothing was sent
        return
    assert response.status_code in (200, 400, 405), response.text
    assert_no_leak(response.text, sent_text(params))
    assert_response(response.json())


@fuzz(100)
@given(
    operations=st.lists(st.tuples(documents, variables, operation_names), min_size=1, max_size=4),
    protocol=st.sampled_from([TRANSPORT_WS, LEGACY_WS]),
)
async def test_fuzz_documents_over_websocket(
    server: RunningServer, operations: list[tuple[Any, Any, Any]], protocol: str
) -> None:
    start = "start" if protocol == LEGACY_WS else "subscribe"
    async with raw_ws(server.ws_url, protocol) as ws:
        await ws.init()
        for index, (query, variables_, operation_name) in enumerate(operations):
            payload: JSONDict = {"query": query}
            if variables_ is not None:
                payload["variables"] = variables_
            if operation_name is not None:
                payload["operationName"] = operation_name
            await ws.send({"type": start, "id": str(index), "payload": payload})
        # Each operation ends (complete or error) or keeps streaming (a subscription): read
        # until a last query is answered (or the connection closes), then leave.
        await ws.send({"type": start, "id": "end", "payload": {"query": "{ __typename }"}})
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(5):
                while True:
                    raw = await ws.connection.recv()
                    check_ws_message(raw, sent_text(operations))
                    message = json.loads(raw)
                    if message.get("id") == "end" and message["type"] in ("complete", "error"):
                        break
    await settled(server)


@st.composite
def argument_documents(draw: st.DrawFn) -> tuple[str, str]:
    """A real root field with random argument values (``processBroadcasts`` left out: it
    sends nothing until a broadcast)."""
    type_name = draw(st.sampled_from(["Query", "Subscription"]))
    root = _root(type_name)
    name = draw(st.sampled_from(sorted(set(root.fields) - {"processBroadcasts"})))
    field = root.fields[name]
    literals = []
    for arg_name, arg in field.args.items():
        required = isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
        if not required and draw(st.booleans()):
            continue
        type_ = arg.type.of_type if isinstance(arg.type, GraphQLNonNull) else arg.type
        kind = get_named_type(type_).name
        value: Any
        if isinstance(type_, GraphQLList):
            value = draw(st.lists(st.text(max_size=12), max_size=3))
        elif kind == "Int":
            value = draw(st.integers(-(2**31), 2**31 - 1))
        elif kind == "Float":
            value = draw(st.floats(allow_nan=False, allow_infinity=False))
        else:
            value = draw(st.text(max_size=70))
        literals.append(f"{arg_name}: {json.dumps(value)}")
    arguments = f"({', '.join(literals)})" if literals else ""
    operation = "subscription" if type_name == "Subscription" else "query"
    return type_name, f"{operation} {{ {name}{arguments} {selection(field.type)} }}"


@fuzz(150)
@given(case=argument_documents())
async def test_fuzz_argument_values(server: RunningServer, case: tuple[str, str]) -> None:
    type_name, query = case
    if type_name == "Query":
        response = await server.post(query)
        assert response.status_code in (200, 400), response.text
        assert_no_leak(response.text, query)
        assert_response(response.json())
        return
    async with raw_ws(server.ws_url) as ws:
        await ws.init()
        await ws.send({"type": "subscribe", "id": "1", "payload": {"query": query}})
        message = await ws.recv(timeout=5)
        check_ws_message(json.dumps(message), query)
        assert message["type"] in ("next", "error"), message
    await settled(server)


# ------------------------------------------------------------ WebSocket frames


def _frame_json(value: Any) -> str:
    return json.dumps(value)


message_types = st.one_of(
    st.sampled_from(
        [
            "connection_init",
            "subscribe",
            "start",
            "complete",
            "stop",
            "ping",
            "pong",
            "connection_terminate",
            "next",
            "data",
            "error",
            "ka",
            "connection_ack",
        ]
    ),
    st.text(max_size=12),
    json_values,
)
payloads = st.one_of(
    st.fixed_dictionaries(
        {"query": st.one_of(st.sampled_from(SEEDS), documents)},
        optional={"variables": variables, "operationName": operation_names},
    ),
    json_values,
)
structured_frames = st.fixed_dictionaries(
    {"type": message_types},
    optional={
        "id": st.one_of(st.sampled_from(["1", "2", "x" * 129, ""]), json_values),
        "payload": payloads,
    },
).map(_frame_json)
frames = st.one_of(
    structured_frames,
    structured_frames,
    st.text(max_size=60),
    st.binary(max_size=60),
    st.sampled_from(['{"type":"connection_init"}', '{"type":"ping"}', "{", "[]", "null", ""]),
)


async def read_for(ws: RawWebSocket, seconds: float) -> list[Any]:
    """Everything received within ``seconds`` (or until the close), raw."""
    received: list[Any] = []
    with contextlib.suppress(TimeoutError, ConnectionClosed):
        async with asyncio.timeout(seconds):
            while True:
                received.append(await ws.connection.recv())
    return received


def check_ws_message(raw: Any, sent: str = "") -> None:
    assert isinstance(raw, str), raw
    assert_no_leak(raw, sent)
    message = json.loads(raw)
    assert isinstance(message, dict)
    assert message.get("type") in SERVER_TYPES, message
    payload = message.get("payload")
    if message["type"] == "error":
        errors = payload if isinstance(payload, list) else payload["errors"]
        assert_errors_coded(errors)
    elif message["type"] in ("next", "data"):
        assert_response(payload)


@fuzz(200)
@given(
    sequence=st.lists(frames, max_size=10),
    protocol=st.sampled_from([TRANSPORT_WS, LEGACY_WS]),
    init_first=st.booleans(),
)
async def test_fuzz_websocket_frames(
    server: RunningServer, sequence: list[str | bytes], protocol: str, init_first: bool
) -> None:
    async with raw_ws(server.ws_url, protocol) as ws:
        if init_first:
            await ws.init()
        for frame in sequence:
            try:
                await ws.send_raw(frame)
            except ConnectionClosed:
                break
        sent = sent_text(*sequence)
        for raw in await read_for(ws, 0.1):
            check_ws_message(raw, sent)
        close = ws.connection.protocol.close_rcvd
        if close is not None:
            assert close.code in CLOSE_CODES, close
            assert_no_leak(close.reason, sent)
    await settled(server)


# --------------------------------------------------------- bytes stored in Redis

KEY_PREFIXES = [
    "tickers:binance",
    "ticker_time:binance:BTC/USDT",
    "accounts",
    "account_positions",
    "order_status:binance",
    "new_orders:1001",
    "trades:binance:BTCUSDT",
    "TRADE:STATUS:binance",
    "user_trades:1:binance",
    "USER_TRADE:STATUS:binance:1",
    "block_exchange",
    "opening_position",
    "bot_status",
    "ohlcv:BTC/USDT:1m",
    "process:data:",
    "process:active:tick",
    "process:components",
]
FIELD_NAMES = [
    "symbol", "exchange", "price", "time", "timestamp", "volume", "status", "side", "order_id",
    "ex_id", "bot_id", "balance", "total", "free", "used", "cost", "fee", "count", "bars",
    "open", "close", "high", "low", "heartbeat", "process_id", "component", "type", "params",
    "message", "data", "date", "BTC", "USDT", "1", "BTC/USDT", "feeds",
]  # fmt: skip
odd_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["2025-06-02T12:00:00+00:00", "1e400", "NaN", "-1", "9" * 30, ""]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=4), children, max_size=6)
    ),
    max_leaves=16,
).map(lambda value: json.dumps(value).encode())  # floats may give NaN/Infinity tokens
stored_values = st.one_of(st.binary(max_size=80), odd_json, odd_json)
key_names = st.one_of(
    st.sampled_from(KEY_PREFIXES),
    st.tuples(st.sampled_from(KEY_PREFIXES), st.binary(max_size=12)).map(
        lambda parts: parts[0].encode() + b":" + parts[1]
    ),
)
field_names = st.one_of(
    st.sampled_from([*FIELD_NAMES, "1", "2", "8389765493"]), st.binary(max_size=12)
)
writes = st.one_of(
    st.tuples(st.just("hash"), key_names, field_names, stored_values),
    st.tuples(st.just("list"), key_names, st.integers(-3, 3), stored_values),
    st.tuples(st.just("string"), key_names, st.none(), stored_values),
    st.tuples(st.just("set"), key_names, st.none(), stored_values),
    st.tuples(st.just("zset"), key_names, st.floats(allow_nan=False), stored_values),
    st.tuples(st.just("delete"), key_names, st.none(), st.none()),
)


class Seeded:
    """A client on the test database and a DUMP of every key of the demo scenario."""

    def __init__(self, client: redis.asyncio.Redis, dumps: dict[bytes, bytes]) -> None:
        self.client = client
        self.dumps = dumps

    def __repr__(self) -> str:  # hypothesis prints the test's arguments
        return f"Seeded({len(self.dumps)} keys)"


@pytest_asyncio.fixture
async def seeded(redis_url: str) -> AsyncIterator[Seeded]:
    """The demo scenario, dumped so that each example starts from it."""
    client = redis.asyncio.Redis.from_url(redis_url)
    writer_client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await seed_scenario(CacheWriter(writer_client))
        keys = [key async for key in client.scan_iter(count=1000)]
        yield Seeded(client, {key: await client.dump(key) for key in keys})
    finally:
        await writer_client.aclose()
        await client.aclose()


async def apply(client: redis.asyncio.Redis, write: tuple[Any, ...]) -> None:
    kind, key, where, value = write
    if kind == "delete":
        await client.delete(key)
        return
    current = (await client.type(key)).decode()
    if current not in ("none", kind):
        await client.delete(key)  # the fuzz chooses the type, too
    if kind == "hash":
        await client.hset(key, where, value)
    elif kind == "list":
        length = await client.llen(key)
        if length and -length <= where < length:
            await client.lset(key, where, value)
        else:
            await client.rpush(key, value)
    elif kind == "string":
        await client.set(key, value)
    elif kind == "set":
        await client.sadd(key, value)
    else:
        await client.zadd(key, {value: where})


async def restore(client: redis.asyncio.Redis, dumps: dict[bytes, bytes]) -> None:
    await client.flushdb()
    async with client.pipeline(transaction=False) as pipe:
        for key, dumped in dumps.items():
            pipe.restore(key, 0, dumped)
        await pipe.execute()


@fuzz(80)
@given(changes=st.lists(writes, min_size=1, max_size=6))
async def test_fuzz_stored_bytes(
    server: RunningServer,
    seeded: Seeded,
    changes: list[tuple[Any, ...]],
) -> None:
    client, dumps = seeded.client, seeded.dumps
    await restore(client, dumps)
    for change in changes:
        await apply(client, change)
    response = await server.post(FULL_QUERY)
    assert response.status_code == 200, response.text
    sent = sent_text(*(part for change in changes for part in change))
    assert_no_leak(response.text, sent)
    body = response.json()
    assert_response(body)
    # Every Query field either answered or failed alone.
    assert body["data"] is None or set(body["data"]) == set(QUERY_FIELDS)
    async with raw_ws(server.ws_url) as ws:
        await ws.init()
        for name, query in SUBSCRIPTIONS.items():
            await ws.send({"type": "subscribe", "id": name, "payload": {"query": query}})
        first: dict[str, JSONDict] = {}
        async with asyncio.timeout(5):
            while len(first) < len(SUBSCRIPTIONS):
                message = await ws.recv()
                check_ws_message(json.dumps(message), sent)
                first.setdefault(message["id"], message)
        assert {m["type"] for m in first.values()} <= {"next", "error"}
    await settled(server)
