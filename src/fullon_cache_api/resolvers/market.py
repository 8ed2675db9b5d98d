"""Market data (scope ``market``): tickers, OHLCV, trades and trade status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from fullon_cache_api.auth import MARKET
from fullon_cache_api.cache.records import (
    OhlcvBarRecord,
    OhlcvSeriesRecord,
    TickerRecord,
    TradeRecord,
    TradeStatusRecord,
)
from fullon_cache_api.resolvers import arguments as args
from fullon_cache_api.resolvers.arguments import (
    Exchange,
    First,
    Info,
    Last,
    Offset,
    Symbol,
    Timeframe,
)
from fullon_cache_api.resolvers.fields import Client, query

OhlcvCount = Annotated[
    int, strawberry.argument(description="How many of the newest distinct bars, 1 to 10000.")
]
OhlcvSymbol = Annotated[
    str,
    strawberry.argument(
        description="Symbol exactly as stored: `BTC/USDT` and `BTCUSDT` are different series."
    ),
]


@query(scope=MARKET, client=Client("get_ticker"))
async def ticker(info: Info, exchange: Exchange, symbol: Symbol) -> TickerRecord | None:
    """The latest ticker of a symbol on an exchange (`HGET tickers:{exchange} {symbol}`)."""
    return await info.context.cache.tickers.get(args.exchange(exchange), args.symbol(symbol))


@query(scope=MARKET, client=Client("get_all_tickers"))
async def tickers(
    info: Info,
    exchange: Annotated[
        str | None,
        strawberry.argument(description="One exchange; omitted: every exchange (SCAN)."),
    ] = None,
) -> list[TickerRecord]:
    """Every ticker of one exchange (`HGETALL tickers:{exchange}`), or of every exchange
    (`SCAN tickers:*`); by exchange, then symbol."""
    cache = info.context.cache.tickers
    listing = await (
        cache.all() if exchange is None else cache.of_exchange(args.exchange(exchange))
    )
    return info.context.items(listing, info.path.as_list())


@query(scope=MARKET, client=Client("get_any_ticker"))
async def any_ticker(info: Info, symbol: Symbol) -> TickerRecord | None:
    """The ticker of a symbol with the newest `time`, on any exchange (`SCAN tickers:*`, then a
    pipelined `HGET` per exchange)."""
    listing = await info.context.cache.tickers.for_symbol(args.symbol(symbol))
    items = info.context.items(listing, info.path.as_list())
    return items[0] if items else None


@query(scope=MARKET, client=Client("get_exchanges"))
async def exchanges(info: Info) -> list[str]:
    """Exchanges that have tickers (`SCAN MATCH tickers:* TYPE hash`), not a fixed list."""
    return await info.context.cache.tickers.exchanges()


@query(scope=MARKET, client=Client("get_ticker_time"))
async def ticker_time(info: Info, exchange: Exchange, symbol: Symbol) -> datetime | None:
    """When a ticker was last written (`GET ticker_time:{exchange}:{symbol}`); a stored
    `"None"` is null."""
    return await info.context.cache.tickers.time(args.exchange(exchange), args.symbol(symbol))


@query(scope=MARKET, size=("count",), client=Client("get_latest_ohlcv_bars"))
async def ohlcv(
    info: Info,
    symbol: OhlcvSymbol,
    timeframe: Timeframe,
    count: OhlcvCount = 100,
) -> list[OhlcvBarRecord]:
    """The newest `count` distinct bars of a series, oldest first (`LRANGE
    ohlcv:{symbol}:{timeframe}`): revised bars are deduplicated, the last write wins."""
    listing = await info.context.cache.ohlcv.latest(
        args.symbol(symbol),
        args.timeframe(timeframe),
        args.bounded(count, "count", 1, args.MAX_OHLCV_COUNT),
    )
    return info.context.items(listing, info.path.as_list())


@query(scope=MARKET, client=Client("get_ohlcv_series"))
async def ohlcv_series(info: Info) -> list[OhlcvSeriesRecord]:
    """Every stored OHLCV series (`SCAN ohlcv:* TYPE list`, then `LLEN`)."""
    return await info.context.cache.ohlcv.series()


@query(
    scope=MARKET,
    size=("first", "last"),
    client=Client("get_trades", positional=("symbol", "exchange", "last")),
)
async def trades(
    info: Info,
    exchange: Exchange,
    symbol: Symbol,
    last: Last = None,
    first: First = None,
    offset: Offset = 0,
) -> list[TradeRecord]:
    """A page of the trades not yet drained by fullon's batcher, oldest first (`LRANGE
    trades:{exchange}:{symbol without "/"}`; never drained)."""
    page = args.list_page(info.context.settings, first, last, offset)
    listing = await info.context.cache.trades.of_symbol(
        args.exchange(exchange), args.symbol(symbol), page
    )
    return info.context.items(listing, info.path.as_list())


@query(scope=MARKET, client=Client("get_trade_count", positional=("symbol", "exchange")))
async def trade_count(info: Info, exchange: Exchange, symbol: Symbol) -> int:
    """How many trades `trades` could list (`LLEN trades:{exchange}:{symbol without "/"}`)."""
    return await info.context.cache.trades.count(args.exchange(exchange), args.symbol(symbol))


@query(scope=MARKET, client=Client("get_trade_status"))
async def trade_status(info: Info, exchange: Exchange) -> TradeStatusRecord | None:
    """When a trade was last pushed for an exchange (`GET TRADE:STATUS:{exchange}`)."""
    return await info.context.cache.trades.status(args.exchange(exchange))


@query(scope=MARKET, client=Client("get_trade_statuses"))
async def trade_statuses(info: Info) -> list[TradeStatusRecord]:
    """Every trade marker (`SCAN TRADE:STATUS:*`, then `MGET`)."""
    return await info.context.cache.trades.statuses()
