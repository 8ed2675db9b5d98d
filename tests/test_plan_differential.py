"""Compiled plans (``server/plan.py``) answer exactly what graphql-core answers.

For every ``Query`` field and every ``Subscription`` field, hypothesis draws documents:
random subsets of fields, aliases, a key selected twice (merged), ``__typename``, nested
objects and lists, inline fragments and named fragments. It also draws argument values
(hits, misses, invalid ones), variables (given, missing, null, of the wrong type) and the
API key's scopes. Each document runs twice on the same ``Executor``, once with its compiled
plan and once with graphql-core (the same prepared operation without its plan), and the two
responses must be the same bytes. A document that fails to prepare (validation, limits)
never reaches either path.

* Queries read a private redis-server holding the simulator's demo scenario, long lists
  (more than ``LONG_LIST`` items, completed in time slices, at the root and nested), and
  corrupt stored items (``CORRUPT_DATA``), all written by ``CacheWriter``; and then a stopped
  Redis (``CACHE_UNAVAILABLE``).
* Subscription events render records drawn by hypothesis, well-formed or not: nulls in
  non-null fields, NaN, numbers where strings belong, values of the wrong type, tuples
  where lists belong. These exercise null propagation and the located errors.

Two executions of the same query differ anyway in a few volatile values: the Redis
statistics of ``health`` and ``systemHealth.checkedAt``. Queries against a live Redis leave
them out; the stopped-Redis test selects them (they are then fixed), and the event tests
cover ``SystemHealth`` whole.

Reproduce a failure with ``pytest tests/test_plan_differential.py --hypothesis-seed=N``;
``FUZZ_SCALE=10`` draws ten times as many examples.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio
from graphql import (
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    get_named_type,
    is_leaf_type,
    is_required_argument,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fullon_cache_api.auth import ALL_SCOPES
from fullon_cache_api.cache import CacheReader, create_redis
from fullon_cache_api.context import RequestContext
from fullon_cache_api.embedded_redis import EmbeddedRedis
from fullon_cache_api.schema import schema
from fullon_cache_api.schema.types import GRAPHQL_TYPES
from fullon_cache_api.server.execution import (
    LONG_LIST,
    Executor,
    PreparedOperation,
    RequestError,
    dumps,
)
from fullon_cache_api.settings import Settings
from fullon_cache_api.simulator import CacheWriter, seed_scenario
from fullon_cache_api.subscriptions.events import ChangeEvent, ChangeKind
from support import make_settings

JSONDict = dict[str, Any]

SCHEMA = schema._schema
QUERY = SCHEMA.query_type
SUBSCRIPTION = SCHEMA.subscription_type
assert QUERY is not None and SUBSCRIPTION is not None
QUERY_FIELDS = sorted(QUERY.fields)
SUBSCRIPTION_FIELDS = sorted(SUBSCRIPTION.fields)

#: Values two executions of the same query do not share (see the module's docstring).
VOLATILE = {
    ("CacheHealth", "latencyMs"),
    ("CacheHealth", "usedMemoryBytes"),
    ("CacheHealth", "connectedClients"),
    ("SystemHealth", "checkedAt"),
}

#: A process registered with a fixed clock: its id is known in advance.
FIXED = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
FIXED_PROCESS = f"tick:fixed:{FIXED.timestamp()}"


class EnumName(str):
    """An enum value: bare in a literal (``live: FULL``), a string in variables."""


#: Argument name → values to draw: hits in the seeded data, misses, invalid values.
VALUES: dict[str, list[Any]] = {
    "exchange": ["binance", "kraken", "hyperliquid", "bulk", "nope", "bin*"],
    "symbol": ["BTC/USDT", "ETH/USDT", "BAD/USDT", "BTC/USDC:USDC", "NOPE/X", "BTC*"],
    "exId": ["1", "2", "3", "40", "9", "*"],
    "currency": ["USDT", "BTC", "C7", "NOPE", "*"],
    "uid": ["1", "2", "9", "*"],
    "localOid": ["1001", "3001", "9", "*"],
    "orderId": ["8389765493", "OQCLML-BW3P3-BUCMWZ", "bad", "nope", "*"],
    "key": ["binance:1", "kraken:2", "nope", "x*"],
    "botId": ["1", "2", "3", "99", "*"],
    "processId": [FIXED_PROCESS, "nope", "x*"],
    "component": ["binance:BTC/USDT", "ticker_daemon", "fixed", "nope", "x*"],
    "type": ["tick", "ohlcv", "bot", "nope", "*"],
    "timeframe": ["1m", "1h", "5m", "1-m"],
    "count": [1, 3, 40, 0, 20000],
    "first": [1, 2, 40, 0, -1],
    "last": [1, 2, 40, 0],
    "offset": [0, 1, 5, -1],
    "sinceMinutes": [60.0, 10080.0, 0.001, 0.0, -1.0, 20000.0],
    "minIntervalMs": [0, 100, -1],
    "symbols": [["BTC/USDT"], ["ETH/USDT", "BTC/USDT"], [], ["*"]],
    "live": [EnumName("CHANGES"), EnumName("FULL"), "FULL"],
    "maxRate": [1.0, 10.0, 0.0, 50.0],
}

#: A value of the wrong type for a variable of this scalar type.
WRONG = {"String": [12, 1.5, True, ["x"]], "Int": ["3", 1.5, True], "Float": ["x", True, [1]]}

EXAMPLES = int(os.environ.get("FUZZ_SCALE", "1"))
DIFF = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def examples(count: int) -> settings:
    return settings(DIFF, max_examples=count * EXAMPLES)


# --------------------------------------------------------------------------- documents


@dataclass
class Case:
    """A drawn operation: its text, variables and the caller's scopes."""

    query: str
    variables: JSONDict | None
    scopes: frozenset[str]
    plain: bool = True  # no directive and no introspection: it must compile
    roots: int = 1  # root fields: with several, errors come in the order Redis answers


@dataclass
class _Doc:
    volatile: bool  # may select volatile fields
    definitions: list[str] = field(default_factory=list)
    values: JSONDict = field(default_factory=dict)
    fragments: list[str] = field(default_factory=list)
    plain: bool = True

    def variable(self, type_text: str, default: Any = None) -> str:
        name = f"v{len(self.definitions)}"
        suffix = "" if default is None else f" = {literal(default)}"
        self.definitions.append(f"${name}: {type_text}{suffix}")
        return name


def literal(value: Any) -> str:
    """A GraphQL literal of a JSON-like value (strings, numbers, booleans, lists)."""
    if isinstance(value, EnumName):
        return str(value)
    return json.dumps(value)


def _object_type(type_: GraphQLOutputType) -> GraphQLObjectType | None:
    named = get_named_type(type_)
    return named if isinstance(named, GraphQLObjectType) else None


@st.composite
def arguments(draw: st.DrawFn, doc: _Doc, definition: GraphQLField) -> str:
    """Some arguments of a field: left out (when optional), literals or variables."""
    parts = []
    for name, argument in definition.args.items():
        required = is_required_argument(argument)
        modes = ["literal", "variable"] if required else ["omit", "literal", "variable"]
        mode = draw(st.sampled_from(modes))
        if mode == "omit":
            continue
        value = draw(st.sampled_from(VALUES[name]))
        if mode == "literal":
            parts.append(f"{name}: {literal(value)}")
            continue
        type_text = str(argument.type)
        default = None
        if isinstance(argument.type, GraphQLNonNull) and draw(st.booleans()):
            # A nullable variable with a default may feed a non-null argument.
            type_text = str(argument.type.of_type)
            default = draw(st.sampled_from(VALUES[name]))
        variable = doc.variable(type_text, default)
        scalar = get_named_type(argument.type).name
        given_as = draw(st.sampled_from(["value", "value", "value", "missing", "null", "wrong"]))
        if given_as == "value":
            doc.values[variable] = value
        elif given_as == "null":
            doc.values[variable] = None
        elif given_as == "wrong":
            doc.values[variable] = draw(st.sampled_from(WRONG.get(scalar, [None])))
        parts.append(f"{name}: ${variable}")
    return f"({', '.join(parts)})" if parts else ""


@st.composite
def selection_set(draw: st.DrawFn, doc: _Doc, type_: GraphQLObjectType, depth: int) -> str:
    """Random fields of an object type: aliases, repeats, ``__typename``, nested objects,
    fragments."""
    names = [name for name in type_.fields if doc.volatile or (type_.name, name) not in VOLATILE]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=min(6, len(names))))
    parts: list[str] = []
    for index, name in enumerate(chosen):
        definition = type_.fields[name]
        alias = draw(st.sampled_from(["", "", "", f"a{index}_{depth}: "]))
        text = alias + name + draw(arguments(doc, definition))
        inner = _object_type(definition.type)
        if inner is not None:
            if depth <= 0:
                text += " { __typename }"
            else:
                text += " " + draw(selection_set(doc, inner, depth - 1))
        parts.append(text)
        if draw(st.integers(0, 5)) == 0:
            parts.append(text)  # the same key twice: merged
    if draw(st.integers(0, 4)) == 0:
        parts.insert(draw(st.integers(0, len(parts))), "__typename")
    if draw(st.integers(0, 3)) == 0:
        parts = draw(fragments(doc, type_, parts))
    if draw(st.integers(0, 40)) == 0:
        parts[0] += " @include(if: true)"
        doc.plain = False
    return "{ " + " ".join(parts) + " }"


@st.composite
def fragments(draw: st.DrawFn, doc: _Doc, type_: GraphQLObjectType, parts: list[str]) -> list[str]:
    """Move some of the parts into an inline fragment or a named one (spread once or twice)."""
    cut = draw(st.integers(0, len(parts)))
    moved, kept = parts[:cut], parts[cut:]
    if not moved:
        return parts
    body = " ".join(moved)
    kind = draw(st.sampled_from(["inline", "untyped", "named"]))
    if kind == "inline":
        return [f"... on {type_.name} {{ {body} }}", *kept]
    if kind == "untyped":
        return [f"... {{ {body} }}", *kept]
    name = f"F{len(doc.fragments)}"
    doc.fragments.append(f"fragment {name} on {type_.name} {{ {body} }}")
    spreads = [f"...{name}"] * draw(st.integers(1, 2))
    return [*spreads, *kept]


@st.composite
def operations(
    draw: st.DrawFn, kind: str, root_field: str, *, volatile: bool = False, extra_roots: int = 2
) -> Case:
    """An operation on ``root_field`` (a query may add other root fields)."""
    root = QUERY if kind == "query" else SUBSCRIPTION
    assert root is not None
    doc = _Doc(volatile=volatile)
    names = [root_field]
    if kind == "query":
        names += draw(st.lists(st.sampled_from(QUERY_FIELDS), max_size=extra_roots))
    parts = []
    for index, name in enumerate(names):
        definition = root.fields[name]
        alias = f"r{index}: " if index else draw(st.sampled_from(["", "top: "]))
        text = alias + name + draw(arguments(doc, definition))
        inner = _object_type(definition.type)
        if inner is not None:
            text += " " + draw(selection_set(doc, inner, 2))
        parts.append(text)
    if kind == "query" and draw(st.integers(0, 5)) == 0:
        parts.append("__typename")
    header = kind
    if doc.definitions:
        header += f" Op({', '.join(doc.definitions)})"
    query = " ".join([f"{header} {{ {' '.join(parts)} }}", *doc.fragments])
    scopes = draw(
        st.one_of(st.just(ALL_SCOPES), st.frozensets(st.sampled_from(sorted(ALL_SCOPES))))
    )
    variables = doc.values if doc.values or draw(st.booleans()) else None
    return Case(query, variables, scopes, doc.plain, len(names))


# --------------------------------------------------------------------------- events


RECORDS: dict[str, type[Any]] = {
    derived.__strawberry_definition__.name: record for record, derived in GRAPHQL_TYPES.items()
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)

LEAVES: dict[str, st.SearchStrategy[Any]] = {
    "String": st.one_of(
        st.text(max_size=6), st.text(max_size=6), st.integers(-3, 3), st.booleans(), st.floats()
    ),
    "Float": st.one_of(
        st.floats(), st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**60), 2**60)
    ),
    "Int": st.one_of(st.integers(-(2**33), 2**33), st.floats(-10, 10), st.booleans()),
    "Boolean": st.one_of(st.booleans(), st.booleans(), st.integers(0, 2)),
    "DateTime": st.one_of(
        st.datetimes(timezones=st.just(UTC)), st.datetimes(), st.text(max_size=4)
    ),
    "JSON": json_values,
    "ChangeKind": st.one_of(st.sampled_from(ChangeKind), st.sampled_from(["SNAPSHOT", 3])),
}


#: A resolver's value that is an exception: graphql-core raises it as the field's error.
ODD = RuntimeError("an odd value")


def values_of(type_: GraphQLOutputType, depth: int = 3) -> st.SearchStrategy[Any]:
    """Values a resolver could hand over for ``type_``: mostly well-formed, sometimes null
    (also where non-null), sometimes of the wrong shape."""
    non_null = isinstance(type_, GraphQLNonNull)
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    well_formed: st.SearchStrategy[Any]
    odd: st.SearchStrategy[Any] = st.just(ODD)
    if isinstance(inner, GraphQLList):
        items = values_of(inner.of_type, depth)
        size = 3 if depth > 1 else 1
        well_formed = st.one_of(
            st.lists(items, max_size=size),
            st.lists(items, max_size=size),
            st.lists(items, max_size=size).map(tuple),
        )
        odd = st.one_of(odd, st.text(max_size=2), st.integers())  # not lists at all
    elif is_leaf_type(inner):
        well_formed = LEAVES[inner.name]
    else:
        assert isinstance(inner, GraphQLObjectType)
        well_formed = record_of(inner, depth - 1) if depth > 0 else st.none()
    weight = 12 if non_null else 5
    return st.one_of(*[well_formed] * weight, st.none(), odd)


def record_of(type_: GraphQLObjectType, depth: int) -> st.SearchStrategy[Any]:
    if type_.name.endswith("Event"):
        return st.builds(
            ChangeEvent,
            kind=values_of(type_.fields["kind"].type, depth),
            items=values_of(type_.fields["items"].type, depth),
        )
    record = RECORDS[type_.name]
    attributes = {}
    for definition in type_.fields.values():
        declared = definition.extensions["strawberry-definition"]
        if declared.base_resolver is None:
            attributes[declared.python_name] = values_of(definition.type, depth)
    return st.builds(record, **attributes)


# --------------------------------------------------------------------------- the data


@dataclass
class Env:
    executor: Executor
    cache: CacheReader
    settings: Settings

    def context(self, scopes: frozenset[str] = ALL_SCOPES) -> RequestContext:
        return RequestContext(cache=self.cache, settings=self.settings, scopes=scopes)

    def prepare(self, case: Case) -> PreparedOperation | None:
        try:
            prepared = self.executor.prepare(case.query, None, case.variables)
        except RequestError:
            return None  # neither path runs it
        if case.plain:
            assert prepared.plan is not None, case.query
        else:
            assert prepared.plan is None, case.query
        return prepared

    async def compare(self, case: Case) -> bytes | None:
        """Run ``case`` with its plan and with graphql-core; the same bytes, or fail."""
        prepared = self.prepare(case)
        if prepared is None:
            return None
        core = dataclasses.replace(prepared, plan=None)
        planned = await self.executor.execute(prepared, case.variables, self.context(case.scopes))
        graphql = await self.executor.execute(core, case.variables, self.context(case.scopes))
        if case.roots > 1 and dumps(planned) != dumps(graphql):
            # Root fields run concurrently: errors (a corrupt item of each, say) are listed
            # in the order their Redis replies came back, whichever path runs them.
            assert dumps(planned["data"]) == dumps(graphql["data"]), case
            assert sorted(map(dumps, planned["errors"])) == sorted(map(dumps, graphql["errors"]))
            planned["errors"] = graphql["errors"]
        assert dumps(planned) == dumps(graphql), case
        return dumps(planned)

    def compare_event(self, case: Case, event: Any) -> bytes | None:
        prepared = self.prepare(case)
        if prepared is None:
            return None
        core = dataclasses.replace(prepared, plan=None)
        planned = self.executor.execute_event(prepared, event, case.variables, self.context())
        graphql = self.executor.execute_event(core, event, case.variables, self.context())
        assert dumps(planned) == dumps(graphql), (case, event)
        return dumps(planned)


def make_env(url: str) -> Env:
    settings_ = make_settings(
        url,
        process_stale_seconds=300,  # no seeded heartbeat crosses it while the tests run
        max_query_cost=1_000_000,
        redis_socket_timeout=1,
        redis_socket_connect_timeout=1,
    )
    cache = CacheReader(create_redis(settings_), process_stale_after_s=300)
    executor = Executor(schema, settings_)
    return Env(executor, cache, settings_)


async def seed(client: redis.asyncio.Redis) -> None:
    writer = CacheWriter(client)
    await seed_scenario(writer)
    # Long lists: more than LONG_LIST tickers (one exchange, and in all), balances.
    for index in range(LONG_LIST + 8):
        await writer.set_ticker(
            {"exchange": "bulk", "symbol": f"B{index}/USDT", "price": 1.0 + index, "bid": 1.0}
        )
    await writer.upsert_user_account(
        40, {f"C{index}": {"free": float(index), "total": index} for index in range(LONG_LIST + 8)}
    )
    await CacheWriter(client, now=lambda: FIXED).register_process("tick", "fixed", {"a": 1})
    # Corrupt items: dropped from lists with CORRUPT_DATA, or a failing single read.
    await writer.write_raw_hash_field("tickers:binance", "BAD/USDT", "{not json")
    await writer.write_raw_hash_field("accounts", "9", "[1, 2]")
    await writer.write_raw_hash_field("order_status:binance", "bad", "nope")
    await writer.write_raw_hash_field("bot_status", "99", "{")
    await writer.write_raw_hash_field("opening_position", "8:ETH/USDT", "43")
    await writer.write_raw_list("trades:binance:BTCUSDT", ["garbage"])
    await writer.write_raw_list("ohlcv:ETH/USDT:5m", ["[1, 2, 3]", "not json"])


@pytest_asyncio.fixture(scope="module")
async def env(redis_server: EmbeddedRedis) -> AsyncIterator[Env]:
    """The seeded database (DB 1 of the session's redis-server), for the whole module."""
    url = f"redis://{redis_server.host}:{redis_server.port}/1"
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        await client.flushdb()
        await seed(client)
    finally:
        await client.aclose()
    environment = make_env(url)
    try:
        yield environment
    finally:
        await environment.cache.close()


# --------------------------------------------------------------------------- queries


@pytest.mark.parametrize("root_field", QUERY_FIELDS)
@examples(12)
@given(data=st.data())
async def test_query_field(env: Env, root_field: str, data: st.DataObject) -> None:
    await env.compare(data.draw(operations("query", root_field)))


@examples(60)
@given(data=st.data())
async def test_queries_of_several_root_fields(env: Env, data: st.DataObject) -> None:
    root_field = data.draw(st.sampled_from(QUERY_FIELDS))
    await env.compare(data.draw(operations("query", root_field, extra_roots=4)))


async def test_every_field_compiles(env: Env) -> None:
    """A selection of every field of every type, under every root field, runs through a
    plan (and answers as graphql-core does)."""

    def call(name: str, definition: GraphQLField) -> str:
        args = ", ".join(
            f"{arg}: {literal(VALUES[arg][0])}"
            for arg, argument in definition.args.items()
            if is_required_argument(argument)
        )
        return name + (f"({args})" if args else "")

    def everything(type_: GraphQLObjectType, depth: int) -> str:
        parts = ["__typename"]
        for name, definition in type_.fields.items():
            if (type_.name, name) in VOLATILE:
                continue
            text = call(name, definition)
            inner = _object_type(definition.type)
            if inner is not None:
                text += " " + (everything(inner, depth - 1) if depth else "{ __typename }")
            parts.append(text)
        return "{ " + " ".join(parts) + " }"

    for root, operation in ((QUERY, "query"), (SUBSCRIPTION, "subscription")):
        assert root is not None
        for name, definition in root.fields.items():
            inner = _object_type(definition.type)
            text = call(name, definition) + (" " + everything(inner, 3) if inner else "")
            query = f"{operation} {{ {text} }}"
            if operation == "subscription":
                assert env.executor.prepare(query).plan is not None, query
                continue
            body = await env.compare(Case(query, None, ALL_SCOPES))
            assert body is not None and b'"INTERNAL"' not in body, (query, body)


async def test_long_lists_and_fallbacks(env: Env) -> None:
    """Long lists at the root and nested; documents only graphql-core runs."""
    for query, longest in (
        ("{ tickers { exchange symbol price spread } }", lambda data: data["tickers"]),
        ('{ tickers(exchange: "bulk") { symbol price } }', lambda data: data["tickers"]),
        (
            "{ accounts { exId balances { currency free total } } }",
            lambda data: max((a["balances"] for a in data["accounts"]), key=len),
        ),
        (
            '{ ohlcv(symbol: "BTC/USDT", timeframe: "1m", count: 40) { timestamp close } }',
            lambda data: data["ohlcv"],
        ),
    ):
        body = await env.compare(Case(query, None, ALL_SCOPES))
        assert body is not None
        assert len(longest(json.loads(body)["data"])) > LONG_LIST, query
    for query in (
        "{ __schema { queryType { name } } }",
        '{ __type(name: "Ticker") { name } }',
        '{ ticker(exchange: "binance", symbol: "BTC/USDT") @skip(if: false) { price } }',
        "query($s: Boolean!) { exchanges @include(if: $s) }",
    ):
        await env.compare(Case(query, {"s": True}, ALL_SCOPES, plain=False))


class ResolvedMark:
    """A field timer (``RequestContext.timer``) that notes when the root field's resolver
    has returned: what follows is the completion of its value."""

    def __init__(self) -> None:
        self.resolved = False

    async def timed(self, field: str, result: Any) -> Any:
        value = await result
        self.resolved = True
        return value


async def test_long_lists_yield_to_the_event_loop(env: Env) -> None:
    """A plan completes a long list in time slices, as ``CooperativeExecutor`` does: other
    tasks run while it writes the records."""
    client = redis.asyncio.Redis.from_url(env.settings.redis_url, decode_responses=True)
    try:
        writer = CacheWriter(client)
        for index in range(3000):
            await writer.set_ticker({"exchange": "huge", "symbol": f"H{index}/USDT", "price": 1.0})
    finally:
        await client.aclose()
    prepared = env.executor.prepare(
        '{ tickers(exchange: "huge") { exchange symbol price bid ask last volume time spread } }'
    )
    assert prepared.plan is not None
    mark = ResolvedMark()
    context = env.context()
    context.timer = mark
    turns = 0
    done = asyncio.Event()

    async def other() -> None:
        nonlocal turns
        while not done.is_set():
            turns += mark.resolved
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    try:
        body = await env.executor.execute(prepared, None, context)
    finally:
        done.set()
        await task
        await env.cache.redis.delete("tickers:huge")  # the other tests' data as it was
    assert len(body["data"]["tickers"]) == 3000
    assert turns >= 2, "completing 3000 records never yielded to the event loop"


async def test_forbidden_and_corrupt(env: Env) -> None:
    query = (
        '{ tickers(exchange: "binance") { symbol } account(exId: "1") { exId } '
        "health { reachable } bots { botId } }"
    )
    body = await env.compare(Case(query, None, frozenset({"market"})))
    assert body is not None
    response = json.loads(body)
    codes = [error["extensions"]["code"] for error in response["errors"]]
    assert sorted(codes) == ["CORRUPT_DATA", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN"], codes
    assert response["data"]["health"] is None and response["data"]["account"] is None


# --------------------------------------------------------------------------- events


@pytest.mark.parametrize("root_field", SUBSCRIPTION_FIELDS)
@examples(25)
@given(data=st.data())
def test_subscription_event(env: Env, root_field: str, data: st.DataObject) -> None:
    assert SUBSCRIPTION is not None
    case = data.draw(operations("subscription", root_field, volatile=True))
    event = data.draw(values_of(SUBSCRIPTION.fields[root_field].type))
    env.compare_event(case, event)


# --------------------------------------------------------------------------- Redis down


@pytest.fixture(scope="module")
def stopped_redis() -> Iterator[str]:
    """The URL of a redis-server that was started and stopped: connections are refused."""
    server = EmbeddedRedis()
    server.start()
    url = f"redis://{server.host}:{server.port}/1"
    server.stop()
    yield url


@pytest_asyncio.fixture(scope="module")
async def down(stopped_redis: str) -> AsyncIterator[Env]:
    environment = make_env(stopped_redis)
    try:
        yield environment
    finally:
        await environment.cache.close()


@examples(60)
@given(data=st.data())
async def test_redis_down(down: Env, data: st.DataObject) -> None:
    root_field = data.draw(st.sampled_from(QUERY_FIELDS))
    case = data.draw(operations("query", root_field, volatile=True))
    async with asyncio.timeout(10):
        await down.compare(case)


async def test_redis_down_answers_cache_unavailable(down: Env) -> None:
    query = (
        '{ ticker(exchange: "binance", symbol: "BTC/USDT") { price } '
        "health { reachable latencyMs usedMemoryBytes connectedClients error } }"
    )
    body = await down.compare(Case(query, None, ALL_SCOPES, roots=2))
    assert body is not None
    response = json.loads(body)
    assert [error["extensions"]["code"] for error in response["errors"]] == ["CACHE_UNAVAILABLE"]
    assert response["data"]["ticker"] is None
    assert response["data"]["health"]["reachable"] is False
