"""Python client for fullon_cache_api (needs the ``client`` extra: gql with websockets).

::

    from fullon_cache_api import fullon_cache_api

    async with fullon_cache_api("ws://127.0.0.1:8000/graphql") as api:
        ticker = await api.get_ticker("binance", "BTC/USDT")
        async for event in api.stream_tickers("binance"):
            print(event.kind, [t.symbol for t in event.items])

Modules: :mod:`.api` (the client and its methods), :mod:`.connection` (the WebSocket and
reconnects), :mod:`.streams` (resumable, buffered streams), :mod:`.documents` (every GraphQL
document sent), :mod:`.models` (typed results), :mod:`.decode` (JSON → models),
:mod:`.errors` (exceptions), :mod:`.options` (settings), :mod:`.cli_commands` (the
``query`` and ``watch`` CLI commands).
"""

from __future__ import annotations

from fullon_cache_api.client.api import FullonCacheApi, fullon_cache_api
from fullon_cache_api.client.errors import (
    ApiConnectionError,
    AuthenticationError,
    CacheUnavailableError,
    ConnectionLostError,
    CorruptDataError,
    ForbiddenError,
    FullonCacheApiError,
    GraphQLRequestError,
    InternalServerError,
    InvalidArgumentError,
    QueryTooComplexError,
    RateLimitedError,
    RequestTimeoutError,
    SlowConsumerError,
)
from fullon_cache_api.client.models import (
    Account,
    Balance,
    Bot,
    CacheHealth,
    ChangeEvent,
    ChangeKind,
    ComponentStatus,
    Count,
    ExchangeBlock,
    OhlcvBar,
    OhlcvSeries,
    OpeningPosition,
    Order,
    Position,
    Process,
    ProcessBroadcast,
    SystemHealth,
    Ticker,
    Trade,
    TradeStatus,
)
from fullon_cache_api.client.options import Backoff, ClientOptions
from fullon_cache_api.client.streams import Stream

__all__ = [
    "Account",
    "ApiConnectionError",
    "AuthenticationError",
    "Backoff",
    "Balance",
    "Bot",
    "CacheHealth",
    "CacheUnavailableError",
    "ChangeEvent",
    "ChangeKind",
    "ClientOptions",
    "ComponentStatus",
    "ConnectionLostError",
    "CorruptDataError",
    "Count",
    "ExchangeBlock",
    "ForbiddenError",
    "FullonCacheApi",
    "FullonCacheApiError",
    "GraphQLRequestError",
    "InternalServerError",
    "InvalidArgumentError",
    "OhlcvBar",
    "OhlcvSeries",
    "OpeningPosition",
    "Order",
    "Position",
    "Process",
    "ProcessBroadcast",
    "QueryTooComplexError",
    "RateLimitedError",
    "RequestTimeoutError",
    "SlowConsumerError",
    "Stream",
    "SystemHealth",
    "Ticker",
    "Trade",
    "TradeStatus",
    "fullon_cache_api",
]
