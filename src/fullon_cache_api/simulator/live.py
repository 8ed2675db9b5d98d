"""A live market for ``make demo``: fullon's services simulated in fullon_cache's layout.

Every step moves a few tickers (random walk, published like ``set_ticker``), forms the
current 1m OHLCV bar, and on slower cadences moves orders through their statuses (with
fills updating trades, positions and balances, and now and then a cancel), blocks and
unblocks symbols, and refreshes process heartbeats — except one process, left to go stale.

Orders trade in the seeded account of ex_id 1 and keep it consistent: an order is placed
only when the balances cover it, its funds are reserved until it fills or is cancelled, and
every balance keeps ``free``, ``used`` and ``total`` at or above zero with ``total = free +
used``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fullon_cache_api.simulator.scenario import ACCOUNTS, POSITIONS, TICKERS
from fullon_cache_api.simulator.writer import CacheWriter

log = logging.getLogger("fullon.api.cache.simulator")

BAR_SYMBOL = "BTC/USDT"
ORDER_EXCHANGE = "binance"
ORDER_EX_ID = 1
LOCAL_OID = "demo"


#: Fee charged on a fill, as a fraction of its cost (in the quote currency).
FEE_RATE = 0.001
#: Smallest order volume; an order the account cannot cover at this size is not placed.
MIN_VOLUME = 0.001
#: Balances are kept to 8 decimals (as exchanges report them).
AMOUNT_DECIMALS = 8


@dataclass
class _Order:
    oid: str
    symbol: str
    side: str
    volume: float
    price: float
    status: str = "open"
    reserved: float = 0.0  # moved from free to used at placement (quote: buy, base: sell)


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
        # The account the orders trade in: the seeded balances and positions of ex_id 1.
        self._balances: dict[str, list[float]] = {
            currency: [float(b["free"]), float(b["used"])]
            for currency, b in ACCOUNTS[ORDER_EX_ID].items()
        }
        seeded = POSITIONS[ORDER_EX_ID]
        # symbol -> (volume, cost)
        self._positions: dict[str, tuple[float, float]] = {
            symbol: (volume, cost) for symbol, (cost, volume, *_rest) in seeded.items()
        }
        self._position_fees = {symbol: fee for symbol, (_c, _v, fee, *_r) in seeded.items()}
        self._position_counts = {symbol: int(n) for symbol, (_c, _v, _f, n, *_r) in seeded.items()}
        now = self.writer.now().timestamp()
        self._position_times = {symbol: now - age for symbol, (*_r, age) in seeded.items()}

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
    #
    # Account ORDER_EX_ID is a ledger that starts from the seeded balances and positions.
    # An order is placed only when the account covers it, and its funds are reserved
    # (free -> used) until it is filled or cancelled: a buy reserves its cost plus fee in
    # the quote currency, a sell its volume of the base currency (never more than the
    # position holds, less the other open sells). So no amount ever goes below zero, and
    # total is always free + used.

    def _balance(self, currency: str) -> list[float]:
        """``[free, used]`` of ``currency`` in the simulated account."""
        return self._balances.setdefault(currency, [0.0, 0.0])

    def _reserve(self, currency: str, amount: float) -> None:
        balance = self._balance(currency)
        balance[0] = round(balance[0] - amount, AMOUNT_DECIMALS)
        balance[1] = round(balance[1] + amount, AMOUNT_DECIMALS)

    def _release(self, currency: str, amount: float) -> None:
        self._reserve(currency, -amount)

    def _place(self) -> _Order | None:
        """A new order the account can pay for (reserved), or None if it covers none."""
        symbol = self.random.choice(["BTC/USDT", "ETH/USDT"])
        base, quote = symbol.split("/")
        price = round(self.prices[("binance", symbol)], 2)
        wanted = round(self.random.uniform(0.01, 0.2), 4)
        sides = ["buy", "sell"]
        self.random.shuffle(sides)
        for side in sides:
            if side == "buy":
                affordable = self._balance(quote)[0] / (price * (1 + FEE_RATE))
            else:
                pending = sum(
                    o.volume for o in self._orders if o.symbol == symbol and o.side == "sell"
                )
                held = self._positions.get(symbol, (0.0, 0.0))[0] - pending
                affordable = min(self._balance(base)[0], held)
            volume = min(wanted, math.floor(affordable * 10_000) / 10_000)
            if volume < MIN_VOLUME:
                continue
            if side == "buy":
                reserved = round(volume * price * (1 + FEE_RATE), AMOUNT_DECIMALS)
                self._reserve(quote, reserved)
            else:
                reserved = volume
                self._reserve(base, reserved)
            return _Order(str(next(self._ids)), symbol, side, volume, price, reserved=reserved)
        return None

    async def _advance_orders(self) -> None:
        if len(self._orders) < 3:
            order = self._place()
            if order is None:
                return
            self._orders.append(order)
            await self.writer.push_open_order(order.oid, LOCAL_OID)
            await self._save(order)
            await self._save_account()
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
        if order.status == "canceled":
            base, quote = order.symbol.split("/")
            self._release(quote if order.side == "buy" else base, order.reserved)
            await self._save_account()
        elif order.status == "filled":
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
        base, quote = order.symbol.split("/")
        cost = round(order.volume * order.price, AMOUNT_DECIMALS)
        if order.side == "buy":
            fee = round(order.reserved - cost, AMOUNT_DECIMALS)  # the reserve paid both
            self._balance(quote)[1] = round(
                self._balance(quote)[1] - order.reserved, AMOUNT_DECIMALS
            )
            self._balance(base)[0] = round(self._balance(base)[0] + order.volume, AMOUNT_DECIMALS)
        else:
            fee = round(cost * FEE_RATE, AMOUNT_DECIMALS)
            self._balance(base)[1] = round(self._balance(base)[1] - order.volume, AMOUNT_DECIMALS)
            self._balance(quote)[0] = round(self._balance(quote)[0] + cost - fee, AMOUNT_DECIMALS)
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
            "cost": round(cost, 2),
            "fee": round(fee, 4),
            "time": self.writer.now().timestamp(),
        }
        await self.writer.push_trade_list(order.symbol, ORDER_EXCHANGE, trade)
        await self.writer.push_user_trade(1, ORDER_EXCHANGE, trade)

        volume, position_cost = self._positions.get(order.symbol, (0.0, 0.0))
        if order.side == "buy":
            volume, position_cost = volume + order.volume, position_cost + cost
        else:  # at the average price: what is left keeps its average
            average = position_cost / volume if volume else 0.0
            volume = volume - order.volume
            position_cost = position_cost - average * order.volume if volume > 1e-9 else 0.0
        self._positions[order.symbol] = (round(max(volume, 0.0), 8), round(position_cost, 8))
        self._position_fees[order.symbol] = self._position_fees.get(order.symbol, 0.0) + fee
        self._position_counts[order.symbol] = self._position_counts.get(order.symbol, 0) + 1
        self._position_times[order.symbol] = self.writer.now().timestamp()
        await self._save_positions()
        await self._save_account()

    def account(self) -> dict[str, dict[str, float]]:
        """The simulated account as stored: ``free``, ``used`` and ``total`` per currency."""
        return {
            currency: {
                "free": free,
                "used": used,
                "total": round(free + used, AMOUNT_DECIMALS),
            }
            for currency, (free, used) in sorted(self._balances.items())
        }

    async def _save_account(self) -> None:
        await self.writer.upsert_user_account(ORDER_EX_ID, self.account())

    async def _save_positions(self) -> None:
        await self.writer.upsert_positions(
            ORDER_EX_ID,
            {
                symbol: {
                    "cost": round(cost, 2),
                    "volume": round(volume, 6),
                    "fee": round(self._position_fees.get(symbol, 0.0), 4),
                    "count": self._position_counts.get(symbol, 0),
                    "price": round(cost / volume, 2) if volume else 0.0,
                    "timestamp": self._position_times[symbol],
                }
                for symbol, (volume, cost) in sorted(self._positions.items())
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
