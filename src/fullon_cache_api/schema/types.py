"""GraphQL object types. Resolvers return the data layer's records, whose attributes match
these fields one for one; computed fields are methods.

Times are ``DateTime`` (ISO-8601, UTC). Ids are strings: fullon_cache stores them as strings or
ints, and some (Kraken's ``OQCLML-BW3P3-BUCMWZ``) are not numbers at all.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON


@strawberry.type(description="The latest ticker of one symbol on one exchange.")
class Ticker:
    exchange: str = strawberry.field(description="Exchange name, as in `tickers:{exchange}`.")
    symbol: str = strawberry.field(description="Unified symbol; may contain `:` (futures).")
    price: float | None
    volume: float | None
    time: datetime | None = strawberry.field(description="Exchange time of the tick.")
    bid: float | None
    ask: float | None
    last: float | None

    @strawberry.field(description="ask - bid, when both are known.")
    def spread(self) -> float | None:
        if self.ask is None or self.bid is None:
            return None
        return self.ask - self.bid

    @strawberry.field(description="Spread as a percentage of the mid price.")
    def spread_percentage(self) -> float | None:
        if self.ask is None or self.bid is None:
            return None
        mid = (self.ask + self.bid) / 2
        return (self.ask - self.bid) / mid * 100 if mid else None


@strawberry.type(
    description="One currency of an account. ccxt-style accounts fill free/used/total; "
    "others fill balance/available. Unknown keys are in `extra`."
)
class Balance:
    currency: str
    free: float | None
    used: float | None
    total: float | None
    balance: float | None
    available: float | None
    extra: JSON | None


@strawberry.type(description="An exchange account (`accounts` hash, keyed by ex_id).")
class Account:
    ex_id: str
    date: datetime | None = strawberry.field(description="When fullon last wrote the account.")
    balances: list[Balance]

    @strawberry.field(description="The balance of one currency, or null.")
    def balance(self, currency: str) -> Balance | None:
        return next((item for item in self.balances if item.currency == currency), None)


@strawberry.type(description="An open position (`account_positions`, per ex_id and symbol).")
class Position:
    ex_id: str
    symbol: str
    cost: float | None
    volume: float | None
    fee: float | None
    count: float | None
    price: float | None
    timestamp: datetime | None


@strawberry.type(description="An order in `order_status:{key}`.")
class Order:
    key: str = strawberry.field(description="The `order_status` key suffix: exchange or ex_id.")
    order_id: str = strawberry.field(
        description="The hash field: the authoritative exchange order id."
    )
    stored_order_id: str | None = strawberry.field(
        description="`order_id` as stored: the same id, or a numeric DB id after update_order."
    )
    ex_order_id: str | None
    exchange: str | None
    symbol: str | None
    order_type: str | None
    side: str | None
    status: str | None
    command: str | None
    reason: str | None
    volume: float | None
    final_volume: float | None
    price: float | None
    plimit: float | None
    leverage: float | None
    tick: float | None
    futures: bool | None
    bot_id: str | None
    uid: str | None
    ex_id: str | None
    cat_ex_id: str | None
    timestamp: datetime | None = strawberry.field(
        description="When the cache last wrote the order (fullon_cache overwrites it)."
    )
    extra: JSON | None = strawberry.field(description="Stored keys not listed above.")


@strawberry.type(description="A trade in `trades:*` or `user_trades:*`.")
class Trade:
    trade_id: str | None
    ex_trade_id: str | None
    ex_order_id: str | None
    uid: str | None
    ex_id: str | None
    symbol: str | None
    order_type: str | None
    side: str | None
    volume: float | None
    price: float | None
    cost: float | None
    fee: float | None
    cur_volume: float | None
    cur_avg_price: float | None
    cur_avg_cost: float | None
    cur_fee: float | None
    roi: float | None
    roi_pct: float | None
    total_fee: float | None
    leverage: float | None
    time: datetime | None
    extra: JSON | None


@strawberry.type(description="A last-trade marker (`TRADE:STATUS:*` or `USER_TRADE:STATUS:*`).")
class TradeStatus:
    key: str = strawberry.field(description="The exchange (or user key) the marker is for.")
    timestamp: datetime | None


@strawberry.type(description="A bot's status document (`bot_status`), free-form.")
class Bot:
    bot_id: str
    data: JSON = strawberry.field(description="The stored document as it is.")
    status: str | None = strawberry.field(
        description="Top-level `status`, else the first feed's status."
    )
    updated_at: datetime | None = strawberry.field(description="Newest feed timestamp.")


@strawberry.type(description="A symbol blocked by a bot (`block_exchange`).")
class ExchangeBlock:
    ex_id: str
    symbol: str
    bot_id: str


@strawberry.type(description="A position a bot is opening (`opening_position`).")
class OpeningPosition:
    ex_id: str
    symbol: str
    bot_id: str | None
    since: datetime | None


@strawberry.type(description="One OHLCV bar.")
class OhlcvBar:
    timestamp: datetime
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float | None


@strawberry.type(description="A stored OHLCV series (`ohlcv:{symbol}:{timeframe}`).")
class OhlcvSeries:
    symbol: str
    timeframe: str
    bars: int


@strawberry.type(description="A registered fullon process (`process:data:{id}`).")
class Process:
    process_id: str
    process_type: str | None
    component: str | None
    params: JSON | None
    status: str | None
    message: str | None
    created_at: datetime | None
    updated_at: datetime | None
    heartbeat: datetime | None
    last_active: datetime | None = strawberry.field(
        description="Time recorded in `process:active:{type}`."
    )
    heartbeat_stale: bool = strawberry.field(
        description="No heartbeat within the configured staleness window."
    )


@strawberry.type(description="The latest process registered for a component.")
class ComponentStatus:
    component: str
    process_id: str | None
    process: Process | None


@strawberry.type(description="A count per key.")
class Count:
    key: str
    count: int


@strawberry.type(description="Health of the fullon processes over the last hour.")
class SystemHealth:
    healthy: bool
    total_processes: int
    by_type: list[Count]
    by_status: list[Count]
    stale_processes: list[Process]
    error_processes: list[Process]
    checked_at: datetime


@strawberry.type(description="Health of the Redis cache this API reads.")
class CacheHealth:
    reachable: bool
    latency_ms: float | None
    redis_version: str | None
    role: str | None
    used_memory_bytes: float | None
    connected_clients: int | None
    keyspace_events: str | None = strawberry.field(
        description="`notify-keyspace-events`, when the API's Redis user may read it."
    )
    error: str | None
