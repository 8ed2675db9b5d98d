"""The ``Subscription`` type: every live stream. Each sends the current state first
(except ``processBroadcasts``, which has none), then one event per change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry

from fullon_cache_api.resolvers import live
from fullon_cache_api.schema.events import (
    BlocksEvent,
    BotsEvent,
    OhlcvEvent,
    OpeningPositionsEvent,
    OrdersEvent,
    PositionsEvent,
    ProcessBroadcast,
    ProcessesEvent,
    TickersEvent,
    TradesEvent,
)
from fullon_cache_api.schema.types import Account, SystemHealth, Ticker


def _stream(resolver: Callable[..., Any], graphql_type: Any, description: str) -> Any:
    return strawberry.subscription(
        resolver=resolver, graphql_type=graphql_type, description=description
    )


@strawberry.type(description="Live streams, pushed from one shared Redis feed.")
class Subscription:
    ticker = _stream(live.ticker, Ticker | None, "One ticker: its value now, then every update.")
    tickers = _stream(live.tickers, TickersEvent, "Tickers of one or all exchanges.")
    account = _stream(live.account, Account | None, "An account and its balances.")
    positions = _stream(live.positions, PositionsEvent, "The positions of one account.")
    orders = _stream(live.orders, OrdersEvent, "Orders under an `order_status` key.")
    open_order_queue = _stream(
        live.open_order_queue, list[str], "The order ids waiting in a local queue."
    )
    trades = _stream(live.trades, TradesEvent, "Trades of a symbol as they are pushed.")
    user_trades = _stream(live.user_trades, TradesEvent, "A user's trades.")
    bots = _stream(live.bots, BotsEvent, "Bot status documents.")
    blocks = _stream(live.blocks, BlocksEvent, "Exchange blocks.")
    opening_positions = _stream(
        live.opening_positions, OpeningPositionsEvent, "Positions bots are opening."
    )
    ohlcv = _stream(live.ohlcv, OhlcvEvent, "The newest `count` bars of a series.")
    processes = _stream(live.processes, ProcessesEvent, "Processes active within the window.")
    system_health = _stream(live.system_health, SystemHealth, "Health of the fullon processes.")
    process_broadcasts = _stream(
        live.process_broadcasts, ProcessBroadcast, "Messages on `process:broadcast:{type}`."
    )
