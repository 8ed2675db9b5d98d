"""API keys and scopes, end to end: the scope matrix over HTTP and WebSocket, missing and bad
keys, key parsing, key rotation through ``API_KEYS_FILE``, and keys never leaking.

The field lists are read from the schema, so a new ``Query`` or ``Subscription`` field is in
the matrix automatically (and fails ``test_every_root_field_has_exactly_one_scope`` until
its declaration in ``resolvers.fields`` gives it a scope).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
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
from pydantic import ValidationError

from fullon_cache_api.auth import ALL_SCOPES, hash_key, parse_api_keys
from fullon_cache_api.embedded_redis import EmbeddedRedis
from fullon_cache_api.resolvers.fields import FIELD_SCOPES, fields_of
from fullon_cache_api.resolvers.fields import query as declare_query
from fullon_cache_api.schema import schema
from fullon_cache_api.simulator import CacheWriter
from support import RunningServer, make_settings, raw_ws, running_server
from support.ws import LEGACY_WS, TRANSPORT_WS, RawWebSocket

JSONDict = dict[str, Any]

SCOPES = ("market", "account", "ops")
KEYS = {
    "market": "market-key-0123456789abcdef",
    "account": "account-key-0123456789abcdef",
    "ops": "ops-key-0123456789abcdef",
}
ALL_KEY = "all-key-0123456789abcdef"
MARKET_ACCOUNT_KEY = "market-account-key-0123456789"
SECOND_MARKET_KEY = "second-market-key-0123456789"
BAD_KEY = "bad-key-0123456789abcdef"
API_KEYS = ",".join(
    [
        *(f"{key}:{scope}" for scope, key in KEYS.items()),
        f"{ALL_KEY}:*",
        f"{MARKET_ACCOUNT_KEY}:market+account",
        f"{SECOND_MARKET_KEY}:market",
    ]
)
EVERY_KEY = [*KEYS.values(), ALL_KEY, MARKET_ACCOUNT_KEY, SECOND_MARKET_KEY, BAD_KEY]


# ------------------------------------------------------------- documents from the schema


def _root(type_name: str) -> GraphQLObjectType:
    root = schema._schema.get_type(type_name)
    assert isinstance(root, GraphQLObjectType)
    return root


QUERY_FIELDS = sorted(_root("Query").fields)
SUBSCRIPTION_FIELDS = sorted(_root("Subscription").fields)

ARGUMENT_VALUES = {"symbol": "BTC/USDT", "timeframe": "1m", "exchange": "binance"}


def _literal(name: str, type_: Any) -> str:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if isinstance(type_, GraphQLList):
        return "[]"
    kind = type_.name
    if kind == "Int":
        return "1"
    if kind == "Float":
        return "1.5"
    if kind == "Boolean":
        return "true"
    return json.dumps(ARGUMENT_VALUES.get(name, "k1"))


def field_selection(field_name: str, field: GraphQLField) -> str:
    """The field with its required arguments, selecting ``__typename`` from objects."""
    arguments = [
        f"{name}: {_literal(name, argument.type)}"
        for name, argument in field.args.items()
        if isinstance(argument.type, GraphQLNonNull) and argument.default_value is Undefined
    ]
    text = field_name + (f"({', '.join(arguments)})" if arguments else "")
    if not is_leaf_type(get_named_type(field.type)):
        text += " { __typename }"
    return text


def document(type_name: str, fields: list[str]) -> str:
    root = _root(type_name)
    operation = "subscription" if type_name == "Subscription" else "query"
    selections = " ".join(field_selection(name, root.fields[name]) for name in fields)
    return f"{operation} {{ {selections} }}"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def allowed(type_name: str, field: str, scope: str) -> bool:
    return FIELD_SCOPES[type_name][field] == scope


def assert_forbidden(body: JSONDict, field: str, scope_needed: str) -> None:
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN", "scope": scope_needed}, body
    assert error["path"] == [field]
    assert error["locations"]
    assert field in error["message"]
    assert body["data"] == {field: None}


def assert_answered(body: JSONDict, field: str) -> None:
    assert "errors" not in body, body
    assert field in body["data"]


# --------------------------------------------------------------------------- fixtures


@pytest_asyncio.fixture(scope="module")
async def auth_server(redis_server: EmbeddedRedis) -> AsyncIterator[RunningServer]:
    url = f"redis://{redis_server.host}:{redis_server.port}/1"
    async with running_server(make_settings(url, api_keys=API_KEYS)) as server:
        yield server


@pytest_asyncio.fixture
async def server(auth_server: RunningServer, redis_url: str) -> RunningServer:
    """The keyed server, on a freshly flushed database."""
    return auth_server


# ------------------------------------------------------------------------ field table


def test_every_root_field_has_exactly_one_scope() -> None:
    assert set(FIELD_SCOPES) == {"Query", "Subscription"}
    assert set(FIELD_SCOPES["Query"]) == set(QUERY_FIELDS)
    assert set(FIELD_SCOPES["Subscription"]) == set(SUBSCRIPTION_FIELDS)
    for table in FIELD_SCOPES.values():
        assert set(table.values()) == ALL_SCOPES


def test_query_scopes_follow_the_resolver_modules() -> None:
    """resolvers/market.py, account.py and ops.py are the three scopes."""
    for field in fields_of("Query"):
        module_scope = field.resolver.__module__.rsplit(".", 1)[-1]
        assert FIELD_SCOPES["Query"][field.name] == module_scope, field.name


def test_every_field_of_the_served_schema_has_a_scope() -> None:
    """Fail closed: the built schema has no root field without a declared scope (it is
    built only from declarations, each of which names its scope)."""
    for type_name in ("Query", "Subscription"):
        root = _root(type_name)
        assert set(root.fields) == set(FIELD_SCOPES[type_name]), type_name


def test_a_root_field_is_declared_once() -> None:
    async def ticker(info: object) -> None:
        """A second ``ticker``."""

    with pytest.raises(TypeError, match=r"Query\.ticker is declared twice"):
        declare_query(scope="market")(ticker)


# -------------------------------------------------------------------- the scope matrix


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("field", QUERY_FIELDS)
async def test_query_field_over_http(server: RunningServer, field: str, scope: str) -> None:
    response = await server.post(document("Query", [field]), headers=bearer(KEYS[scope]))
    assert response.status_code == 200, response.text
    if allowed("Query", field, scope):
        assert_answered(response.json(), field)
    else:
        assert_forbidden(response.json(), field, FIELD_SCOPES["Query"][field])


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize("scope", SCOPES)
async def test_query_fields_over_websocket(
    server: RunningServer, scope: str, protocol: str
) -> None:
    async with raw_ws(server.ws_url, protocol) as ws:
        await ws.init({"authorization": f"Bearer {KEYS[scope]}"})
        for index, field in enumerate(QUERY_FIELDS):
            payload = await ws.query(document("Query", [field]), id=str(index))
            if allowed("Query", field, scope):
                assert_answered(payload, field)
            else:
                assert_forbidden(payload, field, FIELD_SCOPES["Query"][field])


async def _first_event(server: RunningServer, ws: RawWebSocket, op_id: str, field: str) -> JSONDict:
    """The subscription's first message; ``processBroadcasts`` has no snapshot, so a
    broadcast is published until one arrives."""
    if field != "processBroadcasts":
        return await ws.recv()
    client = redis.asyncio.Redis.from_url(server.settings.redis_dsn())
    try:
        writer = CacheWriter(client)
        for _ in range(100):
            await writer.broadcast_message("k1", "hello")
            try:
                return await ws.recv(timeout=0.05)
            except TimeoutError:
                continue
    finally:
        await client.aclose()
    raise AssertionError(f"no event for {op_id}")


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("field", SUBSCRIPTION_FIELDS)
async def test_subscription_field(server: RunningServer, field: str, scope: str) -> None:
    async with raw_ws(server.ws_url) as ws:
        await ws.init({"authorization": f"Bearer {KEYS[scope]}"})
        await ws.send(
            {
                "type": "subscribe",
                "id": "s",
                "payload": {"query": document("Subscription", [field])},
            }
        )
        message = await _first_event(server, ws, "s", field)
        assert message["id"] == "s"
        if allowed("Subscription", field, scope):
            assert message["type"] == "next", message
            assert_answered(message["payload"], field)
            await ws.send({"type": "complete", "id": "s"})
        else:
            assert message["type"] == "error", message
            (error,) = message["payload"]
            assert error["extensions"] == {
                "code": "FORBIDDEN",
                "scope": FIELD_SCOPES["Subscription"][field],
            }
            assert error["path"] == [field]
        # The connection stays usable either way.
        assert (await ws.query("{ __typename }", id="t")) == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("scope", SCOPES)
async def test_forbidden_fields_do_not_stop_the_others(server: RunningServer, scope: str) -> None:
    """One document with every Query field: the scope's fields answer, even next to refused
    non-null fields; the others are null with one FORBIDDEN error each."""
    response = await server.post(document("Query", QUERY_FIELDS), headers=bearer(KEYS[scope]))
    assert response.status_code == 200
    body = response.json()
    assert set(body["data"]) == set(QUERY_FIELDS)
    refused = {error["path"][0]: error for error in body["errors"]}
    assert set(refused) == {f for f in QUERY_FIELDS if not allowed("Query", f, scope)}
    assert {error["extensions"]["code"] for error in refused.values()} == {"FORBIDDEN"}
    for field in refused:
        assert body["data"][field] is None


async def test_full_and_combined_keys(server: RunningServer) -> None:
    body = (await server.post(document("Query", QUERY_FIELDS), headers=bearer(ALL_KEY))).json()
    assert "errors" not in body
    body = (
        await server.post(document("Query", QUERY_FIELDS), headers=bearer(MARKET_ACCOUNT_KEY))
    ).json()
    refused = {error["path"][0] for error in body["errors"]}
    assert refused == {f for f, s in FIELD_SCOPES["Query"].items() if s == "ops"}


async def test_aliases_fragments_and_introspection(server: RunningServer) -> None:
    query = """query { t: tickers { symbol } ...F ... on Query { b2: bots { botId } }
        __typename __schema { queryType { name } } }
        fragment F on Query { b1: bots { botId } }"""
    body = (await server.post(query, headers=bearer(KEYS["market"]))).json()
    assert body["data"]["t"] == []
    assert body["data"]["__typename"] == "Query"
    assert body["data"]["__schema"] == {"queryType": {"name": "Query"}}
    assert body["data"]["b1"] is None and body["data"]["b2"] is None
    assert sorted(error["path"][0] for error in body["errors"]) == ["b1", "b2"]
    # A refused field skipped with @skip is not refused.
    body = (
        await server.post(
            "{ exchanges bots @skip(if: true) { botId } }", headers=bearer(KEYS["market"])
        )
    ).json()
    assert body == {"data": {"exchanges": []}}


async def test_subscription_through_a_fragment_is_checked(server: RunningServer) -> None:
    query = "subscription { ...S } fragment S on Subscription { bots { kind } }"
    async with raw_ws(server.ws_url) as ws:
        await ws.init({"authorization": f"Bearer {KEYS['market']}"})
        (message,) = await ws.operation(query)
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["code"] == "FORBIDDEN"


# ------------------------------------------------------------- missing and bad keys: HTTP


@pytest.mark.parametrize("case", ["no-key", "bad-key"])
@pytest.mark.parametrize("field", QUERY_FIELDS)
async def test_http_without_a_valid_key(server: RunningServer, field: str, case: str) -> None:
    headers = bearer(BAD_KEY) if case == "bad-key" else {}
    response = await server.post(document("Query", [field]), headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert "data" not in body
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert ('error="invalid_token"' in challenge) == (case == "bad-key")
    assert BAD_KEY not in response.text


@pytest.mark.parametrize(
    "authorization",
    [
        f"Basic {KEYS['market']}",
        f"Bearer{KEYS['market']}",
        f"Bearer {KEYS['market']}x",
        f"Bearer {KEYS['market'][:-1]}",
        "Bearer",
        f"{KEYS['market']}",
    ],
)
async def test_http_malformed_authorization(server: RunningServer, authorization: str) -> None:
    response = await server.post("{ exchanges }", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_http_key_forms_that_work(server: RunningServer) -> None:
    for authorization in (f"Bearer {ALL_KEY}", f"bearer {ALL_KEY}", f"Bearer   {ALL_KEY}"):
        response = await server.post("{ exchanges }", headers={"Authorization": authorization})
        assert response.json() == {"data": {"exchanges": []}}, authorization
    response = await server.get("{ exchanges }", headers=bearer(KEYS["market"]))
    assert response.json() == {"data": {"exchanges": []}}
    assert (await server.get("{ exchanges }")).status_code == 401
    # Health probes and the GraphiQL page need no key.
    assert (await server.http.get("/health")).status_code == 200
    assert (await server.http.get("/ready")).status_code == 200
    page = await server.http.get(server.graphql_path, headers={"accept": "text/html"})
    assert page.status_code == 200


# -------------------------------------------------------- missing and bad keys: WebSocket


@pytest.mark.parametrize("case", ["no-key", "bad-key"])
@pytest.mark.parametrize(
    ("type_name", "field"),
    [("Query", f) for f in QUERY_FIELDS] + [("Subscription", f) for f in SUBSCRIPTION_FIELDS],
)
async def test_websocket_without_a_valid_key(
    server: RunningServer, type_name: str, field: str, case: str
) -> None:
    """``connection_init`` with no or a bad key closes 4403; an operation sent right behind
    it is never run."""
    payload = {"authorization": f"Bearer {BAD_KEY}"} if case == "bad-key" else {}
    async with raw_ws(server.ws_url) as ws:
        await ws.send({"type": "connection_init", "payload": payload})
        await ws.send(
            {"type": "subscribe", "id": "1", "payload": {"query": document(type_name, [field])}}
        )
        code, reason = await ws.expect_close()
        assert code == 4403, (code, reason)
        assert ws.before_close == []


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize(
    "init",
    [
        None,
        {},
        {"authorization": f"Bearer {BAD_KEY}"},
        {"authorization": KEYS["market"]},  # no scheme
        {"authorization": 12345},
        {"authorization": None},
        {"token": KEYS["market"]},
        {"authorization": f"Bearer {BAD_KEY}", "headers": {"Authorization": f"Bearer {ALL_KEY}"}},
    ],
)
async def test_websocket_refused_inits(
    server: RunningServer, protocol: str, init: JSONDict | None
) -> None:
    async with raw_ws(server.ws_url, protocol) as ws:
        message: JSONDict = {"type": "connection_init"}
        if init is not None:
            message["payload"] = init
        await ws.send(message)
        assert (await ws.expect_close())[0] == 4403


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_websocket_key_locations(server: RunningServer, protocol: str) -> None:
    query = "{ exchanges }"
    expected = {"data": {"exchanges": []}}
    inits: list[tuple[JSONDict | None, dict[str, str] | None]] = [
        ({"authorization": f"Bearer {ALL_KEY}"}, None),
        ({"Authorization": f"Bearer {ALL_KEY}"}, None),  # GraphiQL sends its headers so
        ({"headers": {"Authorization": f"Bearer {ALL_KEY}"}}, None),
        (None, bearer(ALL_KEY)),  # the handshake header
        ({}, bearer(ALL_KEY)),
    ]
    for payload, headers in inits:
        async with raw_ws(server.ws_url, protocol, headers=headers) as ws:
            await ws.init(payload)
            assert await ws.query(query) == expected, (payload, headers)
    # The payload's key wins over the handshake's.
    async with raw_ws(server.ws_url, protocol, headers=bearer(ALL_KEY)) as ws:
        await ws.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {BAD_KEY}"}}
        )
        assert (await ws.expect_close())[0] == 4403
    async with raw_ws(server.ws_url, protocol, headers=bearer(BAD_KEY)) as ws:
        await ws.init({"authorization": f"Bearer {KEYS['market']}"})
        assert await ws.query(query) == expected


async def test_subscription_groups_never_mix_scopes(
    server: RunningServer, redis_client: redis.asyncio.Redis
) -> None:
    query = "subscription { tickers { kind items { symbol } } }"
    runner: Any = server.services.runner
    async with (
        raw_ws(server.ws_url) as market,
        raw_ws(server.ws_url) as market_too,
        raw_ws(server.ws_url) as combined,
    ):
        await market.init({"authorization": f"Bearer {KEYS['market']}"})
        await market_too.init({"authorization": f"Bearer {SECOND_MARKET_KEY}"})
        await combined.init({"authorization": f"Bearer {MARKET_ACCOUNT_KEY}"})
        for ws in (market, market_too, combined):
            await ws.send({"type": "subscribe", "id": "t", "payload": {"query": query}})
            assert (await ws.recv())["type"] == "next"
        scope_keys = sorted(key[-1] for key in runner.groups)
        # Two keys with the same scopes share a group; other scope sets get their own.
        assert scope_keys == ["account+market", "market"]
        assert sum(len(group.members) for group in runner.groups.values()) == 3


# --------------------------------------------------------------------- anonymous mode


async def test_no_keys_means_anonymous_with_a_warning(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fullon.api.cache.server")
    async with running_server(make_settings(redis_url)) as server:
        assert (await server.graphql(document("Query", QUERY_FIELDS)))["data"]
        async with raw_ws(server.ws_url) as ws:
            await ws.init()
            assert await ws.query("{ bots { botId } }") == {"data": {"bots": []}}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no API keys configured" in r.getMessage() for r in warnings)
    caplog.clear()
    async with running_server(make_settings(redis_url, api_keys=API_KEYS)):
        pass
    assert not any("no API keys" in r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------------- key parsing


def test_key_format() -> None:
    keys = parse_api_keys(
        f" {KEYS['market']} : market , {KEYS['account']}:account+ops,{ALL_KEY}:*", "API_KEYS"
    )
    assert keys == {
        hash_key(KEYS["market"]): frozenset({"market"}),
        hash_key(KEYS["account"]): frozenset({"account", "ops"}),
        hash_key(ALL_KEY): ALL_SCOPES,
    }
    settings = make_settings("redis://127.0.0.1:1/1", api_keys=f"{KEYS['ops']}:ops")
    assert settings.api_keys == {hash_key(KEYS["ops"]): frozenset({"ops"})}
    assert settings.auth_enabled
    assert KEYS["ops"] not in repr(settings)
    assert KEYS["ops"] not in settings.model_dump_json()
    assert not make_settings("redis://127.0.0.1:1/1", api_keys="").auth_enabled


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("just-a-key-without-scopes-0123", "expected KEY:SCOPES"),
        (":market", "expected KEY:SCOPES"),
        ("short:market", "at least 16"),
        ("secret-key-with-a-space 0123:market", "may only hold"),
        ("secret-key-0123456789abcdef:admin", "unknown scope"),
        ("secret-key-0123456789abcdef:", "unknown scope"),
        ("secret-key-0123456789abcdef:market+", "unknown scope"),
        ("secret-key-0123456789abcdef:market,secret-key-0123456789abcdef:ops", "twice"),
    ],
)
def test_bad_key_settings_never_echo_the_key(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        make_settings("redis://127.0.0.1:1/1", api_keys=text)
    shown = str(raised.value)
    assert message in shown
    for part in ("secret-key", "just-a-key", "short"):
        assert part not in shown


def test_keys_file_settings(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# comment\n\n{KEYS['market']}:market  # trailing\n{KEYS['ops']}:ops\n")
    settings = make_settings("redis://127.0.0.1:1/1", api_keys_file=str(path))
    assert settings.auth_enabled
    path.write_text(f"{KEYS['market']}:market\nsecret-key-0123456789abcdef:root\n")
    with pytest.raises(ValidationError) as raised:
        make_settings("redis://127.0.0.1:1/1", api_keys_file=str(path))
    assert "API_KEYS_FILE line 2: unknown scope" in str(raised.value)
    assert "secret-key" not in str(raised.value)
    with pytest.raises(ValidationError, match="cannot be read"):
        make_settings("redis://127.0.0.1:1/1", api_keys_file=str(tmp_path / "missing"))
    # An empty file still turns authentication on: nobody gets in.
    path.write_text("# no keys yet\n")
    assert make_settings("redis://127.0.0.1:1/1", api_keys_file=str(path)).auth_enabled


# ------------------------------------------------------------------------- rotation


def _write_keys(path: Path, text: str) -> None:
    """Write and move the mtime forward, so the change is seen whatever the clock's grain."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    stamp = max(time.time_ns(), before + 1_000_000_000)
    os.utime(path, ns=(stamp, stamp))


async def test_key_rotation_through_the_keys_file(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    a, b, c = "rotate-key-a-0123456789", "rotate-key-b-0123456789", "rotate-key-c-0123456789"
    path = tmp_path / "keys"
    _write_keys(path, f"{a}:market\n{b}:market\n")
    recheck = 0.2
    settings = make_settings(redis_url, api_keys_file=str(path), api_keys_recheck_s=recheck)
    query = 'subscription { ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    writer = CacheWriter(client)
    tick = {"symbol": "BTC/USDT", "exchange": "binance", "price": 1.0, "time": 1_700_000_000}
    try:
        async with (
            running_server(settings) as server,
            raw_ws(server.ws_url) as ws_a,
            raw_ws(server.ws_url) as ws_b,
        ):
            for ws, key in ((ws_a, a), (ws_b, b)):
                await ws.init({"authorization": f"Bearer {key}"})
                await ws.send({"type": "subscribe", "id": "t", "payload": {"query": query}})
                assert (await ws.recv())["payload"]["data"] == {"ticker": None}

            # Remove A, add C: A's socket closes within the re-check interval.
            _write_keys(path, f"{b}:market\n{c}:ops\n")
            started = time.monotonic()
            assert (await ws_a.expect_close(timeout=5))[0] == 4403
            assert time.monotonic() - started < recheck + 2.0
            # B is not disturbed.
            await writer.set_ticker(tick)
            assert (await ws_b.recv())["payload"]["data"] == {"ticker": {"price": 1.0}}
            assert (await server.post("{ exchanges }", headers=bearer(a))).status_code == 401
            assert (await server.post("{ bots { botId } }", headers=bearer(c))).json() == {
                "data": {"bots": []}
            }

            # A broken or missing file keeps the keys in force.
            _write_keys(path, f"{b}:market\n{c}:superuser\n")
            await asyncio.sleep(recheck * 3)
            assert (await server.post("{ bots { botId } }", headers=bearer(c))).status_code == 200
            path.unlink()
            await asyncio.sleep(recheck * 3)
            assert (await server.post("{ exchanges }", headers=bearer(b))).status_code == 200
            errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
            assert any("API_KEYS_FILE line 2: unknown scope" in text for text in errors)
            assert any("cannot be read" in text for text in errors)

            # A key whose scopes change is closed too: it reconnects with the new scopes.
            _write_keys(path, f"{b}:account\n{c}:ops\n")
            assert (await ws_b.expect_close(timeout=5))[0] == 4403
            response = await server.post("{ exchanges }", headers=bearer(b))
            assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    finally:
        await client.aclose()
    for record in server_records(caplog):
        text = f"{record.getMessage()} {record.__dict__}"
        for key in (a, b, c):
            assert key not in text


# ----------------------------------------------------------------- keys never leak

CLIENT_LOGGERS = ("websockets.client", "httpcore", "httpx")


def server_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records of the server side (the test's own HTTP and WebSocket clients log too)."""
    return [r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)]


async def test_keys_never_appear_in_logs_or_responses(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # uvicorn's WebSocket layer logs handshake headers and frames at DEBUG: on, here.
    caplog.set_level(logging.DEBUG, logger="uvicorn.error")
    texts: list[str] = []
    for key in EVERY_KEY:
        for query in ("{ exchanges bots { botId } }", "{ nope }", "{ ohlcv(symbol: 1) }"):
            response = await server.post(query, headers=bearer(key))
            texts.append(response.text + json.dumps(dict(response.headers)))
        response = await server.post("{ exchanges }", headers={"Authorization": f"Token {key}"})
        texts.append(response.text + json.dumps(dict(response.headers)))
        for headers, payload in ((None, {"authorization": f"Bearer {key}"}), (bearer(key), {})):
            async with raw_ws(server.ws_url, headers=headers) as ws:
                await ws.send({"type": "connection_init", "payload": payload})
                try:
                    await ws.recv()
                    messages = await ws.operation("{ exchanges bots { botId } }")
                    texts.append(json.dumps(messages))
                except AssertionError as closed:  # refused: the close reason
                    texts.append(str(closed))
    records = server_records(caplog)
    assert any(r.name == "uvicorn.error" and "TEXT" in r.getMessage() for r in records)
    assert any("[redacted]" in r.getMessage() for r in records)
    for record in records:
        texts.append(f"{record.getMessage()} {record.__dict__}")
    for text in texts:
        for key in EVERY_KEY:
            assert key not in text
            assert hash_key(key) not in text  # not even the full digest
