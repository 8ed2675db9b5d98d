"""Subscription fields: validate the arguments and open a stream on the shared topic.

Each resolver returns a ``TopicStream`` (an async iterator); graphql-core's subscription API
hands it to the server's delivery, which executes the selection once per event for every
subscriber of the same document and variables.

Keyed streams take ``live`` (:class:`LiveMode`) and ``maxRate``: with ``live: FULL`` every
event is a SNAPSHOT of the whole current set, at most ``maxRate`` per second (at most
``LIVE_MAX_RATE``, its default). A plain argument, so Apollo Client and GraphiQL users need
no custom link or directive support.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

import strawberry

from fullon_cache_api.auth import ACCOUNT, MARKET, OPS
from fullon_cache_api.cache.paging import ListPage
from fullon_cache_api.cache.records import (
    AccountRecord,
    BotRecord,
    CacheHealthRecord,
    ExchangeBlockRecord,
    OhlcvBarRecord,
    OpeningPositionRecord,
    OrderRecord,
    PositionRecord,
    ProcessMetricsRecord,
    ProcessRecord,
    SystemHealthRecord,
    TickerRecord,
    TradeRecord,
)
from fullon_cache_api.errors import ApiError, InvalidArgument
from fullon_cache_api.resolvers import arguments as args
from fullon_cache_api.resolvers.arguments import (
    Component,
    Exchange,
    ExId,
    Info,
    LocalOid,
    OrderKey,
    ProcessType,
    SinceMinutes,
    Symbol,
    Timeframe,
    Uid,
)
from fullon_cache_api.resolvers.fields import Client, subscription
from fullon_cache_api.subscriptions import specs
from fullon_cache_api.subscriptions.events import ProcessBroadcastRecord
from fullon_cache_api.subscriptions.hub import LiveHub
from fullon_cache_api.subscriptions.stream import TopicStream
from fullon_cache_api.subscriptions.topics import TopicSpec

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
WindowPerSymbol = Annotated[
    int | None,
    strawberry.argument(
        description="The snapshot holds the newest N trades of each symbol (1 to "
        "LIST_PAGE_MAX; default LIST_PAGE_DEFAULT); later events carry the trades pushed since."
    ),
]
Symbols = Annotated[
    list[str] | None,
    strawberry.argument(description="Only these symbols (at most 500); omitted: all."),
]
OneExchange = Annotated[
    str | None, strawberry.argument(description="One exchange; omitted: all of them.")
]
OhlcvCount = Annotated[
    int, strawberry.argument(description="How many of the newest distinct bars, 1 to 10000.")
]
BroadcastType = Annotated[
    str, strawberry.argument(description="The process type: `process:broadcast:{type}`.")
]


@strawberry.enum(
    description="What the events of a keyed subscription carry. CHANGES: a SNAPSHOT, then "
    "the changes (UPSERT: new or changed items; REMOVE: items gone). FULL: live results, "
    "every event a SNAPSHOT of the whole current set, at most `maxRate` per second (changes "
    "in between are merged into the next one)."
)
class LiveMode(StrEnum):
    CHANGES = "CHANGES"
    FULL = "FULL"


LIVE_MODE_DOCS: dict[LiveMode, str] = {
    LiveMode.CHANGES: "A SNAPSHOT, then the changes: UPSERT (new or changed items) and REMOVE.",
    LiveMode.FULL: "Every event a SNAPSHOT of the whole current set, at most `maxRate` per second.",
}


Live = Annotated[
    LiveMode,
    strawberry.argument(
        description="CHANGES: a snapshot, then changes. FULL: every event is the whole "
        "current set (a SNAPSHOT), conflated to at most `maxRate` per second."
    ),
]
MaxRate = Annotated[
    float | None,
    strawberry.argument(
        description="At most this many events per second (above 0, at most the server's "
        "LIVE_MAX_RATE); changes in between are merged. Default: LIVE_MAX_RATE with "
        "`live: FULL`, no limit with CHANGES."
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


def _interval(value: int | None) -> int | None:
    if value is None:
        return None
    return args.bounded(value, "minIntervalMs", 0, 3_600_000)


def _keyed(
    info: Info,
    spec: TopicSpec,
    live: LiveMode | str,
    max_rate: float | None,
    *,
    item_filter: Callable[[Any], bool] | None = None,
    min_interval_ms: int | None = None,
) -> TopicStream:
    """A keyed stream: changes, or full results (``live``), at most ``max_rate`` per
    second; with ``min_interval_ms`` too, the longer interval wins."""
    full = LiveMode(live) is LiveMode.FULL
    interval = float(min_interval_ms or 0)
    highest = info.context.settings.live_max_rate
    if max_rate is not None or full:
        rate = highest if max_rate is None else max_rate
        if not (math.isfinite(rate) and 0 < rate <= highest):
            raise InvalidArgument(
                f"invalid maxRate: must be above 0 and at most {highest:g} (LIVE_MAX_RATE)",
                argument="maxRate",
            )
        interval = max(interval, 1000.0 / rate)
    return TopicStream(
        _hub(info), spec, item_filter=item_filter, min_interval_ms=interval or None, full=full
    )


def _window(info: Info, last: int | None) -> int:
    settings = info.context.settings
    if last is None:
        return settings.list_page_default
    return args.bounded(last, "last", 1, settings.list_page_max)


@subscription(
    scope=MARKET,
    spec=specs.ticker,
    returns=TickerRecord | None,
    client=Client("stream_ticker"),
)
def ticker(
    info: Info, exchange: Exchange, symbol: Symbol, min_interval_ms: MinInterval = None
) -> TopicStream:
    """One ticker: its value now, then every update (pub/sub
    `ticker_updates:{exchange}:{symbol}`)."""
    spec = specs.ticker(args.exchange(exchange), args.symbol(symbol))
    return TopicStream(_hub(info), spec, min_interval_ms=_interval(min_interval_ms))


@subscription(
    scope=MARKET,
    spec=specs.tickers,
    returns=TickerRecord,
    event="TickersEvent",
    client=Client("stream_tickers"),
)
def tickers(
    info: Info,
    exchange: OneExchange = None,
    symbols: Symbols = None,
    min_interval_ms: MinInterval = None,
    live: Live = LiveMode.CHANGES,
    max_rate: MaxRate = None,
) -> TopicStream:
    """Tickers of one or all exchanges: a snapshot, then the tickers that changed, by
    exchange and symbol (pub/sub pattern `ticker_updates:{exchange}:*`, or
    `ticker_updates:*`)."""
    spec = specs.tickers(args.exchange(exchange, pattern=True) if exchange is not None else None)
    wanted: frozenset[str] | None = None
    if symbols:
        if len(symbols) > MAX_SYMBOLS:
            args.bounded(len(symbols), "symbols", 1, MAX_SYMBOLS)
        wanted = frozenset(args.symbol(symbol, "symbols") for symbol in symbols)
    return _keyed(
        info,
        spec,
        live,
        max_rate,
        item_filter=(lambda item: item.symbol in wanted) if wanted else None,
        min_interval_ms=_interval(min_interval_ms),
    )


@subscription(
    scope=ACCOUNT,
    spec=specs.account,
    returns=AccountRecord | None,
    client=Client("stream_account"),
)
def account(info: Info, ex_id: ExId) -> TopicStream:
    """An account and its balances: now, then on every change (null when it goes away;
    key `accounts`)."""
    return TopicStream(_hub(info), specs.account(args.identifier(ex_id, "exId")))


@subscription(
    scope=ACCOUNT,
    spec=specs.positions,
    returns=PositionRecord,
    event="PositionsEvent",
    client=Client("stream_positions"),
)
def positions(
    info: Info, ex_id: ExId, live: Live = LiveMode.CHANGES, max_rate: MaxRate = None
) -> TopicStream:
    """The positions of one account: a snapshot, then changes, by symbol (key
    `account_positions`)."""
    return _keyed(info, specs.positions(args.identifier(ex_id, "exId")), live, max_rate)


@subscription(
    scope=ACCOUNT,
    spec=specs.orders,
    returns=OrderRecord,
    event="OrdersEvent",
    client=Client("stream_orders"),
)
def orders(
    info: Info, exchange: OrderKey, live: Live = LiveMode.CHANGES, max_rate: MaxRate = None
) -> TopicStream:
    """Orders under an `order_status` key: a snapshot, then changes, by `orderId` (key
    `order_status:{exchange}`). A cancel TTL expiry removes every order."""
    spec = specs.orders(args.identifier(exchange, "exchange", pattern=True))
    return _keyed(info, spec, live, max_rate)


@subscription(
    scope=ACCOUNT,
    spec=specs.open_order_queue,
    returns=list[str],
    client=Client("stream_order_queue"),
)
def open_order_queue(info: Info, local_oid: LocalOid) -> TopicStream:
    """The order ids waiting in a local queue (the first LIST_PAGE_DEFAULT, next to be
    consumed first): now, then on every change (key `new_orders:{localOid}`)."""
    page = ListPage(info.context.settings.list_page_default, from_tail=False)
    spec = specs.open_order_queue(args.identifier(local_oid, "localOid", pattern=True), page)
    return TopicStream(_hub(info), spec)


@subscription(
    scope=MARKET,
    spec=specs.trades,
    returns=TradeRecord,
    event="TradesEvent",
    size=("last",),
    client=Client("stream_trades", positional=("symbol", "exchange", "last")),
)
def trades(
    info: Info,
    exchange: Exchange,
    symbol: Symbol,
    last: Window = None,
    live: Live = LiveMode.CHANGES,
    max_rate: MaxRate = None,
) -> TopicStream:
    """Trades of a symbol: a snapshot of the newest `last`, then the trades pushed since
    (UPSERT), by `tradeId`, else `exTradeId` (key `trades:{exchange}:{symbol without "/"}`;
    only what was appended is read). When fullon's batcher drains the list, a new SNAPSHOT."""
    spec = specs.trades(
        args.exchange(exchange, pattern=True),
        args.symbol(symbol, pattern=True),
        _window(info, last),
    )
    return _keyed(info, spec, live, max_rate)


@subscription(
    scope=MARKET,
    spec=specs.exchange_trades,
    returns=TradeRecord,
    event="TradesEvent",
    size=("last",),
    client=Client("stream_trade_updates"),
)
def exchange_trades(
    info: Info,
    exchange: Exchange,
    last: WindowPerSymbol = None,
    live: Live = LiveMode.CHANGES,
    max_rate: MaxRate = None,
) -> TopicStream:
    """Trades of every symbol of an exchange: a snapshot of the newest `last` of each symbol,
    then trades pushed (UPSERT) or drained (REMOVE), by symbol and `tradeId`, else
    `exTradeId` (keyspace pattern `trades:{exchange}:*`, a SCAN on each re-read; at most
    MAX_SYMBOLS = 500 symbols)."""
    spec = specs.exchange_trades(
        args.exchange(exchange, pattern=True), _window(info, last), MAX_SYMBOLS
    )
    return _keyed(info, spec, live, max_rate)


@subscription(
    scope=ACCOUNT,
    spec=specs.user_trades,
    returns=TradeRecord,
    event="TradesEvent",
    size=("last",),
    client=Client("stream_user_trades"),
)
def user_trades(
    info: Info,
    uid: Uid,
    exchange: Exchange,
    last: Window = None,
    live: Live = LiveMode.CHANGES,
    max_rate: MaxRate = None,
) -> TopicStream:
    """A user's trades: a snapshot of the newest `last`, then the trades pushed since
    (UPSERT), by `tradeId`, else `exTradeId` (key `user_trades:{uid}:{exchange}`; only what
    was appended is read). When fullon consumes the list, a new SNAPSHOT."""
    spec = specs.user_trades(
        args.identifier(uid, "uid", pattern=True),
        args.exchange(exchange, pattern=True),
        _window(info, last),
    )
    return _keyed(info, spec, live, max_rate)


@subscription(
    scope=OPS,
    spec=specs.bots,
    returns=BotRecord,
    event="BotsEvent",
    client=Client("stream_bot_status"),
)
def bots(info: Info, live: Live = LiveMode.CHANGES, max_rate: MaxRate = None) -> TopicStream:
    """Bot status documents: a snapshot, then the bots that changed, by `botId` (key
    `bot_status`)."""
    return _keyed(info, specs.bots(), live, max_rate)


@subscription(
    scope=OPS,
    spec=specs.blocks,
    returns=ExchangeBlockRecord,
    event="BlocksEvent",
    client=Client("stream_blocks"),
)
def blocks(info: Info, live: Live = LiveMode.CHANGES, max_rate: MaxRate = None) -> TopicStream:
    """Exchange blocks: a snapshot, then blocks set (UPSERT) or lifted (REMOVE), by exId
    and symbol (key `block_exchange`)."""
    return _keyed(info, specs.blocks(), live, max_rate)


@subscription(
    scope=OPS,
    spec=specs.opening_positions,
    returns=OpeningPositionRecord,
    event="OpeningPositionsEvent",
    client=Client("stream_opening_positions"),
)
def opening_positions(
    info: Info, live: Live = LiveMode.CHANGES, max_rate: MaxRate = None
) -> TopicStream:
    """Positions bots are opening: a snapshot, then changes, by exId and symbol (key
    `opening_position`)."""
    return _keyed(info, specs.opening_positions(), live, max_rate)


@subscription(
    scope=MARKET,
    spec=specs.ohlcv,
    returns=OhlcvBarRecord,
    event="OhlcvEvent",
    size=("count",),
    client=Client("stream_ohlcv"),
)
def ohlcv(
    info: Info,
    symbol: Symbol,
    timeframe: Timeframe,
    count: OhlcvCount = 100,
    live: Live = LiveMode.CHANGES,
    max_rate: MaxRate = None,
) -> TopicStream:
    """The newest `count` bars of a series: a snapshot, then bars added or revised, by
    `timestamp` (key `ohlcv:{symbol}:{timeframe}`)."""
    spec = specs.ohlcv(
        args.symbol(symbol, pattern=True),
        args.timeframe(timeframe),
        args.bounded(count, "count", 1, args.MAX_OHLCV_COUNT),
    )
    return _keyed(info, spec, live, max_rate)


@subscription(
    scope=OPS,
    spec=specs.processes,
    returns=ProcessRecord,
    event="ProcessesEvent",
    client=Client("stream_process_health"),
)
def processes(
    info: Info,
    type: ProcessType = None,
    component: Component = None,
    since_minutes: SinceMinutes = 60,
    live: Live = LiveMode.CHANGES,
    max_rate: MaxRate = None,
) -> TopicStream:
    """Processes active within `sinceMinutes`: a snapshot, then processes registered,
    updated (UPSERT) or gone from the window (REMOVE), by `processId` (keys
    `process:active:*`, and a re-read every 30 s)."""
    spec = specs.processes(
        args.identifier(type, "type") if type is not None else None,
        args.free_text(component, "component") if component is not None else None,
        args.positive_minutes(since_minutes),
    )
    return _keyed(info, spec, live, max_rate)


@subscription(
    scope=OPS,
    spec=specs.process_metrics,
    returns=ProcessMetricsRecord,
    client=Client("stream_process_metrics"),
)
def process_metrics(info: Info) -> TopicStream:
    """How many processes the cache holds (as the `processMetrics` query): now, then whenever
    it changes (keys `process:active:*`, and a re-read every `POLL_INTERVALS_MS.health`)."""
    hub = _hub(info)
    return TopicStream(hub, specs.process_metrics(hub.poll_interval("health")))


@subscription(
    scope=OPS,
    spec=specs.system_health,
    returns=SystemHealthRecord,
    client=Client("stream_system_health"),
)
def system_health(info: Info) -> TopicStream:
    """Health of the fullon processes: now, then whenever it changes (keys
    `process:active:*`, and a re-read every `POLL_INTERVALS_MS.health`)."""
    hub = _hub(info)
    return TopicStream(hub, specs.system_health(hub.poll_interval("health")))


@subscription(
    scope=OPS,
    spec=specs.health,
    returns=CacheHealthRecord,
    client=Client("stream_health"),
)
def health(info: Info) -> TopicStream:
    """Health of the Redis cache and of the live feed: now, then within seconds of any
    change (the feed going down or back, a stream failing or recovering, the change
    detection switching between keyspace notifications and polling)."""
    hub = _hub(info)
    return TopicStream(hub, specs.health(hub.health, hub.poll_interval("health")))


@subscription(
    scope=OPS,
    spec=specs.process_broadcasts,
    returns=ProcessBroadcastRecord,
    client=Client("stream_process_broadcasts"),
)
def process_broadcasts(info: Info, type: BroadcastType) -> TopicStream:
    """Messages published on `process:broadcast:{type}` (pub/sub; no snapshot: only new
    ones)."""
    return TopicStream(_hub(info), specs.process_broadcasts(args.identifier(type, "type")))
