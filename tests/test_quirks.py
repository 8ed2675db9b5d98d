"""One test per quirk of layout document §6 that a reader must tolerate, end to end.

Data comes from the simulator's ``CacheWriter`` (fullon_cache 0.5.11's exact layout); damaged
or foreign data (which fullon_cache never writes) comes from its ``write_raw_*`` helpers.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio

from fullon_cache_api.simulator import CacheWriter
from support import RunningServer, raw_ws
from test_queries import T0, T0_S, Clock, at, iso, order, trade, wall_now

JSONDict = dict[str, Any]
Redis = redis.asyncio.Redis


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def writer(redis_client: Redis, clock: Clock) -> CacheWriter:
    return CacheWriter(redis_client, now=clock)


async def post(server: RunningServer, query: str, variables: JSONDict | None = None) -> JSONDict:
    return await server.graphql(query, variables)


async def data_of(server: RunningServer, query: str, variables: JSONDict | None = None) -> JSONDict:
    body = await post(server, query, variables)
    assert "errors" not in body, body
    data: JSONDict = body["data"]
    return data


def corrupt_errors(body: JSONDict, path: list[Any]) -> list[JSONDict]:
    """The CORRUPT_DATA errors of a response; every error must be one, at ``path``."""
    errors: list[JSONDict] = body.get("errors", [])
    for error in errors:
        assert error["extensions"]["code"] == "CORRUPT_DATA", error
        assert error["path"] == path, error
    return errors


# ------------------------------------------------------------- 1. destructive reads


async def test_1_reads_never_consume_lists(
    api_server: RunningServer, writer: CacheWriter, redis_client: Redis
) -> None:
    """fullon_cache's get_trades DELs and pop_* LPOP/BLPOP: the API must only LRANGE/LLEN,
    so the ohlcv batcher and the order/user-trade consumers still get every item."""
    for index in range(3):
        await writer.push_trade("binance", trade(50001 + index, 100.0 + index, T0_S + index))
    await writer.push_user_trade(1, "binance", trade(1, 1.0, T0_S))
    await writer.push_user_trade(1, "binance", trade(2, 2.0, T0_S))
    for oid in ("8389765496", "8389765497"):
        await writer.push_open_order(oid, "1001")
    lists = ("trades:binance:BTCUSDT", "user_trades:1:binance", "new_orders:1001")
    before = {key: await redis_client.lrange(key, 0, -1) for key in lists}
    assert [len(items) for items in before.values()] == [3, 2, 2]

    query = """{ trades(exchange: "binance", symbol: "BTC/USDT") { tradeId }
        last: trades(exchange: "binance", symbol: "BTC/USDT", last: 1) { tradeId }
        userTrades(uid: "1", exchange: "binance") { tradeId }
        openOrderQueue(localOid: "1001") queueLength(localOid: "1001") }"""
    for _ in range(3):
        data = await data_of(api_server, query)
        assert [t["tradeId"] for t in data["trades"]] == ["50001", "50002", "50003"]
        assert data["last"] == [{"tradeId": "50003"}]
        assert data["openOrderQueue"] == ["8389765496", "8389765497"]
        assert data["queueLength"] == 2
    async with raw_ws(api_server.ws_url) as ws:
        await ws.init()
        for index in range(3):
            payload = await ws.query(query, id=str(index))
            assert payload["data"] == data

    for key in lists:
        assert await redis_client.llen(key) == len(before[key])
        assert await redis_client.lrange(key, 0, -1) == before[key]
        assert await redis_client.ttl(key) == -1


# ------------------------------------------------------- 2. hard-coded exchange list


async def test_2_exchanges_found_by_scan(
    api_server: RunningServer, writer: CacheWriter, redis_client: Redis
) -> None:
    """0.5.11 only looks at binance, kraken, coinbase, bitfinex and bybit."""
    ticks = [
        ("binance", "BTC/USDT", 1.0),
        ("kucoin", "BTC/USDT", 2.0),
        ("kucoin", "KCS/USDT", 3.0),
        ("bitmex", "XBT/USD:BTC", 4.0),
    ]
    for exchange, symbol, price in ticks:
        await writer.set_ticker(
            {"symbol": symbol, "exchange": exchange, "price": price, "time": T0_S + price}
        )
    # Not ticker hashes: a string under the prefix, and another tenant's prefixed key.
    await writer.write_raw_string("tickers:not_a_hash", "x")
    await writer.write_raw_hash_field("test_gw0_ab12:tickers:ghost", "BTC/USDT", "{}")
    data = await data_of(
        api_server,
        """{ exchanges tickers { exchange symbol price }
             only: anyTicker(symbol: "KCS/USDT") { exchange price }
             freshest: anyTicker(symbol: "BTC/USDT") { exchange }
             bitmex: ticker(exchange: "bitmex", symbol: "XBT/USD:BTC") { price } }""",
    )
    assert data["exchanges"] == ["binance", "bitmex", "kucoin"]
    assert [(t["exchange"], t["symbol"], t["price"]) for t in data["tickers"]] == [
        ("binance", "BTC/USDT", 1.0),
        ("bitmex", "XBT/USD:BTC", 4.0),
        ("kucoin", "BTC/USDT", 2.0),
        ("kucoin", "KCS/USDT", 3.0),
    ]
    assert data["only"] == {"exchange": "kucoin", "price": 3.0}
    assert data["freshest"] == {"exchange": "kucoin"}
    assert data["bitmex"] == {"price": 4.0}


# ------------------------------------------------------- 4. positions of one ex_id


async def test_4_positions_are_per_ex_id(api_server: RunningServer, writer: CacheWriter) -> None:
    """0.5.11's get_positions(ex_id) ignores ex_id and returns every account's positions."""
    position = {"cost": 1.0, "volume": 1.0, "fee": 0.1, "count": 1, "price": 1.0}
    await writer.upsert_positions(1, {"BTC/USDT": {**position, "timestamp": T0_S}})
    await writer.upsert_positions(2, {"ETH/USDT": position, "SOL/USDT": position})
    query = "query($id: String!) { positions(exId: $id) { exId symbol } }"
    data = await data_of(api_server, query, {"id": "1"})
    assert data["positions"] == [{"exId": "1", "symbol": "BTC/USDT"}]
    data = await data_of(api_server, query, {"id": "2"})
    assert data["positions"] == [
        {"exId": "2", "symbol": "ETH/USDT"},
        {"exId": "2", "symbol": "SOL/USDT"},
    ]


# -------------------------------------------------- 5. legacy numeric root timestamp


async def test_5_legacy_numeric_root_timestamp(
    api_server: RunningServer, writer: CacheWriter
) -> None:
    """0.5.11's get_all_positions drops an ex_id whose root timestamp is an epoch float (the
    legacy monolith's format); the API reads it and uses it as the per-symbol fallback."""
    legacy_root = 1717600000.5
    await writer.upsert_positions(
        5,
        {
            "BTC/USDT": {"cost": 10.0, "volume": 0.1, "fee": 0.01, "count": 1, "price": 100.0},
            "ETH/USDT": {"cost": 20.0, "volume": 2, "fee": 0.02, "count": 2, "price": 10.0,
                         "timestamp": T0_S},
        },
        root_timestamp=legacy_root,
    )  # fmt: skip
    await writer.upsert_positions(6, {"SOL/USDT": {"cost": 1.0, "timestamp": None}})
    data = await data_of(
        api_server,
        """{ allPositions { exId symbol cost timestamp }
             positions(exId: "5") { symbol timestamp } }""",
    )
    assert sorted(data["allPositions"], key=lambda p: (p["exId"], p["symbol"])) == [
        {"exId": "5", "symbol": "BTC/USDT", "cost": 10.0, "timestamp": at(legacy_root)},
        {"exId": "5", "symbol": "ETH/USDT", "cost": 20.0, "timestamp": iso(T0)},
        {"exId": "6", "symbol": "SOL/USDT", "cost": 1.0, "timestamp": iso(T0)},
    ]
    assert data["positions"] == [
        {"symbol": "BTC/USDT", "timestamp": "2024-06-05T15:06:40.500000+00:00"},
        {"symbol": "ETH/USDT", "timestamp": iso(T0)},
    ]


# ------------------------------------------------------------------ 6. order_status


async def test_6_canceled_order_ttl_hash_is_read_and_left_alone(
    api_server: RunningServer, writer: CacheWriter, redis_client: Redis
) -> None:
    """One "canceled" order puts a 1 h TTL on the whole hash ("cancelled" does not)."""
    await writer.save_order("kraken", order("OQCLML-BW3P3-BUCMWZ", "OQCLML-BW3P3-BUCMWZ"))
    await writer.save_order("kraken", order("OUF4EM", "OUF4EM", status="canceled"))
    await writer.save_order("binance", order("1", "1", status="cancelled"))
    assert 0 < await redis_client.ttl("order_status:kraken") <= 3600
    assert await redis_client.ttl("order_status:binance") == -1
    query = """{ kraken: orders(exchange: "kraken") { orderId status }
        binance: orders(exchange: "binance") { orderId status }
        one: order(exchange: "kraken", orderId: "OUF4EM") { status } orderKeys }"""
    for _ in range(2):
        data = await data_of(api_server, query)
        assert sorted(o["orderId"] for o in data["kraken"]) == ["OQCLML-BW3P3-BUCMWZ", "OUF4EM"]
        assert data["binance"] == [{"orderId": "1", "status": "cancelled"}]
        assert data["one"] == {"status": "canceled"}
        assert sorted(data["orderKeys"]) == ["binance", "kraken"]
    assert 0 < await redis_client.ttl("order_status:kraken") <= 3600
    assert await redis_client.ttl("order_status:binance") == -1


async def test_6_order_id_int_or_string_and_null_ids(
    api_server: RunningServer, writer: CacheWriter, redis_client: Redis
) -> None:
    # update_order leaves the numeric DB id in "order_id"; the hash field is the exchange id.
    await writer.save_order("bybit", order(4001, "BYB-7731-0001", exchange="bybit"))
    await writer.update_order("bybit", {"order_id": 4001, "ex_order_id": "BYB-7731-0001",
                                        "status": "filled", "final_volume": 0.05})  # fmt: skip
    stored = await redis_client.hget("order_status:bybit", "BYB-7731-0001")
    assert stored is not None
    assert '"order_id": 4001,' in stored
    # No exchange id: the field is the DB id; ex_order_id stays null.
    await writer.save_order("bybit", order("12", None, exchange="bybit"))
    # Neither id: the field is the literal "None".
    await writer.save_order("bybit", order(None, None, exchange="bybit", side="sell"))
    assert sorted(await redis_client.hkeys("order_status:bybit")) == ["12", "BYB-7731-0001", "None"]

    fields = "orderId storedOrderId exOrderId status finalVolume side"
    query = f"""query($id: String!) {{ order(exchange: "bybit", orderId: $id) {{ {fields} }} }}"""
    data = await data_of(api_server, query, {"id": "BYB-7731-0001"})
    assert data["order"] == {
        "orderId": "BYB-7731-0001", "storedOrderId": "4001", "exOrderId": "BYB-7731-0001",
        "status": "filled", "finalVolume": 0.05, "side": "buy",
    }  # fmt: skip
    data = await data_of(api_server, query, {"id": "12"})
    assert data["order"] == {
        "orderId": "12", "storedOrderId": "12", "exOrderId": None, "status": "open",
        "finalVolume": None, "side": "buy",
    }  # fmt: skip
    data = await data_of(api_server, query, {"id": "None"})
    assert data["order"] == {
        "orderId": "None", "storedOrderId": "None", "exOrderId": None, "status": "open",
        "finalVolume": None, "side": "sell",
    }  # fmt: skip
    data = await data_of(api_server, '{ orders(exchange: "bybit") { orderId } }')
    assert sorted(o["orderId"] for o in data["orders"]) == ["12", "BYB-7731-0001", "None"]


# ------------------------------------------------------------------------ 7. OHLCV


async def test_7_ohlcv_duplicates_and_unsorted(
    api_server: RunningServer, writer: CacheWriter
) -> None:
    t = [int(T0_S * 1000) + i * 60_000 for i in range(4)]
    await writer.update_ohlcv_bars(
        "BTC/USDT",
        "1m",
        [
            [t[2], 3.0, 3.0, 3.0, 3.0, 3.0],
            [t[0], 1.0, 1.0, 1.0, 1.0, 1.0],
            [t[1], 2.0, 2.0, 2.0, 2.0, 2.0],
            [t[1], 2.0, 2.5, 1.5, 2.25, 9.0],  # an in-progress candle re-sent: the last wins
            [t[3], 4.0, 4.0, 4.0, 4.0, 4.0, "extra element kept by the writer"],
        ],
    )
    query = """query($c: Int!) { ohlcv(symbol: "BTC/USDT", timeframe: "1m", count: $c) {
        timestamp open high low close volume } }"""
    data = await data_of(api_server, query, {"c": 100})
    assert data["ohlcv"] == [
        {"timestamp": at(t[0] / 1000), "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
         "volume": 1.0},
        {"timestamp": at(t[1] / 1000), "open": 2.0, "high": 2.5, "low": 1.5, "close": 2.25,
         "volume": 9.0},
        {"timestamp": at(t[2] / 1000), "open": 3.0, "high": 3.0, "low": 3.0, "close": 3.0,
         "volume": 3.0},
        {"timestamp": at(t[3] / 1000), "open": 4.0, "high": 4.0, "low": 4.0, "close": 4.0,
         "volume": 4.0},
    ]  # fmt: skip
    # count takes the newest stored items (LRANGE -count -1), then dedupes and sorts.
    data = await data_of(api_server, query, {"c": 2})
    assert [(b["timestamp"], b["close"]) for b in data["ohlcv"]] == [
        (at(t[1] / 1000), 2.25),
        (at(t[3] / 1000), 4.0),
    ]


async def test_7_ohlcv_ms_and_s_timestamps_and_verbatim_symbols(
    api_server: RunningServer, writer: CacheWriter
) -> None:
    hour = int(T0_S) - int(T0_S) % 3600
    await writer.update_ohlcv_bars("BTCUSD", "1h", [[hour, 1, 2, 0.5, 1.5, 10]])  # seconds
    await writer.update_ohlcv_bars("BTC/USD", "1h", [[hour * 1000, 5, 6, 4, 5.5, 20]])  # ms
    query = """query($s: String!) { ohlcv(symbol: $s, timeframe: "1h") { timestamp close } }"""
    seconds = await data_of(api_server, query, {"s": "BTCUSD"})
    millis = await data_of(api_server, query, {"s": "BTC/USD"})
    assert seconds["ohlcv"] == [{"timestamp": "2025-06-02T12:00:00+00:00", "close": 1.5}]
    assert millis["ohlcv"] == [{"timestamp": "2025-06-02T12:00:00+00:00", "close": 5.5}]


@pytest.mark.parametrize("count", [0, -1])
async def test_7_ohlcv_count_zero_is_invalid(
    api_server: RunningServer, writer: CacheWriter, count: int
) -> None:
    """fullon_cache's count=0 means "every bar" (LRANGE 0 -1); the API refuses it."""
    await writer.update_ohlcv_bars("BTC/USDT", "1m", [[int(T0_S * 1000), 1, 1, 1, 1, 1]])
    body = await post(
        api_server,
        'query($c: Int!) { ohlcv(symbol: "BTC/USDT", timeframe: "1m", count: $c) { close } }',
        {"c": count},
    )
    assert body["data"] == {"ohlcv": None}
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert error["path"] == ["ohlcv"]


async def test_7_ohlcv_corrupt_bar_dropped(api_server: RunningServer, writer: CacheWriter) -> None:
    stamp = int(T0_S * 1000)
    await writer.update_ohlcv_bars("ETH/USDT", "5m", [[stamp, 1, 1, 1, 1, 1]])
    await writer.write_raw_list("ohlcv:ETH/USDT:5m", ["[1, 2, 3]", "not json", '["x",1,1,1,1,1]'])
    await writer.update_ohlcv_bars("ETH/USDT", "5m", [[stamp + 300_000, 2, 2, 2, 2, 2]])
    body = await post(api_server, '{ ohlcv(symbol: "ETH/USDT", timeframe: "5m") { close } }')
    assert body["data"]["ohlcv"] == [{"close": 1.0}, {"close": 2.0}]
    assert len(corrupt_errors(body, ["ohlcv"])) == 3


# ------------------------------------------------------------ 8. trades key collisions


async def test_8_trades_key_collision_and_colon(
    api_server: RunningServer, writer: CacheWriter, redis_client: Redis
) -> None:
    """The key strips only "/": BTC/USDT and BTCUSDT share a list; BTC/USDT:USDT keeps ':'."""
    await writer.push_trade_list("BTC/USDT", "binance", trade(1, 1.0, T0_S, symbol="BTC/USDT"))
    await writer.push_trade_list("BTCUSDT", "binance", trade(2, 2.0, T0_S + 1, symbol="BTCUSDT"))
    await writer.push_trade("bybit", trade(3, 3.0, T0_S, symbol="BTC/USDT:USDT"))
    assert await redis_client.llen("trades:binance:BTCUSDT") == 2
    assert await redis_client.llen("trades:bybit:BTCUSDT:USDT") == 1
    query = """query($e: String!, $s: String!) { trades(exchange: $e, symbol: $s) {
        tradeId symbol } }"""
    expected = [{"tradeId": "1", "symbol": "BTC/USDT"}, {"tradeId": "2", "symbol": "BTCUSDT"}]
    for symbol in ("BTC/USDT", "BTCUSDT"):
        data = await data_of(api_server, query, {"e": "binance", "s": symbol})
        assert data["trades"] == expected
    data = await data_of(api_server, query, {"e": "bybit", "s": "BTC/USDT:USDT"})
    assert data["trades"] == [{"tradeId": "3", "symbol": "BTC/USDT:USDT"}]


# ------------------------------------------------------------------- 9. bot_status


async def test_9_bot_status_flat_feeds_and_corrupt(
    api_server: RunningServer, writer: CacheWriter
) -> None:
    """bot_status values are free-form; 0.5.11 returns {"error": "Invalid JSON"} for a bad
    one, the API drops it and reports CORRUPT_DATA at ["bots"], serving the others."""
    feeds = {"0": {"status": "running", "symbol": "BTC/USDT"}, "1": {"symbol": "ETH/USDT"}}
    await writer.update_bot(1, feeds)
    await writer.update_bot(2, {"status": "paused", "name": "Bot_2"})
    await writer.write_raw_hash_field("bot_status", "3", '{"0": {"status": "running"')
    await writer.write_raw_hash_field("bot_status", "4", "[1, 2]")
    await writer.update_bot(5, {"name": "no status at all", "n": 5})
    body = await post(api_server, "{ bots { botId status updatedAt data } }")
    assert sorted(b["botId"] for b in body["data"]["bots"]) == ["1", "2", "5"]
    bots = {b["botId"]: b for b in body["data"]["bots"]}
    assert bots["1"]["status"] == "running"
    assert bots["1"]["updatedAt"] == iso(T0)
    assert bots["1"]["data"]["1"] == {"symbol": "ETH/USDT", "timestamp": iso(T0)}
    assert bots["2"] == {
        "botId": "2",
        "status": "paused",
        "updatedAt": None,
        "data": {"status": "paused", "name": "Bot_2"},
    }
    assert bots["5"]["status"] is None
    errors = corrupt_errors(body, ["bots"])
    assert len(errors) == 2
    assert any("bot_status[3]" in error["message"] for error in errors)
    assert any("bot_status[4]" in error["message"] for error in errors)


async def test_9_single_corrupt_bot_is_corrupt_data_not_internal(
    api_server: RunningServer, writer: CacheWriter
) -> None:
    """A single-object read of a corrupt value: null plus CORRUPT_DATA at the field's path
    (not a masked INTERNAL error and a server-side traceback)."""
    await writer.write_raw_hash_field("bot_status", "3", "{not json")
    body = await post(api_server, '{ bot(botId: "3") { botId } }')
    assert body["data"] == {"bot": None}
    (error,) = body["errors"]
    assert error["path"] == ["bot"]
    assert error["extensions"]["code"] == "CORRUPT_DATA"


# --------------------------------------------------------------- 10. non-JSON values


async def test_10_values_that_are_not_json(
    api_server: RunningServer, writer: CacheWriter, clock: Clock
) -> None:
    await writer.set_ticker({"symbol": "BTC/USDT", "exchange": "binance", "price": 1.0,
                             "time": 1717600000.123})  # fmt: skip
    await writer.set_ticker({"symbol": "ETH/USDT", "exchange": "binance", "price": 2.0})
    await writer.push_trade("binance", trade(1, 1.0, T0_S))
    await writer.update_user_trade_status("kraken:2", T0 + timedelta(microseconds=5))
    # Plain ids that would change if parsed as JSON numbers.
    for oid in ("00123", "1e5", "OQCLML-BW3P3-BUCMWZ"):
        await writer.push_open_order(oid, "1001")
    await writer.block_exchange(7, "BTC/USDT:USDT", "0042")
    clock.set(datetime(2025, 6, 5, 15, 6, 40, 123456, UTC))
    value = await writer.mark_opening_position(7, "BTC/USDT:USDT", 42)
    assert value == "42:2025-06-05T15:06:40.123456+00:00"
    # A value with no ':' at all (not written by 0.5.11): the bot id, no time.
    await writer.write_raw_hash_field("opening_position", "8:ETH/USDT", "43")
    data = await data_of(
        api_server,
        """{ t1: tickerTime(exchange: "binance", symbol: "BTC/USDT")
             t2: tickerTime(exchange: "binance", symbol: "ETH/USDT")
             eth: ticker(exchange: "binance", symbol: "ETH/USDT") { price time }
             tradeStatus(exchange: "binance") { timestamp }
             userTradeStatus(key: "kraken:2") { timestamp }
             openOrderQueue(localOid: "1001")
             isBlocked(exId: "7", symbol: "BTC/USDT:USDT")
             blocks { exId symbol botId }
             openingPositions { exId symbol botId since }
             isOpeningPosition(exId: "7", symbol: "BTC/USDT:USDT") }""",
    )
    assert data["t1"] == "2024-06-05T15:06:40.123000+00:00"
    assert data["t2"] is None  # the stored string is "None"
    assert data["eth"] == {"price": 2.0, "time": None}
    assert data["tradeStatus"] == {"timestamp": iso(T0)}
    assert data["userTradeStatus"] == {"timestamp": "2025-06-02T12:00:00.000005+00:00"}
    assert data["openOrderQueue"] == ["00123", "1e5", "OQCLML-BW3P3-BUCMWZ"]
    assert data["isBlocked"] == "0042"
    assert data["blocks"] == [{"exId": "7", "symbol": "BTC/USDT:USDT", "botId": "0042"}]
    assert data["openingPositions"] == [
        {"exId": "7", "symbol": "BTC/USDT:USDT", "botId": "42",
         "since": "2025-06-05T15:06:40.123456+00:00"},
        {"exId": "8", "symbol": "ETH/USDT", "botId": "43", "since": None},
    ]  # fmt: skip
    assert data["isOpeningPosition"] is True


# --------------------------------------------------------- 11. NaN, Infinity, numbers


async def test_11_nan_and_infinity_become_null(
    api_server: RunningServer, writer: CacheWriter
) -> None:
    await writer.set_ticker({"symbol": "BTC/USDT", "exchange": "binance", "price": math.nan,
                             "volume": math.inf, "time": T0_S, "bid": -math.inf, "ask": 1.0,
                             "last": 50000})  # fmt: skip
    await writer.upsert_user_account(1, {"USDT": {"free": math.nan, "used": 0, "total": math.inf}})
    await writer.upsert_positions(1, {"BTC/USDT": {"cost": math.nan, "volume": 1, "price": 2}})
    await writer.push_trade("binance", trade(1, math.inf, T0_S, fee=math.nan))
    await writer.update_ohlcv_bars("BTC/USDT", "1m", [[int(T0_S), math.nan, 2, 1, math.inf, 5]])
    data = await data_of(
        api_server,
        """{ ticker(exchange: "binance", symbol: "BTC/USDT") {
                price volume bid ask last spread spreadPercentage }
             balance(exId: "1", currency: "USDT") { free used total }
             position(exId: "1", symbol: "BTC/USDT") { cost volume price }
             trades(exchange: "binance", symbol: "BTC/USDT") { price fee }
             ohlcv(symbol: "BTC/USDT", timeframe: "1m") { open high close volume } }""",
    )
    assert data["ticker"] == {
        "price": None, "volume": None, "bid": None, "ask": 1.0, "last": 50000.0,
        "spread": None, "spreadPercentage": None,
    }  # fmt: skip
    assert isinstance(data["ticker"]["last"], float)
    assert data["balance"] == {"free": None, "used": 0.0, "total": None}
    assert data["position"] == {"cost": None, "volume": 1.0, "price": 2.0}
    assert data["trades"] == [{"price": None, "fee": None}]
    assert data["ohlcv"] == [{"open": None, "high": 2.0, "close": None, "volume": 5.0}]


async def test_11_exponent_floats_kept(api_server: RunningServer, writer: CacheWriter) -> None:
    await writer.set_ticker({"symbol": "PEPE/USDT", "exchange": "binance", "price": 1.234e-05,
                             "volume": 8.3e12, "time": T0_S, "bid": 1.233e-05,
                             "ask": 1.235e-05, "last": 1.234e-05})  # fmt: skip
    data = await data_of(
        api_server,
        """{ ticker(exchange: "binance", symbol: "PEPE/USDT") {
                price volume bid ask last spread } }""",
    )
    ticker = data["ticker"]
    assert ticker["price"] == 1.234e-05
    assert ticker["volume"] == 8.3e12
    assert (ticker["bid"], ticker["ask"], ticker["last"]) == (1.233e-05, 1.235e-05, 1.234e-05)
    assert ticker["spread"] == pytest.approx(2e-08)


# ------------------------------------------------------------- 12. mixed timestamps


async def test_12_mixed_timestamp_formats(api_server: RunningServer, writer: CacheWriter) -> None:
    await writer.upsert_user_account(1, {"USDT": {"total": 1}})
    await writer.upsert_user_account(1, update_date="2024-01-15 10:30:00")  # caller's string
    await writer.upsert_user_account(2, {"USDT": {"total": 1}})
    await writer.upsert_user_account(2, update_date="2024-01-15 10:30:00+02:00")  # arrow's ZZ
    await writer.upsert_user_account(3, {"USDT": {"total": 1}})
    await writer.upsert_user_account(3, update_date="last tuesday")
    # Tick time in ms; trade times as ISO text, epoch seconds and epoch ms.
    await writer.set_ticker({"symbol": "BTC/USDT", "exchange": "binance", "price": 1.0,
                             "time": 1748865600125})  # fmt: skip
    await writer.push_trade("binance", trade(1, 1.0, "2025-06-02T11:59:10+00:00"))
    await writer.push_trade("binance", trade(2, 1.0, T0_S - 30))
    await writer.push_trade("binance", trade(3, 1.0, int(T0_S * 1000) - 10_000))
    await writer.push_trade("binance", trade(4, 1.0, "2025-06-02T11:59:55"))  # naive: UTC
    data = await data_of(
        api_server,
        """{ accounts { exId date }
             ticker(exchange: "binance", symbol: "BTC/USDT") { time }
             trades(exchange: "binance", symbol: "BTC/USDT") { tradeId time } }""",
    )
    dates = {account["exId"]: account["date"] for account in data["accounts"]}
    assert dates == {
        "1": "2024-01-15T10:30:00+00:00",
        "2": "2024-01-15T08:30:00+00:00",
        "3": None,
    }
    assert data["ticker"]["time"] == "2025-06-02T12:00:00.125000+00:00"
    assert [t["time"] for t in data["trades"]] == [
        "2025-06-02T11:59:10+00:00",
        "2025-06-02T11:59:30+00:00",
        "2025-06-02T11:59:50+00:00",
        "2025-06-02T11:59:55+00:00",
    ]


# ------------------------------------------------------------ 13. process index rot


async def test_13_process_index_rot(
    api_server: RunningServer, writer: CacheWriter, redis_client: Redis
) -> None:
    base = wall_now()

    def at_time(seconds_ago: float) -> CacheWriter:
        return CacheWriter(redis_client, now=lambda: base - timedelta(seconds=seconds_ago))

    live = await at_time(10).register_process("tick", "binance:BTC/USDT")
    # A dangling id: its data key expired (24 h TTL) but the active entry stays.
    await writer.write_raw_hash_field("process:active:tick", "tick:gone:1.0", iso(base))
    # A type outside fullon_cache's enum, found by SCAN.
    custom = await at_time(20).register_process("custom_type", "custom:worker")
    # Corrupt data behind an active id.
    await writer.write_raw_hash_field("process:active:bot", "bot:broken:2.0", iso(base))
    await writer.write_raw_string("process:data:bot:broken:2.0", "{broken")
    # Re-registration: the component points at the newest id ...
    old = await at_time(60).register_process("ohlcv", "kraken:BTC/USD:1h")
    new = await at_time(30).register_process("ohlcv", "kraken:BTC/USD:1h")
    # ... and stopping the *old* one still HDELs the component (fullon_cache quirk).
    await at_time(25).stop_process(old)
    # A component pointing at an expired process.
    await writer.write_raw_hash_field("process:components", "ghost", "tick:ghost:3.0")

    body = await post(
        api_server,
        """query($old: String!) { activeProcesses { processId }
             stopped: process(processId: $old) { status lastActive }
             gone: process(processId: "tick:gone:1.0") { processId }
             kraken: componentStatus(component: "kraken:BTC/USD:1h") { processId }
             ghost: componentStatus(component: "ghost") { processId process { status } }
             binance: componentStatus(component: "binance:BTC/USDT") { processId } }""",
        {"old": old},
    )
    data = body["data"]
    assert [p["processId"] for p in data["activeProcesses"]] == [live, custom, new]
    errors = corrupt_errors(body, ["activeProcesses"])
    assert len(errors) == 1
    assert "process:data:bot:broken:2.0" in errors[0]["message"]
    # The stopped process still has data (until its TTL) but left the active index.
    assert data["stopped"] == {"status": "stopped", "lastActive": None}
    assert data["gone"] is None
    assert data["kraken"] is None
    assert data["ghost"] == {"processId": "tick:ghost:3.0", "process": None}
    assert data["binance"] == {"processId": live}


# -------------------------------------------------- 14. prefixed keys of test tenants


async def test_14_prefixed_keys_are_not_read(
    api_server: RunningServer, writer: CacheWriter
) -> None:
    """Only ProcessCache's literal ``process:`` prefix exists in production; keys carrying
    fullon_cache's test prefixes belong to someone else."""
    await writer.write_raw_hash_field("test_gw0_ab12:tickers:binance", "BTC/USDT", "{}")
    await writer.write_raw_hash_field(
        "test_gw0_ab12:process:active:tick", "tick:x:1.0", iso(wall_now())
    )
    await writer.write_raw_list("test_gw0_ab12:ohlcv:BTC/USDT:1m", ["[1, 1, 1, 1, 1, 1]"])
    data = await data_of(
        api_server, "{ exchanges activeProcesses { processId } ohlcvSeries { symbol } }"
    )
    assert data == {"exchanges": [], "activeProcesses": [], "ohlcvSeries": []}


# ------------------------------------------------------ 15. foreign non-UTF-8 values


async def test_15_non_utf8_foreign_values_dropped(
    api_server: RunningServer, writer: CacheWriter
) -> None:
    """Other tenants (fullon_orm's dogpile cache) may store binary values: that item is
    dropped and reported, the others are served; foreign binary *names* are skipped."""
    await writer.set_ticker({"symbol": "BTC/USDT", "exchange": "binance", "price": 1.0})
    await writer.set_ticker({"symbol": "ETH/USDT", "exchange": "binance", "price": 2.0})
    pickled = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x04\xff\xfe"
    await writer.write_raw_hash_field("tickers:binance", "FOREIGN/X", pickled)  # type: ignore[arg-type]
    await writer.write_raw_hash_field("tickers:binance", b"\xff\xfe", "{}")  # type: ignore[arg-type]
    await writer.write_raw_hash_field(b"tickers:\xff", "BTC/USDT", "{}")  # type: ignore[arg-type]
    await writer.update_bot(1, {"status": "running"})
    await writer.write_raw_hash_field("bot_status", "2", pickled)  # type: ignore[arg-type]
    await writer.upsert_user_account(1, {"USDT": {"total": 5}})
    await writer.write_raw_hash_field("accounts", "2", pickled)  # type: ignore[arg-type]

    body = await post(api_server, '{ tickers(exchange: "binance") { symbol price } }')
    assert body["data"]["tickers"] == [
        {"symbol": "BTC/USDT", "price": 1.0},
        {"symbol": "ETH/USDT", "price": 2.0},
    ]
    (error,) = corrupt_errors(body, ["tickers"])
    assert "tickers:binance[FOREIGN/X]" in error["message"]

    body = await post(api_server, "{ exchanges bots { botId } accounts { exId } }")
    assert body["data"] == {
        "exchanges": ["binance"],
        "bots": [{"botId": "1"}],
        "accounts": [{"exId": "1"}],
    }
    paths = sorted(tuple(error["path"]) for error in body["errors"])
    assert paths == [("accounts",), ("bots",)]
    assert {error["extensions"]["code"] for error in body["errors"]} == {"CORRUPT_DATA"}
