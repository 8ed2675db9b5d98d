"""Tolerant decoding of the values fullon_cache stores.

fullon_cache writes JSON with Python's ``json.dumps`` defaults, so bare ``NaN``/``Infinity``
tokens occur; ints and floats mix; times come as epoch seconds, epoch milliseconds or ISO
strings. Everything is normalised here: non-finite numbers become ``None`` and every time
becomes an aware UTC ``datetime``.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import orjson

# Epoch values above this are milliseconds: 1e11 s is the year 5138, 1e11 ms is 1973.
_MS_THRESHOLD = 1e11
# datetime supports years 1..9999; anything outside is not a plausible time.
_MAX_EPOCH_S = 253402300799.0
#: Deepest nesting kept in a free-form value (bot documents, params, extra keys). fullon
#: writes a few levels; deeper values cannot be serialised again (orjson stops at 255) and
#: are read as corrupt.
MAX_JSON_DEPTH = 64


class CorruptValue(ValueError):
    """A stored value that cannot be decoded."""


def text(raw: bytes | str) -> str:
    """UTF-8 text of a stored value; foreign binary values raise ``CorruptValue``."""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptValue("value is not UTF-8 text") from exc


def loads(raw: bytes | str) -> Any:
    """Parse stored JSON. Fast path orjson; ``NaN``/``Infinity`` fall back to ``json``.

    A value nested deeper than :data:`MAX_JSON_DEPTH` is corrupt (see :func:`nested_json`)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(text(raw), parse_int=_int64)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise CorruptValue(f"invalid JSON: {exc}") from None
        except RecursionError:  # nested deeper than orjson's limit too
            raise CorruptValue("invalid JSON: nested too deeply") from None
    if _openings(raw) > MAX_JSON_DEPTH:  # only then can it nest that deep: walk it
        nested_json(value)
    return value


def _int64(digits: str) -> int | float:
    """An integer as orjson reads it: within 64 bits it stays an int, else it is a float
    (a Python int beyond that could not be serialised again)."""
    number = int(digits)
    return number if -(2**63) <= number < 2**64 else float(number)


def _openings(raw: bytes | str) -> int:
    """How many ``{`` and ``[`` the text holds: a bound on its nesting depth."""
    if isinstance(raw, bytes):
        return raw.count(b"{") + raw.count(b"[")
    return raw.count("{") + raw.count("[")


def nested_json(value: Any, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``value`` itself, once it is known to nest at most ``max_depth`` levels.

    Free-form values are served as the ``JSON`` scalar; a deeper one raises
    ``CorruptValue`` here rather than failing when the response is serialised."""
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        current, depth = pending.pop()
        if depth > max_depth:
            raise CorruptValue(f"a value is nested deeper than {max_depth} levels")
        children = current.values() if isinstance(current, dict) else current
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return value


def loads_object(raw: bytes | str) -> dict[str, Any]:
    value = loads(raw)
    if not isinstance(value, dict):
        raise CorruptValue(f"expected a JSON object, got {type(value).__name__}")
    return value


def as_float(value: Any) -> float | None:
    """A finite float, or ``None`` for null, NaN, ±Infinity and non-numbers."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_str(value: Any) -> str | None:
    """Identifiers arrive as strings or ints; both become strings."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "1", "yes"}:
            return True
        if lowered in {"false", "0", "no", ""}:
            return False
    return None


def epoch_to_datetime(value: float) -> datetime | None:
    """Epoch seconds or milliseconds (told apart by magnitude) as UTC."""
    if not math.isfinite(value):
        return None
    seconds = value / 1000.0 if abs(value) >= _MS_THRESHOLD else value
    if not -62135596800.0 <= seconds <= _MAX_EPOCH_S:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def as_datetime(value: Any) -> datetime | None:
    """Any time representation fullon_cache stores, as an aware UTC datetime, or ``None``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return epoch_to_datetime(float(value))
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str):
        return None
    stripped = value.strip()
    if not stripped or stripped == "None":
        return None
    try:
        return epoch_to_datetime(float(stripped))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
