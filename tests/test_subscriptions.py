"""Every ``Subscription`` field end to end, over real WebSockets against a real redis-server.

Each test subscribes, expects the current state first (SNAPSHOT, or the value for latest-value
streams), then writes through the simulator's ``CacheWriter`` (the layout fullon_cache 0.5.11
writes) and expects each kind of change, in order, with the right values. Consumer-side
operations fullon itself performs (the trade batcher's DEL, LPOP of a queue) and the expiry
of a canceled order's TTL are done by the test with a direct Redis command: the server never
writes.

The whole module runs twice (module-level parametrization of :func:`env`):

* ``keyspace``: the Redis server has ``--notify-keyspace-events KA``, the app detects it
  (``KEYSPACE_NOTIFICATIONS=auto`` → ``hub.mode == "keyspace"``);
* ``poll``: ``KEYSPACE_NOTIFICATIONS=off``, every domain polled every 50 ms.

Tickers and process broadcasts come from pub/sub in both modes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from gql import Client, GraphQLRequest, gql
from gql.transport.websockets import WebsocketsTransport

from support.live import T0, LiveClient, LiveEnv, live_env, tick, wait_until

JSONDict = dict[str, Any]

TIMEOUT = 5.0


@pytest_asyncio.fixture(scope="module", params=["keyspace", "poll"])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[LiveEnv]:
    async with live_env(request.param) as live:
        yield live


@pytest_asyncio.fixture
async def live(env: LiveEnv) -> AsyncIterator[LiveEnv]:
    await env.reset()
    yield env
    # Whatever the test did, nothing may be left running once its clients are gone.
    await env.wait_idle()


@pytest_asyncio.fixture
async def client(live: LiveEnv) -> AsyncIterator[LiveClient]:
    async with live.client() as connection:
        yield connection


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def at(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def by(key: str, items: list[JSONDict]) -> list[JSONDict]:
    return sorted(items, key=lambda item: str(item[key]))


def keys_of(key: str, items: list[JSONDict]) -> list[Any]:
    return sorted(item[key] for item in items)


async def event(client: LiveClient, op_id: str, kind: str) -> list[JSONDict]:
    """The next event of a keyed stream; it must be of ``kind``. Returns its items."""
    value = await client.data(op_id, TIMEOUT)
    assert value["kind"] == kind, value
    items: list[JSONDict] = value["items"]
    return items


# --------------------------------------------------------------------------- tickers

TICKER = """
subscription T($exchange: String!, $symbol: String!) {
  ticker(exchange: $exchange, symbol: $symbol) {
    exchange symbol price bid ask last volume time spread
  }
}
"""

TICKERS = """
subscription Ts($exchange: String, $symbols: [String!]) {
  tickers(exchange: $exchange, symbols: $symbols) {
    kind items { exchange symbol price }
  }
}
"""


async def test_ticker_value_then_every_update(live: LiveEnv, client: LiveClient) -> None:
    await live.writer.set_ticker(tick(100.0))
    await client.subscribe("t", TICKER, {"exchange": "binance", "symbol": "BTC/USDT"})
    first = await client.data("t")
    assert first == {
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "price": 100.0,
        "bid": 99.5,
        "ask": 100.5,
        "last": 100.0,
        "volume": 10.0,
        "time": at(1.0e9 + 100.0),
        "spread": 1.0,
    }
    for price in (101.0, 102.5, 99.0):
        await live.writer.set_ticker(tick(price))
        value = await client.data("t")
        assert (value["price"], value["time"]) == (price, at(1.0e9 + price))
    # Another symbol and another exchange do not reach this subscription: the next event
    # after them is this symbol's.
    await live.writer.set_ticker(tick(5.0, symbol="ETH/USDT"))
    await live.writer.set_ticker(tick(7.0, exchange="kraken"))
    await live.writer.set_ticker(tick(103.0))
    assert (await client.data("t"))["price"] == 103.0


async def test_ticker_missing_then_written(live: LiveEnv, client: LiveClient) -> None:
    await client.subscribe("t", TICKER, {"exchange": "binance", "symbol": "SOL/USDT"})
    assert await client.data("t") is None
    await live.writer.set_ticker(tick(20.0, symbol="SOL/USDT"))
    assert (await client.data("t"))["price"] == 20.0


async def test_tickers_of_every_exchange(live: LiveEnv, client: LiveClient) -> None:
    await live.writer.set_ticker(tick(100.0))
    await live.writer.set_ticker(tick(2000.0, exchange="kraken", symbol="ETH/USD"))
    await client.subscribe("a", TICKERS)
    snapshot = await event(client, "a", "SNAPSHOT")
    assert by("exchange", snapshot) == [
        {"exchange": "binance", "symbol": "BTC/USDT", "price": 100.0},
        {"exchange": "kraken", "symbol": "ETH/USD", "price": 2000.0},
    ]
    await live.writer.set_ticker(tick(2001.0, exchange="kraken", symbol="ETH/USD"))
    assert await event(client, "a", "UPSERT") == [
        {"exchange": "kraken", "symbol": "ETH/USD", "price": 2001.0}
    ]
    await live.writer.set_ticker(tick(150.0, exchange="bybit", symbol="SOL/USDT:USDT"))
    assert await event(client, "a", "UPSERT") == [
        {"exchange": "bybit", "symbol": "SOL/USDT:USDT", "price": 150.0}
    ]
    # Re-publishing an unchanged ticker is not a change.
    await live.writer.set_ticker(tick(150.0, exchange="bybit", symbol="SOL/USDT:USDT"))
    await live.writer.set_ticker(tick(101.0))
    assert await event(client, "a", "UPSERT") == [
        {"exchange": "binance", "symbol": "BTC/USDT", "price": 101.0}
    ]


async def test_tickers_of_one_exchange(live: LiveEnv, client: LiveClient) -> None:
    await live.writer.set_ticker(tick(100.0))
    await live.writer.set_ticker(tick(3.0, symbol="XRP/USDT"))
    await live.writer.set_ticker(tick(2000.0, exchange="kraken", symbol="ETH/USD"))
    await client.subscribe("b", TICKERS, {"exchange": "binance"})
    snapshot = await event(client, "b", "SNAPSHOT")
    assert keys_of("symbol", snapshot) == ["BTC/USDT", "XRP/USDT"]
    assert {item["exchange"] for item in snapshot} == {"binance"}
    await live.writer.set_ticker(tick(2002.0, exchange="kraken", symbol="ETH/USD"))
    await live.writer.set_ticker(tick(3.5, symbol="XRP/USDT"))
    assert await event(client, "b", "UPSERT") == [
        {"exchange": "binance", "symbol": "XRP/USDT", "price": 3.5}
    ]


async def test_tickers_symbols_filter(live: LiveEnv, client: LiveClient) -> None:
    await live.writer.set_ticker(tick(100.0))
    await live.writer.set_ticker(tick(3.0, symbol="XRP/USDT"))
    await live.writer.set_ticker(tick(1.0, symbol="DOGE/USDT"))
    await client.subscribe(
        "f", TICKERS, {"exchange": "binance", "symbols": ["BTC/USDT", "DOGE/USDT"]}
    )
    snapshot = await event(client, "f", "SNAPSHOT")
    assert keys_of("symbol", snapshot) == ["BTC/USDT", "DOGE/USDT"]
    await live.writer.set_ticker(tick(3.1, symbol="XRP/USDT"))
    await live.writer.set_ticker(tick(1.1, symbol="DOGE/USDT"))
    assert await event(client, "f", "UPSERT") == [
        {"exchange": "binance", "symbol": "DOGE/USDT", "price": 1.1}
    ]
    # The filter also applies across exchanges.
    await client.subscribe("g", TICKERS, {"symbols": ["ETH/USD"]})
    assert await event(client, "g", "SNAPSHOT") == []
    await live.writer.set_ticker(tick(2000.0, exchange="kraken", symbol="ETH/USD"))
    assert await event(client, "g", "UPSERT") == [
        {"exchange": "kraken", "symbol": "ETH/USD", "price": 2000.0}
    ]


# --------------------------------------------------------------------------- accounts

ACCOUNT = """
subscription A($exId: String!) {
  account(exId: $exId) { exId date balances { currency free used total } }
}
"""

POSITIONS = """
subscription P($exId: String!) {
  positions(exId: $exId) { kind items { exId symbol cost volume price timestamp } }
}
"""


async def test_account(live: LiveEnv, client: LiveClient) -> None:
    await client.subscribe("a", ACCOUNT, {"exId": "1"})
    assert await client.data("a") is None
    await live.writer.upsert_user_account(1, {"USDT": {"free": 100.0, "used": 0.0, "total": 100.0}})
    assert await client.data("a") == {
        "exId": "1",
        "date": iso(T0),
        "balances": [{"currency": "USDT", "free": 100.0, "used": 0.0, "total": 100.0}],
    }
    live.clock.current = datetime(2025, 6, 2, 12, 5, tzinfo=UTC)
    await live.writer.upsert_user_account(
        1,
        {
            "USDT": {"free": 60.0, "used": 40.0, "total": 100.0},
            "BTC": {"free": 0.5, "used": 0.0, "total": 0.5},
        },
    )
    value = await client.data("a")
    assert value["date"] == "2025-06-02T12:05:00+00:00"
    assert value["balances"] == [
        {"currency": "BTC", "free": 0.5, "used": 0.0, "total": 0.5},
        {"currency": "USDT", "free": 60.0, "used": 40.0, "total": 100.0},
    ]
    # Another account's write is not an event of this one.
    await live.writer.upsert_user_account(2, {"ETH": {"free": 1.0, "used": 0.0, "total": 1.0}})
    await live.writer.upsert_user_account(1, update_date="2025-06-02T13:00:00+00:00")
    assert (await client.data("a"))["date"] == "2025-06-02T13:00:00+00:00"


def position(cost: float, volume: float, price: float) -> JSONDict:
    return {"cost": cost, "volume": volume, "fee": 0.1, "count": 1, "price": price}


async def test_positions(live: LiveEnv, client: LiveClient) -> None:
    await live.writer.upsert_positions(
        1, {"BTC/USDT": position(100.0, 1.0, 100.0), "ETH/USDT": position(50.0, 2.0, 25.0)}
    )
    await client.subscribe("p", POSITIONS, {"exId": "1"})
    snapshot = await event(client, "p", "SNAPSHOT")
    assert by("symbol", snapshot) == [
        {
            "exId": "1",
            "symbol": "BTC/USDT",
            "cost": 100.0,
            "volume": 1.0,
            "price": 100.0,
            "timestamp": iso(T0),
        },
        {
            "exId": "1",
            "symbol": "ETH/USDT",
            "cost": 50.0,
            "volume": 2.0,
            "price": 25.0,
            "timestamp": iso(T0),
        },
    ]
    # BTC changed, SOL new, ETH as it was: one UPSERT of the two.
    await live.writer.upsert_positions(
        1,
        {
            "BTC/USDT": position(200.0, 2.0, 100.0),
            "ETH/USDT": position(50.0, 2.0, 25.0),
            "SOL/USDT": position(30.0, 3.0, 10.0),
        },
    )
    upsert = await event(client, "p", "UPSERT")
    assert [(p["symbol"], p["cost"]) for p in by("symbol", upsert)] == [
        ("BTC/USDT", 200.0),
        ("SOL/USDT", 30.0),
    ]
    # Another account is not this stream.
    await live.writer.upsert_positions(2, {"BTC/USDT": position(1.0, 1.0, 1.0)})
    # ETH closed.
    await live.writer.upsert_positions(
        1, {"BTC/USDT": position(200.0, 2.0, 100.0), "SOL/USDT": position(30.0, 3.0, 10.0)}
    )
    removed = await event(client, "p", "REMOVE")
    assert [(p["symbol"], p["cost"]) for p in removed] == [("ETH/USDT", 50.0)]
    # Every position gone (the entry is HDELed).
    await live.writer.upsert_positions(1, {})
    assert keys_of("symbol", await event(client, "p", "REMOVE")) == ["BTC/USDT", "SOL/USDT"]


# --------------------------------------------------------------------------- orders

ORDERS = """
subscription O($exchange: String!) {
  orders(exchange: $exchange) { kind items { orderId status symbol volume price timestamp } }
}
"""

OPEN_ORDER_QUEUE = """
subscription Q($localOid: String!) { openOrderQueue(localOid: $localOid) }
"""


def order(ex_order_id: str, status: str = "open", **extra: Any) -> JSONDict:
    return {
        "ex_order_id": ex_order_id,
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "side": "buy",
        "order_type": "limit",
        "status": status,
        "volume": 1.0,
        "price": 100.0,
        **extra,
    }


async def test_orders_and_canceled_ttl_expiry(live: LiveEnv, client: LiveClient) -> None:
    await live.writer.save_order("binance", order("A1"))
    await live.writer.save_order("binance", order("A2", price=90.0))
    await client.subscribe("o", ORDERS, {"exchange": "binance"})
    snapshot = await event(client, "o", "SNAPSHOT")
    assert by("orderId", snapshot) == [
        {
            "orderId": "A1",
            "status": "open",
            "symbol": "BTC/USDT",
            "volume": 1.0,
            "price": 100.0,
            "timestamp": iso(T0),
        },
        {
            "orderId": "A2",
            "status": "open",
            "symbol": "BTC/USDT",
            "volume": 1.0,
            "price": 90.0,
            "timestamp": iso(T0),
        },
    ]
    live.clock.current = datetime(2025, 6, 2, 12, 1, tzinfo=UTC)
    await live.writer.update_order("binance", {"ex_order_id": "A1", "status": "filled"})
    upsert = await event(client, "o", "UPSERT")
    assert [(o["orderId"], o["status"], o["timestamp"]) for o in upsert] == [
        ("A1", "filled", "2025-06-02T12:01:00+00:00")
    ]
    # Another key is another stream.
    await live.writer.save_order("kraken", order("K1"))
    await live.writer.save_order("binance", order("A3", volume=3.0))
    assert [(o["orderId"], o["volume"]) for o in await event(client, "o", "UPSERT")] == [
        ("A3", 3.0)
    ]
    # A cancel puts fullon_cache's 1 h TTL on the whole hash...
    await live.writer.update_order("binance", {"ex_order_id": "A2", "status": "canceled"})
    assert [(o["orderId"], o["status"]) for o in await event(client, "o", "UPSERT")] == [
        ("A2", "canceled")
    ]
    ttl = await live.redis.ttl("order_status:binance")
    assert 3500 < ttl <= 3600
    # ...and when it expires every order of the key is gone at once.
    assert await live.redis.pexpire("order_status:binance", 30)
    removed = await event(client, "o", "REMOVE")
    assert [(o["orderId"], o["status"]) for o in by("orderId", removed)] == [
        ("A1", "filled"),
        ("A2", "canceled"),
        ("A3", "open"),
    ]
    # The key starts again from nothing.
    await live.writer.save_order("binance", order("A4"))
    assert keys_of("orderId", await event(client, "o", "UPSERT")) == ["A4"]


async def test_open_order_queue(live: LiveEnv, client: LiveClient) -> None:
    await client.subscribe("q", OPEN_ORDER_QUEUE, {"localOid": "L1"})
    assert await client.data("q") == []
    await live.writer.push_open_order("o1", "L1")
    assert await client.data("q") == ["o1"]
    await live.writer.push_open_order("o2", "L2")  # another queue
    await live.writer.push_open_order("o2", "L1")
    assert await client.data("q") == ["o1", "o2"]
    # fullon's consumer pops (LPOP); the last pop deletes the list.
    assert await live.redis.lpop("new_orders:L1") == "o1"
    assert await client.data("q") == ["o2"]
    assert await live.redis.lpop("new_orders:L1") == "o2"
    assert await client.data("q") == []


# --------------------------------------------------------------------------- trades

TRADES = """
subscription Tr($exchange: String!, $symbol: String!) {
  trades(exchange: $exchange, symbol: $symbol) { kind items { tradeId side price volume time } }
}
"""

USER_TRADES = """
subscription U($uid: String!, $exchange: String!) {
  userTrades(uid: $uid, exchange: $exchange) { kind items { tradeId uid price } }
}
"""


def trade(trade_id: int, price: float, **extra: Any) -> JSONDict:
    return {
        "trade_id": trade_id,
        "ex_trade_id": f"X{trade_id}",
        "symbol": "BTC/USDT",
        "side": "buy",
        "volume": 0.5,
        "price": price,
        "time": 1_748_865_600.0 + trade_id,
        **extra,
    }


async def test_trades_pushed_then_drained(live: LiveEnv, client: LiveClient) -> None:
    await live.writer.push_trade_list("BTC/USDT", "binance", trade(1, 100.0))
    await client.subscribe("t", TRADES, {"exchange": "binance", "symbol": "BTC/USDT"})
    assert await event(client, "t", "SNAPSHOT") == [
        {"tradeId": "1", "side": "buy", "price": 100.0, "volume": 0.5, "time": at(1_748_865_601.0)}
    ]
    await live.writer.push_trade_list("BTC/USDT", "binance", trade(2, 101.0))
    assert keys_of("tradeId", await event(client, "t", "UPSERT")) == ["2"]
    await live.writer.push_trade_list("ETH/USDT", "binance", trade(9, 5.0, symbol="ETH/USDT"))
    await live.writer.push_trade_list("BTC/USDT", "binance", trade(3, 102.0))
    assert [(t["tradeId"], t["price"]) for t in await event(client, "t", "UPSERT")] == [
        ("3", 102.0)
    ]
    # fullon's batcher drains the list (LRANGE then DEL): the list is read again, whole
    # (bounded to the window), and sent as a SNAPSHOT that replaces everything.
    assert await live.redis.delete("trades:binance:BTCUSDT") == 1
    assert await event(client, "t", "SNAPSHOT") == []
    await live.writer.push_trade_list("BTC/USDT", "binance", trade(4, 103.0))
    assert keys_of("tradeId", await event(client, "t", "UPSERT")) == ["4"]


async def test_user_trades(live: LiveEnv, client: LiveClient) -> None:
    await client.subscribe("u", USER_TRADES, {"uid": "7", "exchange": "binance"})
    assert await event(client, "u", "SNAPSHOT") == []
    await live.writer.push_user_trade(7, "binance", trade(11, 100.0, uid=7))
    assert await event(client, "u", "UPSERT") == [{"tradeId": "11", "uid": "7", "price": 100.0}]
    await live.writer.push_user_trade(8, "binance", trade(99, 1.0, uid=8))
    await live.writer.push_user_trade(7, "binance", trade(12, 101.0, uid=7))
    assert keys_of("tradeId", await event(client, "u", "UPSERT")) == ["12"]
    # A consumer pops the oldest, then drains the rest: each time the list shrank, so it
    # is read again and sent as a SNAPSHOT.
    await live.redis.lpop("user_trades:7:binance")
    assert keys_of("tradeId", await event(client, "u", "SNAPSHOT")) == ["12"]
    await live.redis.delete("user_trades:7:binance")
    assert await event(client, "u", "SNAPSHOT") == []


# --------------------------------------------------------------------------- bots

BOTS = "subscription { bots { kind items { botId status updatedAt data } } }"
BLOCKS = "subscription { blocks { kind items { exId symbol botId } } }"
OPENING = "subscription { openingPositions { kind items { exId symbol botId since } } }"


async def test_bots(live: LiveEnv, client: LiveClient) -> None:
    await live.writer.update_bot(1, {"status": "running", "feed1": {"status": "ok"}})
    await client.subscribe("b", BOTS)
    assert await event(client, "b", "SNAPSHOT") == [
        {
            "botId": "1",
            "status": "running",
            "updatedAt": iso(T0),
            "data": {"status": "running", "feed1": {"status": "ok", "timestamp": iso(T0)}},
        }
    ]
    await live.writer.update_bot(2, {"feed0": {"status": "starting"}})
    assert [(b["botId"], b["status"]) for b in await event(client, "b", "UPSERT")] == [
        ("2", "starting")
    ]
    await live.writer.update_bot(1, {"status": "paused", "feed1": {"status": "ok"}})
    assert [(b["botId"], b["status"]) for b in await event(client, "b", "UPSERT")] == [
        ("1", "paused")
    ]
    await live.writer.del_bot(1)
    assert [(b["botId"], b["status"]) for b in await event(client, "b", "REMOVE")] == [
        ("1", "paused")
    ]
    await live.writer.del_bot(2)  # the hash empties: Redis deletes the key
    assert keys_of("botId", await event(client, "b", "REMOVE")) == ["2"]


async def test_blocks(live: LiveEnv, client: LiveClient) -> None:
    await live.writer.block_exchange(1, "BTC/USDT", 5)
    await client.subscribe("k", BLOCKS)
    assert await event(client, "k", "SNAPSHOT") == [
        {"exId": "1", "symbol": "BTC/USDT", "botId": "5"}
    ]
    await live.writer.block_exchange(2, "ETH/USDT:USDT", 6)
    assert await event(client, "k", "UPSERT") == [
        {"exId": "2", "symbol": "ETH/USDT:USDT", "botId": "6"}
    ]
    await live.writer.block_exchange(1, "BTC/USDT", 7)  # another bot takes it
    assert await event(client, "k", "UPSERT") == [{"exId": "1", "symbol": "BTC/USDT", "botId": "7"}]
    assert await live.writer.unblock_exchange(1, "BTC/USDT")
    assert await event(client, "k", "REMOVE") == [{"exId": "1", "symbol": "BTC/USDT", "botId": "7"}]


async def test_opening_positions(live: LiveEnv, client: LiveClient) -> None:
    await client.subscribe("m", OPENING)
    assert await event(client, "m", "SNAPSHOT") == []
    await live.writer.mark_opening_position(1, "BTC/USDT", 5)
    assert await event(client, "m", "UPSERT") == [
        {"exId": "1", "symbol": "BTC/USDT", "botId": "5", "since": iso(T0)}
    ]
    live.clock.current = datetime(2025, 6, 2, 12, 0, 30, tzinfo=UTC)
    await live.writer.mark_opening_position(1, "ETH/USDT", 6)
    assert await event(client, "m", "UPSERT") == [
        {"exId": "1", "symbol": "ETH/USDT", "botId": "6", "since": "2025-06-02T12:00:30+00:00"}
    ]
    assert await live.writer.unmark_opening_position(1, "BTC/USDT")
    assert await event(client, "m", "REMOVE") == [
        {"exId": "1", "symbol": "BTC/USDT", "botId": "5", "since": iso(T0)}
    ]


# --------------------------------------------------------------------------- ohlcv

OHLCV = """
subscription B($symbol: String!, $timeframe: String!, $count: Int!) {
  ohlcv(symbol: $symbol, timeframe: $timeframe, count: $count) {
    kind items { timestamp open high low close volume }
  }
}
"""

MINUTE_MS = 60_000
BAR0_MS = int(T0.timestamp() * 1000)


def bar(index: int, close: float) -> list[float]:
    return [BAR0_MS + index * MINUTE_MS, 10.0, 12.0, 9.0, close, 100.0 + index]


def bar_out(index: int, close: float) -> JSONDict:
    return {
        "timestamp": at((BAR0_MS + index * MINUTE_MS) / 1000),
        "open": 10.0,
        "high": 12.0,
        "low": 9.0,
        "close": close,
        "volume": 100.0 + index,
    }


async def test_ohlcv_window(live: LiveEnv, client: LiveClient) -> None:
    await live.writer.update_ohlcv_bars("BTC/USDT", "1m", [bar(0, 11.0), bar(1, 11.5)])
    await client.subscribe("c", OHLCV, {"symbol": "BTC/USDT", "timeframe": "1m", "count": 3})
    assert await event(client, "c", "SNAPSHOT") == [bar_out(0, 11.0), bar_out(1, 11.5)]
    await live.writer.update_ohlcv_bars("BTC/USDT", "1m", [bar(2, 10.5)])
    assert await event(client, "c", "UPSERT") == [bar_out(2, 10.5)]
    # The open bar is revised: the same timestamp is pushed again and the last write wins.
    # The window is the newest 3 *distinct* bars, so nothing leaves it: one UPSERT.
    await live.writer.update_ohlcv_bars("BTC/USDT", "1m", [bar(2, 10.8)])
    assert await event(client, "c", "UPSERT") == [bar_out(2, 10.8)]
    # Another series does not reach this one.
    await live.writer.update_ohlcv_bars("BTC/USDT", "5m", [bar(0, 1.0)])
    # A new bar: the window becomes [b1, b2', b3], so b0 leaves and b3 arrives.
    await live.writer.update_ohlcv_bars("BTC/USDT", "1m", [bar(3, 11.1)])
    assert await event(client, "c", "REMOVE") == [bar_out(0, 11.0)]
    assert await event(client, "c", "UPSERT") == [bar_out(3, 11.1)]
    await live.writer.update_ohlcv_bars("BTC/USDT", "1m", [bar(4, 11.2), bar(5, 11.3)])
    assert await event(client, "c", "REMOVE") == [bar_out(1, 11.5), bar_out(2, 10.8)]
    assert await event(client, "c", "UPSERT") == [bar_out(4, 11.2), bar_out(5, 11.3)]


# --------------------------------------------------------------------------- processes

PROCESSES = """
subscription Pr($type: String) {
  processes(type: $type) { kind items { processId processType component status message } }
}
"""

HEALTH = """
subscription { systemHealth { healthy totalProcesses byStatus { key count }
  errorProcesses { processId } } }
"""

BROADCASTS = """
subscription Bc($type: String!) {
  processBroadcasts(type: $type) { processType message data timestamp }
}
"""


async def test_processes(live: LiveEnv, client: LiveClient) -> None:
    live.clock.current = None  # the process window is measured against the wall clock
    await client.subscribe("p", PROCESSES, {"type": "tick"})
    assert await event(client, "p", "SNAPSHOT") == []
    pid = await live.writer.register_process("tick", "binance-ticker", message="up")
    assert await event(client, "p", "UPSERT") == [
        {
            "processId": pid,
            "processType": "tick",
            "component": "binance-ticker",
            "status": "starting",
            "message": "up",
        }
    ]
    # Another type is not in this stream.
    await live.writer.register_process("ohlcv", "binance-ohlcv")
    # A process is read from two keys (``process:active:{type}`` then its data key), so a
    # re-read racing a write may see the new data before the new active time: one more
    # UPSERT of the same process (its ``lastActive`` changed). Only this process may appear.
    assert await live.writer.update_process(pid, status="running", message="streaming")
    items = await event(client, "p", "UPSERT")
    assert [(p["processId"], p["status"], p["message"]) for p in items] == [
        (pid, "running", "streaming")
    ]
    # stop_process HDELs the id from process:active:tick: it leaves the stream.
    assert await live.writer.stop_process(pid)
    while True:
        value = await client.data("p")
        assert [p["processId"] for p in value["items"]] == [pid], value
        if value["kind"] == "REMOVE":
            break
        assert value["kind"] == "UPSERT", value


async def test_system_health(live: LiveEnv, client: LiveClient) -> None:
    live.clock.current = None
    await client.subscribe("h", HEALTH)
    # A change in a field not selected here (a process's ``lastActive`` when a re-read
    # races a write, ``byType``) repeats the same payload: read until the payload changes
    # (each state must be reached, in order).
    seen: list[JSONDict] = [await client.data("h")]
    assert seen[0] == {"healthy": True, "totalProcesses": 0, "byStatus": [], "errorProcesses": []}

    async def next_distinct() -> JSONDict:
        while True:
            value = await client.data("h")
            if value != seen[-1]:
                seen.append(value)
                return value

    pid = await live.writer.register_process("tick", "binance-ticker")
    assert await next_distinct() == {
        "healthy": True,
        "totalProcesses": 1,
        "byStatus": [{"key": "starting", "count": 1}],
        "errorProcesses": [],
    }
    assert await live.writer.update_process(pid, status="error", message="boom")
    assert await next_distinct() == {
        "healthy": False,
        "totalProcesses": 1,
        "byStatus": [{"key": "error", "count": 1}],
        "errorProcesses": [{"processId": pid}],
    }
    assert await live.writer.update_process(pid, status="running")
    assert (await next_distinct())["healthy"] is True


async def test_process_broadcasts(live: LiveEnv, client: LiveClient) -> None:
    live.clock.current = datetime(2025, 6, 2, 12, 0, 1, tzinfo=UTC)
    await client.subscribe("b", BROADCASTS, {"type": "tick"})
    # No snapshot: a pure push stream. Wait until Redis itself has the subscriber.
    await wait_until(
        lambda: live.numsub("process:broadcast:tick"), TIMEOUT, "the broadcast subscription"
    )
    assert client.pending("b") == 0
    await live.writer.broadcast_message("ohlcv", "not for us")
    await live.writer.broadcast_message("tick", "reload", {"symbols": ["BTC/USDT"]})
    assert await client.data("b") == {
        "processType": "tick",
        "message": "reload",
        "data": {"symbols": ["BTC/USDT"]},
        "timestamp": "2025-06-02T12:00:01+00:00",
    }
    await live.writer.broadcast_message("tick", "stop")
    assert (await client.data("b"))["message"] == "stop"


# --------------------------------------------------------------------------- protocol


async def test_complete_stops_one_stream_only(live: LiveEnv, client: LiveClient) -> None:
    await live.writer.set_ticker(tick(100.0))
    await client.subscribe("x", TICKER, {"exchange": "binance", "symbol": "BTC/USDT"})
    await client.subscribe("y", BOTS)
    assert (await client.data("x"))["price"] == 100.0
    assert (await event(client, "y", "SNAPSHOT")) == []
    await client.complete("x")
    await wait_until(lambda: ("ticker", "binance", "BTC/USDT") not in live.hub.topics)
    await live.writer.set_ticker(tick(101.0))
    await live.writer.update_bot(3, {"status": "running"})
    assert keys_of("botId", await event(client, "y", "UPSERT")) == ["3"]
    assert client.pending("x") == 0


async def test_two_streams_share_one_topic(live: LiveEnv) -> None:
    """Two connections, same document: one group, one topic, both receive each event."""
    async with live.client() as one, live.client() as two:
        await one.subscribe("1", BOTS)
        await two.subscribe("1", BOTS)
        assert await event(one, "1", "SNAPSHOT") == []
        assert await event(two, "1", "SNAPSHOT") == []
        assert list(live.hub.topics) == [("bots",)]
        assert len(live.runner.groups) == 1
        await live.writer.update_bot(1, {"status": "running"})
        assert keys_of("botId", await event(one, "1", "UPSERT")) == ["1"]
        assert keys_of("botId", await event(two, "1", "UPSERT")) == ["1"]


async def test_invalid_arguments_are_errors(live: LiveEnv, client: LiveClient) -> None:
    await client.subscribe("e", OHLCV, {"symbol": "BTC/USDT", "timeframe": "1m", "count": 0})
    message = await client.message("e")
    assert message["type"] == "error", message
    assert message["payload"][0]["extensions"]["code"]
    assert not live.runner.groups


# --------------------------------------------------------------------------- gql client


async def test_gql_client_over_graphql_transport_ws(live: LiveEnv) -> None:
    """The ``gql`` library (graphql-transport-ws asked for explicitly) sees the same
    streams: the current ticker, then each update; a keyed stream's kinds."""
    await live.writer.set_ticker(tick(100.0))
    transport = WebsocketsTransport(
        url=live.server.ws_url, subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL]
    )
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        assert transport.subprotocol == "graphql-transport-ws"
        prices: list[float] = []
        async with asyncio.timeout(TIMEOUT):
            request = GraphQLRequest(
                TICKER, variable_values={"exchange": "binance", "symbol": "BTC/USDT"}
            )
            async for result in session.subscribe(request):
                prices.append(result["ticker"]["price"])
                if len(prices) == 3:
                    break
                await live.writer.set_ticker(tick(100.0 + len(prices)))
        assert prices == [100.0, 101.0, 102.0]

        kinds: list[tuple[str, list[str]]] = []
        async with asyncio.timeout(TIMEOUT):
            async for result in session.subscribe(gql(BLOCKS)):
                event_ = result["blocks"]
                kinds.append((event_["kind"], [item["symbol"] for item in event_["items"]]))
                if len(kinds) == 1:
                    await live.writer.block_exchange(1, "BTC/USDT", 5)
                elif len(kinds) == 2:
                    await live.writer.unblock_exchange(1, "BTC/USDT")
                else:
                    break
        assert kinds == [("SNAPSHOT", []), ("UPSERT", ["BTC/USDT"]), ("REMOVE", ["BTC/USDT"])]
