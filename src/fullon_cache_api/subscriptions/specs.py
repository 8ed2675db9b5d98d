"""The topic of each live stream: its kind, what it reads, how items are keyed, what
signals a change.

Each factory is declared with its :class:`StreamKind` once (``@stream(kind)``); the
factory passes it to the spec it builds, and the Subscription field that uses the factory
reads it from there (``factory.kind``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec

from fullon_cache_api.cache import CacheReader, watch
from fullon_cache_api.cache.decode import as_datetime, loads_object
from fullon_cache_api.cache.paging import ListPage
from fullon_cache_api.cache.records import (
    BotRecord,
    ExchangeBlockRecord,
    OhlcvBarRecord,
    OpeningPositionRecord,
    OrderRecord,
    PositionRecord,
    ProcessRecord,
    TickerRecord,
    TradeRecord,
)
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
    async def load(cache: CacheReader) -> list[TickerRecord]:
        listing = await (cache.tickers.of_exchange(exchange) if exchange else cache.tickers.all())
        return listing.items

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
    async def load(cache: CacheReader) -> list[OrderRecord]:
        return (await cache.orders.of_key(key)).items

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
    async def load(cache: CacheReader) -> list[str]:
        return (await cache.order_queues.items(local_oid, page)).items

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
    """The newest ``window`` trades of the list."""

    async def load(cache: CacheReader) -> list[TradeRecord]:
        return (await cache.trades.of_symbol(exchange, symbol, ListPage(window))).items

    return TopicSpec(
        key=("trades", exchange, symbol.replace("/", ""), window),
        kind=kind,
        domain="trades",
        load=load,
        item_key=_trade_key,
        watch=(watch.trades(exchange, symbol),),
    )


@stream(KEYED)
def user_trades(kind: StreamKind, uid: str, exchange: str, window: int) -> TopicSpec:
    """The newest ``window`` trades of the user's list."""

    async def load(cache: CacheReader) -> list[TradeRecord]:
        return (await cache.trades.of_user(uid, exchange, ListPage(window))).items

    return TopicSpec(
        key=("user_trades", uid, exchange, window),
        kind=kind,
        domain="trades",
        load=load,
        item_key=_trade_key,
        watch=(watch.user_trades(uid, exchange),),
    )


@stream(KEYED)
def bots(kind: StreamKind) -> TopicSpec:
    async def load(cache: CacheReader) -> list[BotRecord]:
        return (await cache.bots.all()).items

    return TopicSpec(
        key=("bots",), kind=kind, domain="bots", load=load, item_key=_bot_key, watch=(watch.BOTS,)
    )


@stream(KEYED)
def blocks(kind: StreamKind) -> TopicSpec:
    async def load(cache: CacheReader) -> list[ExchangeBlockRecord]:
        return (await cache.blocks.all()).items

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
    async def load(cache: CacheReader) -> list[OpeningPositionRecord]:
        return (await cache.opening_positions.all()).items

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
    async def load(cache: CacheReader) -> list[OhlcvBarRecord]:
        return (await cache.ohlcv.latest(symbol, timeframe, count)).items

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
    async def load(cache: CacheReader) -> list[ProcessRecord]:
        listing = await cache.processes.active(process_type, component, since_minutes)
        return listing.items

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
    async def load(cache: CacheReader) -> Any:
        health, _problems = await cache.processes.system_health()
        return health

    return TopicSpec(
        key=("system_health",),
        kind=kind,
        domain="health",
        load=load,
        watch=(watch.PROCESSES,),
        refresh_s=refresh_s,
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


def _bot_key(item: BotRecord) -> str:
    return item.bot_id


def _pair_key(item: ExchangeBlockRecord | OpeningPositionRecord) -> tuple[str, str]:
    return (item.ex_id, item.symbol)


def _bar_key(item: OhlcvBarRecord) -> Any:
    return item.timestamp


def _process_key(item: ProcessRecord) -> str:
    return item.process_id
