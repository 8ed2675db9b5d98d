"""Argument types and validation. A bad argument raises ``InvalidArgument``."""

from __future__ import annotations

import re
from typing import Annotated

import strawberry

from fullon_cache_api.errors import InvalidArgument

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_SYMBOL = re.compile(r"^[A-Za-z0-9_.\-/:]{1,64}$")
_TIMEFRAME = re.compile(r"^[A-Za-z0-9]{1,10}$")
_ID = re.compile(r"^[A-Za-z0-9_.\-:/]{1,128}$")
_TEXT = re.compile(r"^[^\x00-\x1f*?\[\]\\]{1,200}$")

MAX_OHLCV_COUNT = 10_000
MAX_TRADES_LAST = 10_000

Exchange = Annotated[str, strawberry.argument(description="Exchange name, e.g. `binance`.")]
Symbol = Annotated[str, strawberry.argument(description="Unified symbol, e.g. `BTC/USDT:USDT`.")]
ExId = Annotated[str, strawberry.argument(description="User-exchange id (`ex_id`), e.g. `1`.")]
OrderKey = Annotated[
    str,
    strawberry.argument(
        description="Exchange name or ex_id: the `order_status:{exchange}` key suffix."
    ),
]


Last = Annotated[int | None, strawberry.argument(description="Only the newest N (1 to 10000).")]


def last_n(value: int | None) -> int | None:
    """The ``last`` argument of list reads: absent, or 1 to ``MAX_TRADES_LAST``."""
    return None if value is None else bounded(value, "last", 1, MAX_TRADES_LAST)


def _check(pattern: re.Pattern[str], name: str, value: str, what: str) -> str:
    if not pattern.fullmatch(value):
        raise InvalidArgument(f"invalid {name}: {what}", argument=name)
    return value


def exchange(value: str, name: str = "exchange") -> str:
    return _check(_NAME, name, value, "1-64 characters of A-Z a-z 0-9 _ . -")


def symbol(value: str, name: str = "symbol") -> str:
    return _check(_SYMBOL, name, value, "1-64 characters of A-Z a-z 0-9 _ . - / :")


def identifier(value: str, name: str) -> str:
    return _check(_ID, name, value, "1-128 characters of A-Z a-z 0-9 _ . - : /")


def timeframe(value: str) -> str:
    return _check(_TIMEFRAME, "timeframe", value, "1-10 letters or digits, e.g. 1m")


def free_text(value: str, name: str) -> str:
    return _check(_TEXT, name, value, "1-200 printable characters, no glob characters")


def bounded(value: int, name: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise InvalidArgument(f"invalid {name}: must be between {low} and {high}", argument=name)
    return value


def positive_minutes(value: float, name: str = "sinceMinutes") -> float:
    if not 0 < value <= 60 * 24 * 7:
        raise InvalidArgument(f"invalid {name}: must be > 0 and at most 10080", argument=name)
    return value
