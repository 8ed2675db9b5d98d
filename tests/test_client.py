"""The Python client (``fullon_cache_api.client``), end to end against the real app on a real
Redis seeded with ``seed_scenario``: every query method (typed values), every stream (its
snapshot, then a change written with ``CacheWriter``), resuming streams across a restart of
a server *process*, reconnect and retry rules (scripted fake servers), error mapping, stream
buffering, the ``query``/``watch`` CLI commands, and ``gql-cli`` against the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
import pytest_asyncio
import redis.asyncio
from rich.text import Text
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from fullon_cache_api import fullon_cache_api
from fullon_cache_api.client import (
    Account,
    AmbiguousOrderError,
    AuthenticationError,
    Backoff,
    Balance,
    Bot,
    CacheHealth,
    CacheUnavailableError,
    ChangeEvent,
    ChangeKind,
    ComponentStatus,
    ConnectionLostError,
    CorruptDataError,
    ExchangeBlock,
    ForbiddenError,
    FullonCacheApi,
    FullonCacheApiError,
    GraphQLRequestError,
    InternalServerError,
    InvalidArgumentError,
    OhlcvBar,
    OhlcvSeries,
    OpeningPosition,
    Order,
    Position,
    Process,
    ProcessBroadcast,
    QueryTooComplexError,
    RateLimitedError,
    SlowConsumerError,
    Stream,
    SystemHealth,
    Ticker,
    Trade,
    TradeStatus,
    models,
)
from fullon_cache_api.client import documents as docs
from fullon_cache_api.client.cli_commands import TickerBoard, add_client_commands
from fullon_cache_api.client.decode import camel, decode_as, parse_datetime
from fullon_cache_api.client.errors import ERROR_CLASSES, checked_data, exception_for
from fullon_cache_api.client.options import ClientOptions, websocket_url
from fullon_cache_api.client.streams import StreamCore
from fullon_cache_api.embedded_redis import EmbeddedRedis
from fullon_cache_api.schema import schema
from fullon_cache_api.simulator import CacheWriter, seed_scenario
from support import RunningServer, make_settings, running_server

JSONDict = dict[str, Any]

#: Quick reconnects for the tests.
FAST = Backoff(initial=0.05, maximum=0.5, jitter=0.0)
EVENT_TIMEOUT = 10.0
ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


# --------------------------------------------------------------------------- fixtures


@pytest_asyncio.fixture
async def writer(redis_client: redis.asyncio.Redis) -> CacheWriter:
    """A writer on the test database, already holding the demo scenario (real clock)."""
    cache_writer = CacheWriter(redis_client)
    await seed_scenario(cache_writer)
    return cache_writer


@pytest_asyncio.fixture
async def api(api_server: RunningServer, writer: CacheWriter) -> AsyncIterator[FullonCacheApi]:
    async with fullon_cache_api(api_server.ws_url, reconnect_attempts=3, backoff=FAST) as client:
        yield client


# --------------------------------------------------------------------------- helpers


def now() -> datetime:
    return datetime.now(UTC)


def assert_utc(value: datetime | None, *, recent: timedelta | None = timedelta(hours=3)) -> None:
    """An aware UTC datetime (and, by default, within the last few hours)."""
    assert isinstance(value, datetime), value
    assert value.utcoffset() == timedelta(0), value
    if recent is not None:
        assert now() - recent <= value <= now() + timedelta(seconds=5), value


async def next_item(stream: Stream[Any], timeout: float = EVENT_TIMEOUT) -> Any:  # noqa: ASYNC109
    return await asyncio.wait_for(anext(stream), timeout)


async def next_matching(
    stream: Stream[Any],
    predicate: Callable[[Any], bool],
    timeout: float = EVENT_TIMEOUT,  # noqa: ASYNC109
) -> Any:
    """The next item for which ``predicate`` holds (others are skipped)."""
    async with asyncio.timeout(timeout):
        async for item in stream:
            if predicate(item):
                return item
    raise AssertionError("the stream ended")


async def wait_until(
    predicate: Callable[[], Any],
    timeout: float = EVENT_TIMEOUT,  # noqa: ASYNC109
    message: str = "condition",
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        await asyncio.sleep(0.02)


def tick(symbol: str, price: float, exchange: str = "binance") -> JSONDict:
    """A fresh ticker (the live feed drops updates older than what it has)."""
    return {
        "symbol": symbol,
        "exchange": exchange,
        "price": price,
        "volume": 1.0,
        "time": time.time(),
        "bid": price - 0.5,
        "ask": price + 0.5,
        "last": price,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- the package


def test_lazy_export_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    import fullon_cache_api as package

    assert package.fullon_cache_api is fullon_cache_api
    monkeypatch.delenv("FULLON_CACHE_API_URL", raising=False)
    assert fullon_cache_api().url == "ws://127.0.0.1:8000/graphql"
    monkeypatch.setenv("FULLON_CACHE_API_URL", "ws://example.test:9/graphql")
    assert fullon_cache_api().url == "ws://example.test:9/graphql"
    assert fullon_cache_api("ws://other:1/graphql").url == "ws://other:1/graphql"
    assert websocket_url("https://a.test/graphql") == "wss://a.test/graphql"
    assert websocket_url("http://a.test/graphql") == "ws://a.test/graphql"
    with pytest.raises(ValueError):
        ClientOptions(buffer_size=0)


def test_backoff_grows_and_is_capped() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, factor=2.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    jittered = Backoff(initial=1.0, maximum=1.0, jitter=0.1)
    assert all(0.9 <= jittered.delay(3) <= 1.1 for _ in range(50))


# --------------------------------------------------------------------------- documents


def _selected_fields(type_name: str) -> set[str]:
    fragment = graphql.parse(docs.FRAGMENTS[f"{type_name}Fields"]).definitions[0]
    assert isinstance(fragment, graphql.FragmentDefinitionNode)
    return {
        selection.name.value
        for selection in fragment.selection_set.selections
        if isinstance(selection, graphql.FieldNode)
    }


@pytest.mark.parametrize(
    "model",
    [
        Ticker,
        Balance,
        Account,
        Position,
        Order,
        Trade,
        TradeStatus,
        Bot,
        ExchangeBlock,
        OpeningPosition,
        OhlcvBar,
        OhlcvSeries,
        Process,
        ComponentStatus,
        SystemHealth,
        CacheHealth,
        ProcessBroadcast,
    ],
)
def test_fragments_select_every_field_of_the_schema_and_the_model(model: type[Any]) -> None:
    graphql_type = schema._schema.type_map[model.__name__]
    assert isinstance(graphql_type, graphql.GraphQLObjectType)
    # Fields without required arguments (Account.balance(currency) is a lookup).
    schema_fields = {
        name
        for name, definition in graphql_type.fields.items()
        if not any(graphql.is_required_argument(a) for a in definition.args.values())
    }
    assert _selected_fields(model.__name__) == schema_fields
    assert {camel(f.name) for f in fields(model)} == schema_fields


def _documents() -> dict[str, str]:
    """Every document constant of ``documents``."""
    return {
        name: value
        for name, value in vars(docs).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    }


def _root_field(document: str) -> str:
    operation = graphql.parse(document).definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    selection = operation.selection_set.selections[0]
    assert isinstance(selection, graphql.FieldNode)
    return selection.name.value


def test_every_document_is_valid_against_the_schema() -> None:
    documents = _documents()
    assert len(documents) > 40
    for name, document in documents.items():
        errors = graphql.validate(schema._schema, graphql.parse(document))
        assert not errors, (name, errors)


def test_one_method_per_query_and_subscription_field() -> None:
    query_type = schema._schema.query_type
    subscription_type = schema._schema.subscription_type
    assert query_type is not None and subscription_type is not None
    documents = _documents()
    used_query = {
        _root_field(text)
        for name, text in documents.items()
        if not name.startswith("STREAM_") and name != "PING"
    }
    used_stream = {
        _root_field(text) for name, text in documents.items() if name.startswith("STREAM_")
    }
    assert used_query == set(query_type.fields)
    assert used_stream == set(subscription_type.fields)
    stream_methods = [m for m in dir(FullonCacheApi) if m.startswith("stream_")]
    assert len(stream_methods) == len(subscription_type.fields)


# --------------------------------------------------------------------------- decoding


def test_decoding_datetimes_and_nested_types() -> None:
    assert parse_datetime("2025-06-02T12:00:00Z") == datetime(2025, 6, 2, 12, tzinfo=UTC)
    assert parse_datetime("2025-06-02T14:00:00+02:00") == datetime(2025, 6, 2, 12, tzinfo=UTC)
    assert parse_datetime("2025-06-02T12:00:00") == datetime(2025, 6, 2, 12, tzinfo=UTC)
    assert parse_datetime(None) is None
    status = decode_as(
        ComponentStatus,
        {
            "component": "c",
            "processId": "p",
            "process": {"processId": "p", "heartbeat": "2025-06-02T12:00:00+00:00"},
        },
    )
    assert status.process is not None
    assert status.process.heartbeat == datetime(2025, 6, 2, 12, tzinfo=UTC)
    assert status.process.heartbeat_stale is False
    account = decode_as(Account, {"exId": "1", "balances": [{"currency": "BTC", "free": 1}]})
    assert account.balance("BTC") == Balance(currency="BTC", free=1.0)
    assert account.balance("ETH") is None
    event = ChangeEvent(ChangeKind.UPSERT, [account])
    assert event.kind == "UPSERT"


# --------------------------------------------------------------------------- error mapping


def server_error(code: str, message: str = "boom", path: list[Any] | None = None) -> JSONDict:
    error: JSONDict = {"message": message, "extensions": {"code": code}}
    if path is not None:
        error["path"] = path
    return error


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("INVALID_ARGUMENT", InvalidArgumentError),
        ("CACHE_UNAVAILABLE", CacheUnavailableError),
        ("CORRUPT_DATA", CorruptDataError),
        ("INTERNAL", InternalServerError),
        ("GRAPHQL_PARSE_FAILED", GraphQLRequestError),
        ("GRAPHQL_VALIDATION_FAILED", GraphQLRequestError),
        ("BAD_REQUEST", GraphQLRequestError),
        ("QUERY_TOO_COMPLEX", QueryTooComplexError),
        ("UNAUTHENTICATED", AuthenticationError),
        ("FORBIDDEN", ForbiddenError),
        ("RATE_LIMITED", RateLimitedError),
        ("SLOW_CONSUMER", SlowConsumerError),
    ],
)
def test_every_server_code_maps_to_its_exception(code: str, cls: type[FullonCacheApiError]) -> None:
    errors = [server_error(code, "it failed", ["ticker"])]
    exc = exception_for(errors)
    assert type(exc) is cls
    assert (exc.code, exc.message, exc.path, exc.errors) == (code, "it failed", ["ticker"], errors)
    assert str(exc) == f"[{code}] it failed"
    with pytest.raises(cls):
        checked_data({"ticker": None}, errors, "ticker")
    with pytest.raises(cls):
        checked_data(None, errors)


def test_every_code_of_the_server_is_mapped() -> None:
    from fullon_cache_api.errors import ErrorCode

    # The client may know codes before the server sends them (REPLAY_UNAVAILABLE).
    assert set(ERROR_CLASSES) >= {code.value for code in ErrorCode}


def test_unknown_and_missing_codes() -> None:
    exc = exception_for([{"message": "odd", "extensions": {"code": "NEW_CODE"}}])
    assert type(exc) is FullonCacheApiError and exc.code == "NEW_CODE"
    exc = exception_for([{"message": "plain"}])
    assert type(exc) is FullonCacheApiError and exc.code is None and str(exc) == "plain"
    # The legacy protocol's single error object.
    assert type(exception_for({"message": "x", "extensions": {"code": "INTERNAL"}})) is (
        InternalServerError
    )


def test_partial_data_with_corrupt_items_is_returned_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors = [server_error("CORRUPT_DATA", "bad ticker BAD/USDT", ["tickers", 2])]
    data = {"tickers": [{"symbol": "BTC/USDT"}]}
    with caplog.at_level(logging.WARNING, logger="fullon_cache_api.client"):
        assert checked_data(data, errors, "tickers") == data
    assert "bad ticker BAD/USDT" in caplog.text
    # Null where a value was asked for, because it was corrupt: an error.
    with pytest.raises(CorruptDataError):
        checked_data({"ticker": None}, [server_error("CORRUPT_DATA", "bad", ["ticker"])], "ticker")
    # Another code next to partial data still raises, with the data attached.
    mixed = [*errors, server_error("CACHE_UNAVAILABLE", "down", ["other"])]
    with pytest.raises(CacheUnavailableError) as caught:
        checked_data(data, mixed)
    assert caught.value.data == data and len(caught.value.errors) == 2


# --------------------------------------------------------------------------- queries


async def test_ping(api: FullonCacheApi) -> None:
    from fullon_cache_api import __version__

    response = await api.ping()
    assert response.get("status") == "ok"
    assert response["redis"] == "ok"
    assert response["server_version"] == __version__
    assert 0 < response["latency_ms"] < 5000
    assert set(response) == {"status", "latency_ms", "server_version", "redis"}
    assert api.connected


async def test_tickers(api: FullonCacheApi) -> None:
    ticker = await api.get_ticker("binance", "BTC/USDT")
    assert isinstance(ticker, Ticker)
    assert (ticker.exchange, ticker.symbol, ticker.price) == ("binance", "BTC/USDT", 105234.56)
    assert (ticker.bid, ticker.ask, ticker.last, ticker.volume) == (
        105234.55,
        105234.57,
        105234.56,
        18342.712,
    )
    assert ticker.spread == pytest.approx(0.02)
    assert ticker.spread_percentage == pytest.approx(0.02 / 105234.56 * 100)
    assert_utc(ticker.time, recent=timedelta(minutes=5))
    assert await api.get_ticker("binance", "NOPE/USDT") is None

    binance = await api.get_all_tickers("binance")
    assert {t.symbol for t in binance} == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"}
    assert all(isinstance(t, Ticker) and t.exchange == "binance" for t in binance)
    assert len(await api.get_all_tickers()) == 11

    freshest = await api.get_any_ticker("BTC/USDT")  # binance (0.875 s) beats bybit (2 s)
    assert freshest is not None and (freshest.exchange, freshest.price) == ("binance", 105234.56)
    assert await api.get_any_ticker("NOPE/USDT") is None

    assert sorted(await api.get_exchanges()) == ["binance", "bybit", "hyperliquid", "kraken"]
    when = await api.get_ticker_time("kraken", "BTC/USD")
    assert_utc(when, recent=timedelta(minutes=5))
    kraken = await api.get_ticker("kraken", "BTC/USD")
    assert kraken is not None and kraken.time is not None and when is not None
    assert abs((when - kraken.time).total_seconds()) < 0.01
    assert await api.get_ticker_time("kraken", "NOPE/USD") is None


async def test_accounts_and_positions(api: FullonCacheApi) -> None:
    account = await api.get_account(1)
    assert isinstance(account, Account) and account.ex_id == "1"
    assert_utc(account.date)
    assert {b.currency for b in account.balances} == {"USDT", "BTC", "ETH"}
    usdt = account.balance("USDT")
    assert usdt == Balance(currency="USDT", free=10250.25, used=2250.25, total=12500.5)
    assert await api.get_account("99") is None
    assert {a.ex_id for a in await api.get_accounts()} == {"1", "2", "3"}

    balance = await api.get_balance(2, "USD")
    assert isinstance(balance, Balance) and (balance.free, balance.total) == (27500.0, 30000.0)
    assert await api.get_balance(2, "DOGE") is None

    positions = {p.symbol: p for p in await api.get_positions(1)}
    assert set(positions) == {"BTC/USDT", "ETH/USDT"}
    btc = positions["BTC/USDT"]
    assert isinstance(btc, Position) and btc.ex_id == "1"
    assert (btc.cost, btc.volume, btc.fee, btc.count, btc.price) == (
        52617.28,
        0.5,
        52.61,
        3.0,
        105234.56,
    )
    assert_utc(btc.timestamp)
    short = await api.get_position(2, "BTC/USD")
    assert short is not None and short.volume == -0.1
    assert await api.get_position(2, "ETH/USD") is None
    assert len(await api.get_all_positions()) == 4


async def test_orders(api: FullonCacheApi) -> None:
    order = await api.get_order("binance", "8389765493")
    assert isinstance(order, Order)
    assert (order.key, order.order_id, order.symbol, order.side, order.status) == (
        "binance",
        "8389765493",
        "BTC/USDT",
        "buy",
        "partially_filled",
    )
    assert (order.volume, order.final_volume, order.price, order.leverage) == (
        0.05,
        0.02,
        104900.0,
        1.0,
    )
    assert (order.bot_id, order.uid, order.ex_id, order.futures) == ("1", "1", "1", False)
    assert_utc(order.timestamp)
    bybit = await api.get_order("bybit", "BYB-7731-0001")
    assert bybit is not None
    assert (bybit.stored_order_id, bybit.status, bybit.final_volume) == ("4001", "filled", 0.5)
    assert await api.get_order("binance", 1) is None

    binance = await api.get_orders("binance")
    assert {o.order_id for o in binance} == {
        "8389765493",
        "8389765494",
        "8389765496",
        "8389765497",
    }
    assert set(await api.get_order_keys()) == {"2", "binance", "bybit", "hyperliquid", "kraken"}
    assert await api.get_open_order_queue(3001) == ["77738308", "77738309"]
    assert await api.get_queue_length("3001") == 2
    assert await api.get_open_order_queue(9999) == []
    assert await api.get_queue_length(9999) == 0


async def test_order_status_on_any_key(api: FullonCacheApi, writer: CacheWriter) -> None:
    # One key holds it: found without naming the key.
    order = await api.get_order_status("8389765493")
    assert order is not None and (order.key, order.symbol) == ("binance", "BTC/USDT")
    assert await api.get_order_status("8389765493", exchange="binance") == order
    assert await api.get_order_status("8389765493", exchange="kraken") is None
    assert await api.get_order_status("no-such-order") is None
    bybit = await api.get_order_status("BYB-7731-0001")  # stored under its exchange order id
    assert bybit is not None and (bybit.key, bybit.stored_order_id) == ("bybit", "4001")
    # Two keys hold it: a clear error that names them; exchange= picks one.
    for key in ("binance", "2"):
        await writer.save_order(
            key, {"order_id": "777", "ex_order_id": "777", "symbol": "ETH/USDT", "status": "open"}
        )
    with pytest.raises(AmbiguousOrderError) as caught:
        await api.get_order_status("777")
    assert caught.value.keys == ["2", "binance"]
    assert caught.value.code == "AMBIGUOUS_ORDER"
    assert "2, binance" in caught.value.message and "exchange=" in caught.value.message
    assert (await api.get_order_status("777", exchange="2")).key == "2"  # type: ignore[union-attr]
    assert [o.key for o in await api.get_orders_by_id("777")] == ["2", "binance"]


async def test_queue_length_is_keyed_by_local_order_id(api: FullonCacheApi) -> None:
    assert "local order id" in (FullonCacheApi.get_queue_length.__doc__ or "")
    with pytest.raises(InvalidArgumentError) as caught:
        await api.get_queue_length("binance")  # an exchange, not a local order id
    assert caught.value.code == "INVALID_ARGUMENT"
    assert "keyed by the local order id" in caught.value.message
    assert await api.get_queue_length("3001") == 2
    assert await api.get_queue_length("unknown-oid") == 0  # not an exchange: just empty


async def test_bot_status_alias(api: FullonCacheApi) -> None:
    assert await api.get_bot_status(2) == await api.get_bot(2)
    assert (await api.get_bot_status("2")).status == "paused"  # type: ignore[union-attr]
    assert await api.get_bot_status(404) is None


async def test_trades(api: FullonCacheApi) -> None:
    trades = await api.get_trades("BTC/USDT", "binance")  # symbol first, as fullon_cache
    assert [t.trade_id for t in trades] == ["50001", "50002"]
    first = trades[0]
    assert isinstance(first, Trade)
    assert (first.symbol, first.side, first.volume, first.price, first.uid) == (
        "BTC/USDT",
        "buy",
        0.01,
        105230.0,
        "1",
    )
    assert_utc(first.time)
    assert [t.trade_id for t in await api.get_trades("BTC/USDT", "binance", last=1)] == ["50002"]
    assert await api.get_trades("NOPE/USDT", "binance") == []

    status = await api.get_trade_status("binance")
    assert isinstance(status, TradeStatus) and status.key == "binance"
    assert_utc(status.timestamp)
    assert await api.get_trade_status("nowhere") is None
    assert {s.key for s in await api.get_trade_statuses()} == {"binance", "kraken", "hyperliquid"}

    user = await api.get_user_trades(1, "binance")
    assert [t.trade_id for t in user] == ["50001", "50004"]
    eth = user[1]
    assert (eth.roi, eth.roi_pct, eth.cur_avg_price) == (77.07, 2.01, 2550.0)
    assert [t.trade_id for t in await api.get_user_trades("1", "binance", last=1)] == ["50004"]
    marker = await api.get_user_trade_status("binance:1")
    assert marker is not None and marker.key == "binance:1"
    assert_utc(marker.timestamp)
    assert {s.key for s in await api.get_user_trade_statuses()} == {"binance:1", "kraken:2"}


async def test_bots(api: FullonCacheApi) -> None:
    bots = {b.bot_id: b for b in await api.get_bots()}
    assert set(bots) == {"1", "2", "3", "5"}
    assert all(isinstance(b, Bot) for b in bots.values())
    bot = await api.get_bot(1)
    assert bot is not None and bot.data["0"]["symbol"] == "BTC/USDT"
    assert_utc(bot.updated_at)
    flat = await api.get_bot("2")
    assert flat is not None and (flat.status, flat.updated_at) == ("paused", None)
    assert await api.get_bot(42) is None

    blocks = await api.get_blocks()
    assert {(b.ex_id, b.symbol, b.bot_id) for b in blocks} == {
        ("1", "BTC/USDT", "1"),
        ("2", "BTC/USD", "3"),
        ("hyperliquid", "BTC/USDC:USDC", "5"),
    }
    assert all(isinstance(b, ExchangeBlock) for b in blocks)
    assert await api.is_blocked(1, "BTC/USDT") == "1"
    assert await api.is_blocked("2", "BTC/USD") == "3"
    assert await api.is_blocked(1, "DOGE/USDT") is None

    opening = {(o.ex_id, o.symbol): o for o in await api.get_opening_positions()}
    assert set(opening) == {("1", "BTC/USDT"), ("3", "ETH/USDC:USDC")}
    first = opening[("1", "BTC/USDT")]
    assert isinstance(first, OpeningPosition) and first.bot_id == "1"
    assert_utc(first.since)
    assert await api.is_opening_position(1, "BTC/USDT") is True
    assert await api.is_opening_position(1, "ETH/USDT") is False


async def test_ohlcv(api: FullonCacheApi) -> None:
    bars = await api.get_latest_ohlcv_bars("BTC/USDT", "1m", 5)
    assert len(bars) == 5 and all(isinstance(b, OhlcvBar) for b in bars)
    for bar in bars:
        assert_utc(bar.timestamp)
        assert bar.low is not None and bar.high is not None and bar.low <= bar.high
    steps = {(b.timestamp - a.timestamp).total_seconds() for a, b in itertools.pairwise(bars)}
    assert steps == {60.0}
    assert bars[-1].timestamp <= now()
    assert len(await api.get_latest_ohlcv_bars("BTCUSD", "1h")) == 48  # count=100 by default
    assert await api.get_latest_ohlcv_bars("BTCUSDT", "1m", 5) == []  # stored as "BTC/USDT"
    series = {(s.symbol, s.timeframe): s.bars for s in await api.get_ohlcv_series()}
    assert series == {("BTC/USDT", "1m"): 300, ("BTCUSD", "1h"): 48}


async def test_processes_and_health(api: FullonCacheApi) -> None:
    ticks = await api.get_active_processes(type="tick", since_minutes=60)
    assert {p.component for p in ticks} == {
        "binance:BTC/USDT",
        "kraken:BTC/USD",
        "bybit:BTC/USDT",
        "hyperliquid:BTC/USDC:USDC",
        "ticker_daemon",
    }
    assert all(isinstance(p, Process) and p.process_type == "tick" for p in ticks)
    recent = await api.get_active_processes(type="tick")  # the last 5 minutes
    assert "bybit:BTC/USDT" not in {p.component for p in recent}
    only = await api.get_active_processes(component="bot_1", since_minutes=60)
    assert [p.component for p in only] == ["bot_1"]

    stale = next(p for p in ticks if p.component == "bybit:BTC/USDT")
    assert stale.heartbeat_stale is True
    one = await api.get_process(stale.process_id)
    assert one is not None and one.process_id == stale.process_id
    assert one.params == {"exchange": "bybit", "symbol": "BTC/USDT", "type": "live_ticker"}
    for value in (one.created_at, one.updated_at, one.heartbeat, one.last_active):
        assert_utc(value)
    assert await api.get_process("tick:nope:1") is None

    status = await api.get_component_status("bot_1")
    assert isinstance(status, ComponentStatus) and status.process is not None
    assert (status.process.status, status.process.message) == ("running", "Bot btc trend running")
    assert status.process_id == status.process.process_id

    health = await api.get_system_health()
    assert isinstance(health, SystemHealth)
    assert health.healthy is False
    assert health.total_processes == 13
    assert health.counts_by_type()["tick"] == 5
    assert health.counts_by_status() == {"running": 10, "error": 1, "idle": 1, "processing": 1}
    assert [p.component for p in health.stale_processes] == ["bybit:BTC/USDT"]
    assert [p.component for p in health.error_processes] == ["hyperliquid:BTC/USDC:USDC"]
    assert_utc(health.checked_at, recent=timedelta(minutes=1))

    cache = await api.get_cache_health()
    assert isinstance(cache, CacheHealth)
    assert cache.reachable is True and cache.error is None
    assert cache.redis_version and cache.latency_ms is not None


async def test_execute_and_subscribe_custom_documents(api: FullonCacheApi) -> None:
    data = await api.execute(
        "query($e: String!) { tickers(exchange: $e) { symbol } }", {"e": "kraken"}
    )
    assert data == {"tickers": [{"symbol": "BTC/USD"}, {"symbol": "ETH/EUR"}]}
    async with api.subscribe(
        'subscription { ticker(exchange: "kraken", symbol: "ETH/EUR") { price } }'
    ) as stream:
        assert await next_item(stream) == {"ticker": {"price": 2288.74}}


async def test_many_queries_and_streams_share_one_socket(
    api: FullonCacheApi, api_server: RunningServer
) -> None:
    streams = [api.stream_ticker("binance", s) for s in ("BTC/USDT", "ETH/USDT", "SOL/USDT")]
    firsts = await asyncio.gather(*(next_item(s) for s in streams))
    results = await asyncio.gather(*(api.get_ticker("binance", "XRP/USDT") for _ in range(20)))
    assert [t.symbol for t in firsts] == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    assert {r.price for r in results if r} == {2.1934}
    assert len(api_server.services.connections) == 1
    for stream in streams:
        await stream.aclose()


# --------------------------------------------------------------------------- streams


async def test_stream_ticker(api: FullonCacheApi, writer: CacheWriter) -> None:
    async with api.stream_ticker("binance", "BTC/USDT") as stream:
        first = await next_item(stream)
        assert isinstance(first, Ticker) and first.price == 105234.56
        await writer.set_ticker(tick("BTC/USDT", 106000.0))
        update = await next_item(stream)
        assert isinstance(update, Ticker) and (update.price, update.bid) == (106000.0, 105999.5)
        assert_utc(update.time, recent=timedelta(minutes=1))
    async with api.stream_ticker("binance", "NEW/USDT") as missing:
        assert await next_item(missing) is None
        await writer.set_ticker(tick("NEW/USDT", 1.5))
        written = await next_item(missing)
        assert written is not None and written.price == 1.5


async def test_stream_tickers(api: FullonCacheApi, writer: CacheWriter) -> None:
    wanted = ["BTC/USDT", "ETH/USDT"]
    async with api.stream_tickers("binance", symbols=wanted, changes=True) as stream:
        snapshot = await next_item(stream)
        assert isinstance(snapshot, ChangeEvent) and snapshot.kind is ChangeKind.SNAPSHOT
        assert {t.symbol for t in snapshot.items} == {"BTC/USDT", "ETH/USDT"}
        await writer.set_ticker(tick("SOL/USDT", 160.0))  # filtered out
        await writer.set_ticker(tick("ETH/USDT", 2700.0))
        event = await next_item(stream)
        assert event.kind is ChangeKind.UPSERT
        assert [(t.symbol, t.price) for t in event.items] == [("ETH/USDT", 2700.0)]
    async with api.stream_tickers(changes=True) as every:
        assert len((await next_item(every)).items) == 11


async def test_stream_account_and_positions(api: FullonCacheApi, writer: CacheWriter) -> None:
    account = api.stream_account(1)
    positions = api.stream_positions("1", changes=True)
    async with account, positions:
        first = await next_item(account)
        assert isinstance(first, Account) and first.balance("ETH") is not None
        snapshot = await next_item(positions)
        assert snapshot.kind is ChangeKind.SNAPSHOT
        assert {p.symbol for p in snapshot.items} == {"BTC/USDT", "ETH/USDT"}

        await writer.upsert_user_account(1, {"USDT": {"free": 1.0, "used": 0.0, "total": 1.0}})
        changed = await next_matching(account, lambda a: a is not None and len(a.balances) == 1)
        assert changed.balance("USDT").total == 1.0

        await writer.upsert_positions(
            1,
            {
                "BTC/USDT": {"cost": 1.0, "volume": 0.9, "fee": 0.0, "count": 4.0, "price": 2.0},
                "ETH/USDT": {"cost": 10405.52, "volume": 4.0, "fee": 10.4, "count": 2.0,
                             "price": 2601.38},
            },
        )  # fmt: skip
        event = await next_matching(positions, lambda e: e.kind is ChangeKind.UPSERT)
        btc = next(p for p in event.items if p.symbol == "BTC/USDT")
        assert isinstance(btc, Position) and btc.volume == 0.9


async def test_stream_orders_and_order_queue(api: FullonCacheApi, writer: CacheWriter) -> None:
    orders = api.stream_orders("binance", changes=True)
    queue = api.stream_order_queue(3001)
    async with orders, queue:
        snapshot = await next_item(orders)
        assert snapshot.kind is ChangeKind.SNAPSHOT and len(snapshot.items) == 4
        assert await next_item(queue) == ["77738308", "77738309"]

        await writer.save_order(
            "binance",
            {"order_id": "900", "ex_order_id": "900", "symbol": "BTC/USDT", "side": "sell",
             "volume": 1.0, "status": "open", "exchange": "binance"},
        )  # fmt: skip
        event = await next_matching(orders, lambda e: e.kind is ChangeKind.UPSERT)
        assert [(o.order_id, o.status, o.side) for o in event.items] == [("900", "open", "sell")]

        await writer.push_open_order("77738310", "3001")
        assert await next_item(queue) == ["77738308", "77738309", "77738310"]


async def test_stream_trades_and_user_trades(api: FullonCacheApi, writer: CacheWriter) -> None:
    trades = api.stream_trades("BTC/USDT", "binance", changes=True)
    user = api.stream_user_trades(2, "kraken", changes=True)
    async with trades, user:
        snapshot = await next_item(trades)
        assert [t.trade_id for t in snapshot.items] == ["50001", "50002"]
        assert [t.trade_id for t in (await next_item(user)).items] == ["60001"]

        pushed = {"trade_id": 50003, "symbol": "BTC/USDT", "side": "sell", "volume": 0.5}
        await writer.push_trade("binance", pushed)
        event = await next_matching(trades, lambda e: e.kind is ChangeKind.UPSERT)
        assert [(t.trade_id, t.side) for t in event.items] == [("50003", "sell")]

        await writer.push_user_trade(2, "kraken", {"trade_id": 60002, "symbol": "ETH/EUR"})
        event = await next_matching(user, lambda e: e.kind is ChangeKind.UPSERT)
        assert [(t.trade_id, t.symbol) for t in event.items] == [("60002", "ETH/EUR")]


async def test_stream_bots_blocks_opening_positions(
    api: FullonCacheApi, writer: CacheWriter
) -> None:
    bots = api.stream_bot_status(changes=True)
    blocks = api.stream_blocks(changes=True)
    opening = api.stream_opening_positions(changes=True)
    async with bots, blocks, opening:
        assert {b.bot_id for b in (await next_item(bots)).items} == {"1", "2", "3", "5"}
        assert len((await next_item(blocks)).items) == 3
        assert len((await next_item(opening)).items) == 2

        await writer.update_bot(7, {"status": "running", "name": "seven"})
        event = await next_matching(bots, lambda e: e.kind is ChangeKind.UPSERT)
        assert [(b.bot_id, b.status) for b in event.items] == [("7", "running")]

        await writer.unblock_exchange(1, "BTC/USDT")
        event = await next_item(blocks)
        assert event.kind is ChangeKind.REMOVE
        assert [(b.ex_id, b.symbol) for b in event.items] == [("1", "BTC/USDT")]

        await writer.mark_opening_position(2, "ETH/EUR", 3)
        event = await next_item(opening)
        assert event.kind is ChangeKind.UPSERT
        assert [(o.ex_id, o.symbol, o.bot_id) for o in event.items] == [("2", "ETH/EUR", "3")]


async def test_stream_ohlcv(api: FullonCacheApi, writer: CacheWriter) -> None:
    async with api.stream_ohlcv("BTC/USDT", "1m", count=3, changes=True) as stream:
        snapshot = await next_item(stream)
        assert snapshot.kind is ChangeKind.SNAPSHOT and len(snapshot.items) == 3
        last = snapshot.items[-1].timestamp
        new_ms = int((last + timedelta(minutes=1)).timestamp() * 1000)
        await writer.update_ohlcv_bars("BTC/USDT", "1m", [[new_ms, 1.0, 2.0, 0.5, 1.5, 9.0]])
        event = await next_matching(stream, lambda e: e.kind is ChangeKind.UPSERT)
        added = event.items[-1]
        assert added.timestamp == last + timedelta(minutes=1)
        assert (added.open, added.high, added.low, added.close, added.volume) == (
            1.0,
            2.0,
            0.5,
            1.5,
            9.0,
        )


async def test_stream_processes_and_system_health(api: FullonCacheApi, writer: CacheWriter) -> None:
    processes = api.stream_process_health(type="crawler", changes=True)
    health = api.stream_system_health()
    async with processes, health:
        snapshot = await next_item(processes)
        assert [p.component for p in snapshot.items] == ["crawler:x.com"]
        first = await next_item(health)
        assert isinstance(first, SystemHealth) and first.total_processes == 13

        await writer.register_process("crawler", "crawler:y.com", {"sites": ["y.com"]})
        event = await next_matching(processes, lambda e: e.kind is ChangeKind.UPSERT)
        assert [p.component for p in event.items] == ["crawler:y.com"]
        changed = await next_matching(health, lambda h: h.total_processes == 14)
        assert changed.counts_by_type()["crawler"] == 2


async def test_stream_process_broadcasts(api: FullonCacheApi, writer: CacheWriter) -> None:
    async with api.stream_process_broadcasts("tick") as stream:
        # Broadcasts have no snapshot and no replay: publish until the server listens.
        waiting = asyncio.create_task(next_item(stream, timeout=EVENT_TIMEOUT))
        try:
            while not waiting.done():
                await writer.broadcast_message("tick", "reload", {"exchange": "binance"})
                await asyncio.sleep(0.1)
            message = waiting.result()
        finally:
            waiting.cancel()
        assert isinstance(message, ProcessBroadcast)
        assert (message.process_type, message.message, message.data) == (
            "tick",
            "reload",
            {"exchange": "binance"},
        )
        assert_utc(message.timestamp, recent=timedelta(minutes=1))


async def test_abandoned_stream_is_stopped(api: FullonCacheApi) -> None:
    stream = api.stream_tickers("kraken")
    await next_item(stream)
    assert len(api._streams) == 1
    del stream  # no aclose(): the garbage collector stops it
    gc.collect()
    await wait_until(lambda: not api._streams, message="the stream to stop")


# --------------------------------------------------------------------------- buffering


class _NoConnection:
    """StreamCore's buffer is tested without a connection: the pump is not started."""


def _core(buffer_size: int, conflate: bool) -> StreamCore:
    from gql import GraphQLRequest

    request = GraphQLRequest("subscription { bots { kind } }")
    return StreamCore(
        _NoConnection(),  # type: ignore[arg-type]
        request,
        None,
        buffer_size=buffer_size,
        conflate=conflate,
    )


async def test_conflation_keeps_only_the_newest_unread_event() -> None:
    core = _core(buffer_size=10, conflate=True)
    for n in range(5):
        core._push({"n": n})
    assert await core.get() == {"n": 4}
    assert core.conflated == 4
    core._push({"n": 5})
    assert await core.get() == {"n": 5}


async def test_full_buffer_ends_the_stream_with_slow_consumer(
    api: FullonCacheApi, writer: CacheWriter
) -> None:
    stream = api._open(
        docs.STREAM_TICKERS,
        {"exchange": "binance"},
        "tickers",
        lambda data, _info: [data["tickers"]],
        buffer_size=2,
        conflate=False,
    )
    async with stream:
        assert (await next_item(stream))["kind"] == "SNAPSHOT"
        for n, symbol in enumerate(["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]):
            await writer.set_ticker(tick(symbol, 100.0 + n))
        await wait_until(lambda: stream.closed, message="the overflow")
        # What was buffered is still delivered, then the error.
        assert (await next_item(stream))["kind"] == "UPSERT"
        assert (await next_item(stream))["kind"] == "UPSERT"
        with pytest.raises(SlowConsumerError):
            await next_item(stream)


async def test_conflating_client_reads_the_latest_value(
    api_server: RunningServer, writer: CacheWriter
) -> None:
    async with (
        fullon_cache_api(api_server.ws_url, conflate=True) as client,
        client.stream_ticker("binance", "ETH/USDT") as stream,
    ):
        assert (await next_item(stream)).price == 2601.38
        for price in (1.0, 2.0, 3.0):
            await writer.set_ticker(tick("ETH/USDT", price))
        await next_matching(stream, lambda t: t.price == 3.0)


# --------------------------------------------------------------------------- server errors


async def test_invalid_argument(api: FullonCacheApi) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await api.get_latest_ohlcv_bars("BTC/USDT", "1m", 0)
    assert caught.value.code == "INVALID_ARGUMENT"
    assert caught.value.path == ["ohlcv"]
    assert "count" in caught.value.message
    with pytest.raises(InvalidArgumentError):
        await next_item(api.stream_ohlcv("BTC/USDT", "1m", count=0))
    assert (await api.ping())["status"] == "ok"  # the connection is fine


async def test_graphql_request_errors(api: FullonCacheApi) -> None:
    with pytest.raises(GraphQLRequestError) as caught:
        await api.execute("{ nope }")
    assert caught.value.code == "GRAPHQL_VALIDATION_FAILED"
    with pytest.raises(GraphQLRequestError) as caught:
        await api.execute("{ ticker(exchange: 1) { price } ")
    assert caught.value.code == "GRAPHQL_PARSE_FAILED"
    with pytest.raises(GraphQLRequestError) as caught:
        await api.execute("query($e: String!) { tickers(exchange: $e) { symbol } }", {"e": 5})
    assert caught.value.code == "GRAPHQL_VALIDATION_FAILED"


async def test_query_too_complex(api: FullonCacheApi) -> None:
    aliases = " ".join(f"a{n}: exchanges" for n in range(40))
    with pytest.raises(QueryTooComplexError) as caught:
        await api.execute(f"{{ {aliases} }}")
    assert caught.value.code == "QUERY_TOO_COMPLEX"


async def test_corrupt_data(
    api: FullonCacheApi, writer: CacheWriter, caplog: pytest.LogCaptureFixture
) -> None:
    await writer.write_raw_hash_field("tickers:binance", "BAD/USDT", "{not json")
    with caplog.at_level(logging.WARNING, logger="fullon_cache_api.client"):
        tickers = await api.get_all_tickers("binance")
    assert {t.symbol for t in tickers} == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"}
    assert "CORRUPT_DATA" in caplog.text
    with pytest.raises(CorruptDataError) as caught:
        await api.get_ticker("binance", "BAD/USDT")
    assert caught.value.path == ["ticker"]


async def test_rate_limited(redis_url: str, writer: CacheWriter) -> None:
    async with (
        running_server(make_settings(redis_url, ws_max_operations=1)) as server,
        fullon_cache_api(server.ws_url) as client,
    ):
        async with client.stream_bot_status() as stream:
            await next_item(stream)
            with pytest.raises(RateLimitedError):
                await client.get_bots()
        await wait_until(lambda: not client._streams, message="the stream to end")
        assert len(await client.get_bots()) == 4


async def test_cache_unavailable() -> None:
    with EmbeddedRedis() as private:
        settings = make_settings(private.url, redis_socket_timeout=1.0)
        async with running_server(settings) as server, fullon_cache_api(server.ws_url) as client:
            assert await client.get_ticker("binance", "BTC/USDT") is None
            private.stop()
            with pytest.raises(CacheUnavailableError) as caught:
                await client.get_ticker("binance", "BTC/USDT")
            assert caught.value.code == "CACHE_UNAVAILABLE"
            health = await client.get_cache_health()  # never fails
            assert health.reachable is False and health.error


# --------------------------------------------------------------------------- fake servers

Handler = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def fake_server(handler: Handler) -> AsyncIterator[str]:
    """A scripted graphql-transport-ws server; yields its URL."""
    async with serve(
        handler, "127.0.0.1", 0, subprotocols=[Subprotocol("graphql-transport-ws")]
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/graphql"


async def recv(ws: ServerConnection) -> JSONDict:
    message: JSONDict = json.loads(await ws.recv())
    return message


async def answer_typename(ws: ServerConnection, message: JSONDict) -> None:
    assert message["type"] == "subscribe"
    await ws.send(json.dumps({"id": message["id"], "type": "next",
                              "payload": {"data": {"__typename": "Query"}}}))  # fmt: skip
    await ws.send(json.dumps({"id": message["id"], "type": "complete"}))


async def test_token_in_connection_init_and_pings_answered() -> None:
    seen: JSONDict = {}

    async def handler(ws: ServerConnection) -> None:
        seen["subprotocol"] = ws.subprotocol
        seen["init"] = await recv(ws)
        await ws.send('{"type":"connection_ack"}')
        await ws.send('{"type":"ping"}')
        seen["pong"] = await recv(ws)
        await answer_typename(ws, await recv(ws))
        await ws.wait_closed()

    async with (
        fake_server(handler) as url,
        fullon_cache_api(url, token="s3cret", ping_interval=None) as client,
    ):
        assert await client.execute("{ __typename }") == {"__typename": "Query"}
    assert seen["subprotocol"] == "graphql-transport-ws"
    assert seen["init"] == {
        "type": "connection_init",
        "payload": {"authorization": "Bearer s3cret"},
    }
    assert seen["pong"]["type"] == "pong"


@pytest.mark.parametrize(("close_code", "code"), [(4401, "UNAUTHENTICATED"), (4403, "FORBIDDEN")])
async def test_refused_at_init_is_an_authentication_error(close_code: int, code: str) -> None:
    async def handler(ws: ServerConnection) -> None:
        await recv(ws)
        await ws.close(close_code, "Unauthorized")

    async with fake_server(handler) as url:
        with pytest.raises(AuthenticationError) as caught:
            await fullon_cache_api(url, token="wrong").connect()
    assert caught.value.code == code
    assert str(close_code) in caught.value.message


async def test_first_request_connects_and_closed_client_refuses(
    api_server: RunningServer, writer: CacheWriter
) -> None:
    client = fullon_cache_api(api_server.ws_url)
    assert not client.connected
    results = await asyncio.gather(*(client.get_exchanges() for _ in range(5)))  # no connect()
    assert all(sorted(r) == ["binance", "bybit", "hyperliquid", "kraken"] for r in results)
    assert client.connected
    stream = client.stream_bot_status()
    assert (await next_item(stream)).change is ChangeKind.SNAPSHOT
    await client.close()
    assert not client.connected
    with pytest.raises(StopAsyncIteration):  # closing the client ends its streams
        await next_item(stream)
    with pytest.raises(ConnectionLostError):
        await client.get_exchanges()


async def test_unreachable_server() -> None:
    client = fullon_cache_api(f"ws://127.0.0.1:{free_port()}/graphql", connect_timeout=2)
    with pytest.raises(FullonCacheApiError) as caught:
        await client.connect()
    assert caught.value.code == "CONNECTION_FAILED"
    assert not isinstance(caught.value, ConnectionLostError)


async def test_query_in_flight_is_retried_once_after_a_drop() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await recv(ws)
        await ws.send('{"type":"connection_ack"}')
        message = await recv(ws)
        if connections == 1:
            await ws.close(1011, "server restarting")  # drop with the query unanswered
            return
        await answer_typename(ws, message)
        await ws.wait_closed()

    async with (
        fake_server(handler) as url,
        fullon_cache_api(url, backoff=FAST, ping_interval=None) as client,
    ):
        assert await client.execute("{ __typename }") == {"__typename": "Query"}
        assert client.reconnects == 1
    assert connections == 2


async def test_query_dropped_twice_raises_connection_lost() -> None:
    async def handler(ws: ServerConnection) -> None:
        await recv(ws)
        await ws.send('{"type":"connection_ack"}')
        await recv(ws)
        await ws.close(1011, "always failing")

    async with (
        fake_server(handler) as url,
        fullon_cache_api(url, backoff=FAST, ping_interval=None) as client,
    ):
        with pytest.raises(ConnectionLostError):
            await client.execute("{ __typename }")


async def test_complete_then_close_resumes_but_complete_alone_ends() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        number = connections
        await recv(ws)
        await ws.send('{"type":"connection_ack"}')
        message = await recv(ws)
        payload = {"data": {"n": number}}
        await ws.send(json.dumps({"id": message["id"], "type": "next", "payload": payload}))
        await ws.send(json.dumps({"id": message["id"], "type": "complete"}))
        if number == 1:
            await ws.close(1001, "server shutting down")  # a graceful shutdown
            return
        await ws.wait_closed()  # a real end of the stream: the socket stays open

    async with (
        fake_server(handler) as url,
        fullon_cache_api(url, backoff=FAST, ping_interval=None) as client,
    ):
        stream = client.subscribe("subscription { n }")
        assert await next_item(stream) == {"n": 1}
        assert await next_item(stream) == {"n": 2}  # resumed on a new connection
        assert stream.reconnects == 1
        with pytest.raises(StopAsyncIteration):
            await next_item(stream)


async def test_reconnect_gives_up_after_the_attempts(redis_url: str, writer: CacheWriter) -> None:
    async with running_server(make_settings(redis_url)) as server:
        client = fullon_cache_api(server.ws_url, reconnect_attempts=2, backoff=FAST)
        await client.connect()
        stream = client.stream_blocks(changes=True)
        assert (await next_item(stream)).kind is ChangeKind.SNAPSHOT
    # The server is gone for good: two reconnects fail, then the stream raises.
    try:
        with pytest.raises(ConnectionLostError) as caught:
            await next_item(stream)
        assert "2 reconnect attempts" in caught.value.message
        with pytest.raises(ConnectionLostError):
            await client.get_bots()
    finally:
        await client.close()


# --------------------------------------------------------------------------- resume


def _start_server_process(port: int, redis_url: str, cwd: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "GC_FREEZE": "false",
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.Popen(
        [PYTHON, "-m", "uvicorn", "--factory", "fullon_cache_api.server.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=cwd,  # no stray .env
    )  # fmt: skip


async def _wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as http:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the server process exited"
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise AssertionError("the server process did not become ready")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_streams_resume_after_a_server_restart(
    redis_url: str, writer: CacheWriter, tmp_path: Path
) -> None:
    port = free_port()
    proc = _start_server_process(port, redis_url, tmp_path)
    try:
        await _wait_ready(port, proc)
        async with fullon_cache_api(
            f"ws://127.0.0.1:{port}/graphql", reconnect_attempts=None, backoff=FAST
        ) as client:
            tickers = client.stream_tickers("binance", changes=True)
            account = client.stream_account(1)
            assert (await next_item(tickers)).kind is ChangeKind.SNAPSHOT
            assert (await next_item(account)) is not None

            # Restart the server process; the caller does nothing.
            await asyncio.to_thread(_stop, proc)
            await writer.set_ticker(tick("BTC/USDT", 99000.0))  # changed while it was down
            proc = _start_server_process(port, redis_url, tmp_path)
            await _wait_ready(port, proc)

            resumed = await next_item(tickers, timeout=30)
            assert resumed.kind is ChangeKind.SNAPSHOT  # a fresh snapshot first
            prices = {t.symbol: t.price for t in resumed.items}
            assert prices["BTC/USDT"] == 99000.0
            assert (await next_item(account, timeout=30)).ex_id == "1"
            assert tickers.reconnects == 1 and account.reconnects == 1
            assert client.reconnects == 1

            # And the streams are live again.
            await writer.set_ticker(tick("ETH/USDT", 2999.0))
            event = await next_matching(tickers, lambda e: e.kind is ChangeKind.UPSERT)
            assert [(t.symbol, t.price) for t in event.items] == [("ETH/USDT", 2999.0)]
            assert (await client.get_ticker("binance", "ETH/USDT")).price == 2999.0  # type: ignore[union-attr]
    finally:
        await asyncio.to_thread(_stop, proc)


# --------------------------------------------------------------------------- CLI


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fullon-cache-api")
    add_client_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


async def _run_cli(argv: list[str]) -> int:
    args = _cli(argv)
    code: int = await asyncio.to_thread(args.handler, args)
    return code


async def test_cli_query(
    api_server: RunningServer, writer: CacheWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    document = "query($e: String!) { tickers(exchange: $e) { symbol price } }"
    argv = ["query", document, "--variables", '{"e": "kraken"}', "--url", api_server.ws_url]
    assert await _run_cli(argv) == 0
    assert json.loads(capsys.readouterr().out) == {
        "tickers": [
            {"symbol": "BTC/USD", "price": 105180.1},
            {"symbol": "ETH/EUR", "price": 2288.74},
        ]
    }

    subscription = 'subscription { ticker(exchange: "kraken", symbol: "BTC/USD") { price } }'
    assert await _run_cli(["query", subscription, "--count", "1", "--url", api_server.ws_url]) == 0
    assert json.loads(capsys.readouterr().out) == {"ticker": {"price": 105180.1}}

    assert await _run_cli(["query", "{ nope }", "--url", api_server.ws_url]) == 1
    assert "GRAPHQL_VALIDATION_FAILED" in capsys.readouterr().err
    assert await _run_cli(["query", "{ exchanges }", "--variables", "[1]"]) == 2


async def test_cli_watch_tickers(
    api_server: RunningServer, writer: CacheWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["watch", "tickers", "--exchange", "kraken", "--count", "1", "--url", api_server.ws_url]
    assert await _run_cli(argv) == 0
    out = capsys.readouterr().out
    assert "BTC/USD" in out and "ETH/EUR" in out and "105,180.10" in out


def test_ticker_board_colours_price_changes() -> None:
    board = TickerBoard()
    board.apply("SNAPSHOT", [Ticker("binance", "BTC/USDT", price=10.0)])
    board.apply("UPSERT", [Ticker("binance", "BTC/USDT", price=11.0)])
    assert board.direction[("binance", "BTC/USDT")] == 1
    board.apply("UPSERT", [Ticker("binance", "BTC/USDT", price=9.0)])
    assert board.direction[("binance", "BTC/USDT")] == -1
    table = board.table("t")
    price_cell = table.columns[2]._cells[0]
    assert isinstance(price_cell, Text)
    assert price_cell.style == "bold red" and "▼" in price_cell.plain
    board.apply("REMOVE", [Ticker("binance", "BTC/USDT")])
    assert not board.tickers and board.events == 4


# --------------------------------------------------------------------------- gql-cli


async def test_gql_cli_against_the_server(api_server: RunningServer, writer: CacheWriter) -> None:
    gql_cli = Path(PYTHON).with_name("gql-cli")
    assert gql_cli.exists(), "gql-cli is installed with gql"
    for url, transport in ((api_server.ws_url, "websockets"), (api_server.http_url, "httpx")):
        proc = await asyncio.create_subprocess_exec(
            str(gql_cli), url, "--transport", transport, "-V", "e:kraken",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        query = b"query($e: String!) { tickers(exchange: $e) { symbol } }"
        out, err = await asyncio.wait_for(proc.communicate(query), 60)
        assert proc.returncode == 0, err.decode()
        assert json.loads(out) == {"tickers": [{"symbol": "BTC/USD"}, {"symbol": "ETH/EUR"}]}


def test_models_are_exported() -> None:
    for name in models.__all__:
        assert getattr(models, name) is not None
