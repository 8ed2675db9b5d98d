"""Accounts (scope ``account``): balances, positions, orders, order queues, user trades."""

from __future__ import annotations

from typing import Annotated

import strawberry

from fullon_cache_api.auth import ACCOUNT
from fullon_cache_api.cache.records import (
    AccountRecord,
    BalanceRecord,
    OrderRecord,
    PositionRecord,
    TradeRecord,
    TradeStatusRecord,
)
from fullon_cache_api.errors import InvalidArgument
from fullon_cache_api.resolvers import arguments as args
from fullon_cache_api.resolvers.arguments import (
    Exchange,
    ExId,
    First,
    Info,
    Last,
    LocalOid,
    Offset,
    OrderKey,
    Symbol,
    Uid,
)
from fullon_cache_api.resolvers.fields import Client, query

Currency = Annotated[str, strawberry.argument(description="Currency code, e.g. `USDT`.")]
OrderId = Annotated[
    str, strawberry.argument(description="Exchange order id: the `order_status` hash field.")
]
MAX_ORDER_KEYS = 1000
"""How many `order_status` keys `ordersById` searches at most."""

MarkerKey = Annotated[
    str, strawberry.argument(description="The marker's key, as fullon wrote it (free text).")
]


@query(scope=ACCOUNT, client=Client("get_account"))
async def account(info: Info, ex_id: ExId) -> AccountRecord | None:
    """An account and its balances (`HGET accounts {exId}`); `Account.balance(currency)`
    picks one currency."""
    return await info.context.cache.accounts.get(args.identifier(ex_id, "exId"))


@query(scope=ACCOUNT, client=Client("get_accounts"))
async def accounts(info: Info) -> list[AccountRecord]:
    """Every account (`HGETALL accounts`), numeric ex_ids in numeric order."""
    listing = await info.context.cache.accounts.all()
    return info.context.items(listing, info.path.as_list())


@query(scope=ACCOUNT, client=Client("get_balance"))
async def balance(info: Info, ex_id: ExId, currency: Currency) -> BalanceRecord | None:
    """One currency of an account (`HGET accounts {exId}`): ccxt accounts fill
    `free/used/total`, others `balance/available`; unknown keys go in `extra`."""
    return await info.context.cache.accounts.balance(
        args.identifier(ex_id, "exId"), args.exchange(currency, "currency")
    )


@query(scope=ACCOUNT, client=Client("get_positions"))
async def positions(info: Info, ex_id: ExId) -> list[PositionRecord]:
    """The positions of this ex_id only (`HGET account_positions {exId}`)."""
    return await info.context.cache.positions.of_account(args.identifier(ex_id, "exId"))


@query(scope=ACCOUNT, client=Client("get_position"))
async def position(info: Info, ex_id: ExId, symbol: Symbol) -> PositionRecord | None:
    """One position of an account (`HGET account_positions {exId}`)."""
    return await info.context.cache.positions.get(
        args.identifier(ex_id, "exId"), args.symbol(symbol)
    )


@query(scope=ACCOUNT, client=Client("get_all_positions"))
async def all_positions(info: Info) -> list[PositionRecord]:
    """Every account's positions (`HGETALL account_positions`)."""
    listing = await info.context.cache.positions.all()
    return info.context.items(listing, info.path.as_list())


@query(scope=ACCOUNT, client=Client("get_order", positional=("exchange", "order_id")))
async def order(info: Info, exchange: OrderKey, order_id: OrderId) -> OrderRecord | None:
    """One order by its exchange order id (`HGET order_status:{exchange} {orderId}`)."""
    return await info.context.cache.orders.get(
        args.identifier(exchange, "exchange"), args.free_text(order_id, "orderId")
    )


@query(scope=ACCOUNT, client=Client("get_orders_by_id"))
async def orders_by_id(info: Info, order_id: OrderId) -> list[OrderRecord]:
    """An order by its exchange order id, under every `order_status` key that holds it (`SCAN
    order_status:*`, then a pipelined `HGET {orderId}` per key; at most MAX_ORDER_KEYS =
    1000 keys), by key: usually one order, none if no key holds it."""
    listing = await info.context.cache.orders.by_id(
        args.free_text(order_id, "orderId"), MAX_ORDER_KEYS
    )
    return info.context.items(listing, info.path.as_list())


@query(scope=ACCOUNT, client=Client("get_orders"))
async def orders(info: Info, exchange: OrderKey) -> list[OrderRecord]:
    """Every order under an `order_status` key (`HGETALL order_status:{exchange}`), oldest
    cache write first. A `canceled` order puts a 1 h TTL on the whole hash."""
    listing = await info.context.cache.orders.of_key(args.identifier(exchange, "exchange"))
    return info.context.items(listing, info.path.as_list())


@query(scope=ACCOUNT, client=Client("get_order_keys"))
async def order_keys(info: Info) -> list[str]:
    """Every `order_status` key suffix: exchange names or ex_ids (`SCAN order_status:*`)."""
    return await info.context.cache.orders.status_keys()


@query(
    scope=ACCOUNT,
    size=("first", "last"),
    client=Client("get_open_order_queue", positional=("local_oid",)),
)
async def open_order_queue(
    info: Info,
    local_oid: LocalOid,
    first: First = None,
    last: Last = None,
    offset: Offset = 0,
) -> list[str]:
    """A page of the order ids waiting in a local open-order queue (`LRANGE
    new_orders:{localOid}`), next to be consumed first; never popped. Without
    `first`/`last`: the first LIST_PAGE_DEFAULT."""
    settings = info.context.settings
    if first is None and last is None:
        first = settings.list_page_default
    listing = await info.context.cache.order_queues.items(
        args.identifier(local_oid, "localOid"), args.list_page(settings, first, last, offset)
    )
    return info.context.items(listing, info.path.as_list())


@query(scope=ACCOUNT, client=Client("get_queue_length"))
async def queue_length(info: Info, local_oid: LocalOid) -> int:
    """Length of a local open-order queue (`LLEN new_orders:{localOid}`). The queue is keyed
    by the local order id, not by exchange: an exchange name (one with a `tickers:{name}`
    hash) whose queue is empty is refused with INVALID_ARGUMENT, not answered with 0."""
    cache = info.context.cache
    oid = args.identifier(local_oid, "localOid")
    length = await cache.order_queues.length(oid)
    if length == 0 and await cache.tickers.is_exchange(oid):
        raise InvalidArgument(
            "invalid localOid: that is an exchange name; the open-order queue is keyed by "
            "the local order id (new_orders:{localOid}), not by exchange",
            argument="localOid",
        )
    return length


@query(
    scope=ACCOUNT,
    size=("first", "last"),
    client=Client("get_user_trades", positional=("uid", "exchange", "last")),
)
async def user_trades(
    info: Info,
    uid: Uid,
    exchange: Exchange,
    last: Last = None,
    first: First = None,
    offset: Offset = 0,
) -> list[TradeRecord]:
    """A page of a user's unconsumed trades, oldest first (`LRANGE
    user_trades:{uid}:{exchange}`; never popped)."""
    page = args.list_page(info.context.settings, first, last, offset)
    listing = await info.context.cache.trades.of_user(
        args.identifier(uid, "uid"), args.exchange(exchange), page
    )
    return info.context.items(listing, info.path.as_list())


@query(scope=ACCOUNT, client=Client("get_user_trade_count"))
async def user_trade_count(info: Info, uid: Uid, exchange: Exchange) -> int:
    """How many trades `userTrades` could list (`LLEN user_trades:{uid}:{exchange}`)."""
    return await info.context.cache.trades.user_count(
        args.identifier(uid, "uid"), args.exchange(exchange)
    )


@query(scope=ACCOUNT, client=Client("get_user_trade_status"))
async def user_trade_status(info: Info, key: MarkerKey) -> TradeStatusRecord | None:
    """A user-trade marker (`GET USER_TRADE:STATUS:{key}`)."""
    return await info.context.cache.trades.user_status(args.identifier(key, "key"))


@query(scope=ACCOUNT, client=Client("get_user_trade_statuses"))
async def user_trade_statuses(info: Info) -> list[TradeStatusRecord]:
    """Every user-trade marker (`SCAN USER_TRADE:STATUS:*`, then `MGET`)."""
    return await info.context.cache.trades.user_statuses()
