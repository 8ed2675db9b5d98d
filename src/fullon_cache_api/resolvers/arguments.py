"""Argument types and validation. A bad argument raises ``InvalidArgument``."""

from __future__ import annotations

import re
from typing import Annotated

import strawberry

from fullon_cache_api.cache.paging import ListPage
from fullon_cache_api.context import RequestContext
from fullon_cache_api.errors import InvalidArgument
from fullon_cache_api.settings import Settings

Info = strawberry.Info[RequestContext, None]

_TIMEFRAME = re.compile(r"^[A-Za-z0-9]{1,10}$")
#: Characters that make a Redis key pattern (SCAN MATCH, PSUBSCRIBE) match more than itself.
GLOB = frozenset("*?[]\\")

MAX_NAME = 64
MAX_ID = 128
MAX_TEXT = 200
MAX_OHLCV_COUNT = 10_000
MAX_LIST_OFFSET = 100_000_000

Exchange = Annotated[str, strawberry.argument(description="Exchange name, e.g. `binance`.")]
Symbol = Annotated[str, strawberry.argument(description="Unified symbol, e.g. `BTC/USDT:USDT`.")]
ExId = Annotated[str, strawberry.argument(description="User-exchange id (`ex_id`), e.g. `1`.")]
Timeframe = Annotated[str, strawberry.argument(description="e.g. `1m`, `1h`.")]
LocalOid = Annotated[str, strawberry.argument(description="The local order id of the queue.")]
Uid = Annotated[str, strawberry.argument(description="User id.")]
BotId = Annotated[str, strawberry.argument(description="Bot id.")]
ProcessType = Annotated[
    str | None, strawberry.argument(description="Process type, e.g. `tick`; omitted: all.")
]
SinceMinutes = Annotated[
    float, strawberry.argument(description="Active within this many minutes (at most 10080).")
]
Component = Annotated[
    str | None,
    strawberry.argument(description="Only this component, e.g. `kraken:BTC/USD`; omitted: all."),
]
OrderKey = Annotated[
    str,
    strawberry.argument(
        description="Exchange name or ex_id: the `order_status:{exchange}` key suffix."
    ),
]


First = Annotated[
    int | None,
    strawberry.argument(
        description="The oldest N items (after skipping `offset` from the oldest); "
        "1 to LIST_PAGE_MAX. Not with `last`."
    ),
]
Last = Annotated[
    int | None,
    strawberry.argument(
        description="The newest N items (after skipping `offset` from the newest); "
        "1 to LIST_PAGE_MAX. Not with `first`. Without either, the field's default page "
        "(LIST_PAGE_DEFAULT items) is read."
    ),
]
Offset = Annotated[
    int,
    strawberry.argument(
        description="Items to skip: from the oldest with `first`, from the newest otherwise."
    ),
]


def list_page(settings: Settings, first: int | None, last: int | None, offset: int) -> ListPage:
    """The page that ``first``/``last``/``offset`` select; neither: the newest
    ``LIST_PAGE_DEFAULT``. Results are oldest first either way."""
    if first is not None and last is not None:
        raise InvalidArgument("invalid first: give first or last, not both", argument="first")
    offset = bounded(offset, "offset", 0, MAX_LIST_OFFSET)
    if first is not None:
        return ListPage(bounded(first, "first", 1, settings.list_page_max), False, offset)
    if last is None:
        return ListPage(settings.list_page_default, True, offset)
    return ListPage(bounded(last, "last", 1, settings.list_page_max), True, offset)


def name(value: str, argument: str, limit: int = MAX_NAME, *, pattern: bool = False) -> str:
    """A name as fullon_cache accepts it: 1 to ``limit`` printable characters in any script
    (``币安人生/USDT`` is fine), no control characters. With ``pattern``, the value reaches a
    Redis key pattern (a SCAN or a pattern subscription), so glob characters are refused
    too."""
    if not 1 <= len(value) <= limit or not value.isprintable():
        raise InvalidArgument(
            f"invalid {argument}: 1-{limit} printable characters (no control characters)",
            argument=argument,
        )
    if pattern and not GLOB.isdisjoint(value):
        raise InvalidArgument(
            f"invalid {argument}: no glob characters (* ? [ ] \\) here: it names a key pattern",
            argument=argument,
        )
    return value


def exchange(value: str, name_: str = "exchange", *, pattern: bool = False) -> str:
    return name(value, name_, MAX_NAME, pattern=pattern)


def symbol(value: str, name_: str = "symbol", *, pattern: bool = False) -> str:
    return name(value, name_, MAX_NAME, pattern=pattern)


def identifier(value: str, name_: str, *, pattern: bool = False) -> str:
    return name(value, name_, MAX_ID, pattern=pattern)


def timeframe(value: str) -> str:
    if not _TIMEFRAME.fullmatch(value):
        raise InvalidArgument(
            "invalid timeframe: 1-10 letters or digits, e.g. 1m", argument="timeframe"
        )
    return value


def free_text(value: str, name_: str) -> str:
    """Free text that may reach a pattern: 1-200 printable characters, no glob characters."""
    return name(value, name_, MAX_TEXT, pattern=True)


def bounded(value: int, name: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise InvalidArgument(f"invalid {name}: must be between {low} and {high}", argument=name)
    return value


def positive_minutes(value: float, name: str = "sinceMinutes") -> float:
    if not 0 < value <= 60 * 24 * 7:
        raise InvalidArgument(f"invalid {name}: must be > 0 and at most 10080", argument=name)
    return value
