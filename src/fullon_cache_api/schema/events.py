"""Subscription payloads of keyed collections: what changed, and the items.

``kind`` SNAPSHOT carries the whole current state (first, and again after a reconnect);
UPSERT carries new or changed items; REMOVE carries the last known version of removed items.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from fullon_cache_api.schema.types import (
    Bot,
    ExchangeBlock,
    OhlcvBar,
    OpeningPosition,
    Order,
    Position,
    Process,
    Ticker,
    Trade,
)
from fullon_cache_api.subscriptions.events import ChangeKind

strawberry.enum(
    ChangeKind, description="SNAPSHOT: the whole state. UPSERT: new or changed. REMOVE: gone."
)


@strawberry.type(description="Tickers that changed.")
class TickersEvent:
    kind: ChangeKind
    items: list[Ticker]


@strawberry.type(description="Positions of one account that changed.")
class PositionsEvent:
    kind: ChangeKind
    items: list[Position]


@strawberry.type(description="Orders that changed. A cancel TTL expiry removes every order.")
class OrdersEvent:
    kind: ChangeKind
    items: list[Order]


@strawberry.type(description="Trades pushed (UPSERT) or drained by fullon's batcher (REMOVE).")
class TradesEvent:
    kind: ChangeKind
    items: list[Trade]


@strawberry.type(description="Bots whose status changed.")
class BotsEvent:
    kind: ChangeKind
    items: list[Bot]


@strawberry.type(description="Exchange blocks set or lifted.")
class BlocksEvent:
    kind: ChangeKind
    items: list[ExchangeBlock]


@strawberry.type(description="Opening positions marked or cleared.")
class OpeningPositionsEvent:
    kind: ChangeKind
    items: list[OpeningPosition]


@strawberry.type(description="OHLCV bars added or revised within the window.")
class OhlcvEvent:
    kind: ChangeKind
    items: list[OhlcvBar]


@strawberry.type(description="Processes registered, updated, or gone from the window.")
class ProcessesEvent:
    kind: ChangeKind
    items: list[Process]


@strawberry.type(description="A message published on `process:broadcast:{type}`.")
class ProcessBroadcast:
    process_type: str
    message: str | None
    data: JSON | None
    timestamp: datetime | None
