"""Every ``Query`` field, end to end: data written by the simulator's ``CacheWriter`` (with an
injected clock), read through the real app in uvicorn, over HTTP POST *and* over raw
graphql-transport-ws frames (the ``gql`` fixture is parametrized by transport).

Checked for each field: values, GraphQL types (``DateTime`` = ISO-8601 UTC strings, ids =
strings), the documented orderings, and the cache-miss answer (``null`` for a single object,
``[]`` for a list).

``test_readonly_acl.py`` re-runs every test of this module against a read-only Redis user, by
overriding the ``api_server`` fixture; keep the tests independent of the server's settings.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio

from fullon_cache_api import __version__
from fullon_cache_api.simulator import CacheWriter
from support import RunningServer, raw_ws
from support.ws import LEGACY_WS, RawWebSocket

JSONDict = dict[str, Any]

#: The writer's default clock: every time the cache itself stamps.
T0 = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
T0_S = T0.timestamp()  # 1748865600.0


# --------------------------------------------------------------------------- helpers


class Clock:
    """A settable clock to inject into ``CacheWriter``."""

    def __init__(self, when: datetime = T0) -> None:
        self.current = when

    def set(self, when: datetime) -> None:
        self.current = when

    def __call__(self) -> datetime:
        return self.current


def iso(when: datetime) -> str:
    """How the API renders a ``DateTime``."""
    return when.astimezone(UTC).isoformat()


def at(seconds: float) -> str:
    """``iso`` of an epoch time in seconds."""
    return iso(datetime.fromtimestamp(seconds, UTC))


def assert_utc_iso(value: Any) -> datetime:
    """``value`` is an ISO-8601 string with a zero UTC offset; returns it parsed."""
    assert isinstance(value, str), value
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), value
    assert value.endswith("+00:00") or value.endswith("Z"), value
    return parsed


def wall_now() -> datetime:
    """The wall clock, to the second: process windows are measured against the server's
    real clock."""
    return datetime.now(UTC).replace(microsecond=0)


class QueryRunner:
    """Runs one GraphQL operation and returns the whole response (``data``/``errors``)."""

    transport = "?"

    async def __call__(self, query: str, variables: JSONDict | None = None) -> JSONDict:
        raise NotImplementedError

    async def data(self, query: str, variables: JSONDict | None = None) -> JSONDict:
        """The ``data`` of a response that must have no errors."""
        response = await self(query, variables)
        assert "errors" not in response, response
        data: JSONDict = response["data"]
        return data


class HttpRunner(QueryRunner):
    transport = "http"

    def __init__(self, server: RunningServer) -> None:
        self.server = server

    async def __call__(self, query: str, variables: JSONDict | None = None) -> JSONDict:
        return await self.server.graphql(query, variables)


class WsRunner(QueryRunner):
    """graphql-transport-ws (or legacy graphql-ws) over one acknowledged connection."""

    transport = "ws"

    def __init__(self, ws: RawWebSocket) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def __call__(self, query: str, variables: JSONDict | None = None) -> JSONDict:
        return await self.ws.query(query, variables, id=f"q{next(self.ids)}")


@pytest.fixture(params=["http", "ws"])
async def gql(request: pytest.FixtureRequest, api_server: RunningServer) -> AsyncIterator[Any]:
    """Run queries over HTTP POST or over raw graphql-transport-ws frames."""
    if request.param == "http":
        yield HttpRunner(api_server)
        return
    async with raw_ws(api_server.ws_url) as ws:
        await ws.init()
        yield WsRunner(ws)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def writer(redis_client: redis.asyncio.Redis, clock: Clock) -> CacheWriter:
    return CacheWriter(redis_client, now=clock)


# --------------------------------------------------------------------------- data

BTC_BINANCE = {
    "symbol": "BTC/USDT", "exchange": "binance", "price": 105234.56, "volume": 18342.712,
    "time": T0_S + 0.125, "bid": 105234.55, "ask": 105234.57, "last": 105234.56,
}  # fmt: skip
ETH_BINANCE = {
    "symbol": "ETH/USDT", "exchange": "binance", "price": 2601.38, "volume": 412093.5521,
    "time": T0_S + 0.25, "bid": None, "ask": None, "last": 2601.38,
}  # fmt: skip
BTC_KRAKEN = {
    "symbol": "BTC/USDT", "exchange": "kraken", "price": 105241.0, "volume": 88.5,
    "time": T0_S + 1.5, "bid": 105240.9, "ask": 105241.1, "last": 105241.0,
}  # fmt: skip
BTCUSD_KRAKEN = {
    "symbol": "BTC/USD", "exchange": "kraken", "price": 105180.1, "volume": 1423.09,
    "time": T0_S + 1.0, "bid": 105180.0, "ask": 105180.2, "last": 105180.1,
}  # fmt: skip
BTC_HYPER = {
    "symbol": "BTC/USDC:USDC", "exchange": "hyperliquid", "price": 105221.0, "volume": 31892.44,
    "time": T0_S + 3.0, "bid": 105220.0, "ask": 105222.0, "last": 105221.0,
}  # fmt: skip

TICKER_FIELDS = "exchange symbol price volume time bid ask last spread spreadPercentage"


def expected_ticker(tick: JSONDict) -> JSONDict:
    bid, ask = tick["bid"], tick["ask"]
    spread = ask - bid if bid is not None and ask is not None else None
    return {
        "exchange": tick["exchange"],
        "symbol": tick["symbol"],
        "price": tick["price"],
        "volume": tick["volume"],
        "time": at(tick["time"]),
        "bid": bid,
        "ask": ask,
        "last": tick["last"],
        "spread": pytest.approx(spread) if spread is not None else None,
        "spreadPercentage": (
            pytest.approx(spread / ((ask + bid) / 2) * 100) if spread is not None else None
        ),
    }


async def seed_tickers(writer: CacheWriter) -> None:
    # Written out of order: the API sorts.
    for tick in (ETH_BINANCE, BTC_KRAKEN, BTC_HYPER, BTC_BINANCE, BTCUSD_KRAKEN):
        await writer.set_ticker(tick)


# --------------------------------------------------------------------------- market


async def test_ticker(gql: QueryRunner, writer: CacheWriter) -> None:
    await seed_tickers(writer)
    query = f"""query($ex: String!, $sym: String!) {{
        ticker(exchange: $ex, symbol: $sym) {{ {TICKER_FIELDS} }} }}"""
    data = await gql.data(query, {"ex": "binance", "sym": "BTC/USDT"})
    assert data["ticker"] == expected_ticker(BTC_BINANCE)
    assert data["ticker"]["time"] == "2025-06-02T12:00:00.125000+00:00"
    # bid/ask null: no spread.
    data = await gql.data(query, {"ex": "binance", "sym": "ETH/USDT"})
    assert data["ticker"] == expected_ticker(ETH_BINANCE)
    assert data["ticker"]["spread"] is None
    # A symbol with ':' on an exchange outside fullon_cache's fixed five.
    data = await gql.data(query, {"ex": "hyperliquid", "sym": "BTC/USDC:USDC"})
    assert data["ticker"] == expected_ticker(BTC_HYPER)
    # Misses: unknown symbol, unknown exchange.
    assert (await gql.data(query, {"ex": "binance", "sym": "DOGE/USDT"}))["ticker"] is None
    assert (await gql.data(query, {"ex": "kucoin", "sym": "BTC/USDT"}))["ticker"] is None


async def test_tickers_of_one_exchange(gql: QueryRunner, writer: CacheWriter) -> None:
    await seed_tickers(writer)
    query = f'{{ tickers(exchange: "binance") {{ {TICKER_FIELDS} }} }}'
    data = await gql.data(query)
    assert data["tickers"] == [expected_ticker(BTC_BINANCE), expected_ticker(ETH_BINANCE)]
    data = await gql.data('{ tickers(exchange: "kucoin") { symbol } }')
    assert data["tickers"] == []


async def test_tickers_of_all_exchanges_sorted(gql: QueryRunner, writer: CacheWriter) -> None:
    assert (await gql.data("{ tickers { symbol } }"))["tickers"] == []
    await seed_tickers(writer)
    data = await gql.data(f"{{ tickers {{ {TICKER_FIELDS} }} }}")
    # Sorted by exchange, then symbol.
    assert data["tickers"] == [
        expected_ticker(t) for t in (BTC_BINANCE, ETH_BINANCE, BTC_HYPER, BTCUSD_KRAKEN, BTC_KRAKEN)
    ]


async def test_any_ticker_is_the_freshest(gql: QueryRunner, writer: CacheWriter) -> None:
    await seed_tickers(writer)
    query = "query($s: String!) { anyTicker(symbol: $s) { exchange symbol price time } }"
    data = await gql.data(query, {"s": "BTC/USDT"})
    # kraken's tick (T0 + 1.5 s) is newer than binance's (T0 + 0.125 s).
    assert data["anyTicker"] == {
        "exchange": "kraken",
        "symbol": "BTC/USDT",
        "price": 105241.0,
        "time": at(T0_S + 1.5),
    }
    data = await gql.data(query, {"s": "BTC/USDC:USDC"})
    assert data["anyTicker"]["exchange"] == "hyperliquid"
    assert (await gql.data(query, {"s": "DOGE/USDT"}))["anyTicker"] is None


async def test_exchanges(gql: QueryRunner, writer: CacheWriter) -> None:
    assert (await gql.data("{ exchanges }"))["exchanges"] == []
    await seed_tickers(writer)
    assert (await gql.data("{ exchanges }"))["exchanges"] == ["binance", "hyperliquid", "kraken"]


async def test_ticker_time(gql: QueryRunner, writer: CacheWriter) -> None:
    await seed_tickers(writer)
    query = "query($e: String!, $s: String!) { tickerTime(exchange: $e, symbol: $s) }"
    data = await gql.data(query, {"e": "binance", "s": "BTC/USDT"})
    assert data["tickerTime"] == "2025-06-02T12:00:00.125000+00:00"
    data = await gql.data(query, {"e": "hyperliquid", "s": "BTC/USDC:USDC"})
    assert data["tickerTime"] == at(T0_S + 3.0)
    assert (await gql.data(query, {"e": "binance", "s": "DOGE/USDT"}))["tickerTime"] is None


def bars(start_ms: int, count: int, step_ms: int = 60_000) -> list[list[Any]]:
    return [
        [start_ms + i * step_ms, 100.0 + i, 101.5 + i, 99.25 + i, 100.5 + i, 10 + i]
        for i in range(count)
    ]


async def test_ohlcv_newest_bars_oldest_first(gql: QueryRunner, writer: CacheWriter) -> None:
    start = int(T0_S * 1000)
    series = bars(start, 5)
    await writer.update_ohlcv_bars("BTC/USDT", "1m", series)
    fields = "timestamp open high low close volume"
    data = await gql.data(f'{{ ohlcv(symbol: "BTC/USDT", timeframe: "1m") {{ {fields} }} }}')
    assert data["ohlcv"] == [
        {
            "timestamp": at(bar[0] / 1000),
            "open": bar[1],
            "high": bar[2],
            "low": bar[3],
            "close": bar[4],
            "volume": float(bar[5]),
        }
        for bar in series
    ]
    assert data["ohlcv"][0]["timestamp"] == "2025-06-02T12:00:00+00:00"
    data = await gql.data('{ ohlcv(symbol: "BTC/USDT", timeframe: "1m", count: 2) { timestamp } }')
    assert [bar["timestamp"] for bar in data["ohlcv"]] == [
        at(series[3][0] / 1000),
        at(series[4][0] / 1000),
    ]
    # The symbol is verbatim: BTCUSDT is another (missing) series.
    data = await gql.data('{ ohlcv(symbol: "BTCUSDT", timeframe: "1m") { timestamp } }')
    assert data["ohlcv"] == []
    data = await gql.data('{ ohlcv(symbol: "BTC/USDT", timeframe: "5m") { timestamp } }')
    assert data["ohlcv"] == []


async def test_ohlcv_series(gql: QueryRunner, writer: CacheWriter) -> None:
    assert (await gql.data("{ ohlcvSeries { symbol } }"))["ohlcvSeries"] == []
    await writer.update_ohlcv_bars("BTC/USDT", "1m", bars(int(T0_S * 1000), 5))
    await writer.update_ohlcv_bars("HYPE/USDC:USDC", "15m", bars(int(T0_S * 1000), 3, 900_000))
    await writer.update_ohlcv_bars("BTCUSD", "1h", bars(int(T0_S), 2, 3600))
    data = await gql.data("{ ohlcvSeries { symbol timeframe bars } }")
    assert sorted(data["ohlcvSeries"], key=lambda s: (s["symbol"], s["timeframe"])) == [
        {"symbol": "BTC/USDT", "timeframe": "1m", "bars": 5},
        {"symbol": "BTCUSD", "timeframe": "1h", "bars": 2},
        {"symbol": "HYPE/USDC:USDC", "timeframe": "15m", "bars": 3},
    ]


TRADE_FIELDS = """tradeId exTradeId exOrderId uid exId symbol orderType side volume price cost
    fee curVolume curAvgPrice curAvgCost curFee roi roiPct totalFee leverage time extra"""


def trade(trade_id: int, price: float, time: Any, **extra: Any) -> JSONDict:
    return {
        "trade_id": trade_id, "ex_trade_id": f"X{trade_id}", "ex_order_id": "8389765493",
        "uid": 1, "ex_id": 1, "symbol": "BTC/USDT", "order_type": "limit", "side": "buy",
        "volume": 0.01, "price": price, "cost": round(price * 0.01, 6), "fee": 1.05,
        "cur_volume": None, "cur_avg_price": None, "cur_avg_cost": None, "cur_fee": None,
        "roi": None, "roi_pct": None, "total_fee": None, "leverage": 1, "time": time, **extra,
    }  # fmt: skip


def expected_trade(data: JSONDict, time: str) -> JSONDict:
    known = {
        "tradeId": str(data["trade_id"]), "exTradeId": data["ex_trade_id"],
        "exOrderId": data["ex_order_id"], "uid": str(data["uid"]), "exId": str(data["ex_id"]),
        "symbol": data["symbol"], "orderType": data["order_type"], "side": data["side"],
        "volume": data["volume"], "price": data["price"], "cost": data["cost"],
        "fee": data["fee"], "curVolume": None, "curAvgPrice": None, "curAvgCost": None,
        "curFee": None, "roi": None, "roiPct": None, "totalFee": None, "leverage": 1.0,
        "time": time,
    }  # fmt: skip
    names = {
        "trade_id", "ex_trade_id", "ex_order_id", "uid", "ex_id", "symbol", "order_type",
        "side", "volume", "price", "cost", "fee", "cur_volume", "cur_avg_price",
        "cur_avg_cost", "cur_fee", "roi", "roi_pct", "total_fee", "leverage", "time",
    }  # fmt: skip
    extra = {key: value for key, value in data.items() if key not in names}
    return {**known, "extra": extra or None}


async def test_trades_oldest_first(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    first = trade(50001, 105230.0, T0 - timedelta(seconds=50), fee_currency="USDT")
    second = trade(50002, 105231.5, T0 - timedelta(seconds=35))
    third = trade(50003, 105234.56, T0 - timedelta(seconds=5))
    for item in (first, second, third):
        await writer.push_trade("binance", item)
    query = f"""query($e: String!, $s: String!, $last: Int) {{
        trades(exchange: $e, symbol: $s, last: $last) {{ {TRADE_FIELDS} }} }}"""
    data = await gql.data(query, {"e": "binance", "s": "BTC/USDT"})
    assert data["trades"] == [
        expected_trade(first, "2025-06-02T11:59:10+00:00"),
        expected_trade(second, "2025-06-02T11:59:25+00:00"),
        expected_trade(third, "2025-06-02T11:59:55+00:00"),
    ]
    assert data["trades"][0]["extra"] == {"fee_currency": "USDT"}
    data = await gql.data(query, {"e": "binance", "s": "BTC/USDT", "last": 2})
    assert [t["tradeId"] for t in data["trades"]] == ["50002", "50003"]
    assert (await gql.data(query, {"e": "kraken", "s": "BTC/USDT"}))["trades"] == []
    assert (await gql.data(query, {"e": "binance", "s": "ETH/USDT"}))["trades"] == []


async def test_trades_pages(gql: QueryRunner, writer: CacheWriter) -> None:
    """``first``/``last``/``offset`` page through the list; results are oldest first; without
    either, the newest LIST_PAGE_DEFAULT (100); ``tradeCount`` is the whole length."""
    for index in range(150):
        await writer.push_trade("binance", trade(index, 100.0 + index, T0_S + index))
    query = """query($first: Int, $last: Int, $offset: Int = 0) {
        trades(exchange: "binance", symbol: "BTC/USDT", first: $first, last: $last,
               offset: $offset) { tradeId }
        tradeCount(exchange: "binance", symbol: "BTC/USDT") }"""

    async def ids(**page: int) -> list[int]:
        data = await gql.data(query, page)
        assert data["tradeCount"] == 150
        return [int(item["tradeId"]) for item in data["trades"]]

    assert await ids() == list(range(50, 150))
    assert await ids(first=3) == [0, 1, 2]
    assert await ids(first=3, offset=10) == [10, 11, 12]
    assert await ids(last=3) == [147, 148, 149]
    assert await ids(last=3, offset=10) == [137, 138, 139]
    assert await ids(offset=140) == list(range(0, 10))
    assert await ids(first=5, offset=148) == [148, 149]
    assert await ids(last=5, offset=150) == []
    assert len(await ids(last=1000)) == 150


@pytest.mark.parametrize(
    ("page", "argument"),
    [
        ({"first": 1, "last": 1}, "first"),
        ({"first": 0}, "first"),
        ({"last": 1001}, "last"),
        ({"offset": -1}, "offset"),
    ],
)
async def test_trades_page_arguments_are_checked(
    gql: QueryRunner, page: JSONDict, argument: str
) -> None:
    query = """query($first: Int, $last: Int, $offset: Int = 0) {
        trades(exchange: "binance", symbol: "BTC/USDT", first: $first, last: $last,
               offset: $offset) { tradeId } }"""
    body = await gql(query, page)
    assert body["data"] == {"trades": None}
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "INVALID_ARGUMENT", "argument": argument}


async def test_trade_status(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    await writer.push_trade("binance", trade(1, 1.0, T0_S))
    clock.set(T0 + timedelta(seconds=2, microseconds=500))
    await writer.push_trade("kraken", trade(2, 2.0, T0_S))
    query = "query($e: String!) { tradeStatus(exchange: $e) { key timestamp } }"
    data = await gql.data(query, {"e": "binance"})
    assert data["tradeStatus"] == {"key": "binance", "timestamp": "2025-06-02T12:00:00+00:00"}
    data = await gql.data(query, {"e": "kraken"})
    assert data["tradeStatus"] == {
        "key": "kraken",
        "timestamp": "2025-06-02T12:00:02.000500+00:00",
    }
    assert (await gql.data(query, {"e": "bybit"}))["tradeStatus"] is None


async def test_trade_statuses(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    assert (await gql.data("{ tradeStatuses { key } }"))["tradeStatuses"] == []
    await writer.push_trade("kraken", trade(2, 2.0, T0_S))
    clock.set(T0 + timedelta(seconds=1))
    await writer.push_trade("binance", trade(1, 1.0, T0_S))
    # A USER_TRADE marker is not a TRADE marker.
    await writer.update_user_trade_status("binance:1")
    data = await gql.data("{ tradeStatuses { key timestamp } }")
    assert sorted(data["tradeStatuses"], key=lambda s: s["key"]) == [
        {"key": "binance", "timestamp": iso(T0 + timedelta(seconds=1))},
        {"key": "kraken", "timestamp": iso(T0)},
    ]


# --------------------------------------------------------------------------- account

BALANCE_FIELDS = "currency free used total balance available extra"


async def seed_accounts(writer: CacheWriter, clock: Clock) -> None:
    await writer.upsert_user_account(
        1,
        {
            "USDT": {"free": 10250.25, "used": 2250.25, "total": 12500.5},
            "BTC": {"free": 0.5, "used": 0.25, "total": 0.75, "debt": 0},
        },
    )
    clock.set(T0 + timedelta(seconds=1))
    # The balance/available style.
    await writer.upsert_user_account(2, {"USD": {"balance": 10000.0, "available": 8500.0}})
    await writer.upsert_user_account(10, {"ETH": {"free": 1, "used": 0, "total": 1}})


async def test_account(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    await seed_accounts(writer, clock)
    query = f"""query($id: String!) {{ account(exId: $id) {{
        exId date balances {{ {BALANCE_FIELDS} }} balance(currency: "USDT") {{ total }} }} }}"""
    data = await gql.data(query, {"id": "1"})
    assert data["account"] == {
        "exId": "1",
        "date": "2025-06-02T12:00:00+00:00",
        "balances": [
            {
                "currency": "BTC",
                "free": 0.5,
                "used": 0.25,
                "total": 0.75,
                "balance": None,
                "available": None,
                "extra": {"debt": 0},
            },
            {
                "currency": "USDT",
                "free": 10250.25,
                "used": 2250.25,
                "total": 12500.5,
                "balance": None,
                "available": None,
                "extra": None,
            },
        ],
        "balance": {"total": 12500.5},
    }
    data = await gql.data(query, {"id": "2"})
    assert data["account"]["date"] == "2025-06-02T12:00:01+00:00"
    assert data["account"]["balances"] == [
        {"currency": "USD", "free": None, "used": None, "total": None, "balance": 10000.0,
         "available": 8500.0, "extra": None},
    ]  # fmt: skip
    assert data["account"]["balance"] is None
    assert (await gql.data(query, {"id": "99"}))["account"] is None


async def test_accounts(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    assert (await gql.data("{ accounts { exId } }"))["accounts"] == []
    await seed_accounts(writer, clock)
    data = await gql.data("{ accounts { exId date balances { currency total } } }")
    by_id = {account["exId"]: account for account in data["accounts"]}
    assert sorted(by_id) == ["1", "10", "2"]
    assert len(data["accounts"]) == 3
    assert by_id["10"] == {
        "exId": "10",
        "date": "2025-06-02T12:00:01+00:00",
        "balances": [{"currency": "ETH", "total": 1.0}],
    }
    assert [b["currency"] for b in by_id["1"]["balances"]] == ["BTC", "USDT"]


async def test_balance(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    await seed_accounts(writer, clock)
    query = f"""query($id: String!, $c: String!) {{
        balance(exId: $id, currency: $c) {{ {BALANCE_FIELDS} }} }}"""
    data = await gql.data(query, {"id": "1", "c": "USDT"})
    assert data["balance"] == {
        "currency": "USDT", "free": 10250.25, "used": 2250.25, "total": 12500.5,
        "balance": None, "available": None, "extra": None,
    }  # fmt: skip
    data = await gql.data(query, {"id": "2", "c": "USD"})
    assert data["balance"]["balance"] == 10000.0
    assert data["balance"]["available"] == 8500.0
    # "date" is a sibling of the currencies, not a currency.
    assert (await gql.data(query, {"id": "1", "c": "date"}))["balance"] is None
    assert (await gql.data(query, {"id": "1", "c": "EUR"}))["balance"] is None
    assert (await gql.data(query, {"id": "99", "c": "USDT"}))["balance"] is None


POSITION_FIELDS = "exId symbol cost volume fee count price timestamp"


async def seed_positions(writer: CacheWriter, clock: Clock) -> None:
    await writer.upsert_positions(
        1,
        {
            "ETH/USDT": {"cost": 10405.52, "volume": 4.0, "fee": 10.4, "count": 2,
                         "price": 2601.38, "timestamp": T0_S - 240},
            "BTC/USDT": {"cost": 52617.28, "volume": 0.5, "fee": 52.61, "count": 3,
                         "price": 105234.56, "timestamp": None},
        },
    )  # fmt: skip
    clock.set(T0 + timedelta(seconds=5))
    await writer.upsert_positions(
        2,
        {"BTC/USD": {"cost": -10518.01, "volume": -0.1, "fee": 10.51, "count": 1,
                     "price": 105180.1, "timestamp": T0_S - 200}},
    )  # fmt: skip


def position_1_btc() -> JSONDict:
    # No per-symbol timestamp: the root timestamp (the writer's clock) stands in.
    return {"exId": "1", "symbol": "BTC/USDT", "cost": 52617.28, "volume": 0.5, "fee": 52.61,
            "count": 3.0, "price": 105234.56, "timestamp": iso(T0)}  # fmt: skip


def position_1_eth() -> JSONDict:
    return {"exId": "1", "symbol": "ETH/USDT", "cost": 10405.52, "volume": 4.0, "fee": 10.4,
            "count": 2.0, "price": 2601.38, "timestamp": at(T0_S - 240)}  # fmt: skip


def position_2_btc() -> JSONDict:
    return {"exId": "2", "symbol": "BTC/USD", "cost": -10518.01, "volume": -0.1, "fee": 10.51,
            "count": 1.0, "price": 105180.1, "timestamp": at(T0_S - 200)}  # fmt: skip


async def test_positions(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    await seed_positions(writer, clock)
    query = f"query($id: String!) {{ positions(exId: $id) {{ {POSITION_FIELDS} }} }}"
    data = await gql.data(query, {"id": "1"})
    # Only ex_id 1 (fullon_cache's get_positions ignores its ex_id), by symbol.
    assert data["positions"] == [position_1_btc(), position_1_eth()]
    assert (await gql.data(query, {"id": "2"}))["positions"] == [position_2_btc()]
    assert (await gql.data(query, {"id": "3"}))["positions"] == []


async def test_position(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    await seed_positions(writer, clock)
    query = f"""query($id: String!, $s: String!) {{
        position(exId: $id, symbol: $s) {{ {POSITION_FIELDS} }} }}"""
    assert (await gql.data(query, {"id": "1", "s": "ETH/USDT"}))["position"] == position_1_eth()
    assert (await gql.data(query, {"id": "2", "s": "BTC/USD"}))["position"] == position_2_btc()
    # "timestamp" is the root key, not a symbol.
    assert (await gql.data(query, {"id": "1", "s": "timestamp"}))["position"] is None
    assert (await gql.data(query, {"id": "2", "s": "ETH/USDT"}))["position"] is None
    assert (await gql.data(query, {"id": "3", "s": "BTC/USDT"}))["position"] is None


async def test_all_positions(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    assert (await gql.data("{ allPositions { symbol } }"))["allPositions"] == []
    await seed_positions(writer, clock)
    data = await gql.data(f"{{ allPositions {{ {POSITION_FIELDS} }} }}")
    assert sorted(data["allPositions"], key=lambda p: (p["exId"], p["symbol"])) == [
        position_1_btc(),
        position_1_eth(),
        position_2_btc(),
    ]


ORDER_FIELDS = """key orderId storedOrderId exOrderId exchange symbol orderType side status
    command reason volume finalVolume price plimit leverage tick futures botId uid exId
    catExId timestamp extra"""


def order(order_id: Any, ex_order_id: Any, **values: Any) -> JSONDict:
    base = {
        "order_id": order_id, "bot_id": 1, "uid": 1, "ex_id": 1, "ex_order_id": ex_order_id,
        "cat_ex_id": 1, "exchange": "binance", "symbol": "BTC/USDT", "order_type": "limit",
        "side": "buy", "volume": 0.05, "final_volume": None, "price": 104900.0, "plimit": None,
        "tick": 105234.56, "futures": False, "leverage": 1, "status": "open",
        "command": None, "reason": "signal", "timestamp": None,
    }  # fmt: skip
    base.update(values)
    return base


async def seed_orders(writer: CacheWriter, clock: Clock) -> None:
    # Written at T0+2 s, T0 and T0+1 s: field names do not sort like write times.
    clock.set(T0 + timedelta(seconds=2))
    await writer.save_order("binance", order("1000", "1000", status="filled", subcommand="x"))
    clock.set(T0)
    await writer.save_order("binance", order("3000", "3000", side="sell", futures=True))
    clock.set(T0 + timedelta(seconds=1))
    await writer.save_order("binance", order("2000", "2000", price=None, leverage=None))
    await writer.save_order("kraken", order("OQCLML-BW3P3-BUCMWZ", "OQCLML-BW3P3-BUCMWZ"))
    await writer.save_order("7", order("77738308", "77738308", ex_id=7))


async def test_order(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    await seed_orders(writer, clock)
    query = f"""query($k: String!, $id: String!) {{
        order(exchange: $k, orderId: $id) {{ {ORDER_FIELDS} }} }}"""
    data = await gql.data(query, {"k": "binance", "id": "1000"})
    assert data["order"] == {
        "key": "binance", "orderId": "1000", "storedOrderId": "1000", "exOrderId": "1000",
        "exchange": "binance", "symbol": "BTC/USDT", "orderType": "limit", "side": "buy",
        "status": "filled", "command": None, "reason": "signal", "volume": 0.05,
        "finalVolume": None, "price": 104900.0, "plimit": None, "leverage": 1.0,
        "tick": 105234.56, "futures": False, "botId": "1", "uid": "1", "exId": "1",
        "catExId": "1", "timestamp": "2025-06-02T12:00:02+00:00", "extra": {"subcommand": "x"},
    }  # fmt: skip
    data = await gql.data(query, {"k": "kraken", "id": "OQCLML-BW3P3-BUCMWZ"})
    assert data["order"]["orderId"] == "OQCLML-BW3P3-BUCMWZ"
    assert data["order"]["key"] == "kraken"
    # The key suffix may be an ex_id.
    data = await gql.data(query, {"k": "7", "id": "77738308"})
    assert data["order"]["exId"] == "7"
    assert (await gql.data(query, {"k": "binance", "id": "9999"}))["order"] is None
    assert (await gql.data(query, {"k": "bybit", "id": "1000"}))["order"] is None


async def test_orders_by_id(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    """An order on whichever order_status key holds it: one, none, or several (by key)."""
    await seed_orders(writer, clock)
    query = "query($id: String!) { ordersById(orderId: $id) { key orderId status exId } }"
    data = await gql.data(query, {"id": "1000"})
    assert data["ordersById"] == [
        {"key": "binance", "orderId": "1000", "status": "filled", "exId": "1"}
    ]
    data = await gql.data(query, {"id": "77738308"})
    assert data["ordersById"] == [
        {"key": "7", "orderId": "77738308", "status": "open", "exId": "7"}
    ]
    assert (await gql.data(query, {"id": "9999"}))["ordersById"] == []
    await writer.save_order("kraken", order("1000", "1000", status="canceled"))
    data = await gql.data(query, {"id": "1000"})
    assert [(o["key"], o["status"]) for o in data["ordersById"]] == [
        ("binance", "filled"),
        ("kraken", "canceled"),
    ]
    body = await gql(query, {"id": "10*"})  # a glob would match other ids in a pattern
    assert body["errors"][0]["extensions"] == {"code": "INVALID_ARGUMENT", "argument": "orderId"}


async def test_orders_oldest_write_first(
    gql: QueryRunner, writer: CacheWriter, clock: Clock
) -> None:
    await seed_orders(writer, clock)
    query = "query($k: String!) { orders(exchange: $k) { orderId side futures price timestamp } }"
    data = await gql.data(query, {"k": "binance"})
    assert data["orders"] == [
        {"orderId": "3000", "side": "sell", "futures": True, "price": 104900.0,
         "timestamp": iso(T0)},
        {"orderId": "2000", "side": "buy", "futures": False, "price": None,
         "timestamp": iso(T0 + timedelta(seconds=1))},
        {"orderId": "1000", "side": "buy", "futures": False, "price": 104900.0,
         "timestamp": iso(T0 + timedelta(seconds=2))},
    ]  # fmt: skip
    assert (await gql.data(query, {"k": "bybit"}))["orders"] == []


async def test_order_keys(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    assert (await gql.data("{ orderKeys }"))["orderKeys"] == []
    await seed_orders(writer, clock)
    assert sorted((await gql.data("{ orderKeys }"))["orderKeys"]) == ["7", "binance", "kraken"]


async def test_open_order_queue(gql: QueryRunner, writer: CacheWriter) -> None:
    for oid in ("8389765496", "OQCLML-BW3P3-BUCMWZ", "77738308"):
        await writer.push_open_order(oid, "1001")
    query = "query($l: String!) { openOrderQueue(localOid: $l) queueLength(localOid: $l) }"
    data = await gql.data(query, {"l": "1001"})
    # Index 0 is the next to be consumed.
    assert data == {
        "openOrderQueue": ["8389765496", "OQCLML-BW3P3-BUCMWZ", "77738308"],
        "queueLength": 3,
    }
    assert await gql.data(query, {"l": "2002"}) == {"openOrderQueue": [], "queueLength": 0}
    paged = """query($l: String!) { a: openOrderQueue(localOid: $l, first: 1, offset: 1)
        b: openOrderQueue(localOid: $l, last: 1) }"""
    data = await gql.data(paged, {"l": "1001"})
    assert data == {"a": ["OQCLML-BW3P3-BUCMWZ"], "b": ["77738308"]}


async def test_queue_length(gql: QueryRunner, writer: CacheWriter) -> None:
    await writer.push_open_order("1", "7")
    await writer.push_open_order("2", "7")
    query = "query($l: String!) { queueLength(localOid: $l) }"
    assert (await gql.data(query, {"l": "7"}))["queueLength"] == 2
    assert (await gql.data(query, {"l": "8"}))["queueLength"] == 0
    # The queue is keyed by the local order id: an exchange name is refused, with the hint.
    await writer.set_ticker({"symbol": "BTC/USDT", "exchange": "binance", "price": 1.0})
    body = await gql(query, {"l": "binance"})
    assert body["data"] == {"queueLength": None}
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "INVALID_ARGUMENT", "argument": "localOid"}
    assert "keyed by the local order id" in error["message"]
    await writer.push_open_order("3", "binance")  # a queue that really has that name
    assert (await gql.data(query, {"l": "binance"}))["queueLength"] == 1


async def test_user_trades(gql: QueryRunner, writer: CacheWriter) -> None:
    first = trade(50001, 105230.0, T0_S - 50)  # epoch seconds this time
    second = trade(50004, 2601.38, T0_S - 10, symbol="ETH/USDT")
    await writer.push_user_trade(1, "binance", first)
    await writer.push_user_trade(1, "binance", second)
    await writer.push_user_trade(2, "kraken", trade(60001, 1.0, T0_S))
    query = f"""query($u: String!, $e: String!, $last: Int) {{
        userTrades(uid: $u, exchange: $e, last: $last) {{ {TRADE_FIELDS} }} }}"""
    data = await gql.data(query, {"u": "1", "e": "binance"})
    assert data["userTrades"] == [
        expected_trade(first, at(T0_S - 50)),
        expected_trade(second, at(T0_S - 10)),
    ]
    data = await gql.data(query, {"u": "1", "e": "binance", "last": 1})
    assert [t["tradeId"] for t in data["userTrades"]] == ["50004"]
    paged = """{ userTrades(uid: "1", exchange: "binance", first: 1) { tradeId }
        userTradeCount(uid: "1", exchange: "binance") }"""
    assert await gql.data(paged) == {"userTrades": [{"tradeId": "50001"}], "userTradeCount": 2}
    assert (await gql.data(query, {"u": "1", "e": "kraken"}))["userTrades"] == []
    assert (await gql.data(query, {"u": "3", "e": "binance"}))["userTrades"] == []


async def test_user_trade_status(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    await writer.update_user_trade_status("binance:1", T0 - timedelta(seconds=1))
    query = "query($k: String!) { userTradeStatus(key: $k) { key timestamp } }"
    data = await gql.data(query, {"k": "binance:1"})
    assert data["userTradeStatus"] == {"key": "binance:1", "timestamp": "2025-06-02T11:59:59+00:00"}
    assert (await gql.data(query, {"k": "kraken:2"}))["userTradeStatus"] is None


async def test_user_trade_statuses(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    assert (await gql.data("{ userTradeStatuses { key } }"))["userTradeStatuses"] == []
    await writer.update_user_trade_status("binance:1")
    await writer.update_user_trade_status("kraken:2", T0 + timedelta(minutes=1))
    await writer.push_trade("binance", trade(1, 1.0, T0_S))  # a TRADE marker: not listed
    data = await gql.data("{ userTradeStatuses { key timestamp } }")
    assert sorted(data["userTradeStatuses"], key=lambda s: s["key"]) == [
        {"key": "binance:1", "timestamp": iso(T0)},
        {"key": "kraken:2", "timestamp": iso(T0 + timedelta(minutes=1))},
    ]


# --------------------------------------------------------------------------- ops

FEEDS = {
    "0": {"bot_id": 1, "symbol": "BTC/USDT", "status": "running", "roi": 120.5},
    "1": {"bot_id": 1, "symbol": "ETH/USDT", "status": "waiting", "roi": -12.25},
}
FLAT = {"status": "paused", "name": "Bot_2", "strategy": "demo_strategy"}


async def seed_bots(writer: CacheWriter, clock: Clock) -> None:
    await writer.update_bot(1, FEEDS)
    clock.set(T0 + timedelta(seconds=3))
    await writer.update_bot(2, FLAT)


async def test_bots(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    assert (await gql.data("{ bots { botId } }"))["bots"] == []
    await seed_bots(writer, clock)
    data = await gql.data("{ bots { botId data status updatedAt } }")
    by_id = {bot["botId"]: bot for bot in data["bots"]}
    assert len(data["bots"]) == 2
    stamp = iso(T0)
    assert by_id["1"] == {
        "botId": "1",
        "data": {key: {**value, "timestamp": stamp} for key, value in FEEDS.items()},
        "status": "running",  # the first feed's
        "updatedAt": stamp,
    }
    # Flat: no feed timestamps, so no updatedAt.
    assert by_id["2"] == {"botId": "2", "data": FLAT, "status": "paused", "updatedAt": None}


async def test_bot(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    await seed_bots(writer, clock)
    query = "query($id: String!) { bot(botId: $id) { botId status updatedAt data } }"
    data = await gql.data(query, {"id": "2"})
    assert data["bot"] == {"botId": "2", "status": "paused", "updatedAt": None, "data": FLAT}
    data = await gql.data(query, {"id": "1"})
    assert data["bot"]["updatedAt"] == "2025-06-02T12:00:00+00:00"
    assert data["bot"]["data"]["1"]["roi"] == -12.25
    assert (await gql.data(query, {"id": "3"}))["bot"] is None


async def seed_blocks(writer: CacheWriter) -> None:
    await writer.block_exchange(1, "BTC/USDT", 7)
    await writer.block_exchange(2, "BTC/USD", 3)
    await writer.block_exchange("hyperliquid", "BTC/USDC:USDC", 5)


async def test_blocks(gql: QueryRunner, writer: CacheWriter) -> None:
    assert (await gql.data("{ blocks { exId } }"))["blocks"] == []
    await seed_blocks(writer)
    data = await gql.data("{ blocks { exId symbol botId } }")
    assert sorted(data["blocks"], key=lambda b: (b["exId"], b["symbol"])) == [
        {"exId": "1", "symbol": "BTC/USDT", "botId": "7"},
        {"exId": "2", "symbol": "BTC/USD", "botId": "3"},
        {"exId": "hyperliquid", "symbol": "BTC/USDC:USDC", "botId": "5"},
    ]


async def test_is_blocked(gql: QueryRunner, writer: CacheWriter) -> None:
    await seed_blocks(writer)
    query = "query($id: String!, $s: String!) { isBlocked(exId: $id, symbol: $s) }"
    assert (await gql.data(query, {"id": "1", "s": "BTC/USDT"}))["isBlocked"] == "7"
    assert (await gql.data(query, {"id": "hyperliquid", "s": "BTC/USDC:USDC"}))["isBlocked"] == "5"
    assert (await gql.data(query, {"id": "1", "s": "ETH/USDT"}))["isBlocked"] is None
    assert (await gql.data(query, {"id": "9", "s": "BTC/USDT"}))["isBlocked"] is None


async def seed_opening(writer: CacheWriter, clock: Clock) -> None:
    await writer.mark_opening_position(1, "BTC/USDT", 7)
    clock.set(T0 + timedelta(microseconds=484553))
    await writer.mark_opening_position(3, "ETH/USDC:USDC", 5)


async def test_opening_positions(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    assert (await gql.data("{ openingPositions { exId } }"))["openingPositions"] == []
    await seed_opening(writer, clock)
    data = await gql.data("{ openingPositions { exId symbol botId since } }")
    assert sorted(data["openingPositions"], key=lambda p: p["exId"]) == [
        {"exId": "1", "symbol": "BTC/USDT", "botId": "7", "since": "2025-06-02T12:00:00+00:00"},
        {"exId": "3", "symbol": "ETH/USDC:USDC", "botId": "5",
         "since": "2025-06-02T12:00:00.484553+00:00"},
    ]  # fmt: skip


async def test_is_opening_position(gql: QueryRunner, writer: CacheWriter, clock: Clock) -> None:
    await seed_opening(writer, clock)
    query = "query($id: String!, $s: String!) { isOpeningPosition(exId: $id, symbol: $s) }"
    assert (await gql.data(query, {"id": "1", "s": "BTC/USDT"}))["isOpeningPosition"] is True
    assert (await gql.data(query, {"id": "3", "s": "ETH/USDC:USDC"}))["isOpeningPosition"] is True
    assert (await gql.data(query, {"id": "1", "s": "ETH/USDT"}))["isOpeningPosition"] is False


PROCESS_FIELDS = """processId processType component params status message createdAt updatedAt
    heartbeat lastActive heartbeatStale"""


def at_time(writer: CacheWriter, when: datetime) -> CacheWriter:
    return CacheWriter(writer.redis, now=lambda: when)


async def register(
    writer: CacheWriter,
    ptype: str,
    component: str,
    created: datetime,
    updated: datetime | None = None,
    status: str | None = None,
    message: str | None = None,
    params: JSONDict | None = None,
) -> str:
    pid = await at_time(writer, created).register_process(ptype, component, params)
    if updated is not None:
        await at_time(writer, updated).update_process(pid, status=status, message=message)
    return pid


async def test_process(gql: QueryRunner, writer: CacheWriter) -> None:
    base = wall_now()
    created, updated = base - timedelta(seconds=60), base - timedelta(seconds=10)
    params = {"exchange": "kraken", "symbol": "BTC/USD", "type": "live_ticker"}
    pid = await register(
        writer, "tick", "kraken:BTC/USD", created, updated, "running", "Received ticker", params
    )
    assert pid == f"tick:kraken:BTC/USD:{created.timestamp()}"
    query = f"query($id: String!) {{ process(processId: $id) {{ {PROCESS_FIELDS} }} }}"
    data = await gql.data(query, {"id": pid})
    assert data["process"] == {
        "processId": pid, "processType": "tick", "component": "kraken:BTC/USD",
        "params": params, "status": "running", "message": "Received ticker",
        "createdAt": iso(created), "updatedAt": iso(updated), "heartbeat": iso(updated),
        "lastActive": iso(updated), "heartbeatStale": False,
    }  # fmt: skip
    assert (await gql.data(query, {"id": "tick:kraken:BTC/USD:1.0"}))["process"] is None


async def seed_processes(writer: CacheWriter, base: datetime) -> dict[str, str]:
    def ago(seconds: float) -> datetime:
        return base - timedelta(seconds=seconds)

    return {
        "binance": await register(writer, "tick", "binance:BTC/USDT", ago(600), ago(12)),
        "kraken": await register(writer, "tick", "kraken:BTC/USD", ago(600), ago(5)),
        # Heartbeat 200 s old: inside the 5-minute window, stale for the 120 s threshold.
        "bybit": await register(writer, "tick", "bybit:BTC/USDT", ago(900), ago(200)),
        "bot": await register(writer, "bot", "bot_1", ago(7200), ago(30), "idle"),
        "error": await register(
            writer, "tick", "hyperliquid:BTC/USDC:USDC", ago(300), ago(8), "error", "ws closed"
        ),
        # Last updated 20 minutes ago: outside the default window.
        "old": await register(writer, "crawler", "crawler:x.com", ago(3600), ago(1200)),
    }


async def test_active_processes_newest_update_first(gql: QueryRunner, writer: CacheWriter) -> None:
    assert (await gql.data("{ activeProcesses { processId } }"))["activeProcesses"] == []
    ids = await seed_processes(writer, wall_now())
    query = """query($t: String, $c: String, $m: Float!) {
        activeProcesses(type: $t, component: $c, sinceMinutes: $m) {
            processId processType status heartbeatStale lastActive } }"""

    async def active(t: str | None = None, c: str | None = None, m: float = 5) -> list[JSONDict]:
        result: list[JSONDict] = (await gql.data(query, {"t": t, "c": c, "m": m}))[
            "activeProcesses"
        ]
        return result

    listed = await active()
    assert [p["processId"] for p in listed] == [
        ids["kraken"], ids["error"], ids["binance"], ids["bot"], ids["bybit"],
    ]  # fmt: skip
    stale = {p["processId"]: p["heartbeatStale"] for p in listed}
    assert stale == {
        ids["kraken"]: False, ids["error"]: False, ids["binance"]: False, ids["bot"]: False,
        ids["bybit"]: True,
    }  # fmt: skip
    for process in listed:
        assert_utc_iso(process["lastActive"])
    assert [p["processId"] for p in await active(t="bot")] == [ids["bot"]]
    assert [p["processId"] for p in await active(c="bybit:BTC/USDT")] == [ids["bybit"]]
    assert [p["processId"] for p in await active(t="tick", m=0.25)] == [
        ids["kraken"], ids["error"], ids["binance"],
    ]  # fmt: skip
    assert [p["processId"] for p in await active(m=30)][-1] == ids["old"]
    assert await active(t="ohlcv") == []
    assert await active(c="nothing") == []


async def test_component_status(gql: QueryRunner, writer: CacheWriter) -> None:
    base = wall_now()
    first = await register(writer, "tick", "binance:BTC/USDT", base - timedelta(seconds=90))
    # Re-registration: the component now points at the newer process.
    second = await register(writer, "tick", "binance:BTC/USDT", base - timedelta(seconds=30))
    assert first != second
    query = """query($c: String!) { componentStatus(component: $c) {
        component processId process { processId status message createdAt } } }"""
    data = await gql.data(query, {"c": "binance:BTC/USDT"})
    assert data["componentStatus"] == {
        "component": "binance:BTC/USDT",
        "processId": second,
        "process": {
            "processId": second,
            "status": "starting",
            "message": "Process binance:BTC/USDT registered",
            "createdAt": iso(base - timedelta(seconds=30)),
        },
    }
    assert (await gql.data(query, {"c": "kraken:BTC/USD"}))["componentStatus"] is None


async def test_system_health(gql: QueryRunner, writer: CacheWriter) -> None:
    query = """{ systemHealth { healthy totalProcesses byType { key count }
        byStatus { key count } staleProcesses { processId } errorProcesses { processId }
        checkedAt } }"""
    before = wall_now()
    data = (await gql.data(query))["systemHealth"]
    assert data["healthy"] is True
    assert data["totalProcesses"] == 0
    assert data["byType"] == data["byStatus"] == data["staleProcesses"] == []
    assert data["errorProcesses"] == []
    assert assert_utc_iso(data["checkedAt"]) >= before

    base = wall_now()
    ids = await seed_processes(writer, base)
    stopped = await register(writer, "ohlcv", "kraken:BTC/USD:1h", base - timedelta(seconds=60))
    await at_time(writer, base - timedelta(seconds=50)).stop_process(stopped)
    data = (await gql.data(query))["systemHealth"]
    assert data["healthy"] is False
    assert data["totalProcesses"] == 6  # within the hour; the stopped one left the index
    assert data["byType"] == [
        {"key": "bot", "count": 1}, {"key": "crawler", "count": 1}, {"key": "tick", "count": 4},
    ]  # fmt: skip
    assert data["byStatus"] == [
        {"key": "error", "count": 1}, {"key": "idle", "count": 1}, {"key": "starting", "count": 4},
    ]  # fmt: skip
    assert {p["processId"] for p in data["staleProcesses"]} == {ids["bybit"], ids["old"]}
    assert data["errorProcesses"] == [{"processId": ids["error"]}]


async def test_health(gql: QueryRunner) -> None:
    data = await gql.data(
        """{ health { reachable latencyMs redisVersion role usedMemoryBytes connectedClients
            keyspaceEvents error } }"""
    )
    health = data["health"]
    assert health["reachable"] is True
    assert health["error"] is None
    assert isinstance(health["latencyMs"], float)
    assert 0 <= health["latencyMs"] < 5000
    assert isinstance(health["redisVersion"], str)
    assert health["redisVersion"].split(".")[0].isdigit()
    version = await gql.data("{ health { serverVersion } }")
    assert version == {"health": {"serverVersion": __version__}}
    assert health["role"] == "master"
    assert isinstance(health["usedMemoryBytes"], float)
    assert health["usedMemoryBytes"] > 0
    assert isinstance(health["connectedClients"], int)
    assert health["connectedClients"] >= 1
    # null when the API's Redis user may not run CONFIG GET (read-only ACL users).
    assert health["keyspaceEvents"] is None or isinstance(health["keyspaceEvents"], str)


async def test_process_metrics(gql: QueryRunner, writer: CacheWriter) -> None:
    """As fullon_cache's ``get_metrics`` counts: dangling ids included, a stopped process's
    record still there (``test_process_metrics.seed`` says what it writes)."""
    from test_process_metrics import QUERY, expected_after_seed, seed

    empty = {"activeProcesses": 0, "components": 0, "totalProcesses": 0, "byType": []}
    assert (await gql.data(QUERY))["processMetrics"] == empty
    await seed(writer)
    assert (await gql.data(QUERY))["processMetrics"] == expected_after_seed()


async def test_process_metrics_with_keys_of_the_wrong_type(
    gql: QueryRunner, writer: CacheWriter
) -> None:
    """Corrupt data degrades one count: ``process:components`` of the wrong Redis type (HLEN
    answers WRONGTYPE) nulls ``components`` alone, with a CORRUPT_DATA error at its path;
    keys of another type under ``process:active:*`` or ``process:data:*`` are not counted
    (SCAN TYPE)."""
    from test_process_metrics import QUERY, expected_after_seed, seed

    await seed(writer)
    await writer.write_raw_string("process:components", "not a hash")
    await writer.write_raw_string("process:active:junk", "not a hash")
    await writer.write_raw_list("process:active:queue", ["not a hash"])
    await writer.write_raw_hash_field("process:data:tick:junk:1.0", "not", "a string")
    response = await gql(QUERY)
    assert response["data"] == {"processMetrics": {**expected_after_seed(), "components": None}}
    [error] = response["errors"]
    assert error["path"] == ["processMetrics", "components"]
    assert error["extensions"] == {"code": "CORRUPT_DATA"}
    assert error["message"] == (
        "corrupt entry process:components skipped: the key holds the wrong Redis type"
    )
    # Rewritten by fullon, the key counts again.
    await writer.redis.delete("process:components")
    await writer.register_process("bot", "bot_2")
    metrics = (await gql.data(QUERY))["processMetrics"]
    assert (metrics["components"], metrics["activeProcesses"]) == (1, 6)


async def test_every_query_field_is_covered() -> None:
    """This module has a test for every field of ``Query``."""
    from fullon_cache_api.schema import schema

    query_type = schema._schema.query_type
    assert query_type is not None
    covered = {
        "ticker", "tickers", "anyTicker", "exchanges", "tickerTime", "ohlcv", "ohlcvSeries",
        "trades", "tradeCount", "tradeStatus", "tradeStatuses", "account", "accounts",
        "balance", "positions", "position", "allPositions", "order", "ordersById", "orders",
        "orderKeys",
        "openOrderQueue", "queueLength", "userTrades", "userTradeCount", "userTradeStatus",
        "userTradeStatuses",
        "bots", "bot", "blocks", "isBlocked", "openingPositions", "isOpeningPosition",
        "process", "activeProcesses", "componentStatus", "systemHealth", "processMetrics",
        "health",
    }  # fmt: skip
    assert set(query_type.fields) == covered


async def test_types_ids_are_strings_and_times_utc(gql: QueryRunner, writer: CacheWriter) -> None:
    """ints stored for ids come back as GraphQL strings; every DateTime is ISO-8601 UTC."""
    await writer.save_order("binance", order(4001, "BYB-1", bot_id=4, uid=1, ex_id=4))
    await writer.push_trade("binance", trade(50001, 1.0, T0_S))
    await writer.update_bot(9, FEEDS)
    data = await gql.data(
        """{ orders(exchange: "binance") { orderId storedOrderId botId uid exId catExId timestamp }
             trades(exchange: "binance", symbol: "BTC/USDT") { tradeId uid exId time }
             bots { botId updatedAt } }"""
    )
    (stored,) = data["orders"]
    assert stored["orderId"] == "BYB-1"  # the hash field: ex_order_id
    for name in ("storedOrderId", "botId", "uid", "exId", "catExId"):
        assert isinstance(stored[name], str), (name, stored)
    assert stored["storedOrderId"] == "BYB-1"
    assert assert_utc_iso(stored["timestamp"]) == T0
    (pushed,) = data["trades"]
    assert pushed["tradeId"] == "50001"
    assert (pushed["uid"], pushed["exId"]) == ("1", "1")
    assert assert_utc_iso(pushed["time"]) == T0
    assert data["bots"] == [{"botId": "9", "updatedAt": iso(T0)}]


# --------------------------------------------------------------------------- transports


async def test_http_get_query(api_server: RunningServer, writer: CacheWriter) -> None:
    await seed_tickers(writer)
    response = await api_server.get("{ exchanges }")
    assert response.status_code == 200
    assert response.json() == {"data": {"exchanges": ["binance", "hyperliquid", "kraken"]}}
    response = await api_server.get(
        "query($e: String!, $s: String!) { ticker(exchange: $e, symbol: $s) { price } }",
        {"e": "kraken", "s": "BTC/USD"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"ticker": {"price": 105180.1}}}


@pytest.mark.parametrize(
    "document",
    [
        "mutation { __typename }",
        'subscription { ticker(exchange: "binance", symbol: "BTC/USDT") { price } }',
    ],
)
async def test_http_get_refuses_non_queries(api_server: RunningServer, document: str) -> None:
    response = await api_server.get(document)
    assert response.status_code in (400, 405), response.text
    body = response.json()
    assert "data" not in body or body["data"] is None
    assert body["errors"]
    # No Mutation type: validation refuses it; a subscription needs a WebSocket.
    codes = {error["extensions"]["code"] for error in body["errors"]}
    assert codes <= {"GRAPHQL_VALIDATION_FAILED", "BAD_REQUEST"}, body


async def test_legacy_graphql_ws_query(api_server: RunningServer, writer: CacheWriter) -> None:
    await seed_tickers(writer)
    async with raw_ws(api_server.ws_url, subprotocol=LEGACY_WS) as ws:
        assert ws.subprotocol == LEGACY_WS
        await ws.init()
        await ws.send(
            {
                "type": "start",
                "id": "legacy-1",
                "payload": {
                    "query": "query($s: String!) { anyTicker(symbol: $s) { exchange price } }",
                    "variables": {"s": "BTC/USDT"},
                },
            }
        )
        data = await ws.recv()
        assert data == {
            "id": "legacy-1",
            "type": "data",
            "payload": {"data": {"anyTicker": {"exchange": "kraken", "price": 105241.0}}},
        }
        assert await ws.recv() == {"id": "legacy-1", "type": "complete"}


async def test_modern_protocol_frames(api_server: RunningServer, writer: CacheWriter) -> None:
    """The raw frames of one graphql-transport-ws query: ack, next, complete."""
    await seed_tickers(writer)
    async with raw_ws(api_server.ws_url) as ws:
        assert ws.subprotocol == "graphql-transport-ws"
        ack = await ws.init()
        assert ack == {"type": "connection_ack"}
        await ws.send({"type": "subscribe", "id": "a", "payload": {"query": "{ exchanges }"}})
        assert await ws.recv() == {
            "id": "a",
            "type": "next",
            "payload": {"data": {"exchanges": ["binance", "hyperliquid", "kraken"]}},
        }
        assert await ws.recv() == {"id": "a", "type": "complete"}
