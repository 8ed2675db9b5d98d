"""Document templates (``server/templates.py``): texts that differ only in string arguments
share one parsed, validated and compiled document, and answer exactly as before.

The answers are compared byte for byte with an executor that has no templates (a document
cache of 0 turns them off), against a seeded private Redis; a real server then runs one
subscription per symbol on one connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio

from fullon_cache_api.cache import CacheReader, create_redis
from fullon_cache_api.context import RequestContext
from fullon_cache_api.schema import schema
from fullon_cache_api.server.execution import Executor, RequestError, dumps
from fullon_cache_api.settings import Settings
from fullon_cache_api.simulator import CacheWriter
from support.live import tick
from support.server import make_settings, running_server
from support.ws import raw_ws

TICKER = '{ ticker(exchange: "binance", symbol: "%s") { symbol price } }'


def executor(cache_size: int = 512) -> Executor:
    return Executor(schema, make_settings("redis://127.0.0.1:1/0", document_cache_size=cache_size))


def test_texts_of_one_shape_share_one_document() -> None:
    ex = executor()
    first = ex.prepare(TICKER % "BTC/USDT")
    second = ex.prepare(TICKER % "ETH/USDT")
    assert second.document is first.document and second.plan is first.plan
    assert first.literals == {"_l0": "binance", "_l1": "BTC/USDT"}
    assert second.literals == {"_l0": "binance", "_l1": "ETH/USDT"}
    # A literal of another length is another shape: a template of its own.
    other = ex.prepare(TICKER % "SOL/USDT2")
    assert other.document is not first.document and other.literals is not None
    # Escapes count by their characters in the text, the value is what they mean.
    escaped = ex.prepare(TICKER % "\\u0041TC/USDT")
    assert escaped.literals == {"_l0": "binance", "_l1": "ATC/USDT"}
    # List items of String arguments too, with the variable typed as the position is.
    listed = ex.prepare(
        'subscription { tickers(exchange: "binance", symbols: ["A", "B"]) { kind } }'
    )
    assert listed.literals == {"_l0": "binance", "_l1": "A", "_l2": "B"}
    definitions = {
        d.variable.name.value: d.type for d in listed.operation.variable_definitions or ()
    }
    assert definitions["_l0"].kind == "named_type"  # exchange: String
    assert definitions["_l1"].kind == "non_null_type"  # symbols: [String!]


@pytest.mark.parametrize(
    "query",
    [
        '{ ticker(exchange: """binance""", symbol: "BTC/USDT") { price } }',  # block string
        'query A { ticker(exchange: "binance", symbol: "X") { price } } query B { exchanges }',
        # Same response key, same literal: valid; as two variables it would not be.
        '{ a: ticker(exchange: "binance", symbol: "X") { price } '
        'a: ticker(exchange: "binance", symbol: "X") { price } }',
        "{ exchanges }",  # no string at all
    ],
)
def test_documents_left_as_they_are(query: str) -> None:
    ex = executor()
    prepared = ex.prepare(query, "A" if "query A" in query else None)
    assert prepared.literals is None


def test_invalid_texts_of_a_known_shape_fail_as_before() -> None:
    ex = executor()
    ex.prepare('{ a: ticker(exchange: "binance", symbol: "A") { price } }')
    for query in (
        # Conflicting arguments: the shape is not known (its template did not validate).
        '{ a: ticker(exchange: "binance", symbol: "A") { price } '
        'a: ticker(exchange: "binance", symbol: "B") { price } }',
        '{ a: ticker(exchange: "binance", symbol: "A") { nope } }',
    ):
        with pytest.raises(RequestError) as templated:
            ex.prepare(query)
        with pytest.raises(RequestError) as plain:
            executor(0).prepare(query)
        assert templated.value.errors == plain.value.errors


@pytest_asyncio.fixture
async def seeded(redis_url: str) -> AsyncIterator[str]:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        writer = CacheWriter(client)
        await writer.set_ticker(tick(1.0))
        await writer.set_ticker(tick(2.0, symbol="ETH/USDT"))
        await writer.set_ticker(tick(3.0, exchange="kraken", symbol="ETH/USDT"))
        yield redis_url
    finally:
        await client.aclose()


QUERIES = [
    TICKER % "BTC/USDT",
    TICKER % "ETH/USDT",
    TICKER % "XRP/USDT",  # absent: null
    TICKER % "bad\\u0007",  # refused: INVALID_ARGUMENT at its line and column
    '{\n  a: ticker(exchange: "kraken", symbol: "ETH/USDT") { price }\n'
    '  b: ticker(exchange: "binance", symbol: "x\\u0000y") { price }\n}',
    '{ tickers(exchange: "binance") { symbol price } }',
]


async def _answers(settings: Settings) -> list[bytes]:
    ex = Executor(schema, settings)
    cache = CacheReader(create_redis(settings), process_stale_after_s=300)
    try:
        answers = []
        for query in QUERIES * 2:  # the second time round, every text is cached
            prepared = ex.prepare(query)
            context = RequestContext(cache=cache, settings=settings)
            answers.append(dumps(await ex.execute(prepared, None, context)))
        event = ex.prepare(
            'subscription { ticker(exchange: "binance", symbol: "ETH/USDT") { symbol price } }'
        )
        record = await cache.tickers.get("binance", "ETH/USDT")
        context = RequestContext(cache=cache, settings=settings)
        answers.append(dumps(ex.execute_event(event, record, None, context)))
        return answers
    finally:
        await cache.close()


async def test_answers_are_byte_identical_without_templates(seeded: str) -> None:
    templated = await _answers(make_settings(seeded))
    plain = await _answers(make_settings(seeded, document_cache_size=0))
    assert templated == plain
    assert b'"locations":[{"line":3,"column":3}]' in templated[4]


async def test_a_subscription_per_symbol_on_one_document(seeded: str) -> None:
    query = 'subscription { ticker(exchange: "binance", symbol: "%s") { price } }'
    async with running_server(make_settings(seeded)) as server, raw_ws(server.ws_url) as ws:
        await ws.init()
        for op_id, symbol in (("b", "BTC/USDT"), ("e", "ETH/USDT")):
            await ws.send({"id": op_id, "type": "subscribe", "payload": {"query": query % symbol}})
        first = {(m := await ws.recv())["id"]: m["payload"]["data"] for _ in range(2)}
        assert first == {"b": {"ticker": {"price": 1.0}}, "e": {"ticker": {"price": 2.0}}}
        services: Any = server.app.state.services
        groups = list(services.runner.groups.values())
        assert len(groups) == 2 and groups[0].prepared.document is groups[1].prepared.document
        client = redis.asyncio.Redis.from_url(seeded, decode_responses=True)
        try:
            await CacheWriter(client).set_ticker(tick(5.0, symbol="ETH/USDT"))
        finally:
            await client.aclose()
        message = await ws.recv()
        assert (message["id"], message["payload"]["data"]) == ("e", {"ticker": {"price": 5.0}})
        assert json.dumps(message["payload"]["data"]) == '{"ticker": {"price": 5.0}}'
