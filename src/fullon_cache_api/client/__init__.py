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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        ReplayUnavailableError,
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

# Imported on first use, so that `fullon_cache_api.client.cli_commands` (wired into the
# main CLI) does not need the optional `client` extra (gql) just to be imported.
_LAZY: dict[str, str] = {
    "Account": "fullon_cache_api.client.models",
    "ApiConnectionError": "fullon_cache_api.client.errors",
    "AuthenticationError": "fullon_cache_api.client.errors",
    "Backoff": "fullon_cache_api.client.options",
    "Balance": "fullon_cache_api.client.models",
    "Bot": "fullon_cache_api.client.models",
    "CacheHealth": "fullon_cache_api.client.models",
    "CacheUnavailableError": "fullon_cache_api.client.errors",
    "ChangeEvent": "fullon_cache_api.client.models",
    "ChangeKind": "fullon_cache_api.client.models",
    "ClientOptions": "fullon_cache_api.client.options",
    "ComponentStatus": "fullon_cache_api.client.models",
    "ConnectionLostError": "fullon_cache_api.client.errors",
    "CorruptDataError": "fullon_cache_api.client.errors",
    "Count": "fullon_cache_api.client.models",
    "ExchangeBlock": "fullon_cache_api.client.models",
    "ForbiddenError": "fullon_cache_api.client.errors",
    "FullonCacheApi": "fullon_cache_api.client.api",
    "FullonCacheApiError": "fullon_cache_api.client.errors",
    "GraphQLRequestError": "fullon_cache_api.client.errors",
    "InternalServerError": "fullon_cache_api.client.errors",
    "InvalidArgumentError": "fullon_cache_api.client.errors",
    "OhlcvBar": "fullon_cache_api.client.models",
    "OhlcvSeries": "fullon_cache_api.client.models",
    "OpeningPosition": "fullon_cache_api.client.models",
    "Order": "fullon_cache_api.client.models",
    "Position": "fullon_cache_api.client.models",
    "Process": "fullon_cache_api.client.models",
    "ProcessBroadcast": "fullon_cache_api.client.models",
    "QueryTooComplexError": "fullon_cache_api.client.errors",
    "RateLimitedError": "fullon_cache_api.client.errors",
    "ReplayUnavailableError": "fullon_cache_api.client.errors",
    "RequestTimeoutError": "fullon_cache_api.client.errors",
    "SlowConsumerError": "fullon_cache_api.client.errors",
    "Stream": "fullon_cache_api.client.streams",
    "SystemHealth": "fullon_cache_api.client.models",
    "Ticker": "fullon_cache_api.client.models",
    "Trade": "fullon_cache_api.client.models",
    "TradeStatus": "fullon_cache_api.client.models",
    "fullon_cache_api": "fullon_cache_api.client.api",
}


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
    "ReplayUnavailableError",
    "RequestTimeoutError",
    "SlowConsumerError",
    "Stream",
    "SystemHealth",
    "Ticker",
    "Trade",
    "TradeStatus",
    "fullon_cache_api",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
