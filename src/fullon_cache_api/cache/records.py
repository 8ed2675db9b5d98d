"""Decoded records: what the data layer hands to the rest of the product.

Attribute names match the GraphQL types field for field, so resolvers return these objects
as they are. Every optional value may be ``None``: fullon_cache's shapes are open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class TickerRecord:
    exchange: str
    symbol: str
    price: float | None
    volume: float | None
    time: datetime | None
    bid: float | None
    ask: float | None
    last: float | None


@dataclass(slots=True)
class BalanceRecord:
    currency: str
    free: float | None = None
    used: float | None = None
    total: float | None = None
    balance: float | None = None
    available: float | None = None
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class AccountRecord:
    ex_id: str
    date: datetime | None
    balances: list[BalanceRecord] = field(default_factory=list)
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class PositionRecord:
    ex_id: str
    symbol: str
    cost: float | None
    volume: float | None
    fee: float | None
    count: float | None
    price: float | None
    timestamp: datetime | None


@dataclass(slots=True)
class OrderRecord:
    key: str
    order_id: str
    stored_order_id: str | None
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
    timestamp: datetime | None
    extra: dict[str, Any] | None


@dataclass(slots=True)
class TradeRecord:
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
    extra: dict[str, Any] | None


@dataclass(slots=True)
class TradeStatusRecord:
    key: str
    timestamp: datetime | None


@dataclass(slots=True)
class BotRecord:
    bot_id: str
    data: dict[str, Any]
    status: str | None
    updated_at: datetime | None


@dataclass(slots=True)
class ExchangeBlockRecord:
    ex_id: str
    symbol: str
    bot_id: str


@dataclass(slots=True)
class OpeningPositionRecord:
    ex_id: str
    symbol: str
    bot_id: str | None
    since: datetime | None


@dataclass(slots=True)
class OhlcvBarRecord:
    timestamp: datetime
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float | None


@dataclass(slots=True)
class OhlcvSeriesRecord:
    symbol: str
    timeframe: str
    bars: int


@dataclass(slots=True)
class ProcessRecord:
    process_id: str
    process_type: str | None
    component: str | None
    params: dict[str, Any] | None
    status: str | None
    message: str | None
    created_at: datetime | None
    updated_at: datetime | None
    heartbeat: datetime | None
    last_active: datetime | None
    heartbeat_stale: bool


@dataclass(slots=True)
class ComponentStatusRecord:
    component: str
    process_id: str | None
    process: ProcessRecord | None


@dataclass(slots=True)
class CountRecord:
    key: str
    count: int


@dataclass(slots=True)
class SystemHealthRecord:
    healthy: bool
    total_processes: int
    by_type: list[CountRecord]
    by_status: list[CountRecord]
    stale_processes: list[ProcessRecord]
    error_processes: list[ProcessRecord]
    checked_at: datetime = field(compare=False)  # equal states compare equal


@dataclass(slots=True)
class CacheHealthRecord:
    reachable: bool
    latency_ms: float | None
    redis_version: str | None
    role: str | None
    used_memory_bytes: float | None
    connected_clients: int | None
    keyspace_events: str | None
    error: str | None
