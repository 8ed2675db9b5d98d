"""Market data resolvers (scope ``market``): tickers, OHLCV, trades and trade status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from fullon_cache_api.cache.records import (
    OhlcvBarRecord,
    OhlcvSeriesRecord,
    TickerRecord,
    TradeRecord,
    TradeStatusRecord,
)
from fullon_cache_api.context import RequestContext
from fullon_cache_api.resolvers import arguments as args
from fullon_cache_api.resolvers.arguments import Exchange, First, Last, Offset, Symbol

Info = strawberry.Info[RequestContext, None]


async def ticker(info: Info, exchange: Exchange, symbol: Symbol) -> TickerRecord | None:
    """`HGET tickers:{exchange} {symbol}`."""
    return await info.context.cache.tickers.get(args.exchange(exchange), args.symbol(symbol))


async def tickers(
    info: Info,
    exchange: Annotated[
        str | None,
        strawberry.argument(description="One exchange; omitted: every exchange (SCAN)."),
    ] = None,
) -> list[TickerRecord]:
    cache = info.context.cache.tickers
    listing = await (
        cache.all() if exchange is None else cache.of_exchange(args.exchange(exchange))
    )
    return info.context.items(listing, info.path.as_list())


async def any_ticker(info: Info, symbol: Symbol) -> TickerRecord | None:
    """The symbol's freshest ticker on any exchange."""
    listing = await info.context.cache.tickers.for_symbol(args.symbol(symbol))
    items = info.context.items(listing, info.path.as_list())
    return items[0] if items else None


async def exchanges(info: Info) -> list[str]:
    """Exchanges with tickers in the cache, discovered with SCAN."""
    return await info.context.cache.tickers.exchanges()


async def ticker_time(info: Info, exchange: Exchange, symbol: Symbol) -> datetime | None:
    """`ticker_time:{exchange}:{symbol}`: when the ticker was last written."""
    return await info.context.cache.tickers.time(args.exchange(exchange), args.symbol(symbol))


async def ohlcv(
    info: Info,
    symbol: Annotated[
        str,
        strawberry.argument(
            description="Symbol exactly as stored: `BTC/USDT` and `BTCUSDT` are different series."
        ),
    ],
    timeframe: Annotated[str, strawberry.argument(description="e.g. `1m`, `1h`.")],
    count: Annotated[
        int, strawberry.argument(description="How many of the newest bars, 1 to 10000.")
    ] = 100,
) -> list[OhlcvBarRecord]:
    """The newest bars, deduplicated by timestamp and sorted oldest first."""
    listing = await info.context.cache.ohlcv.latest(
        args.symbol(symbol),
        args.timeframe(timeframe),
        args.bounded(count, "count", 1, args.MAX_OHLCV_COUNT),
    )
    return info.context.items(listing, info.path.as_list())


async def ohlcv_series(info: Info) -> list[OhlcvSeriesRecord]:
    return await info.context.cache.ohlcv.series()


async def trades(
    info: Info,
    exchange: Exchange,
    symbol: Symbol,
    last: Last = None,
    first: First = None,
    offset: Offset = 0,
) -> list[TradeRecord]:
    """A page of the trades pushed and not yet drained by fullon's batcher, oldest first
    (LRANGE only)."""
    page = args.list_page(info.context.settings, first, last, offset)
    listing = await info.context.cache.trades.of_symbol(
        args.exchange(exchange), args.symbol(symbol), page
    )
    return info.context.items(listing, info.path.as_list())


async def trade_count(info: Info, exchange: Exchange, symbol: Symbol) -> int:
    """How many trades `trades:{exchange}:{symbol}` holds (LLEN)."""
    return await info.context.cache.trades.count(args.exchange(exchange), args.symbol(symbol))


async def trade_status(info: Info, exchange: Exchange) -> TradeStatusRecord | None:
    """`TRADE:STATUS:{exchange}`: when a trade was last pushed."""
    return await info.context.cache.trades.status(args.exchange(exchange))


async def trade_statuses(info: Info) -> list[TradeStatusRecord]:
    return await info.context.cache.trades.statuses()
