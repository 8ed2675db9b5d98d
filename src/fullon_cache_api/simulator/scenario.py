"""A deterministic, plausible demo dataset written through :class:`CacheWriter`.

All data is fixed; every time is derived from the writer's clock, so a fixed clock
gives byte-identical Redis contents, and the real clock gives "live-looking" data
(recent tickers, fresh process heartbeats). The scenario deliberately includes the
layout's quirks: a ticker exchange outside fullon_cache's hard-coded five
(``hyperliquid``) with ``:`` futures symbols, an order key by ex_id, a ``"canceled"``
order (1 h TTL on its own key) next to a ``"cancelled"`` one (no TTL), a numeric
``order_id`` left by ``update_order``, feed-style and flat bot statuses, a stale and an
erroring tick process, and a stopped process.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from fullon_cache_api.simulator.writer import CacheWriter

__all__ = ["ACCOUNTS", "POSITIONS", "TICKERS", "seed_scenario"]

JSONDict = dict[str, Any]

# (exchange, symbol, price, 24h volume, half spread, age in seconds)
TICKERS: tuple[tuple[str, str, float, float, float, float], ...] = (
    ("binance", "BTC/USDT", 105234.56, 18342.712, 0.01, 0.875),
    ("binance", "ETH/USDT", 2601.38, 412093.5521, 0.01, 0.75),
    ("binance", "SOL/USDT", 152.37, 2210938.4, 0.01, 0.625),
    ("binance", "XRP/USDT", 2.1934, 98211034.0, 0.0001, 0.5),
    ("kraken", "BTC/USD", 105180.1, 1423.09, 0.1, 1.5),
    ("kraken", "ETH/EUR", 2288.74, 9120.77, 0.04, 1.25),
    ("bybit", "BTC/USDT", 105230.9, 25011.3, 0.1, 2.0),
    ("bybit", "ETH/USDT:USDT", 2601.11, 301221.0, 0.01, 1.75),
    ("hyperliquid", "BTC/USDC:USDC", 105221.0, 31892.44, 1.0, 3.0),
    ("hyperliquid", "ETH/USDC:USDC", 2600.9, 512003.1, 0.1, 2.75),
    ("hyperliquid", "HYPE/USDC:USDC", 34.712, 9921443.0, 0.001, 2.5),
)

# ex_id -> currency -> balance (total = free + used, every amount >= 0)
ACCOUNTS: dict[int, JSONDict] = {
    1: {
        "USDT": {"free": 10250.25, "used": 2250.25, "total": 12500.5},
        "BTC": {"free": 0.5, "used": 0.25, "total": 0.75},
        "ETH": {"free": 4.2, "used": 0.0, "total": 4.2},
    },
    2: {
        "USD": {"free": 27500.0, "used": 2500.0, "total": 30000.0},
        "EUR": {"free": 1200.0, "used": 0.0, "total": 1200.0},
        "BTC": {"free": 0.1, "used": 0.0, "total": 0.1},
    },
    3: {"USDC": {"free": 41234.56, "used": 8765.44, "total": 50000.0}},
}

# ex_id -> symbol -> (cost, volume, fee, count, price, age in seconds)
POSITIONS: dict[int, dict[str, tuple[float, float, float, float, float, float]]] = {
    1: {
        "BTC/USDT": (52617.28, 0.5, 52.61, 3.0, 105234.56, 300.0),
        "ETH/USDT": (10405.52, 4.0, 10.4, 2.0, 2601.38, 240.0),
    },
    2: {"BTC/USD": (-10518.01, -0.1, 10.51, 1.0, 105180.1, 200.0)},
    3: {"BTC/USDC:USDC": (21044.2, 0.2, 4.21, 1.0, 105221.0, 50.0)},
}

_ORDER_FIELDS = (
    "order_id", "bot_id", "uid", "ex_id", "ex_order_id", "cat_ex_id", "exchange", "symbol",
    "order_type", "side", "volume", "final_volume", "price", "plimit", "tick", "futures",
    "leverage", "status", "command", "reason", "timestamp",
)  # fmt: skip

_TRADE_FIELDS = (
    "trade_id", "ex_trade_id", "ex_order_id", "uid", "ex_id", "symbol", "order_type", "side",
    "volume", "price", "cost", "fee", "cur_volume", "cur_avg_price", "cur_avg_cost", "cur_fee",
    "roi", "roi_pct", "total_fee", "leverage", "time",
)  # fmt: skip


def _at(writer: CacheWriter, when: datetime) -> CacheWriter:
    """A writer on the same Redis whose clock is frozen at ``when``."""
    return CacheWriter(writer.redis, now=lambda: when)


def _order(**values: Any) -> JSONDict:
    """An Order.to_dict()-shaped dict: every field present, unset ones null."""
    return {name: values.get(name) for name in _ORDER_FIELDS}


def _trade(**values: Any) -> JSONDict:
    """A Trade.to_dict()-shaped dict: every field present, unset ones null."""
    return {name: values.get(name) for name in _TRADE_FIELDS}


def _feed(bot_id: int, ex_id: int, name: str, exchange: str, symbol: str, **extra: Any) -> JSONDict:
    """One bot feed, in the shape fullon's bot status service writes."""
    feed: JSONDict = {
        "bot_id": bot_id, "ex_id": ex_id, "bot_name": name, "symbol": symbol,
        "exchange": exchange, "tick": 0.0, "roi": 0.0, "funds": 0.0, "totfunds": 0.0,
        "pos": 0.0, "pos_price": 0.0, "roi_pct": 0.0, "orders": "", "message": "",
        "live": "Yes", "strategy": "", "base": symbol.split("/")[0], "params": {},
        "variables": "",
    }  # fmt: skip
    feed.update(extra)
    return feed


def _bars(
    rng: random.Random, start: float, step: float, count: int, price: float, decimals: int
) -> Iterator[list[float | int]]:
    """A random-walk candle series; bar timestamps are ints (``start + i * step``)."""
    for i in range(count):
        open_ = price
        close = round(open_ * (1 + rng.gauss(0, 0.0012)), decimals)
        high = round(max(open_, close) * (1 + abs(rng.gauss(0, 0.0006))), decimals)
        low = round(min(open_, close) * (1 - abs(rng.gauss(0, 0.0006))), decimals)
        volume = round(rng.uniform(0.5, 40.0), 4)
        yield [int(start + i * step), open_, high, low, close, volume]
        price = close


async def _seed_market(writer: CacheWriter, base: datetime) -> None:
    now = base.timestamp()
    for exchange, symbol, price, volume, half, age in TICKERS:
        await writer.set_ticker(
            {
                "symbol": symbol,
                "exchange": exchange,
                "price": price,
                "volume": volume,
                "time": round(now - age, 3),
                "bid": round(price - half, 8),
                "ask": round(price + half, 8),
                "last": price,
            }
        )

    rng = random.Random(20250602)
    minute_ms = 60_000
    last_minute = int(now // 60) * minute_ms - minute_ms
    start = last_minute - 299 * minute_ms
    await writer.update_ohlcv_bars("BTC/USDT", "1m", _bars(rng, start, minute_ms, 300, 104000.0, 2))
    # A series keyed the other way (no "/") with epoch *seconds*, as older callers wrote.
    last_hour = int(now // 3600) * 3600 - 3600
    await writer.update_ohlcv_bars(
        "BTCUSD", "1h", _bars(rng, last_hour - 47 * 3600, 3600, 48, 103500.0, 2)
    )


async def _seed_accounts(writer: CacheWriter, base: datetime) -> None:
    now = base.timestamp()
    for ex_id, account in ACCOUNTS.items():
        await writer.upsert_user_account(ex_id, account)
    for ex_id, positions in POSITIONS.items():
        await writer.upsert_positions(
            ex_id,
            {
                symbol: {
                    "cost": cost,
                    "volume": volume,
                    "fee": fee,
                    "count": count,
                    "price": price,
                    "timestamp": now - age,
                }
                for symbol, (cost, volume, fee, count, price, age) in positions.items()
            },
        )


async def _seed_orders(writer: CacheWriter, base: datetime) -> None:
    binance = {"uid": 1, "ex_id": 1, "cat_ex_id": 1, "exchange": "binance", "futures": False}
    await writer.save_order("binance", _order(
        order_id="8389765493", ex_order_id="8389765493", bot_id=1, symbol="BTC/USDT",
        order_type="limit", side="buy", volume=0.05, final_volume=0.02, price=104900.0,
        tick=105234.56, leverage=1.0, status="partially_filled", command="open_long",
        reason="signal", **binance,
    ))  # fmt: skip
    await writer.save_order("binance", _order(
        order_id="8389765494", ex_order_id="8389765494", bot_id=1, symbol="ETH/USDT",
        order_type="market", side="sell", volume=1.5, final_volume=1.5, tick=2601.38,
        status="filled", reason="take_profit", **binance,
    ))  # fmt: skip
    await writer.save_order("binance", _order(
        order_id="8389765496", ex_order_id="8389765496", bot_id=1, symbol="BTC/USDT",
        order_type="stop", side="sell", volume=0.05, price=100000.0, plimit=99900.0,
        status="open", reason="stop_loss", **binance,
    ))  # fmt: skip
    # Double-L spelling: fullon_cache sets no TTL for it.
    await writer.save_order("binance", _order(
        order_id="8389765497", ex_order_id="8389765497", bot_id=2, symbol="SOL/USDT",
        order_type="limit", side="buy", volume=25.0, price=150.0, status="cancelled",
        reason="user", **binance,
    ))  # fmt: skip

    kraken = {"uid": 2, "ex_id": 2, "cat_ex_id": 2, "exchange": "kraken", "futures": False}
    await writer.save_order("kraken", _order(
        order_id="OQCLML-BW3P3-BUCMWZ", ex_order_id="OQCLML-BW3P3-BUCMWZ", bot_id=3,
        symbol="BTC/USD", order_type="limit", side="sell", volume=0.1, price=106000.0,
        status="open", reason="signal", **kraken,
    ))  # fmt: skip
    # A cancel stored under the ex_id-style key: its 1 h TTL hits only that key.
    await writer.save_order("2", _order(
        order_id="OUF4EM-FRGI2-MQMWZD", ex_order_id="OUF4EM-FRGI2-MQMWZD", bot_id=3,
        symbol="ETH/EUR", order_type="limit", side="buy", volume=2.0, price=2200.0,
        status="canceled", reason="user", **kraken,
    ))  # fmt: skip

    hyper = {"uid": 1, "ex_id": 3, "cat_ex_id": 4, "exchange": "hyperliquid", "futures": True}
    await writer.save_order("hyperliquid", _order(
        order_id="77738308", ex_order_id="77738308", bot_id=5, symbol="BTC/USDC:USDC",
        order_type="limit", side="buy", volume=0.2, final_volume=0.2, price=104000.0,
        leverage=3.0, status="filled", reason="signal", **hyper,
    ))  # fmt: skip

    # update_order leaves the numeric DB id in "order_id".
    bybit = {"uid": 1, "ex_id": 4, "cat_ex_id": 3, "exchange": "bybit", "futures": True}
    await _at(writer, base - timedelta(seconds=40)).save_order("bybit", _order(
        order_id=4001, ex_order_id="BYB-7731-0001", bot_id=4, symbol="ETH/USDT:USDT",
        order_type="limit", side="buy", volume=0.5, price=2550.0, leverage=5.0,
        status="open", reason="signal", **bybit,
    ))  # fmt: skip
    await writer.update_order(
        "bybit",
        _order(order_id=4001, ex_order_id="BYB-7731-0001", status="filled", final_volume=0.5),
    )

    await writer.push_open_order("8389765496", "1001")
    await writer.push_open_order("OQCLML-BW3P3-BUCMWZ", "2001")
    await writer.push_open_order("77738308", "3001")
    await writer.push_open_order("77738309", "3001")


async def _seed_trades(writer: CacheWriter, base: datetime) -> None:
    def ago(seconds: float) -> datetime:
        return base - timedelta(seconds=seconds)

    binance = {"uid": 1, "ex_id": 1, "order_type": "limit", "side": "buy"}
    first = _trade(
        trade_id=50001, ex_trade_id="4012998871", ex_order_id="8389765493", symbol="BTC/USDT",
        volume=0.01, price=105230.0, cost=1052.3, fee=1.0523, **binance,
    )  # fmt: skip
    second = _trade(
        trade_id=50002, ex_trade_id="4012998872", ex_order_id="8389765493", symbol="BTC/USDT",
        volume=0.01, price=105231.5, cost=1052.315, fee=1.0523, **binance,
    )  # fmt: skip
    eth = _trade(
        trade_id=50004, ex_trade_id="1893002211", ex_order_id="8389765494", uid=1, ex_id=1,
        symbol="ETH/USDT", order_type="market", side="sell", volume=1.5, price=2601.38,
        cost=3902.07, fee=3.902, cur_volume=2.5, cur_avg_price=2550.0, cur_avg_cost=6375.0,
        cur_fee=6.37, roi=77.07, roi_pct=2.01, total_fee=10.27, leverage=1.0,
    )  # fmt: skip
    kraken = _trade(
        trade_id=60001, ex_trade_id="TXID-KRK-0001", ex_order_id="OQCLML-BW3P3-BUCMWZ", uid=2,
        ex_id=2, symbol="BTC/USD", order_type="limit", side="sell", volume=0.05,
        price=105180.1, cost=5259.005, fee=2.63,
    )  # fmt: skip
    hyper = _trade(
        trade_id=70001, ex_trade_id="0xabc001", ex_order_id="77738308", uid=1, ex_id=3,
        symbol="BTC/USDC:USDC", order_type="limit", side="buy", volume=0.2, price=104000.0,
        cost=20800.0, fee=4.16,
    )  # fmt: skip

    # Exchange trade lists: "time" as the ISO text Trade.to_dict() makes of a datetime.
    for exchange, trade, age in (
        ("binance", first, 50),
        ("binance", second, 35),
        ("binance", eth, 89),
        ("kraken", kraken, 30),
        ("hyperliquid", hyper, 14),
    ):
        await writer.push_trade(exchange, {**trade, "time": ago(age)})

    # User trade queues: "time" as epoch seconds.
    for uid, exchange, trade, age in (
        (1, "binance", first, 50),
        (1, "binance", eth, 89),
        (2, "kraken", kraken, 30),
    ):
        await writer.push_user_trade(uid, exchange, {**trade, "time": ago(age).timestamp()})
    await writer.update_user_trade_status("binance:1", ago(1))
    await writer.update_user_trade_status("kraken:2", ago(2))


async def _seed_bots(writer: CacheWriter) -> None:
    await writer.update_bot(1, {
        "0": _feed(1, 1, "btc trend", "binance", "BTC/USDT", tick=105234.56, roi=120.5,
                   funds=10000.0, totfunds=9880.0, pos=0.5, pos_price=105000.0, roi_pct=1.2,
                   orders="8389765493", message="Opened long", strategy="trend_follow",
                   params={"timeframe": "1h", "fast": 12, "slow": 26},
                   variables="rsi=61.2, atr=812.4"),
        "1": _feed(1, 1, "btc trend", "binance", "ETH/USDT", tick=2601.38, roi=-12.25,
                   funds=5000.0, totfunds=4987.75, roi_pct=-0.25, message="Waiting for signal",
                   strategy="trend_follow", params={"timeframe": "1h"}),
    })  # fmt: skip
    # Flat style, as in fullon_cache's example_bot_cache.py: no feed timestamps.
    await writer.update_bot(2, {"status": "paused", "name": "Bot_2", "strategy": "demo_strategy"})
    await writer.update_bot(3, {
        "0": _feed(3, 2, "kraken mm", "kraken", "BTC/USD", tick=105180.1, funds=20000.0,
                   totfunds=20000.0, pos=-0.1, pos_price=105180.1, orders="OQCLML-BW3P3-BUCMWZ",
                   message="Quoting", live="No", strategy="market_maker"),
    })  # fmt: skip
    await writer.update_bot(5, {
        "0": _feed(5, 3, "hl perp", "hyperliquid", "BTC/USDC:USDC", tick=105221.0, roi=244.0,
                   funds=50000.0, totfunds=50244.0, pos=0.2, pos_price=104000.0, roi_pct=0.49,
                   orders="77738308", message="Position open", strategy="breakout",
                   params={"leverage": 3}),
    })  # fmt: skip

    await writer.block_exchange(1, "BTC/USDT", 1)
    await writer.block_exchange(2, "BTC/USD", 3)
    await writer.block_exchange("hyperliquid", "BTC/USDC:USDC", 5)
    await writer.mark_opening_position(1, "BTC/USDT", 1)
    await writer.mark_opening_position(3, "ETH/USDC:USDC", 5)


async def _seed_processes(writer: CacheWriter, base: datetime) -> None:
    def at(seconds_ago: float) -> CacheWriter:
        return _at(writer, base - timedelta(seconds=seconds_ago))

    async def process(
        ptype: str,
        component: str,
        params: JSONDict,
        started: float,
        updated: float | None = None,
        status: str = "running",
        message: str | None = None,
    ) -> str:
        pid = await at(started).register_process(ptype, component, params)
        if updated is not None:
            await at(updated).update_process(pid, status=status, message=message)
        return pid

    now = base.timestamp()
    for exchange, symbol, started, updated, status, message in (
        ("binance", "BTC/USDT", 600, 12, "running", f"Received ticker at {now - 12.5}"),
        ("kraken", "BTC/USD", 600, 25, "running", f"Received ticker at {now - 25.25}"),
        # Heartbeat older than fullon_cache's 5-minute window: reported stale.
        ("bybit", "BTC/USDT", 1800, 480, "running", f"Received ticker at {now - 480.5}"),
        ("hyperliquid", "BTC/USDC:USDC", 300, 5, "error", "Error: websocket closed (1006)"),
    ):
        params = {"exchange": exchange, "symbol": symbol, "type": "live_ticker"}
        await process("tick", f"{exchange}:{symbol}", params, started, updated, status, message)
    await process("tick", "ticker_daemon", {"exchanges": 4}, 3600, 30, message="4 exchanges")

    ohlcv = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1m"}
    await process("ohlcv", "binance:BTC/USDT:1m", ohlcv, 900, 20, "processing", "Saved 300 bars")
    kraken = {"exchange": "kraken", "symbol": "BTC/USD", "timeframe": "1h"}
    stopped = await process("ohlcv", "kraken:BTC/USD:1h", kraken, 1200)
    await at(240).stop_process(stopped, "Collector shut down")

    bot_1 = {"bot_id": 1, "strategy": "trend_follow", "exchanges": ["binance"]}
    await process("bot", "bot_1", bot_1, 7200, 15, message="Bot btc trend running")
    bot_3 = {"bot_id": 3, "strategy": "market_maker", "exchanges": ["kraken"]}
    await process("bot", "bot_3", bot_3, 7200, 45, "idle", "No signal")
    await process("account", "account:1", {"ex_id": 1, "exchange": "binance"}, 3600, 10)
    await process("order", "order:binance", {"exchange": "binance"}, 3600, 8)
    await process("bot_status_service", "bot_status_service", {}, 3600, 6)
    await process("crawler", "crawler:x.com", {"sites": ["x.com"], "accounts": 12}, 1800, 90)
    await process(
        "user_trades_service", "user_trades:binance:1", {"exchange": "binance", "uid": 1}, 1800, 3,
        message="Streaming",
    )  # fmt: skip


async def seed_scenario(writer: CacheWriter) -> None:
    """Write the demo dataset through ``writer`` (times relative to its clock).

    Adds to whatever is in the database; flush first for a clean, reproducible state.
    """
    base = writer.now()
    await _seed_market(writer, base)
    await _seed_accounts(writer, base)
    await _seed_orders(writer, base)
    await _seed_trades(writer, base)
    await _seed_bots(writer)
    await _seed_processes(writer, base)
