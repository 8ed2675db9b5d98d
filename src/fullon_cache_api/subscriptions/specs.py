"""The topic of each live stream: its kind, what it reads, how items are keyed, what
signals a change.

Each factory is declared with its :class:`StreamKind` once (``@stream(kind)``); the
factory passes it to the spec it builds, and the Subscription field that uses the factory
reads it from there (``factory.kind``).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, Generic, ParamSpec

from fullon_cache_api.cache import CacheReader, Listing, watch
from fullon_cache_api.cache.decode import as_datetime, loads_object
from fullon_cache_api.cache.paging import ListCursor, ListPage
from fullon_cache_api.cache.records import (
    BotRecord,
    CacheHealthRecord,
    ExchangeBlockRecord,
    OhlcvBarRecord,
    OpeningPositionRecord,
    OrderRecord,
    PositionRecord,
    ProcessMetricsRecord,
    ProcessRecord,
    TickerRecord,
    TradeRecord,
)
from fullon_cache_api.cache.results import Appended, ValueRead
from fullon_cache_api.cache.tickers import decode_message
from fullon_cache_api.subscriptions.events import ProcessBroadcastRecord, StreamKind
from fullon_cache_api.subscriptions.topics import TopicSpec

P = ParamSpec("P")

KEYED = StreamKind.KEYED
VALUE = StreamKind.VALUE
PUSH = StreamKind.PUSH


class SpecFactory(Generic[P]):
    """A spec factory and the kind of every spec it builds."""

    def __init__(self, kind: StreamKind, build: Callable[Concatenate[StreamKind, P], TopicSpec]):
        self.kind = kind
        self._build = build
        functools.update_wrapper(self, build)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> TopicSpec:
        return self._build(self.kind, *args, **kwargs)


def stream(
    kind: StreamKind,
) -> Callable[[Callable[Concatenate[StreamKind, P], TopicSpec]], SpecFactory[P]]:
    def declare(build: Callable[Concatenate[StreamKind, P], TopicSpec]) -> SpecFactory[P]:
        return SpecFactory(kind, build)

    return declare


@stream(VALUE)
def ticker(kind: StreamKind, exchange: str, symbol: str) -> TopicSpec:
    async def load(cache: CacheReader) -> TickerRecord | None:
        return await cache.tickers.get(exchange, symbol)

    return TopicSpec(
        key=("ticker", exchange, symbol),
        kind=kind,
        domain="tickers",
        load=load,
        channel=watch.ticker_channel(exchange, symbol),
        decode=decode_message,
        absent=_none,
    )


@stream(KEYED)
def tickers(kind: StreamKind, exchange: str | None) -> TopicSpec:
    async def load(cache: CacheReader) -> Listing[TickerRecord]:
        return await (cache.tickers.of_exchange(exchange) if exchange else cache.tickers.all())

    return TopicSpec(
        key=("tickers", exchange),
        kind=kind,
        domain="tickers",
        load=load,
        item_key=_ticker_key,
        pattern=watch.ticker_pattern(exchange),
        decode=decode_message,
    )


@stream(VALUE)
def account(kind: StreamKind, ex_id: str) -> TopicSpec:
    async def load(cache: CacheReader) -> Any:
        return await cache.accounts.get(ex_id)

    return TopicSpec(
        key=("account", ex_id),
        kind=kind,
        domain="accounts",
        load=load,
        watch=(watch.ACCOUNTS,),
        absent=_none,
    )


@stream(KEYED)
def positions(kind: StreamKind, ex_id: str) -> TopicSpec:
    async def load(cache: CacheReader) -> list[PositionRecord]:
        return await cache.positions.of_account(ex_id)

    return TopicSpec(
        key=("positions", ex_id),
        kind=kind,
        domain="positions",
        load=load,
        item_key=_symbol_key,
        watch=(watch.POSITIONS,),
    )


@stream(KEYED)
def orders(kind: StreamKind, key: str) -> TopicSpec:
    async def load(cache: CacheReader) -> Listing[OrderRecord]:
        return await cache.orders.of_key(key)

    return TopicSpec(
        key=("orders", key),
        kind=kind,
        domain="orders",
        load=load,
        item_key=_order_key,
        watch=(watch.orders(key),),
    )


@stream(VALUE)
def open_order_queue(kind: StreamKind, local_oid: str, page: ListPage) -> TopicSpec:
    async def load(cache: CacheReader) -> ValueRead[list[str]]:
        listing = await cache.order_queues.items(local_oid, page)
        return ValueRead(listing.items, listing.problems)

    return TopicSpec(
        key=("open_order_queue", local_oid, page),
        kind=kind,
        domain="orders",
        load=load,
        watch=(watch.open_orders(local_oid),),
        absent=list,
    )


@stream(KEYED)
def trades(kind: StreamKind, exchange: str, symbol: str, window: int) -> TopicSpec:
    """The newest ``window`` trades of the list, then only what is appended."""

    async def appended(
        cache: CacheReader, cursor: ListCursor | None
    ) -> tuple[Appended[TradeRecord], ListCursor]:
        return await cache.trades.appended_of_symbol(exchange, symbol, window, cursor)

    return TopicSpec(
        key=("trades", exchange, symbol.replace("/", ""), window),
        kind=kind,
        domain="trades",
        item_key=_trade_key,
        watch=(watch.trades(exchange, symbol),),
        window=window,
        load_appended=appended,
    )


@stream(KEYED)
def exchange_trades(kind: StreamKind, exchange: str, window: int, max_lists: int) -> TopicSpec:
    """The newest ``window`` trades of each symbol of ``exchange`` (keyspace pattern
    ``trades:{exchange}:*``; SCAN on each re-read, also in polling mode)."""

    async def load(cache: CacheReader) -> list[TradeRecord]:
        return (await cache.trades.of_exchange(exchange, ListPage(window), max_lists)).items

    return TopicSpec(
        key=("exchange_trades", exchange, window),
        kind=kind,
        domain="trades",
        load=load,
        item_key=_symbol_trade_key,
        watch=(watch.trades_pattern(exchange),),
    )


@stream(KEYED)
def user_trades(kind: StreamKind, uid: str, exchange: str, window: int) -> TopicSpec:
    """The newest ``window`` trades of the user's list, then only what is appended."""

    async def appended(
        cache: CacheReader, cursor: ListCursor | None
    ) -> tuple[Appended[TradeRecord], ListCursor]:
        return await cache.trades.appended_of_user(uid, exchange, window, cursor)

    return TopicSpec(
        key=("user_trades", uid, exchange, window),
        kind=kind,
        domain="trades",
        item_key=_trade_key,
        watch=(watch.user_trades(uid, exchange),),
        window=window,
        load_appended=appended,
    )


@stream(KEYED)
def bots(kind: StreamKind) -> TopicSpec:
    async def load(cache: CacheReader) -> Listing[BotRecord]:
        return await cache.bots.all()

    return TopicSpec(
        key=("bots",), kind=kind, domain="bots", load=load, item_key=_bot_key, watch=(watch.BOTS,)
    )


@stream(KEYED)
def blocks(kind: StreamKind) -> TopicSpec:
    async def load(cache: CacheReader) -> Listing[ExchangeBlockRecord]:
        return await cache.blocks.all()

    return TopicSpec(
        key=("blocks",),
        kind=kind,
        domain="bots",
        load=load,
        item_key=_pair_key,
        watch=(watch.BLOCKS,),
    )


@stream(KEYED)
def opening_positions(kind: StreamKind) -> TopicSpec:
    async def load(cache: CacheReader) -> Listing[OpeningPositionRecord]:
        return await cache.opening_positions.all()

    return TopicSpec(
        key=("opening_positions",),
        kind=kind,
        domain="bots",
        load=load,
        item_key=_pair_key,
        watch=(watch.OPENING_POSITIONS,),
    )


@stream(KEYED)
def ohlcv(kind: StreamKind, symbol: str, timeframe: str, count: int) -> TopicSpec:
    async def load(cache: CacheReader) -> Listing[OhlcvBarRecord]:
        return await cache.ohlcv.latest(symbol, timeframe, count)

    return TopicSpec(
        key=("ohlcv", symbol, timeframe, count),
        kind=kind,
        domain="ohlcv",
        load=load,
        item_key=_bar_key,
        watch=(watch.ohlcv(symbol, timeframe),),
    )


@stream(KEYED)
def processes(
    kind: StreamKind, process_type: str | None, component: str | None, since_minutes: float
) -> TopicSpec:
    async def load(cache: CacheReader) -> Listing[ProcessRecord]:
        return await cache.processes.active(process_type, component, since_minutes)

    return TopicSpec(
        key=("processes", process_type, component, since_minutes),
        kind=kind,
        domain="processes",
        load=load,
        item_key=_process_key,
        watch=(watch.PROCESSES,),
        refresh_s=30.0,  # staleness and the time window change with time alone
    )


@stream(VALUE)
def system_health(kind: StreamKind, refresh_s: float) -> TopicSpec:
    async def load(cache: CacheReader) -> ValueRead[Any]:
        health, problems = await cache.processes.system_health()
        return ValueRead(health, problems)

    return TopicSpec(
        key=("system_health",),
        kind=kind,
        domain="health",
        load=load,
        watch=(watch.PROCESSES,),
        refresh_s=refresh_s,
    )


@stream(VALUE)
def process_metrics(kind: StreamKind, refresh_s: float) -> TopicSpec:
    """Re-read when a process registers, updates or stops (``process:active:*``), and every
    ``refresh_s``: a process record expiring after 24 h changes no other key."""

    async def load(cache: CacheReader) -> ValueRead[ProcessMetricsRecord]:
        return await cache.processes.metrics()

    return TopicSpec(
        key=("process_metrics",),
        kind=kind,
        domain="health",
        load=load,
        watch=(watch.PROCESSES,),
        refresh_s=refresh_s,
    )


@stream(VALUE)
def health(
    kind: StreamKind, read: Callable[[], Awaitable[CacheHealthRecord]], refresh_s: float
) -> TopicSpec:
    """Redis's health and the live layer's status: re-read every ``refresh_s`` and at once
    whenever the feed, the change-detection mode or a topic's health changes."""

    async def load(_cache: CacheReader) -> CacheHealthRecord:
        return await read()

    return TopicSpec(
        key=("health",),
        kind=kind,
        domain="health",
        load=load,
        refresh_s=refresh_s,
        live_status=True,
    )


@stream(PUSH)
def process_broadcasts(kind: StreamKind, process_type: str) -> TopicSpec:
    return TopicSpec(
        key=("process_broadcasts", process_type),
        kind=kind,
        domain="processes",
        channel=watch.process_broadcast_channel(process_type),
        decode=lambda _channel, payload: _broadcast(process_type, payload),
    )


def _broadcast(process_type: str, payload: bytes) -> ProcessBroadcastRecord:
    data = loads_object(payload)
    message = data.get("message")
    return ProcessBroadcastRecord(
        process_type=process_type,
        message=message if isinstance(message, str) else None,
        data=data.get("data"),
        timestamp=as_datetime(data.get("timestamp")),
    )


def _none() -> None:
    return None


def _ticker_key(item: TickerRecord) -> tuple[str, str]:
    return (item.exchange, item.symbol)


def _symbol_key(item: PositionRecord) -> str:
    return item.symbol


def _order_key(item: OrderRecord) -> str:
    return item.order_id


def _trade_key(item: TradeRecord) -> Any:
    return item.trade_id or item.ex_trade_id or repr(item)


def _symbol_trade_key(item: TradeRecord) -> Any:
    return (item.symbol, _trade_key(item))


def _bot_key(item: BotRecord) -> str:
    return item.bot_id


def _pair_key(item: ExchangeBlockRecord | OpeningPositionRecord) -> tuple[str, str]:
    return (item.ex_id, item.symbol)


def _bar_key(item: OhlcvBarRecord) -> Any:
    return item.timestamp


def _process_key(item: ProcessRecord) -> str:
    return item.process_id
