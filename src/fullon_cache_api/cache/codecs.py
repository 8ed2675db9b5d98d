"""Stored values → records. Each function raises ``CorruptValue`` for an undecodable item."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fullon_cache_api.cache.decode import (
    CorruptValue,
    as_bool,
    as_datetime,
    as_float,
    as_str,
    loads,
    loads_object,
    text,
)
from fullon_cache_api.cache.records import (
    AccountRecord,
    BalanceRecord,
    BotRecord,
    OhlcvBarRecord,
    OpeningPositionRecord,
    OrderRecord,
    PositionRecord,
    ProcessRecord,
    TickerRecord,
    TradeRecord,
    stored_key,
)

R = TypeVar("R")
Converter = Callable[[Any], Any]

#: How a stored value becomes a record field, by the field's declared type.
_CONVERTERS: dict[Any, Converter] = {
    str: as_str,  # required: the caller checks it, or gives it
    str | None: as_str,
    float | None: as_float,
    bool | None: as_bool,
    datetime | None: as_datetime,
    dict[str, Any] | None: lambda value: value if isinstance(value, dict) else None,
}


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to read one record type from a stored JSON object, derived from its declaration
    (:mod:`~fullon_cache_api.cache.records`): ``(field, stored key, converter)`` per stored
    field, and every stored key a field covers (the rest goes to ``extra``)."""

    fields: tuple[tuple[str, str, Converter], ...]
    known: frozenset[str]
    has_extra: bool


_PLANS: dict[type[Any], _Plan] = {}


def _plan(cls: type[Any]) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _make_plan(cls)
    return plan


def _make_plan(cls: type[Any]) -> _Plan:
    hints = typing.get_type_hints(cls)
    fields: list[tuple[str, str, Converter]] = []
    for item in dataclasses.fields(cls):
        key = stored_key(item)
        if key is not None:
            fields.append((item.name, key, _CONVERTERS[hints[item.name]]))
    names = {item.name for item in dataclasses.fields(cls)}
    return _Plan(tuple(fields), frozenset(key for _, key, _ in fields), "extra" in names)


def from_stored(cls: type[R], data: dict[str, Any], **given: Any) -> R:
    """A record of ``cls`` from a stored JSON object: each stored field converted by its
    declared type, keys no field covers in ``extra``; ``given`` supplies (or overrides) the
    fields that are not stored (the key name, the hash field)."""
    plan = _plan(cls)
    values = {name: convert(data.get(key)) for name, key, convert in plan.fields}
    if plan.has_extra:
        values["extra"] = {k: v for k, v in data.items() if k not in plan.known} or None
    values.update(given)
    return cls(**values)


def ticker(exchange: str, symbol: str, raw: bytes | str) -> TickerRecord:
    """A ``tickers:{exchange}`` value. Like fullon_cache, the key names win over the JSON's
    own ``exchange``/``symbol``."""
    return from_stored(TickerRecord, loads_object(raw), exchange=exchange, symbol=symbol)


def _balance(currency: str, value: Any) -> BalanceRecord:
    if not isinstance(value, dict):
        # A bare number is taken as the total; anything else is kept as it is.
        number = as_float(value)
        return BalanceRecord(
            currency=currency,
            total=number,
            extra=None if number is not None else {"value": value},
        )
    return from_stored(BalanceRecord, value, currency=currency)


def account(ex_id: str, raw: bytes | str) -> AccountRecord:
    """An ``accounts`` value: currency entries (ccxt free/used/total or balance/available)
    beside a ``date`` sibling."""
    data = loads_object(raw)
    balances = [
        _balance(currency, value) for currency, value in sorted(data.items()) if currency != "date"
    ]
    return AccountRecord(ex_id=ex_id, date=as_datetime(data.get("date")), balances=balances)


def positions(ex_id: str, raw: bytes | str) -> list[PositionRecord]:
    """An ``account_positions`` value, flattened. The root ``timestamp`` may be ISO (0.5.11)
    or an epoch float (legacy); it is the fallback for a symbol without its own."""
    data = loads_object(raw)
    root_time = as_datetime(data.get("timestamp"))
    records: list[PositionRecord] = []
    for symbol, value in sorted(data.items()):
        if symbol == "timestamp" or not isinstance(value, dict):
            continue
        own_time = as_datetime(value.get("timestamp"))
        records.append(
            from_stored(
                PositionRecord, value, ex_id=ex_id, symbol=symbol, timestamp=own_time or root_time
            )
        )
    return records


def order(key: str, field: str, raw: bytes | str) -> OrderRecord:
    """An ``order_status:{key}`` value. The hash field is the authoritative exchange order
    id; the stored ``order_id`` may be that string or a numeric DB id."""
    return from_stored(OrderRecord, loads_object(raw), key=key, order_id=field)


def trade(raw: bytes | str) -> TradeRecord:
    """A ``trades:*`` or ``user_trades:*`` item; ``time`` is epoch seconds or ISO."""
    return from_stored(TradeRecord, loads_object(raw))


def bot(bot_id: str, raw: bytes | str) -> BotRecord:
    """A ``bot_status`` value: free-form, either flat or a dict of feeds that each carry
    their own ``timestamp``. ``updated_at`` is the newest feed timestamp."""
    data = loads_object(raw)
    times: list[datetime] = []
    statuses: list[str] = []
    for value in data.values():
        if isinstance(value, dict):
            stamp = as_datetime(value.get("timestamp"))
            if stamp is not None:
                times.append(stamp)
            feed_status = value.get("status")
            if isinstance(feed_status, str):
                statuses.append(feed_status)
    top_status = data.get("status")
    status = top_status if isinstance(top_status, str) else (statuses[0] if statuses else None)
    updated = as_datetime(data.get("timestamp")) or (max(times) if times else None)
    return BotRecord(bot_id=bot_id, data=data, status=status, updated_at=updated)


def opening_position(ex_id: str, symbol: str, raw: bytes | str) -> OpeningPositionRecord:
    """An ``opening_position`` value ``"{bot_id}:{ISO}"``: split on the first ``:`` only."""
    value = text(raw)
    bot_id, sep, since = value.partition(":")
    if not sep:
        return OpeningPositionRecord(ex_id=ex_id, symbol=symbol, bot_id=value or None, since=None)
    return OpeningPositionRecord(
        ex_id=ex_id, symbol=symbol, bot_id=bot_id or None, since=as_datetime(since)
    )


def ohlcv_bar(raw: bytes | str) -> OhlcvBarRecord:
    """One ``ohlcv:*`` item: ``[timestamp, open, high, low, close, volume, ...]``; the
    timestamp is epoch ms or s."""
    value = loads(raw)
    if not isinstance(value, list) or len(value) < 6:
        raise CorruptValue("an OHLCV bar must be an array of at least 6 numbers")
    stamp = as_datetime(value[0]) if isinstance(value[0], int | float) else None
    if stamp is None:
        raise CorruptValue(f"bad bar timestamp {value[0]!r}")
    return OhlcvBarRecord(
        timestamp=stamp,
        open=as_float(value[1]),
        high=as_float(value[2]),
        low=as_float(value[3]),
        close=as_float(value[4]),
        volume=as_float(value[5]),
    )


def process(
    raw: bytes | str, *, last_active: datetime | None, stale_before: datetime
) -> ProcessRecord:
    """A ``process:data:{id}`` value. ``heartbeat_stale`` is computed, never stored."""
    data = loads_object(raw)
    process_id = as_str(data.get("process_id"))
    if not process_id:
        raise CorruptValue("process record without process_id")
    seen = as_datetime(data.get("heartbeat")) or as_datetime(data.get("updated_at"))
    return from_stored(
        ProcessRecord,
        data,
        process_id=process_id,
        last_active=last_active,
        heartbeat_stale=seen is None or seen < stale_before,
    )
