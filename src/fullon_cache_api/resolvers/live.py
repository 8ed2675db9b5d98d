"""Subscription resolvers: validate arguments and open a stream on the shared topic.

Each returns a ``TopicStream`` (an async iterator): it sends the current state first, then
one event per change.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from fullon_cache_api.cache.paging import ListPage
from fullon_cache_api.context import RequestContext
from fullon_cache_api.errors import ApiError
from fullon_cache_api.resolvers import arguments as args
from fullon_cache_api.resolvers.arguments import Exchange, ExId, OrderKey, Symbol
from fullon_cache_api.subscriptions import specs
from fullon_cache_api.subscriptions.hub import LiveHub
from fullon_cache_api.subscriptions.stream import TopicStream

Info = strawberry.Info[RequestContext, None]

MinInterval = Annotated[
    int | None,
    strawberry.argument(
        description="At most one event per this many milliseconds for this subscription; "
        "changes in between are coalesced to the latest."
    ),
]

Window = Annotated[
    int | None,
    strawberry.argument(
        description="The snapshot holds the newest N trades (1 to LIST_PAGE_MAX; default "
        "LIST_PAGE_DEFAULT); later events carry the trades pushed since."
    ),
]

MAX_SYMBOLS = 500


class LiveUnavailable(ApiError):
    pass


def _hub(info: Info) -> LiveHub:
    hub = info.context.live
    if hub is None:
        raise LiveUnavailable("live data is not enabled on this server")
    return hub


SOURCE_KEY = "subscription_source"


def _open(info: Info, stream: TopicStream) -> TopicStream:
    """Return the stream, and leave it in the context for the fan-out group to find."""
    info.context.extras[SOURCE_KEY] = stream
    return stream


def _interval(value: int | None) -> int | None:
    if value is None:
        return None
    return args.bounded(value, "minIntervalMs", 0, 3_600_000)


def ticker(
    info: Info, exchange: Exchange, symbol: Symbol, min_interval_ms: MinInterval = None
) -> TopicStream:
    spec = specs.ticker(args.exchange(exchange), args.symbol(symbol))
    return _open(info, TopicStream(_hub(info), spec, min_interval_ms=_interval(min_interval_ms)))


def tickers(
    info: Info,
    exchange: Annotated[
        str | None, strawberry.argument(description="One exchange; omitted: all of them.")
    ] = None,
    symbols: Annotated[
        list[str] | None, strawberry.argument(description="Only these symbols; omitted: all.")
    ] = None,
    min_interval_ms: MinInterval = None,
) -> TopicStream:
    spec = specs.tickers(args.exchange(exchange) if exchange is not None else None)
    wanted: frozenset[str] | None = None
    if symbols:
        if len(symbols) > MAX_SYMBOLS:
            args.bounded(len(symbols), "symbols", 1, MAX_SYMBOLS)
        wanted = frozenset(args.symbol(symbol, "symbols") for symbol in symbols)
    return _open(
        info,
        TopicStream(
            _hub(info),
            spec,
            item_filter=(lambda item: item.symbol in wanted) if wanted else None,
            min_interval_ms=_interval(min_interval_ms),
        ),
    )


def account(info: Info, ex_id: ExId) -> TopicStream:
    return _open(info, TopicStream(_hub(info), specs.account(args.identifier(ex_id, "exId"))))


def positions(info: Info, ex_id: ExId) -> TopicStream:
    return _open(info, TopicStream(_hub(info), specs.positions(args.identifier(ex_id, "exId"))))


def orders(info: Info, exchange: OrderKey) -> TopicStream:
    return _open(info, TopicStream(_hub(info), specs.orders(args.identifier(exchange, "exchange"))))


def open_order_queue(info: Info, local_oid: str) -> TopicStream:
    """The first LIST_PAGE_DEFAULT ids of the queue (the next to be consumed)."""
    page = ListPage(info.context.settings.list_page_default, from_tail=False)
    spec = specs.open_order_queue(args.identifier(local_oid, "localOid"), page)
    return _open(info, TopicStream(_hub(info), spec))


def _window(info: Info, last: int | None) -> int:
    settings = info.context.settings
    if last is None:
        return settings.list_page_default
    return args.bounded(last, "last", 1, settings.list_page_max)


def trades(info: Info, exchange: Exchange, symbol: Symbol, last: Window = None) -> TopicStream:
    spec = specs.trades(args.exchange(exchange), args.symbol(symbol), _window(info, last))
    return _open(info, TopicStream(_hub(info), spec))


def user_trades(info: Info, uid: str, exchange: Exchange, last: Window = None) -> TopicStream:
    spec = specs.user_trades(
        args.identifier(uid, "uid"), args.exchange(exchange), _window(info, last)
    )
    return _open(info, TopicStream(_hub(info), spec))


def bots(info: Info) -> TopicStream:
    return _open(info, TopicStream(_hub(info), specs.bots()))


def blocks(info: Info) -> TopicStream:
    return _open(info, TopicStream(_hub(info), specs.blocks()))


def opening_positions(info: Info) -> TopicStream:
    return _open(info, TopicStream(_hub(info), specs.opening_positions()))


def ohlcv(info: Info, symbol: Symbol, timeframe: str, count: int = 100) -> TopicStream:
    spec = specs.ohlcv(
        args.symbol(symbol),
        args.timeframe(timeframe),
        args.bounded(count, "count", 1, args.MAX_OHLCV_COUNT),
    )
    return _open(info, TopicStream(_hub(info), spec))


def processes(
    info: Info,
    type: str | None = None,
    component: str | None = None,
    since_minutes: float = 60,
) -> TopicStream:
    spec = specs.processes(
        args.identifier(type, "type") if type is not None else None,
        args.free_text(component, "component") if component is not None else None,
        args.positive_minutes(since_minutes),
    )
    return _open(info, TopicStream(_hub(info), spec))


def system_health(info: Info) -> TopicStream:
    hub = _hub(info)
    return _open(info, TopicStream(hub, specs.system_health(hub.poll_interval("health"))))


def process_broadcasts(info: Info, type: str) -> TopicStream:
    return _open(
        info, TopicStream(_hub(info), specs.process_broadcasts(args.identifier(type, "type")))
    )
