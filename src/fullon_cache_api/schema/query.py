"""The ``Query`` type: one field per read operation of fullon_cache (layout §9), plus ``health``.

A cache miss is ``null`` for a single object and ``[]`` for a list.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import strawberry

from fullon_cache_api.resolvers import account as account_fields
from fullon_cache_api.resolvers import market as market_fields
from fullon_cache_api.resolvers import ops as ops_fields
from fullon_cache_api.schema.types import (
    Account,
    Balance,
    Bot,
    CacheHealth,
    ComponentStatus,
    ExchangeBlock,
    OhlcvBar,
    OhlcvSeries,
    OpeningPosition,
    Order,
    Position,
    Process,
    SystemHealth,
    Ticker,
    Trade,
    TradeStatus,
)

ROOT_RESOLVERS: dict[str, Callable[..., Any]] = {}
"""Python field name → resolver, so the server can bind root fields to them directly."""


def _field(
    resolver: Callable[..., Any], graphql_type: Any, description: str, *, can_fail: bool = True
) -> Any:
    """A root field. One that reads the cache can fail (Redis down, a bad argument): it is
    nullable, so its error nulls only itself, not the whole ``data`` of the response."""
    ROOT_RESOLVERS[resolver.__name__] = resolver
    return strawberry.field(
        resolver=resolver,
        graphql_type=graphql_type | None if can_fail else graphql_type,
        description=description,
    )


@strawberry.type(description="Read-only access to fullon_cache's live state.")
class Query:
    # market
    ticker = _field(
        market_fields.ticker, Ticker | None, "The latest ticker of a symbol on an exchange."
    )
    tickers = _field(
        market_fields.tickers, list[Ticker], "Every ticker of one exchange, or of all exchanges."
    )
    any_ticker = _field(market_fields.any_ticker, Ticker | None, "The freshest ticker of a symbol.")
    exchanges = _field(market_fields.exchanges, list[str], "Exchanges that have tickers.")
    ticker_time = _field(
        market_fields.ticker_time, datetime | None, "When a ticker was last written."
    )
    ohlcv = _field(market_fields.ohlcv, list[OhlcvBar], "The newest OHLCV bars of a series.")
    ohlcv_series = _field(
        market_fields.ohlcv_series, list[OhlcvSeries], "Every stored OHLCV series."
    )
    trades = _field(
        market_fields.trades,
        list[Trade],
        "A page of the trades not yet drained by fullon's batcher, oldest first.",
    )
    trade_count = _field(market_fields.trade_count, int, "How many trades `trades` could list.")
    trade_status = _field(
        market_fields.trade_status,
        TradeStatus | None,
        "When a trade was last pushed for an exchange.",
    )
    trade_statuses = _field(market_fields.trade_statuses, list[TradeStatus], "Every trade marker.")
    # account
    account = _field(account_fields.account, Account | None, "An account and its balances.")
    accounts = _field(account_fields.accounts, list[Account], "Every account.")
    balance = _field(account_fields.balance, Balance | None, "One currency of an account.")
    positions = _field(account_fields.positions, list[Position], "The positions of one account.")
    position = _field(account_fields.position, Position | None, "One position of an account.")
    all_positions = _field(
        account_fields.all_positions, list[Position], "Every account's positions."
    )
    order = _field(account_fields.order, Order | None, "One order by its exchange order id.")
    orders = _field(account_fields.orders, list[Order], "Every order under an `order_status` key.")
    order_keys = _field(account_fields.order_keys, list[str], "Every `order_status` key suffix.")
    open_order_queue = _field(
        account_fields.open_order_queue,
        list[str],
        "A page of the order ids waiting in a local open-order queue.",
    )
    queue_length = _field(account_fields.queue_length, int, "Length of a local open-order queue.")
    user_trades = _field(
        account_fields.user_trades, list[Trade], "A page of a user's unconsumed trades."
    )
    user_trade_count = _field(
        account_fields.user_trade_count, int, "How many trades `userTrades` could list."
    )
    user_trade_status = _field(
        account_fields.user_trade_status, TradeStatus | None, "A user-trade marker."
    )
    user_trade_statuses = _field(
        account_fields.user_trade_statuses, list[TradeStatus], "Every user-trade marker."
    )
    # ops
    bots = _field(ops_fields.bots, list[Bot], "Every bot's status document.")
    bot = _field(ops_fields.bot, Bot | None, "One bot's status document.")
    blocks = _field(ops_fields.blocks, list[ExchangeBlock], "Symbols blocked by bots.")
    is_blocked = _field(ops_fields.is_blocked, str | None, "The bot blocking a symbol, or null.")
    opening_positions = _field(
        ops_fields.opening_positions, list[OpeningPosition], "Positions bots are opening."
    )
    is_opening_position = _field(
        ops_fields.is_opening_position, bool, "Whether a bot is opening a position on a symbol."
    )
    process = _field(ops_fields.process, Process | None, "One process by id.")
    active_processes = _field(
        ops_fields.active_processes, list[Process], "Processes active recently, newest first."
    )
    component_status = _field(
        ops_fields.component_status, ComponentStatus | None, "The latest process of a component."
    )
    system_health = _field(
        ops_fields.system_health, SystemHealth, "Health of the fullon processes."
    )
    health = _field(
        ops_fields.health, CacheHealth, "Health of the Redis cache; never fails.", can_fail=False
    )
