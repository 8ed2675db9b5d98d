"""Every ``Query`` field against a Redis written by the *real* fullon_cache 0.5.11.

The dump (``tests/fixtures/fullon-cache-0.5.11-dump.json``, in the repository) is loaded with
``load_fixture``; expected values are derived from the dump's own JSON wherever possible, so
these tests check the API against what fullon_cache actually stored.

Process times in the dump come from the wall clock of when it was made. Rather than depend
on a wide ``sinceMinutes`` (which would expire), the process reader's clock is pinned a
few seconds after the dump's newest process write.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
import redis.asyncio

from fullon_cache_api.simulator import load_fixture
from support import RunningServer, raw_ws
from support.fixtures import DUMP_PATH
from test_queries import HttpRunner, QueryRunner, WsRunner, assert_utc_iso, at

JSONDict = dict[str, Any]
Redis = redis.asyncio.Redis


@cache
def dump_keys() -> dict[str, JSONDict]:
    keys: dict[str, JSONDict] = json.loads(DUMP_PATH.read_text(encoding="utf-8"))["keys"]
    return keys


def value(key: str) -> Any:
    return dump_keys()[key]["value"]


def hash_json(key: str) -> dict[str, JSONDict]:
    return {field: json.loads(raw) for field, raw in value(key).items()}


def iso_text(text: str) -> str:
    """A stored ISO time as the API renders it (UTC ``isoformat``)."""
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


def process_records() -> list[JSONDict]:
    return [json.loads(value(k)) for k in dump_keys() if k.startswith("process:data:")]


def active_ids() -> dict[str, str]:
    ids: dict[str, str] = {}
    for key in dump_keys():
        if key.startswith("process:active:"):
            ids.update(value(key))
    return ids


def dump_now() -> datetime:
    """A few seconds after the dump's newest process write."""
    newest = max(datetime.fromisoformat(r["updated_at"]) for r in process_records())
    return newest + timedelta(seconds=5)


@pytest.fixture
async def loaded(redis_client: Redis, api_server: RunningServer, monkeypatch: Any) -> Redis:
    assert await load_fixture(redis_client, DUMP_PATH) == len(dump_keys())
    monkeypatch.setattr(api_server.services.cache.processes, "clock", dump_now)
    return redis_client


@pytest.fixture(params=["http", "ws"])
async def gql(
    request: pytest.FixtureRequest, api_server: RunningServer, loaded: Redis
) -> AsyncIterator[QueryRunner]:
    if request.param == "http":
        yield HttpRunner(api_server)
        return
    async with raw_ws(api_server.ws_url) as ws:
        await ws.init()
        yield WsRunner(ws)


TICKER_FIELDS = "exchange symbol price volume time bid ask last spread"


def expected_ticker(exchange: str, symbol: str) -> JSONDict:
    tick = hash_json(f"tickers:{exchange}")[symbol]
    bid, ask = tick["bid"], tick["ask"]
    return {
        "exchange": exchange,
        "symbol": symbol,
        "price": tick["price"],
        "volume": tick["volume"],
        "time": at(tick["time"]),
        "bid": bid,
        "ask": ask,
        "last": tick["last"],
        "spread": pytest.approx(ask - bid) if bid is not None and ask is not None else None,
    }


# --------------------------------------------------------------------------- market


async def test_exchanges_include_one_outside_the_fixed_five(gql: QueryRunner) -> None:
    data = await gql.data("{ exchanges }")
    assert data["exchanges"] == ["binance", "bybit", "hyperliquid", "kraken"]


async def test_every_ticker(gql: QueryRunner) -> None:
    query = f"""query($e: String!, $s: String!) {{
        ticker(exchange: $e, symbol: $s) {{ {TICKER_FIELDS} }}
        tickerTime(exchange: $e, symbol: $s) }}"""
    tickers = [key for key in dump_keys() if key.startswith("tickers:")]
    assert len(tickers) == 4
    for key in tickers:
        exchange = key.removeprefix("tickers:")
        for symbol in value(key):
            data = await gql.data(query, {"e": exchange, "s": symbol})
            assert data["ticker"] == expected_ticker(exchange, symbol)
            stored_time = value(f"ticker_time:{exchange}:{symbol}")
            assert data["tickerTime"] == at(float(stored_time))


async def test_tickers_sorted_and_colon_symbols(gql: QueryRunner) -> None:
    data = await gql.data(f"{{ tickers {{ {TICKER_FIELDS} }} }}")
    expected = [
        expected_ticker(key.removeprefix("tickers:"), symbol)
        for key in sorted(k for k in dump_keys() if k.startswith("tickers:"))
        for symbol in sorted(value(key))
    ]
    assert len(expected) == 13
    assert data["tickers"] == expected
    data = await gql.data('{ tickers(exchange: "hyperliquid") { symbol price } }')
    assert data["tickers"] == [
        {"symbol": "BTC/USDC:USDC", "price": 105221.0},
        {"symbol": "ETH/USDC:USDC", "price": 2600.9},
        {"symbol": "HYPE/USDC:USDC", "price": 34.712},
    ]


async def test_exponent_prices_kept(gql: QueryRunner) -> None:
    data = await gql.data(
        '{ ticker(exchange: "binance", symbol: "PEPE/USDT") { price bid ask last volume } }'
    )
    assert data["ticker"] == {
        "price": 1.234e-05,
        "bid": 1.233e-05,
        "ask": 1.235e-05,
        "last": 1.234e-05,
        "volume": 8300000000000.0,
    }


async def test_any_ticker(gql: QueryRunner) -> None:
    query = "query($s: String!) { anyTicker(symbol: $s) { exchange time } }"
    # BTC/USDT is on binance, kraken and bybit; bybit's tick is the newest.
    data = await gql.data(query, {"s": "BTC/USDT"})
    assert data["anyTicker"] == {"exchange": "bybit", "time": at(1748865602.0)}
    data = await gql.data(query, {"s": "HYPE/USDC:USDC"})
    assert data["anyTicker"] == {"exchange": "hyperliquid", "time": at(1748865603.5)}
    assert (await gql.data(query, {"s": "DOGE/USDT"}))["anyTicker"] is None


async def test_ohlcv_every_series(gql: QueryRunner) -> None:
    query = """query($s: String!, $t: String!, $c: Int!) {
        ohlcv(symbol: $s, timeframe: $t, count: $c) { timestamp open high low close volume } }"""
    for key in (k for k in dump_keys() if k.startswith("ohlcv:")):
        symbol, _, timeframe = key.removeprefix("ohlcv:").rpartition(":")
        stored = [json.loads(raw) for raw in value(key)]
        data = await gql.data(query, {"s": symbol, "t": timeframe, "c": 10000})
        bars = data["ohlcv"]
        assert len(bars) == len(stored), key
        for bar, raw in zip(bars, stored, strict=True):
            stamp = raw[0] / 1000 if raw[0] > 1e11 else raw[0]  # ms or s
            assert bar == {
                "timestamp": at(stamp),
                "open": raw[1],
                "high": raw[2],
                "low": raw[3],
                "close": raw[4],
                "volume": raw[5],
            }, key
        times = [assert_utc_iso(bar["timestamp"]) for bar in bars]
        assert times == sorted(set(times))


async def test_ohlcv_colon_symbol_15m(gql: QueryRunner) -> None:
    data = await gql.data(
        '{ ohlcv(symbol: "HYPE/USDC:USDC", timeframe: "15m", count: 3) { timestamp close } }'
    )
    last = [json.loads(raw) for raw in value("ohlcv:HYPE/USDC:USDC:15m")[-3:]]
    assert data["ohlcv"] == [{"timestamp": at(bar[0] / 1000), "close": bar[4]} for bar in last]
    assert data["ohlcv"][-1]["timestamp"] == "2025-06-02T11:45:00+00:00"


async def test_ohlcv_series(gql: QueryRunner) -> None:
    data = await gql.data("{ ohlcvSeries { symbol timeframe bars } }")
    assert sorted(data["ohlcvSeries"], key=lambda s: (s["symbol"], s["timeframe"])) == [
        {"symbol": "BTC/USDT", "timeframe": "1m", "bars": 1500},
        {"symbol": "BTCUSD", "timeframe": "1h", "bars": 48},
        {"symbol": "ETH/USDT", "timeframe": "5m", "bars": 288},
        {"symbol": "HYPE/USDC:USDC", "timeframe": "15m", "bars": 96},
    ]


def expected_trades(key: str) -> list[JSONDict]:
    trades = [json.loads(raw) for raw in value(key)]
    return [
        {
            "tradeId": str(t["trade_id"]),
            "exOrderId": t["ex_order_id"],
            "uid": str(t["uid"]),
            "exId": str(t["ex_id"]),
            "symbol": t["symbol"],
            "side": t["side"],
            "volume": t["volume"],
            "price": t["price"],
            "cost": t["cost"],
            "fee": t["fee"],
            "curVolume": t["cur_volume"],
            "roi": t["roi"],
            "time": iso_text(t["time"]) if isinstance(t["time"], str) else at(t["time"]),
            "extra": None,
        }
        for t in trades
    ]


TRADE_FIELDS = (
    "tradeId exOrderId uid exId symbol side volume price cost fee curVolume roi time extra"
)


async def test_trades_every_list(gql: QueryRunner, loaded: Redis) -> None:
    query = f"""query($e: String!, $s: String!) {{
        trades(exchange: $e, symbol: $s) {{ {TRADE_FIELDS} }} }}"""
    cases = {
        ("binance", "BTC/USDT"): "trades:binance:BTCUSDT",
        ("binance", "ETH/USDT"): "trades:binance:ETHUSDT",
        ("bybit", "ETH/USDT"): "trades:bybit:ETHUSDT",
        ("hyperliquid", "BTC/USDC:USDC"): "trades:hyperliquid:BTCUSDC:USDC",
        ("kraken", "BTC/USD"): "trades:kraken:BTCUSD",
    }
    for (exchange, symbol), key in cases.items():
        data = await gql.data(query, {"e": exchange, "s": symbol})
        assert data["trades"] == expected_trades(key), key
        assert await loaded.llen(key) == len(value(key))  # never drained
    data = await gql.data('{ trades(exchange: "binance", symbol: "BTC/USDT") { time } }')
    assert [t["time"] for t in data["trades"]] == [
        "2025-06-02T11:59:10+00:00",
        "2025-06-02T11:59:11+00:00",
        "2025-06-02T11:59:50+00:00",
    ]


async def test_trade_statuses(gql: QueryRunner) -> None:
    data = await gql.data(
        '{ tradeStatus(exchange: "hyperliquid") { key timestamp } tradeStatuses { key timestamp } }'
    )
    assert data["tradeStatus"] == {
        "key": "hyperliquid",
        "timestamp": iso_text(value("TRADE:STATUS:hyperliquid")),
    }
    assert sorted(data["tradeStatuses"], key=lambda s: s["key"]) == [
        {"key": exchange, "timestamp": iso_text(value(f"TRADE:STATUS:{exchange}"))}
        for exchange in ("binance", "bybit", "hyperliquid", "kraken")
    ]


# --------------------------------------------------------------------------- account


async def test_accounts_and_balances(gql: QueryRunner) -> None:
    stored = hash_json("accounts")
    data = await gql.data("{ accounts { exId date balances { currency free used total } } }")
    assert len(data["accounts"]) == len(stored) == 4
    for account in data["accounts"]:
        raw = stored[account["exId"]]
        assert account["date"] == iso_text(raw["date"])
        assert account["balances"] == [
            {"currency": currency, "free": raw[currency]["free"], "used": raw[currency]["used"],
             "total": raw[currency]["total"]}
            for currency in sorted(raw) if currency != "date"
        ]  # fmt: skip
    data = await gql.data(
        """{ account(exId: "4") { exId date }
             balance(exId: "2", currency: "EUR") { currency total free used }
             missing: account(exId: "9") { exId } }"""
    )
    assert data["account"] == {"exId": "4", "date": "2025-06-02T11:59:00+00:00"}
    assert data["balance"] == {"currency": "EUR", "total": 1200.0, "free": 1200.0, "used": 0.0}
    assert data["missing"] is None


async def test_positions(gql: QueryRunner) -> None:
    stored = hash_json("account_positions")
    fields = "exId symbol cost volume fee count price timestamp"
    data = await gql.data(f"{{ allPositions {{ {fields} }} }}")
    expected = [
        {"exId": ex_id, "symbol": symbol, "cost": p["cost"], "volume": p["volume"],
         "fee": p["fee"], "count": p["count"], "price": p["price"], "timestamp": at(p["timestamp"])}
        for ex_id, entry in stored.items()
        for symbol, p in sorted(entry.items()) if symbol != "timestamp"
    ]  # fmt: skip
    assert len(expected) == 5
    assert sorted(data["allPositions"], key=lambda p: (p["exId"], p["symbol"])) == expected
    data = await gql.data(
        f"""{{ positions(exId: "3") {{ {fields} }}
              position(exId: "3", symbol: "BTC/USDC:USDC") {{ {fields} }}
              one: positions(exId: "1") {{ symbol }} }}"""
    )
    hyper = [p for p in expected if p["exId"] == "3"]
    assert data["positions"] == hyper
    assert data["position"] == hyper[0]
    assert data["one"] == [{"symbol": "BTC/USDT"}, {"symbol": "ETH/USDT"}]


async def test_orders(gql: QueryRunner, loaded: Redis) -> None:
    ttl_before = await loaded.ttl("order_status:kraken")
    assert 0 < ttl_before <= 3600
    data = await gql.data(
        """{ binance: orders(exchange: "binance") { orderId status timestamp }
             kraken: orders(exchange: "kraken") { orderId status }
             canceled: order(exchange: "kraken", orderId: "OUF4EM-FRGI2-MQMWZD") {
                 key orderId storedOrderId exOrderId status symbol botId uid exId catExId
                 futures price volume timestamp }
             bybit: order(exchange: "bybit", orderId: "4001") { orderId storedOrderId exOrderId
                 status futures leverage }
             orderKeys }"""
    )
    stored = hash_json("order_status:binance")
    by_write = sorted(stored, key=lambda oid: stored[oid]["timestamp"])
    assert by_write == ["8389765494", "8389765495", "8389765496", "8389765493"]
    assert data["binance"] == [
        {"orderId": oid, "status": stored[oid]["status"],
         "timestamp": iso_text(stored[oid]["timestamp"])}
        for oid in by_write
    ]  # fmt: skip
    assert sorted(o["orderId"] for o in data["kraken"]) == [
        "OQCLML-BW3P3-BUCMWZ",
        "OUF4EM-FRGI2-MQMWZD",
    ]
    assert data["canceled"] == {
        "key": "kraken", "orderId": "OUF4EM-FRGI2-MQMWZD", "storedOrderId": "OUF4EM-FRGI2-MQMWZD",
        "exOrderId": "OUF4EM-FRGI2-MQMWZD", "status": "canceled", "symbol": "ETH/EUR",
        "botId": "3", "uid": "2", "exId": "2", "catExId": "2", "futures": False,
        "price": 2200.0, "volume": 2.0, "timestamp": "2026-11-21T21:38:29.472706+00:00",
    }  # fmt: skip
    assert data["bybit"] == {
        "orderId": "4001", "storedOrderId": "4001", "exOrderId": None, "status": "pending",
        "futures": True, "leverage": 5.0,
    }  # fmt: skip
    assert sorted(data["orderKeys"]) == ["binance", "bybit", "hyperliquid", "kraken"]
    # The whole-hash cancel TTL is read, never touched.
    ttl_after = await loaded.ttl("order_status:kraken")
    assert 0 < ttl_after <= ttl_before <= 3600
    assert await loaded.ttl("order_status:binance") == -1


async def test_open_order_queues(gql: QueryRunner, loaded: Redis) -> None:
    query = "query($l: String!) { openOrderQueue(localOid: $l) queueLength(localOid: $l) }"
    for key in (k for k in dump_keys() if k.startswith("new_orders:")):
        local_oid = key.removeprefix("new_orders:")
        data = await gql.data(query, {"l": local_oid})
        assert data == {"openOrderQueue": value(key), "queueLength": len(value(key))}
        assert await loaded.llen(key) == len(value(key))


async def test_user_trades(gql: QueryRunner) -> None:
    query = f"""query($u: String!, $e: String!) {{
        userTrades(uid: $u, exchange: $e) {{ {TRADE_FIELDS} }} }}"""
    for uid, exchange in (("1", "binance"), ("2", "kraken")):
        data = await gql.data(query, {"u": uid, "e": exchange})
        assert data["userTrades"] == expected_trades(f"user_trades:{uid}:{exchange}")
    data = await gql.data(
        """{ userTradeStatus(key: "binance:1") { key timestamp }
             userTradeStatuses { key timestamp } }"""
    )
    assert data["userTradeStatus"] == {"key": "binance:1", "timestamp": "2025-06-02T11:59:59+00:00"}
    assert sorted(data["userTradeStatuses"], key=lambda s: s["key"]) == [
        {"key": "binance:1", "timestamp": "2025-06-02T11:59:59+00:00"},
        {"key": "kraken:2", "timestamp": "2025-06-02T11:59:58+00:00"},
    ]


# --------------------------------------------------------------------------- ops


async def test_bots(gql: QueryRunner) -> None:
    stored = hash_json("bot_status")
    data = await gql.data('{ bots { botId data status updatedAt } bot(botId: "2") { status } }')
    assert sorted(b["botId"] for b in data["bots"]) == ["1", "2", "3", "5"]
    for bot in data["bots"]:
        raw = stored[bot["botId"]]
        assert bot["data"] == raw
        feeds = [feed for feed in raw.values() if isinstance(feed, dict)]
        if feeds:
            assert bot["updatedAt"] == iso_text(max(feed["timestamp"] for feed in feeds))
        else:
            assert bot["updatedAt"] is None
    assert data["bot"] == {"status": "paused"}


async def test_blocks_and_opening_positions_with_colons(gql: QueryRunner) -> None:
    data = await gql.data(
        """{ blocks { exId symbol botId } openingPositions { exId symbol botId since }
             hyper: isBlocked(exId: "hyperliquid", symbol: "BTC/USDC:USDC")
             free: isBlocked(exId: "1", symbol: "ETH/USDT")
             opening: isOpeningPosition(exId: "3", symbol: "ETH/USDC:USDC")
             notOpening: isOpeningPosition(exId: "3", symbol: "BTC/USDC:USDC") }"""
    )
    assert sorted(data["blocks"], key=lambda b: b["exId"]) == [
        {"exId": "1", "symbol": "BTC/USDT", "botId": "1"},
        {"exId": "2", "symbol": "BTC/USD", "botId": "3"},
        {"exId": "hyperliquid", "symbol": "BTC/USDC:USDC", "botId": "5"},
    ]
    assert sorted(data["openingPositions"], key=lambda p: p["exId"]) == [
        {"exId": "1", "symbol": "BTC/USDT", "botId": "1",
         "since": "2026-11-21T21:38:29.484553+00:00"},
        {"exId": "3", "symbol": "ETH/USDC:USDC", "botId": "5",
         "since": "2026-11-21T21:38:29.484809+00:00"},
    ]  # fmt: skip
    assert data["hyper"] == "5"
    assert data["free"] is None
    assert data["opening"] is True
    assert data["notOpening"] is False


PROCESS_FIELDS = """processId processType component params status message createdAt updatedAt
    heartbeat lastActive heartbeatStale"""


def expected_process(record: JSONDict, last_active: str | None) -> JSONDict:
    return {
        "processId": record["process_id"],
        "processType": record["process_type"],
        "component": record["component"],
        "params": record["params"],
        "status": record["status"],
        "message": record["message"],
        "createdAt": iso_text(record["created_at"]),
        "updatedAt": iso_text(record["updated_at"]),
        "heartbeat": iso_text(record["heartbeat"]),
        "lastActive": iso_text(last_active) if last_active else None,
        "heartbeatStale": False,
    }


async def test_processes(gql: QueryRunner) -> None:
    records = {r["process_id"]: r for r in process_records()}
    active = active_ids()
    assert len(records) == 12
    assert len(active) == 11  # the stopped process left the index
    query = f"""query($id: String!) {{ process(processId: $id) {{ {PROCESS_FIELDS} }} }}"""
    for process_id, record in records.items():
        data = await gql.data(query, {"id": process_id})
        assert data["process"] == expected_process(record, active.get(process_id))

    data = await gql.data(f"{{ activeProcesses {{ {PROCESS_FIELDS} }} }}")
    listed = data["activeProcesses"]
    assert sorted(p["processId"] for p in listed) == sorted(active)
    updated = [assert_utc_iso(p["updatedAt"]) for p in listed]
    assert updated == sorted(updated, reverse=True)  # newest update first
    for process in listed:
        assert process == expected_process(
            records[process["processId"]], active[process["processId"]]
        )

    data = await gql.data(
        """{ tick: activeProcesses(type: "tick") { component status }
             one: activeProcesses(component: "hyperliquid:BTC/USDC:USDC") { status message } }"""
    )
    assert sorted(p["component"] for p in data["tick"]) == [
        "binance:BTC/USDT",
        "hyperliquid:BTC/USDC:USDC",
        "kraken:BTC/USD",
    ]
    assert data["one"] == [{"status": "error", "message": "Error: websocket closed (1006)"}]


async def test_component_status(gql: QueryRunner) -> None:
    components = value("process:components")
    query = """query($c: String!) { componentStatus(component: $c) {
        component processId process { processId status } } }"""
    for component, process_id in components.items():
        data = await gql.data(query, {"c": component})
        status = json.loads(value(f"process:data:{process_id}"))["status"]
        assert data["componentStatus"] == {
            "component": component,
            "processId": process_id,
            "process": {"processId": process_id, "status": status},
        }
    # stop_process removed the stopped collector's component.
    data = await gql.data(query, {"c": "kraken:BTC/USD:1h"})
    assert data["componentStatus"] is None


async def test_system_health(gql: QueryRunner) -> None:
    data = await gql.data(
        """{ systemHealth { healthy totalProcesses byType { key count } byStatus { key count }
             staleProcesses { processId } errorProcesses { processId component } checkedAt } }"""
    )
    health = data["systemHealth"]
    assert health["healthy"] is False  # the hyperliquid ticker is in error
    assert health["totalProcesses"] == 11
    assert health["byType"] == [
        {"key": "account", "count": 1}, {"key": "bot", "count": 2},
        {"key": "bot_status_service", "count": 1}, {"key": "crawler", "count": 1},
        {"key": "ohlcv", "count": 1}, {"key": "order", "count": 1}, {"key": "tick", "count": 3},
        {"key": "user_trades_service", "count": 1},
    ]  # fmt: skip
    assert health["byStatus"] == [
        {"key": "error", "count": 1}, {"key": "idle", "count": 1},
        {"key": "processing", "count": 1}, {"key": "running", "count": 8},
    ]  # fmt: skip
    assert health["staleProcesses"] == []
    assert health["errorProcesses"] == [
        {
            "processId": "tick:hyperliquid:BTC/USDC:USDC:1795297109.508745",
            "component": "hyperliquid:BTC/USDC:USDC",
        }
    ]
    assert_utc_iso(health["checkedAt"])


async def test_health(gql: QueryRunner) -> None:
    data = await gql.data("{ health { reachable error } }")
    assert data["health"] == {"reachable": True, "error": None}


async def test_reads_leave_the_dump_untouched(
    api_server: RunningServer, loaded: Redis, gql: QueryRunner
) -> None:
    """After every field has been read, each key still holds exactly what was loaded."""
    await gql.data(
        """{ exchanges tickers { symbol } anyTicker(symbol: "BTC/USDT") { price }
             ohlcvSeries { bars } trades(exchange: "binance", symbol: "BTC/USDT") { tradeId }
             tradeStatuses { key } accounts { exId } allPositions { symbol }
             orders(exchange: "kraken") { orderId } orderKeys openOrderQueue(localOid: "3001")
             queueLength(localOid: "3001") userTrades(uid: "1", exchange: "binance") { tradeId }
             userTradeStatuses { key } bots { botId } blocks { symbol }
             openingPositions { symbol } activeProcesses { processId }
             systemHealth { healthy } health { reachable } }"""
    )
    for key, entry in dump_keys().items():
        kind = entry["type"]
        if kind == "string":
            assert await loaded.get(key) == entry["value"], key
        elif kind == "hash":
            assert await loaded.hgetall(key) == entry["value"], key
        else:
            assert await loaded.lrange(key, 0, -1) == entry["value"], key
        ttl = await loaded.ttl(key)
        assert (ttl == -1) if entry["ttl"] == -1 else (0 < ttl <= entry["ttl"]), key
