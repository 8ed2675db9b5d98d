"""Account resolvers (scope ``account``): balances, positions, orders, queues, user trades."""

from __future__ import annotations

from typing import Annotated

import strawberry

from fullon_cache_api.cache.records import (
    AccountRecord,
    BalanceRecord,
    OrderRecord,
    PositionRecord,
    TradeRecord,
    TradeStatusRecord,
)
from fullon_cache_api.context import RequestContext
from fullon_cache_api.resolvers import arguments as args
from fullon_cache_api.resolvers.arguments import (
    Exchange,
    ExId,
    First,
    Last,
    Offset,
    OrderKey,
    Symbol,
)

Info = strawberry.Info[RequestContext, None]

LocalOid = Annotated[str, strawberry.argument(description="The local order id of the queue.")]


async def account(info: Info, ex_id: ExId) -> AccountRecord | None:
    return await info.context.cache.accounts.get(args.identifier(ex_id, "exId"))


async def accounts(info: Info) -> list[AccountRecord]:
    listing = await info.context.cache.accounts.all()
    return info.context.items(listing, info.path.as_list())


async def balance(info: Info, ex_id: ExId, currency: str) -> BalanceRecord | None:
    return await info.context.cache.accounts.balance(
        args.identifier(ex_id, "exId"), args.exchange(currency, "currency")
    )


async def positions(info: Info, ex_id: ExId) -> list[PositionRecord]:
    return await info.context.cache.positions.of_account(args.identifier(ex_id, "exId"))


async def position(info: Info, ex_id: ExId, symbol: Symbol) -> PositionRecord | None:
    return await info.context.cache.positions.get(
        args.identifier(ex_id, "exId"), args.symbol(symbol)
    )


async def all_positions(info: Info) -> list[PositionRecord]:
    listing = await info.context.cache.positions.all()
    return info.context.items(listing, info.path.as_list())


async def order(info: Info, exchange: OrderKey, order_id: str) -> OrderRecord | None:
    return await info.context.cache.orders.get(
        args.identifier(exchange, "exchange"), args.free_text(order_id, "orderId")
    )


async def orders(info: Info, exchange: OrderKey) -> list[OrderRecord]:
    listing = await info.context.cache.orders.of_key(args.identifier(exchange, "exchange"))
    return info.context.items(listing, info.path.as_list())


async def order_keys(info: Info) -> list[str]:
    """Suffixes of every `order_status:*` hash."""
    return await info.context.cache.orders.status_keys()


async def open_order_queue(
    info: Info,
    local_oid: LocalOid,
    first: First = None,
    last: Last = None,
    offset: Offset = 0,
) -> list[str]:
    """A page of the exchange order ids waiting in `new_orders:{localOid}`, next first
    (never popped). Without `first`/`last`: the first LIST_PAGE_DEFAULT."""
    settings = info.context.settings
    if first is None and last is None:
        first = settings.list_page_default
    listing = await info.context.cache.order_queues.items(
        args.identifier(local_oid, "localOid"), args.list_page(settings, first, last, offset)
    )
    return info.context.items(listing, info.path.as_list())


async def queue_length(info: Info, local_oid: LocalOid) -> int:
    return await info.context.cache.order_queues.length(args.identifier(local_oid, "localOid"))


async def user_trades(
    info: Info,
    uid: str,
    exchange: Exchange,
    last: Last = None,
    first: First = None,
    offset: Offset = 0,
) -> list[TradeRecord]:
    """A page of `user_trades:{uid}:{exchange}`, oldest first (LRANGE only, never popped)."""
    page = args.list_page(info.context.settings, first, last, offset)
    listing = await info.context.cache.trades.of_user(
        args.identifier(uid, "uid"), args.exchange(exchange), page
    )
    return info.context.items(listing, info.path.as_list())


async def user_trade_count(info: Info, uid: str, exchange: Exchange) -> int:
    """How many trades `user_trades:{uid}:{exchange}` holds (LLEN)."""
    return await info.context.cache.trades.user_count(
        args.identifier(uid, "uid"), args.exchange(exchange)
    )


async def user_trade_status(info: Info, key: str) -> TradeStatusRecord | None:
    return await info.context.cache.trades.user_status(args.identifier(key, "key"))


async def user_trade_statuses(info: Info) -> list[TradeStatusRecord]:
    return await info.context.cache.trades.user_statuses()
