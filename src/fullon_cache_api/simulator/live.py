"""A live market for ``make demo``: fullon's services simulated in fullon_cache's layout.

Every step moves a few tickers (random walk, published like ``set_ticker``), forms the
current 1m OHLCV bar, and on slower cadences moves orders through their statuses (with
fills updating trades, positions and balances, and now and then a cancel), blocks and
unblocks symbols, and refreshes process heartbeats — except one process, left to go stale.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fullon_cache_api.simulator.scenario import TICKERS
from fullon_cache_api.simulator.writer import CacheWriter

log = logging.getLogger("fullon.api.cache.simulator")

BAR_SYMBOL = "BTC/USDT"
ORDER_EXCHANGE = "binance"
ORDER_EX_ID = 1
LOCAL_OID = "demo"


@dataclass
class _Order:
    oid: str
    symbol: str
    side: str
    volume: float
    price: float
    status: str = "open"


@dataclass
class LiveMarket:
    writer: CacheWriter
    rate_hz: float = 5.0
    seed: int | None = None
    prices: dict[tuple[str, str], float] = field(default_factory=dict)
    steps: int = 0

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)
        self.prices = {(ex, sym): price for ex, sym, price, *_rest in TICKERS}
        self._orders: list[_Order] = []
        self._ids = itertools.count(int(datetime.now(UTC).timestamp()))
        self._bar: list[float] | None = None
        self._processes: list[str] = []
        self._positions: dict[str, tuple[float, float]] = {}

    async def run(self) -> None:
        """Run until cancelled."""
        await self._register_processes()
        period = 1.0 / self.rate_hz
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live simulator step failed")
            await asyncio.sleep(period)

    async def step(self) -> None:
        self.steps += 1
        await self._move_tickers()
        await self._form_bar()
        every = max(1, int(self.rate_hz))
        if self.steps % (2 * every) == 0:
            await self._advance_orders()
        if self.steps % (5 * every) == 0:
            await self._toggle_block()
            await self._heartbeats()
        if self.steps % (60 * every) == 0:
            await self._drain_trades()

    # -- market ------------------------------------------------------------------------

    async def _move_tickers(self) -> None:
        for exchange, symbol in self.random.sample(sorted(self.prices), k=3):
            price = self.prices[(exchange, symbol)] * (1 + self.random.gauss(0, 0.0008))
            self.prices[(exchange, symbol)] = price
            half = price * 0.00005
            await self.writer.set_ticker(
                {
                    "symbol": symbol,
                    "exchange": exchange,
                    "price": round(price, 6),
                    "volume": round(self.random.uniform(100, 50000), 4),
                    "time": self.writer.now().timestamp(),
                    "bid": round(price - half, 6),
                    "ask": round(price + half, 6),
                    "last": round(price, 6),
                }
            )

    async def _form_bar(self) -> None:
        """The current 1m bar, re-sent as it forms (fullon_cache appends each update)."""
        now = self.writer.now()
        minute_ms = int(now.timestamp() // 60 * 60 * 1000)
        price = self.prices[("binance", BAR_SYMBOL)]
        if self._bar is None or self._bar[0] != minute_ms:
            self._bar = [minute_ms, price, price, price, price, 0.0]
        bar = self._bar
        bar[2], bar[3], bar[4] = max(bar[2], price), min(bar[3], price), price
        bar[5] = round(bar[5] + self.random.uniform(0.01, 2.0), 4)
        if self.steps % max(1, int(self.rate_hz)) == 0:
            await self.writer.update_ohlcv_bars(BAR_SYMBOL, "1m", [[int(bar[0]), *bar[1:]]])

    # -- orders, fills, positions --------------------------------------------------------

    async def _advance_orders(self) -> None:
        if len(self._orders) < 3:
            symbol = self.random.choice(["BTC/USDT", "ETH/USDT"])
            order = _Order(
                oid=str(next(self._ids)),
                symbol=symbol,
                side=self.random.choice(["buy", "sell"]),
                volume=round(self.random.uniform(0.01, 0.2), 4),
                price=round(self.prices[("binance", symbol)], 2),
            )
            self._orders.append(order)
            await self.writer.push_open_order(order.oid, LOCAL_OID)
            await self._save(order)
            return
        order = self._orders[0]
        if order.status == "open":
            await self.writer.pop_open_order(LOCAL_OID)  # fullon's order service consumes it
            order.status = "canceled" if self.random.random() < 0.2 else "partially_filled"
        else:
            order.status = "filled"
        await self._save(order)
        if order.status in ("filled", "canceled"):
            self._orders.pop(0)
        if order.status == "filled":
            await self._fill(order)

    async def _save(self, order: _Order) -> None:
        await self.writer.save_order(
            ORDER_EXCHANGE,
            {
                "order_id": order.oid,
                "ex_order_id": order.oid,
                "bot_id": 1,
                "uid": 1,
                "ex_id": ORDER_EX_ID,
                "exchange": ORDER_EXCHANGE,
                "symbol": order.symbol,
                "order_type": "limit",
                "side": order.side,
                "volume": order.volume,
                "price": order.price,
                "futures": False,
                "status": order.status,
            },
        )

    async def _fill(self, order: _Order) -> None:
        signed = order.volume if order.side == "buy" else -order.volume
        trade = {
            "trade_id": int(order.oid),
            "ex_trade_id": f"T{order.oid}",
            "ex_order_id": order.oid,
            "uid": 1,
            "ex_id": ORDER_EX_ID,
            "symbol": order.symbol,
            "order_type": "limit",
            "side": order.side,
            "volume": order.volume,
            "price": order.price,
            "cost": round(order.volume * order.price, 2),
            "fee": round(order.volume * order.price * 0.001, 4),
            "time": self.writer.now().timestamp(),
        }
        await self.writer.push_trade_list(order.symbol, ORDER_EXCHANGE, trade)
        await self.writer.push_user_trade(1, ORDER_EXCHANGE, trade)
        volume, cost = self._positions.get(order.symbol, (0.0, 0.0))
        volume, cost = volume + signed, cost + signed * order.price
        self._positions[order.symbol] = (volume, cost)
        now = self.writer.now().timestamp()
        await self.writer.upsert_positions(
            ORDER_EX_ID,
            {
                symbol: {
                    "cost": round(c, 2),
                    "volume": round(v, 6),
                    "fee": round(abs(c) * 0.001, 4),
                    "count": 1,
                    "price": round(c / v, 2) if v else 0.0,
                    "timestamp": now,
                }
                for symbol, (v, c) in sorted(self._positions.items())
            },
        )
        usdt = 12500.0 - sum(c for _v, c in self._positions.values())
        await self.writer.upsert_user_account(
            ORDER_EX_ID,
            {
                "USDT": {"free": round(usdt, 2), "used": 0.0, "total": round(usdt, 2)},
                **{
                    symbol.split("/")[0]: {"free": round(v, 6), "used": 0.0, "total": round(v, 6)}
                    for symbol, (v, _c) in sorted(self._positions.items())
                },
            },
        )

    async def _drain_trades(self) -> None:
        """fullon's batcher: drain the trade lists once a minute."""
        for symbol in ("BTC/USDT", "ETH/USDT"):
            await self.writer.drain_trades(ORDER_EXCHANGE, symbol)

    # -- bots and processes --------------------------------------------------------------

    async def _toggle_block(self) -> None:
        symbol = "ETH/USDT"
        if self.steps % 2:
            await self.writer.block_exchange(ORDER_EX_ID, symbol, 2)
            await self.writer.mark_opening_position(ORDER_EX_ID, symbol, 2)
            status = "opening"
        else:
            await self.writer.unblock_exchange(ORDER_EX_ID, symbol)
            await self.writer.unmark_opening_position(ORDER_EX_ID, symbol)
            status = "running"
        await self.writer.update_bot(
            2,
            {"status": status, "name": "Bot_2", "strategy": "demo_strategy",
             "price": round(self.prices[("binance", symbol)], 2)},
        )  # fmt: skip

    async def _register_processes(self) -> None:
        for exchange, symbol, *_rest in TICKERS[:4]:
            self._processes.append(
                await self.writer.register_process(
                    "tick",
                    f"{exchange}:{symbol}",
                    params={"exchange": exchange, "symbol": symbol, "type": "live_ticker"},
                    status="running",
                )
            )
        self._processes.append(
            await self.writer.register_process(
                "bot", "bot_2", params={"bot_id": 2}, status="running"
            )
        )

    async def _heartbeats(self) -> None:
        # The first tick process never beats again: it goes stale, as a hung collector would.
        for process_id in self._processes[1:]:
            await self.writer.update_process(
                process_id, status="running", message=f"alive at step {self.steps}"
            )
