"""The topic of each live stream: what it reads, how items are keyed, what signals change."""

from __future__ import annotations

from typing import Any

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
from fullon_cache_api.subscriptions.events import ProcessBroadcastRecord
from fullon_cache_api.subscriptions.topics import TopicSpec


def ticker(exchange: str, symbol: str) -> TopicSpec:
    async def load(cache: CacheReader) -> TickerRecord | None:
        return await cache.tickers.get(exchange, symbol)

    return TopicSpec(
        key=("ticker", exchange, symbol),
        domain="tickers",
        load=load,
        channel=watch.ticker_channel(exchange, symbol),
        decode=decode_message,
        absent=_none,
    )


def tickers(exchange: str | None) -> TopicSpec:
    async def load(cache: CacheReader) -> list[TickerRecord]:
        listing = await (cache.tickers.of_exchange(exchange) if exchange else cache.tickers.all())
        return listing.items

    return TopicSpec(
        key=("tickers", exchange),
        domain="tickers",
        load=load,
        item_key=_ticker_key,
        pattern=watch.ticker_pattern(exchange),
        decode=decode_message,
    )


def account(ex_id: str) -> TopicSpec:
    async def load(cache: CacheReader) -> Any:
        return await cache.accounts.get(ex_id)

    return TopicSpec(
        key=("account", ex_id),
        domain="accounts",
        load=load,
        watch=(watch.ACCOUNTS,),
        absent=_none,
    )


def positions(ex_id: str) -> TopicSpec:
    async def load(cache: CacheReader) -> list[PositionRecord]:
        return await cache.positions.of_account(ex_id)

    return TopicSpec(
        key=("positions", ex_id),
        domain="positions",
        load=load,
        item_key=_symbol_key,
        watch=(watch.POSITIONS,),
    )


def orders(key: str) -> TopicSpec:
    async def load(cache: CacheReader) -> list[OrderRecord]:
        return (await cache.orders.of_key(key)).items

    return TopicSpec(
        key=("orders", key),
        domain="orders",
        load=load,
        item_key=_order_key,
        watch=(watch.orders(key),),
    )


def open_order_queue(local_oid: str, page: ListPage) -> TopicSpec:
    async def load(cache: CacheReader) -> list[str]:
        return (await cache.order_queues.items(local_oid, page)).items

    return TopicSpec(
        key=("open_order_queue", local_oid, page),
        domain="orders",
        load=load,
        watch=(watch.open_orders(local_oid),),
        absent=list,
    )


def trades(exchange: str, symbol: str, window: int) -> TopicSpec:
    """The newest ``window`` trades of the list."""

    async def load(cache: CacheReader) -> list[TradeRecord]:
        return (await cache.trades.of_symbol(exchange, symbol, ListPage(window))).items

    return TopicSpec(
        key=("trades", exchange, symbol.replace("/", ""), window),
        domain="trades",
        load=load,
        item_key=_trade_key,
        watch=(watch.trades(exchange, symbol),),
    )


def user_trades(uid: str, exchange: str, window: int) -> TopicSpec:
    """The newest ``window`` trades of the user's list."""

    async def load(cache: CacheReader) -> list[TradeRecord]:
        return (await cache.trades.of_user(uid, exchange, ListPage(window))).items

    return TopicSpec(
        key=("user_trades", uid, exchange, window),
        domain="trades",
        load=load,
        item_key=_trade_key,
        watch=(watch.user_trades(uid, exchange),),
    )


def bots() -> TopicSpec:
    async def load(cache: CacheReader) -> list[BotRecord]:
        return (await cache.bots.all()).items

    return TopicSpec(
        key=("bots",), domain="bots", load=load, item_key=_bot_key, watch=(watch.BOTS,)
    )


def blocks() -> TopicSpec:
    async def load(cache: CacheReader) -> list[ExchangeBlockRecord]:
        return (await cache.blocks.all()).items

    return TopicSpec(
        key=("blocks",), domain="bots", load=load, item_key=_pair_key, watch=(watch.BLOCKS,)
    )


def opening_positions() -> TopicSpec:
    async def load(cache: CacheReader) -> list[OpeningPositionRecord]:
        return (await cache.opening_positions.all()).items

    return TopicSpec(
        key=("opening_positions",),
        domain="bots",
        load=load,
        item_key=_pair_key,
        watch=(watch.OPENING_POSITIONS,),
    )


def ohlcv(symbol: str, timeframe: str, count: int) -> TopicSpec:
    async def load(cache: CacheReader) -> list[OhlcvBarRecord]:
        return (await cache.ohlcv.latest(symbol, timeframe, count)).items

    return TopicSpec(
        key=("ohlcv", symbol, timeframe, count),
        domain="ohlcv",
        load=load,
        item_key=_bar_key,
        watch=(watch.ohlcv(symbol, timeframe),),
    )


def processes(process_type: str | None, component: str | None, since_minutes: float) -> TopicSpec:
    async def load(cache: CacheReader) -> list[ProcessRecord]:
        listing = await cache.processes.active(process_type, component, since_minutes)
        return listing.items

    return TopicSpec(
        key=("processes", process_type, component, since_minutes),
        domain="processes",
        load=load,
        item_key=_process_key,
        watch=(watch.PROCESSES,),
        refresh_s=30.0,  # staleness and the time window change with time alone
    )


def system_health(refresh_s: float) -> TopicSpec:
    async def load(cache: CacheReader) -> Any:
        health, _problems = await cache.processes.system_health()
        return health

    return TopicSpec(
        key=("system_health",),
        domain="health",
        load=load,
        watch=(watch.PROCESSES,),
        refresh_s=refresh_s,
    )


def process_broadcasts(process_type: str) -> TopicSpec:
    return TopicSpec(
        key=("process_broadcasts", process_type),
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
