"""Typed results: one frozen dataclass per GraphQL object type, fields in snake_case.

Field ``spread_percentage`` is GraphQL's ``spreadPercentage``, and so on. ``DateTime`` values
are timezone-aware ``datetime`` objects in UTC; ``JSON`` values are plain Python data
(dicts, lists, numbers, strings). Instances are built by :func:`decode.decode_as
<fullon_cache_api.client.decode.decode_as>` from the server's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")

__all__ = [
    "Account",
    "Balance",
    "Bot",
    "CacheHealth",
    "ChangeEvent",
    "ChangeKind",
    "ComponentStatus",
    "Count",
    "ExchangeBlock",
    "OhlcvBar",
    "OhlcvSeries",
    "OpeningPosition",
    "Order",
    "Position",
    "Process",
    "ProcessBroadcast",
    "SystemHealth",
    "Ticker",
    "Trade",
    "TradeStatus",
]


class ChangeKind(StrEnum):
    """What a :class:`ChangeEvent` carries."""

    SNAPSHOT = "SNAPSHOT"
    """The whole current state (the first event of a stream, and the first after a
    reconnect)."""
    UPSERT = "UPSERT"
    """Items that are new or changed."""
    REMOVE = "REMOVE"
    """Items that are gone."""


@dataclass(frozen=True, slots=True)
class ChangeEvent(Generic[T]):
    """One event of a collection stream: a snapshot, or the items that changed."""

    kind: ChangeKind
    items: list[T]


@dataclass(frozen=True, slots=True)
class Ticker:
    """The latest ticker of one symbol on one exchange."""

    exchange: str
    symbol: str
    price: float | None = None
    volume: float | None = None
    time: datetime | None = None
    """Exchange time of the tick."""
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    spread: float | None = None
    """``ask - bid``, when both are known."""
    spread_percentage: float | None = None
    """The spread as a percentage of the mid price."""


@dataclass(frozen=True, slots=True)
class Balance:
    """One currency of an account. ccxt-style accounts fill free/used/total, others
    balance/available; unknown keys are in ``extra``."""

    currency: str
    free: float | None = None
    used: float | None = None
    total: float | None = None
    balance: float | None = None
    available: float | None = None
    extra: Any = None


@dataclass(frozen=True, slots=True)
class Account:
    """An exchange account (by ``ex_id``) and its balances."""

    ex_id: str
    date: datetime | None = None
    """When fullon last wrote the account."""
    balances: list[Balance] = field(default_factory=list)

    def balance(self, currency: str) -> Balance | None:
        """The balance of ``currency``, or None."""
        return next((b for b in self.balances if b.currency == currency), None)


@dataclass(frozen=True, slots=True)
class Position:
    """An open position of an account on one symbol."""

    ex_id: str
    symbol: str
    cost: float | None = None
    volume: float | None = None
    fee: float | None = None
    count: float | None = None
    price: float | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """An order in ``order_status:{key}``."""

    key: str
    """The ``order_status`` key suffix: an exchange name or an ex_id."""
    order_id: str
    """The authoritative exchange order id (the hash field)."""
    stored_order_id: str | None = None
    """``order_id`` as stored: the same id, or a numeric DB id after ``update_order``."""
    ex_order_id: str | None = None
    exchange: str | None = None
    symbol: str | None = None
    order_type: str | None = None
    side: str | None = None
    status: str | None = None
    command: str | None = None
    reason: str | None = None
    volume: float | None = None
    final_volume: float | None = None
    price: float | None = None
    plimit: float | None = None
    leverage: float | None = None
    tick: float | None = None
    futures: bool | None = None
    bot_id: str | None = None
    uid: str | None = None
    ex_id: str | None = None
    cat_ex_id: str | None = None
    timestamp: datetime | None = None
    """When the cache last wrote the order."""
    extra: Any = None
    """Stored keys not listed above."""


@dataclass(frozen=True, slots=True)
class Trade:
    """A trade in ``trades:*`` or ``user_trades:*``."""

    trade_id: str | None = None
    ex_trade_id: str | None = None
    ex_order_id: str | None = None
    uid: str | None = None
    ex_id: str | None = None
    symbol: str | None = None
    order_type: str | None = None
    side: str | None = None
    volume: float | None = None
    price: float | None = None
    cost: float | None = None
    fee: float | None = None
    cur_volume: float | None = None
    cur_avg_price: float | None = None
    cur_avg_cost: float | None = None
    cur_fee: float | None = None
    roi: float | None = None
    roi_pct: float | None = None
    total_fee: float | None = None
    leverage: float | None = None
    time: datetime | None = None
    extra: Any = None


@dataclass(frozen=True, slots=True)
class TradeStatus:
    """A last-trade marker (``TRADE:STATUS:*`` or ``USER_TRADE:STATUS:*``)."""

    key: str
    """The exchange (or user key) the marker is for."""
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class Bot:
    """A bot's status document (free-form ``data``)."""

    bot_id: str
    data: Any = None
    """The stored document as it is."""
    status: str | None = None
    """Top-level ``status``, else the first feed's status."""
    updated_at: datetime | None = None
    """Newest feed timestamp."""


@dataclass(frozen=True, slots=True)
class ExchangeBlock:
    """A symbol blocked by a bot."""

    ex_id: str
    symbol: str
    bot_id: str


@dataclass(frozen=True, slots=True)
class OpeningPosition:
    """A position a bot is opening."""

    ex_id: str
    symbol: str
    bot_id: str | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class OhlcvBar:
    """One OHLCV bar."""

    timestamp: datetime
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float | None = None
    volume: float | None = None


@dataclass(frozen=True, slots=True)
class OhlcvSeries:
    """A stored OHLCV series and its number of bars."""

    symbol: str
    timeframe: str
    bars: int


@dataclass(frozen=True, slots=True)
class Process:
    """A registered fullon process."""

    process_id: str
    process_type: str | None = None
    component: str | None = None
    params: Any = None
    status: str | None = None
    message: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    heartbeat: datetime | None = None
    last_active: datetime | None = None
    """Time recorded in ``process:active:{type}``."""
    heartbeat_stale: bool = False
    """No heartbeat within the server's staleness window."""


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    """The latest process registered for a component."""

    component: str
    process_id: str | None = None
    process: Process | None = None


@dataclass(frozen=True, slots=True)
class Count:
    """A count per key (``SystemHealth.by_type`` / ``by_status``)."""

    key: str
    count: int


@dataclass(frozen=True, slots=True)
class SystemHealth:
    """Health of the fullon processes over the last hour."""

    healthy: bool
    total_processes: int
    checked_at: datetime
    by_type: list[Count] = field(default_factory=list)
    by_status: list[Count] = field(default_factory=list)
    stale_processes: list[Process] = field(default_factory=list)
    error_processes: list[Process] = field(default_factory=list)

    def counts_by_type(self) -> dict[str, int]:
        """``by_type`` as a dict."""
        return {c.key: c.count for c in self.by_type}

    def counts_by_status(self) -> dict[str, int]:
        """``by_status`` as a dict."""
        return {c.key: c.count for c in self.by_status}


@dataclass(frozen=True, slots=True)
class CacheHealth:
    """Health of the Redis cache the API reads."""

    reachable: bool
    latency_ms: float | None = None
    redis_version: str | None = None
    role: str | None = None
    used_memory_bytes: float | None = None
    connected_clients: int | None = None
    keyspace_events: str | None = None
    """``notify-keyspace-events``, when the API's Redis user may read it."""
    error: str | None = None
    change_detection: str | None = None
    """``keyspace`` or ``poll``: how changes Redis does not publish are noticed now."""
    feed_connected: bool | None = None
    """Whether the pub/sub feed carrying live changes is connected."""
    failing_topics: list[str] = field(default_factory=list)
    """Live streams that cannot read the cache now."""
    last_message_at: datetime | None = None
    """When the last pub/sub message arrived."""


@dataclass(frozen=True, slots=True)
class ProcessBroadcast:
    """A message published on ``process:broadcast:{type}``."""

    process_type: str
    message: str | None = None
    data: Any = None
    timestamp: datetime | None = None
