"""The simulator writes fullon_cache 0.5.11's layout byte for byte.

Values come from the dump of a Redis written by the real fullon_cache
(``tests/fixtures/fullon-cache-0.5.11-dump.json``, in the repository): each test replays
the same data through :class:`CacheWriter` with a clock frozen at the timestamp
fullon_cache stamped, and compares the stored strings with the dump's.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from fullon_cache_api.simulator import (
    CacheWriter,
    default_fixture_path,
    dumps,
    load_fixture,
    seed_scenario,
    to_redis_timestamp,
)
from fullon_cache_api.simulator import fixture as fixture_module
from support.fixtures import DUMP_PATH

Redis = redis.asyncio.Redis
JSONDict = dict[str, Any]


class Clock:
    """A settable clock to inject into CacheWriter."""

    def __init__(self, when: str | datetime = "2025-06-02T12:00:00+00:00") -> None:
        self.current = datetime.fromisoformat(when) if isinstance(when, str) else when

    def set(self, when: str | datetime) -> None:
        self.current = datetime.fromisoformat(when) if isinstance(when, str) else when

    def __call__(self) -> datetime:
        return self.current


@cache
def dump_keys() -> dict[str, JSONDict]:
    keys: dict[str, JSONDict] = json.loads(DUMP_PATH.read_text(encoding="utf-8"))["keys"]
    return keys


def dump_value(key: str) -> Any:
    return dump_keys()[key]["value"]


def keys_like(prefix: str) -> Iterator[str]:
    return (key for key in sorted(dump_keys()) if key.startswith(prefix))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def writer(redis_client: Redis, clock: Clock) -> CacheWriter:
    return CacheWriter(redis_client, now=clock)


async def snapshot(r: Redis) -> dict[str, tuple[str, int, Any]]:
    """Every key as (type, ttl, value), for whole-database comparisons."""
    result: dict[str, tuple[str, int, Any]] = {}
    async for key in r.scan_iter(count=1000):
        kind = await r.type(key)
        value: Any
        if kind == "hash":
            value = await r.hgetall(key)
        elif kind == "list":
            value = await r.lrange(key, 0, -1)
        else:
            value = await r.get(key)
        result[str(key)] = (str(kind), await r.ttl(key), value)
    return result


async def hget_json(r: Redis, key: str, field: str) -> Any:
    raw = await r.hget(key, field)
    assert isinstance(raw, str), (key, field)
    return json.loads(raw)


async def get_json(r: Redis, key: str) -> Any:
    raw = await r.get(key)
    assert isinstance(raw, str), key
    return json.loads(raw)


async def next_message(pubsub: redis.asyncio.client.PubSub, wait_s: float = 5.0) -> JSONDict:
    """The next published message, or fail after ``wait_s`` seconds."""
    async with asyncio.timeout(wait_s):
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait_s)
            if message is not None:
                return dict(message)


# --------------------------------------------------------------------------- helpers


def test_to_redis_timestamp_matches_fullon_cache() -> None:
    assert to_redis_timestamp(datetime(2025, 6, 5, 12, 0, 0, 123456, UTC)) == (
        "2025-06-05T12:00:00.123456+00:00"
    )
    # Microseconds 0: the fraction is dropped.
    assert (
        to_redis_timestamp(datetime(2025, 6, 5, 12, 0, tzinfo=UTC)) == "2025-06-05T12:00:00+00:00"
    )
    # Naive is UTC; other zones are converted.
    assert to_redis_timestamp(datetime(2025, 6, 5, 12, 0)) == "2025-06-05T12:00:00+00:00"
    cest = datetime.fromisoformat("2025-06-05T14:00:00+02:00")
    assert to_redis_timestamp(cest) == "2025-06-05T12:00:00+00:00"


def test_dumps_uses_json_defaults() -> None:
    assert dumps({"a": 50000, "b": 1.5, "c": None}) == '{"a": 50000, "b": 1.5, "c": null}'
    assert dumps({"s": "é€"}) == '{"s": "\\u00e9\\u20ac"}'
    assert dumps([math.nan, math.inf, -math.inf]) == "[NaN, Infinity, -Infinity]"
    assert dumps({"t": datetime(2025, 6, 2, 11, 59, 10, tzinfo=UTC)}) == (
        '{"t": "2025-06-02T11:59:10+00:00"}'
    )
    with pytest.raises(TypeError):
        dumps({"x": object()})


async def test_naive_clock_is_utc(redis_client: Redis) -> None:
    writer = CacheWriter(redis_client, now=lambda: datetime(2025, 6, 2, 12, 0))
    assert writer.now() == datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
    pid = await writer.register_process("tick", "x")
    assert pid == "tick:x:1748865600.0"


# --------------------------------------------------------------------------- tickers


async def test_tickers_byte_exact(writer: CacheWriter, redis_client: Redis) -> None:
    for key in keys_like("tickers:"):
        for symbol, stored in dump_value(key).items():
            tick = json.loads(stored)
            assert await writer.set_ticker(tick) == stored
            assert await redis_client.hget(key, symbol) == stored
            exchange = key.split(":", 1)[1]
            time_key = f"ticker_time:{exchange}:{symbol}"
            assert await redis_client.get(time_key) == dump_value(time_key)
    # Same keys as fullon_cache wrote: every tickers:* and ticker_time:* key.
    expected = {k for k in dump_keys() if k.startswith(("tickers:", "ticker_time:"))}
    assert set(await redis_client.keys("ticker*")) == expected


async def test_ticker_time_none_and_delete(writer: CacheWriter, redis_client: Redis) -> None:
    await writer.set_ticker({"symbol": "BTC/USDT", "exchange": "kraken", "price": 1, "time": None})
    assert await redis_client.get("ticker_time:kraken:BTC/USDT") == "None"
    await writer.set_ticker({"symbol": "ETH/USDT", "exchange": "kraken", "price": 2})
    assert await redis_client.get("ticker_time:kraken:ETH/USDT") == "None"
    assert await writer.delete_ticker("kraken", "BTC/USDT") is True
    assert await redis_client.hkeys("tickers:kraken") == ["ETH/USDT"]
    assert await redis_client.exists("ticker_time:kraken:BTC/USDT") == 0
    assert await writer.delete_ticker("kraken", "BTC/USDT") is False


async def test_ticker_publish_payload_equals_hash_value(
    writer: CacheWriter, redis_client: Redis
) -> None:
    stored = dump_value("tickers:hyperliquid")["BTC/USDC:USDC"]
    pubsub = redis_client.pubsub()
    try:
        await pubsub.psubscribe("ticker_updates:hyperliquid:*")
        confirm = await pubsub.get_message(timeout=5.0)
        assert confirm is not None and confirm["type"] == "psubscribe"
        await writer.set_ticker(json.loads(stored))
        message = await next_message(pubsub)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert message["channel"] == "ticker_updates:hyperliquid:BTC/USDC:USDC"
    assert message["data"] == stored
    assert message["data"] == await redis_client.hget("tickers:hyperliquid", "BTC/USDC:USDC")


async def test_ticker_nan_and_non_ascii(writer: CacheWriter, redis_client: Redis) -> None:
    tick = {"symbol": "BTC/€", "exchange": "x", "price": math.nan, "volume": 5, "time": 1.5}
    await writer.set_ticker(tick)
    stored = await redis_client.hget("tickers:x", "BTC/€")
    assert stored == (
        '{"symbol": "BTC/\\u20ac", "exchange": "x", "price": NaN, "volume": 5, "time": 1.5}'
    )
    assert await redis_client.get("ticker_time:x:BTC/€") == "1.5"


# -------------------------------------------------------------------------- accounts


async def test_accounts_byte_exact(writer: CacheWriter, redis_client: Redis, clock: Clock) -> None:
    for ex_id in ("1", "2", "3"):
        stored = dump_value("accounts")[ex_id]
        account = json.loads(stored)
        clock.set(account.pop("date"))
        assert await writer.upsert_user_account(int(ex_id), account) is True
        assert await redis_client.hget("accounts", ex_id) == stored
        assert "date" not in account  # the caller's dict is not modified


async def test_account_update_date_only(
    writer: CacheWriter, redis_client: Redis, clock: Clock
) -> None:
    stored = dump_value("accounts")["4"]
    account = json.loads(stored)
    del account["date"]
    assert await writer.upsert_user_account(4, {}, update_date="2025-06-02T11:59:00+00:00") is False
    assert await redis_client.exists("accounts") == 0
    await writer.upsert_user_account(4, account)
    assert await writer.upsert_user_account(4, update_date="2025-06-02T11:59:00+00:00") is True
    assert await redis_client.hget("accounts", "4") == stored
    # Any caller string is stored verbatim.
    await writer.upsert_user_account(4, update_date="2024-01-15 10:30:00")
    assert (await hget_json(redis_client, "accounts", "4"))["date"] == "2024-01-15 10:30:00"


# ------------------------------------------------------------------------- positions


async def test_positions_byte_exact(writer: CacheWriter, redis_client: Redis, clock: Clock) -> None:
    for ex_id, stored in dump_value("account_positions").items():
        positions = json.loads(stored)
        clock.set(positions.pop("timestamp"))
        assert await writer.upsert_positions(ex_id, positions) is True
        assert await redis_client.hget("account_positions", ex_id) == stored


async def test_positions_fixed_fields_legacy_root_and_delete(
    writer: CacheWriter, redis_client: Redis, clock: Clock
) -> None:
    # Extra keys are dropped, missing ones become null; the order is fixed.
    await writer.upsert_positions(
        7, {"BTC/USDT": {"price": 50000.0, "volume": 0.002, "side": "long", "cost": 100.0}}
    )
    assert await redis_client.hget("account_positions", "7") == (
        '{"BTC/USDT": {"cost": 100.0, "volume": 0.002, "fee": null, "count": null, '
        '"price": 50000.0, "timestamp": null}, "timestamp": "2025-06-02T12:00:00+00:00"}'
    )
    # Legacy monolith: numeric root timestamp.
    await writer.upsert_positions(8, {"ETH/USDT": {"cost": 1}}, root_timestamp=1748865300.0)
    assert (await hget_json(redis_client, "account_positions", "8"))["timestamp"] == 1748865300.0
    # update_date=True only refreshes the root timestamp.
    clock.set("2025-06-02T12:05:00+00:00")
    assert await writer.upsert_positions(8, {}, update_date=True) is True
    refreshed = await hget_json(redis_client, "account_positions", "8")
    assert refreshed["timestamp"] == "2025-06-02T12:05:00+00:00"
    assert refreshed["ETH/USDT"]["cost"] == 1
    assert await writer.upsert_positions(9, {}, update_date=True) is False
    # An empty mapping deletes the entry.
    assert await writer.upsert_positions(8, {}) is True
    assert await redis_client.hkeys("account_positions") == ["7"]
    assert await writer.upsert_positions(8, {}) is False


# ---------------------------------------------------------------------------- orders


async def test_orders_byte_exact(writer: CacheWriter, redis_client: Redis, clock: Clock) -> None:
    for key in keys_like("order_status:"):
        suffix = key.split(":", 1)[1]
        for field, stored in dump_value(key).items():
            order = json.loads(stored)
            clock.set(order["timestamp"])
            order["timestamp"] = datetime(2020, 1, 1, tzinfo=UTC)  # the order's own time: lost
            if order["ex_order_id"] is None:
                order["order_id"] = int(order["order_id"])  # a DB id, stringified by the cache
            assert await writer.save_order(suffix, order) == field
            assert await redis_client.hget(key, field) == stored
        assert await redis_client.ttl(key) == dump_keys()[key]["ttl"]


async def test_canceled_ttl_only_for_exact_spelling(
    writer: CacheWriter, redis_client: Redis
) -> None:
    base = {"exchange": "binance", "symbol": "BTC/USDT", "volume": 1.0}
    await writer.save_order("binance", {"ex_order_id": "A", **base, "status": "cancelled"})
    assert await redis_client.ttl("order_status:binance") == -1
    await writer.save_order("binance", {"ex_order_id": "B", **base, "status": "open"})
    assert await redis_client.ttl("order_status:binance") == -1
    await writer.save_order("binance", {"ex_order_id": "C", **base, "status": "canceled"})
    assert await redis_client.ttl("order_status:binance") == 3600
    # The TTL covers the whole hash and survives later writes.
    await writer.save_order("binance", {"ex_order_id": "D", **base, "status": "open"})
    assert 3590 <= await redis_client.ttl("order_status:binance") <= 3600
    assert sorted(await redis_client.hkeys("order_status:binance")) == ["A", "B", "C", "D"]


async def test_order_field_none(writer: CacheWriter, redis_client: Redis) -> None:
    assert await writer.save_order("kraken", {"order_id": None, "ex_order_id": None}) == "None"
    assert await redis_client.hget("order_status:kraken", "None") == (
        '{"order_id": "None", "ex_order_id": null, "timestamp": "2025-06-02T12:00:00+00:00"}'
    )


async def test_update_order_keeps_numeric_db_id(
    writer: CacheWriter, redis_client: Redis, clock: Clock
) -> None:
    order = {
        "order_id": 12,
        "ex_order_id": "EX_1",
        "symbol": "BTC/USDT",
        "price": 50000.0,
        "status": "open",
        "timestamp": None,
    }
    assert await writer.save_order("kraken", order) == "EX_1"
    saved = await hget_json(redis_client, "order_status:kraken", "EX_1")
    assert saved["order_id"] == "EX_1"

    clock.set("2025-06-02T12:01:00.500000+00:00")
    update = {"order_id": 12, "ex_order_id": "EX_1", "price": None, "status": "filled"}
    assert await writer.update_order("kraken", update) == "EX_1"
    stored = await redis_client.hget("order_status:kraken", "EX_1")
    assert stored == (
        '{"order_id": 12, "ex_order_id": "EX_1", "symbol": "BTC/USDT", "price": 50000.0, '
        '"status": "filled", "timestamp": "2025-06-02T12:01:00.500000+00:00"}'
    )
    assert await redis_client.ttl("order_status:kraken") == -1

    # save_order_data merges the same way but re-stringifies order_id.
    await writer.save_order_data("kraken", {**update, "status": "canceled"})
    merged = await hget_json(redis_client, "order_status:kraken", "EX_1")
    assert merged["order_id"] == "EX_1"
    assert merged["status"] == "canceled"
    assert await redis_client.ttl("order_status:kraken") == 3600


async def test_update_order_without_existing_saves(
    writer: CacheWriter, redis_client: Redis
) -> None:
    assert await writer.update_order("7", {"order_id": 5, "ex_order_id": None}) == "5"
    assert await redis_client.hget("order_status:7", "5") == (
        '{"order_id": "5", "ex_order_id": null, "timestamp": "2025-06-02T12:00:00+00:00"}'
    )
    assert await writer.save_order_data("7", {"order_id": None, "ex_order_id": "X"}) == "X"
    assert (await hget_json(redis_client, "order_status:7", "X"))["order_id"] == "X"


async def test_open_order_queue(writer: CacheWriter, redis_client: Redis) -> None:
    for key in keys_like("new_orders:"):
        for oid in dump_value(key):
            await writer.push_open_order(oid, key.split(":", 1)[1])
        assert await redis_client.lrange(key, 0, -1) == dump_value(key)


# ---------------------------------------------------------------------------- trades


async def test_trades_byte_exact(writer: CacheWriter, redis_client: Redis, clock: Clock) -> None:
    for key in keys_like("trades:"):
        exchange = key.split(":")[1]
        for stored in dump_value(key):
            trade = json.loads(stored)
            await writer.push_trade_list(trade["symbol"], exchange, trade)
        assert await redis_client.lrange(key, 0, -1) == dump_value(key)
        assert await redis_client.get(f"TRADE:STATUS:{exchange}") == "2025-06-02T12:00:00+00:00"
    assert await redis_client.exists("trades:hyperliquid:BTCUSDC:USDC") == 1


async def test_push_trade_uses_symbol_and_datetime_time(
    writer: CacheWriter, redis_client: Redis, clock: Clock
) -> None:
    stored = dump_value("trades:binance:BTCUSDT")[0]
    trade = json.loads(stored)
    trade["time"] = datetime(2025, 6, 2, 11, 59, 10, tzinfo=UTC)  # as Trade.to_dict() emits
    clock.set("2025-06-02T12:00:00.250000+00:00")
    assert await writer.push_trade("binance", trade) == 1
    assert await redis_client.lrange("trades:binance:BTCUSDT", 0, -1) == [stored]
    assert await redis_client.get("TRADE:STATUS:binance") == "2025-06-02T12:00:00.250000+00:00"


async def test_user_trades_byte_exact(writer: CacheWriter, redis_client: Redis) -> None:
    for key in keys_like("user_trades:"):
        _, uid, exchange = key.split(":", 2)
        for stored in dump_value(key):
            await writer.push_user_trade(uid, exchange, json.loads(stored))
        assert await redis_client.lrange(key, 0, -1) == dump_value(key)
    # push_user_trade does not touch any status key.
    assert await redis_client.keys("*STATUS*") == []


async def test_user_trade_status(writer: CacheWriter, redis_client: Redis) -> None:
    stamp = datetime(2025, 6, 2, 11, 59, 59)  # naive: UTC
    assert await writer.update_user_trade_status("binance:1", stamp) == dump_value(
        "USER_TRADE:STATUS:binance:1"
    )
    assert await redis_client.get("USER_TRADE:STATUS:binance:1") == dump_value(
        "USER_TRADE:STATUS:binance:1"
    )
    await writer.update_user_trade_status("kraken:2")  # the clock
    assert await redis_client.get("USER_TRADE:STATUS:kraken:2") == "2025-06-02T12:00:00+00:00"


# ------------------------------------------------------------------------------ bots


async def test_bots_byte_exact(writer: CacheWriter, redis_client: Redis, clock: Clock) -> None:
    for bot_id, stored in dump_value("bot_status").items():
        status = json.loads(stored)
        stamps = {feed.pop("timestamp") for feed in status.values() if isinstance(feed, dict)}
        if stamps:
            (stamp,) = stamps
            clock.set(stamp)
        assert await writer.update_bot(bot_id, status) == stored
        assert await redis_client.hget("bot_status", bot_id) == stored
        assert all("timestamp" not in feed for feed in status.values() if isinstance(feed, dict))
    assert await writer.del_bot(2) is True
    assert await writer.del_bot(2) is False
    assert sorted(await redis_client.hkeys("bot_status")) == ["1", "3", "5"]


async def test_blocks_and_opening_positions(
    writer: CacheWriter, redis_client: Redis, clock: Clock
) -> None:
    for field, bot in dump_value("block_exchange").items():
        ex_id, symbol = field.split(":", 1)
        await writer.block_exchange(ex_id, symbol, int(bot))
    assert await redis_client.hgetall("block_exchange") == dump_value("block_exchange")
    for field, value in dump_value("opening_position").items():
        ex_id, symbol = field.split(":", 1)
        bot, stamp = value.split(":", 1)
        clock.set(stamp)
        assert await writer.mark_opening_position(int(ex_id), symbol, bot) == value
    assert await redis_client.hgetall("opening_position") == dump_value("opening_position")

    assert await writer.unblock_exchange("hyperliquid", "BTC/USDC:USDC") is True
    assert await writer.unblock_exchange("hyperliquid", "BTC/USDC:USDC") is False
    assert await writer.unmark_opening_position(3, "ETH/USDC:USDC") is True
    assert await writer.unmark_opening_position(3, "ETH/USDC:USDC") is False
    assert await redis_client.hkeys("opening_position") == ["1:BTC/USDT"]


# ----------------------------------------------------------------------------- OHLCV


async def test_ohlcv_byte_exact(writer: CacheWriter, redis_client: Redis) -> None:
    for key in keys_like("ohlcv:"):
        _, rest = key.split(":", 1)
        symbol, timeframe = rest.rsplit(":", 1)
        bars = [json.loads(bar) for bar in dump_value(key)]
        assert await writer.update_ohlcv_bars(symbol, timeframe, bars) == len(bars)
        assert await redis_client.lrange(key, 0, -1) == dump_value(key)


async def test_ohlcv_filter_and_trim(writer: CacheWriter, redis_client: Redis) -> None:
    key = "ohlcv:BTCUSDT:1m"
    assert await writer.update_ohlcv_bars("BTCUSDT", "1m", [[1, 2, 3]]) == 0
    assert await redis_client.exists(key) == 0
    mixed: list[Any] = [[1, 2, 3, 4, 5], [1, 2.0, 3, 4, 5, 6, "x"], (1, 2, 3, 4, 5, 6)]
    assert await writer.update_ohlcv_bars("BTCUSDT", "1m", mixed) == 1
    assert await redis_client.lrange(key, 0, -1) == ['[1, 2.0, 3, 4, 5, 6, "x"]']

    bars = [[i, 1.0, 2.0, 0.5, 1.5, 10] for i in range(10_004)]
    assert await writer.update_ohlcv_bars("BTCUSDT", "1m", bars) == 10_004
    assert await redis_client.llen(key) == 10_000
    # 1 + 10,004 bars pushed: the oldest 5 ("x" bar and bars 0..3) are trimmed away.
    assert await redis_client.lindex(key, 0) == "[4, 1.0, 2.0, 0.5, 1.5, 10]"
    assert await redis_client.lindex(key, -1) == "[10003, 1.0, 2.0, 0.5, 1.5, 10]"
    # Re-sending a bar appends a duplicate (no dedupe, no sort).
    await writer.update_ohlcv_bars("BTCUSDT", "1m", [[10003, 1.0, 2.0, 0.5, 1.6, 11]])
    assert await redis_client.llen(key) == 10_000
    assert await redis_client.lrange(key, -2, -1) == [
        "[10003, 1.0, 2.0, 0.5, 1.5, 10]",
        "[10003, 1.0, 2.0, 0.5, 1.6, 11]",
    ]


# ------------------------------------------------------------------------- processes


def _process_records() -> list[JSONDict]:
    return [json.loads(dump_value(key)) for key in keys_like("process:data:")]


async def test_processes_byte_exact(writer: CacheWriter, redis_client: Redis, clock: Clock) -> None:
    """Replay every dumped process (register, then update or stop) and compare."""
    stopped: list[str] = []
    for record in _process_records():
        clock.set(record["created_at"])
        pid = await writer.register_process(
            record["process_type"], record["component"], record["params"]
        )
        assert pid == record["process_id"]
        if record["status"] == "stopped":
            clock.set(record["updated_at"])
            assert await writer.stop_process(pid, record["message"]) is True
            stopped.append(pid)
        else:
            clock.set(record["updated_at"])
            assert await writer.update_process(pid, record["status"], record["message"]) is True
        key = f"process:data:{pid}"
        assert await redis_client.get(key) == dump_value(key)
        assert 86390 <= await redis_client.ttl(key) <= 86400

    assert stopped  # the dump has a stopped process
    for key in keys_like("process:"):
        if key.startswith(("process:active:", "process:components")):
            assert await redis_client.hgetall(key) == dump_value(key), key
    assert set(await redis_client.keys("process:*")) == set(keys_like("process:"))


async def test_register_defaults(writer: CacheWriter, redis_client: Redis) -> None:
    clock_value = "2025-06-02T12:00:00.123450+00:00"
    writer.clock = Clock(clock_value)
    pid = await writer.register_process("crawler", "crawler:x.com/a")
    assert pid == "crawler:crawler:x.com/a:1748865600.12345"
    assert await redis_client.get(f"process:data:{pid}") == (
        f'{{"process_id": "{pid}", "process_type": "crawler", "component": "crawler:x.com/a", '
        '"params": {}, "status": "starting", "message": "Process crawler:x.com/a registered", '
        f'"created_at": "{clock_value}", "updated_at": "{clock_value}", '
        f'"heartbeat": "{clock_value}"}}'
    )
    assert await redis_client.hgetall("process:active:crawler") == {pid: clock_value}
    assert await redis_client.hgetall("process:components") == {"crawler:x.com/a": pid}


async def test_update_process_semantics(
    writer: CacheWriter, redis_client: Redis, clock: Clock
) -> None:
    pid = await writer.register_process("bot", "bot_9", {"a": 1}, "hello", status="running")
    clock.set("2025-06-02T12:00:30+00:00")
    assert await writer.update_process(pid, params={"b": 2}, heartbeat=False) is True
    record = await get_json(redis_client, f"process:data:{pid}")
    assert record["params"] == {"a": 1, "b": 2}
    assert record["status"] == "running" and record["message"] == "hello"
    assert record["updated_at"] == "2025-06-02T12:00:30+00:00"
    assert record["heartbeat"] == "2025-06-02T12:00:00+00:00"
    assert await redis_client.hget("process:active:bot", pid) == "2025-06-02T12:00:30+00:00"

    assert await writer.update_process("bot:gone:1.0", status="running") is False
    assert await writer.stop_process("bot:gone:1.0") is False
    assert await redis_client.exists("process:data:bot:gone:1.0") == 0


async def test_stop_process_quirks(writer: CacheWriter, redis_client: Redis, clock: Clock) -> None:
    old = await writer.register_process("tick", "kraken:BTC/USD")
    clock.set("2025-06-02T12:01:00+00:00")
    new = await writer.register_process("tick", "kraken:BTC/USD")
    assert await redis_client.hget("process:components", "kraken:BTC/USD") == new

    clock.set("2025-06-02T12:02:00+00:00")
    assert await writer.stop_process(old) is True
    record = await get_json(redis_client, f"process:data:{old}")
    assert record["status"] == "stopped"
    assert record["message"] == "Process stopped"
    assert record["updated_at"] == "2025-06-02T12:02:00+00:00"
    assert record["heartbeat"] == "2025-06-02T12:00:00+00:00"  # heartbeat off
    assert await redis_client.ttl(f"process:data:{old}") > 0  # the data key survives
    # The newer process loses its component entry too (quirk), but stays active.
    assert await redis_client.hexists("process:components", "kraken:BTC/USD") is False
    assert await redis_client.hkeys("process:active:tick") == [new]


async def test_broadcast_message(writer: CacheWriter, redis_client: Redis, clock: Clock) -> None:
    clock.set("2025-06-02T12:00:00.500000+00:00")
    pubsub = redis_client.pubsub()
    try:
        await pubsub.subscribe("process:broadcast:bot")
        confirm = await pubsub.get_message(timeout=5.0)
        assert confirm is not None and confirm["type"] == "subscribe"
        assert await writer.broadcast_message("bot", "reload", {"bot_id": 1}) == 1
        message = await next_message(pubsub)
        assert await writer.broadcast_message("bot", "ping") == 1
        second = await next_message(pubsub)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert message["channel"] == "process:broadcast:bot"
    assert message["data"] == (
        '{"message": "reload", "data": {"bot_id": 1}, '
        '"timestamp": "2025-06-02T12:00:00.500000+00:00"}'
    )
    assert json.loads(second["data"])["data"] == {}
    assert await redis_client.keys("*") == []  # nothing stored


# ----------------------------------------------------------------------- raw escape hatch


async def test_raw_writes(writer: CacheWriter, redis_client: Redis) -> None:
    await writer.write_raw_hash_field("tickers:binance", "BAD/PAIR", "{not json")
    await writer.write_raw_string("TRADE:STATUS:binance", "yesterday")
    await writer.push_trade_list("BTC/USDT", "binance", {"trade_id": 1})
    assert await writer.write_raw_list("trades:binance:BTCUSDT", ["\x00\xff", "[1, 2"]) == 3
    assert await writer.write_raw_list("trades:binance:BTCUSDT", []) == 3
    assert await redis_client.hget("tickers:binance", "BAD/PAIR") == "{not json"
    assert await redis_client.lrange("trades:binance:BTCUSDT", 1, -1) == ["\x00\xff", "[1, 2"]


# --------------------------------------------------------------------------- fixture


async def test_load_fixture(redis_client: Redis) -> None:
    path = DUMP_PATH
    await redis_client.rpush("new_orders:1001", "stale")  # replaced, not appended to
    assert await load_fixture(redis_client, path) == 67
    assert await redis_client.dbsize() == 67
    assert 3590 <= await redis_client.ttl("order_status:kraken") <= 3600
    assert await redis_client.ttl("order_status:binance") == -1
    loaded = await snapshot(redis_client)
    for key, entry in dump_keys().items():
        kind, ttl, value = loaded[key]
        assert (kind, value) == (entry["type"], entry["value"]), key
        assert (ttl > 0) == (entry["ttl"] > 0), key
    # Loading twice gives the same state.
    assert await load_fixture(redis_client, str(path)) == 67
    assert await redis_client.llen("ohlcv:BTC/USDT:1m") == len(dump_value("ohlcv:BTC/USDT:1m"))


def test_default_fixture_path_is_the_repositorys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The dump is part of the repository, found from the package's own location...
    assert DUMP_PATH.is_file()
    monkeypatch.chdir(tmp_path)
    assert default_fixture_path() == DUMP_PATH
    # ... and from any directory of a checkout when the package is installed elsewhere.
    target = tmp_path / "repo" / "tests" / "fixtures" / "fullon-cache-0.5.11-dump.json"
    target.parent.mkdir(parents=True)
    target.write_text("{}")
    work = tmp_path / "repo" / "src" / "pkg"
    work.mkdir(parents=True)
    elsewhere = tmp_path / "site-packages" / "fullon_cache_api" / "simulator"
    elsewhere.mkdir(parents=True)
    monkeypatch.setattr(fixture_module, "__file__", str(elsewhere / "fixture.py"))
    monkeypatch.chdir(work)
    assert default_fixture_path() == target.resolve()
    # Neither inside a checkout: None.
    monkeypatch.chdir(elsewhere)
    assert default_fixture_path() is None


# -------------------------------------------------------------------------- scenario


async def test_seed_scenario(redis_client: Redis) -> None:
    base = datetime(2025, 6, 2, 12, 0, 0, 250000, tzinfo=UTC)
    writer = CacheWriter(redis_client, now=lambda: base)
    started = time.perf_counter()
    await seed_scenario(writer)
    assert time.perf_counter() - started < 0.5
    first = await snapshot(redis_client)

    # Deterministic for a given clock.
    await redis_client.flushdb()
    await seed_scenario(writer)
    assert await snapshot(redis_client) == first

    exchanges = {key.split(":", 1)[1] for key in first if key.startswith("tickers:")}
    assert {"binance", "kraken", "bybit", "hyperliquid"} <= exchanges
    assert "BTC/USDC:USDC" in first["tickers:hyperliquid"][2]
    assert set(first["accounts"][2]) == {"1", "2", "3"}
    assert set(first["account_positions"][2]) == {"1", "2", "3"}
    for account in first["accounts"][2].values():
        for currency, balance in json.loads(account).items():
            assert currency == "date" or set(balance) == {"free", "used", "total"}

    statuses = {
        json.loads(value)["status"]
        for key, (_, _, orders) in first.items()
        if key.startswith("order_status:")
        for value in orders.values()
    }
    assert {"open", "filled", "partially_filled", "canceled", "cancelled"} <= statuses
    ttls = {key: ttl for key, (_, ttl, _) in first.items() if key.startswith("order_status:")}
    assert [key for key, ttl in ttls.items() if ttl > 0] == ["order_status:2"]
    bybit = json.loads(next(iter(first["order_status:bybit"][2].values())))
    assert bybit["order_id"] == 4001  # left numeric by update_order

    bars = [json.loads(bar) for bar in first["ohlcv:BTC/USDT:1m"][2]]
    assert len(bars) == 300
    assert all(b[0] % 60_000 == 0 and 1e12 < b[0] < base.timestamp() * 1000 for b in bars)
    assert [b[0] for b in bars] == sorted(b[0] for b in bars)

    for key in ("new_orders:1001", "trades:binance:BTCUSDT", "user_trades:1:binance"):
        assert first[key][0] == "list" and first[key][2]
    assert {"TRADE:STATUS:binance", "USER_TRADE:STATUS:binance:1"} <= set(first)
    bots = {bot: json.loads(value) for bot, value in first["bot_status"][2].items()}
    assert "timestamp" in bots["1"]["0"]  # feed style
    assert bots["2"] == {"status": "paused", "name": "Bot_2", "strategy": "demo_strategy"}
    assert first["block_exchange"][2] and first["opening_position"][2]

    types = {key.rsplit(":", 1)[1] for key in first if key.startswith("process:active:")}
    assert {"tick", "ohlcv", "bot", "account", "order"} <= types
    ticks = first["process:active:tick"][2]
    assert len(ticks) >= 4
    window = base - timedelta(minutes=5)
    assert any(datetime.fromisoformat(t) < window for t in ticks.values())  # a stale one
    records = [json.loads(v[2]) for k, v in first.items() if k.startswith("process:data:")]
    assert {"running", "error", "stopped", "idle"} <= {r["status"] for r in records}
