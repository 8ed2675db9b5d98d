"""Stored values → records. Each function raises ``CorruptValue`` for an undecodable item."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
)

_BALANCE_FIELDS = ("free", "used", "total", "balance", "available")
_POSITION_FIELDS = ("cost", "volume", "fee", "count", "price")
_ORDER_KNOWN = frozenset(
    [
        "order_id",
        "ex_order_id",
        "exchange",
        "symbol",
        "order_type",
        "side",
        "status",
        "command",
        "reason",
        "volume",
        "final_volume",
        "price",
        "plimit",
        "leverage",
        "tick",
        "futures",
        "bot_id",
        "uid",
        "ex_id",
        "cat_ex_id",
        "timestamp",
    ]
)
_TRADE_KNOWN = frozenset(
    [
        "trade_id",
        "ex_trade_id",
        "ex_order_id",
        "uid",
        "ex_id",
        "symbol",
        "order_type",
        "side",
        "volume",
        "price",
        "cost",
        "fee",
        "cur_volume",
        "cur_avg_price",
        "cur_avg_cost",
        "cur_fee",
        "roi",
        "roi_pct",
        "total_fee",
        "leverage",
        "time",
    ]
)


def _plain_str(value: Any) -> str | None:
    return value if isinstance(value, str) else as_str(value)


def _extra(data: dict[str, Any], known: frozenset[str]) -> dict[str, Any] | None:
    rest = {key: value for key, value in data.items() if key not in known}
    return rest or None


def ticker(exchange: str, symbol: str, raw: bytes | str) -> TickerRecord:
    """A ``tickers:{exchange}`` value. Like fullon_cache, the key names win over the JSON's
    own ``exchange``/``symbol``."""
    data = loads_object(raw)
    return TickerRecord(
        exchange=exchange,
        symbol=symbol,
        price=as_float(data.get("price")),
        volume=as_float(data.get("volume")),
        time=as_datetime(data.get("time")),
        bid=as_float(data.get("bid")),
        ask=as_float(data.get("ask")),
        last=as_float(data.get("last")),
    )


def _balance(currency: str, value: Any) -> BalanceRecord:
    if not isinstance(value, dict):
        # A bare number is taken as the total; anything else is kept as it is.
        number = as_float(value)
        return BalanceRecord(
            currency=currency,
            total=number,
            extra=None if number is not None else {"value": value},
        )
    known = {name: as_float(value.get(name)) for name in _BALANCE_FIELDS}
    extra = {key: item for key, item in value.items() if key not in _BALANCE_FIELDS}
    return BalanceRecord(currency=currency, extra=extra or None, **known)


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
        numbers = {name: as_float(value.get(name)) for name in _POSITION_FIELDS}
        records.append(
            PositionRecord(
                ex_id=ex_id,
                symbol=symbol,
                timestamp=as_datetime(value.get("timestamp")) or root_time,
                **numbers,
            )
        )
    return records


def order(key: str, field: str, raw: bytes | str) -> OrderRecord:
    """An ``order_status:{key}`` value. The hash field is the authoritative exchange order
    id; the stored ``order_id`` may be that string or a numeric DB id."""
    data = loads_object(raw)
    return OrderRecord(
        key=key,
        order_id=field,
        stored_order_id=as_str(data.get("order_id")),
        ex_order_id=as_str(data.get("ex_order_id")),
        exchange=_plain_str(data.get("exchange")),
        symbol=_plain_str(data.get("symbol")),
        order_type=_plain_str(data.get("order_type")),
        side=_plain_str(data.get("side")),
        status=_plain_str(data.get("status")),
        command=_plain_str(data.get("command")),
        reason=_plain_str(data.get("reason")),
        volume=as_float(data.get("volume")),
        final_volume=as_float(data.get("final_volume")),
        price=as_float(data.get("price")),
        plimit=as_float(data.get("plimit")),
        leverage=as_float(data.get("leverage")),
        tick=as_float(data.get("tick")),
        futures=as_bool(data.get("futures")),
        bot_id=as_str(data.get("bot_id")),
        uid=as_str(data.get("uid")),
        ex_id=as_str(data.get("ex_id")),
        cat_ex_id=as_str(data.get("cat_ex_id")),
        timestamp=as_datetime(data.get("timestamp")),
        extra=_extra(data, _ORDER_KNOWN),
    )


def trade(raw: bytes | str) -> TradeRecord:
    """A ``trades:*`` or ``user_trades:*`` item; ``time`` is epoch seconds or ISO."""
    data = loads_object(raw)
    return TradeRecord(
        trade_id=as_str(data.get("trade_id")),
        ex_trade_id=as_str(data.get("ex_trade_id")),
        ex_order_id=as_str(data.get("ex_order_id")),
        uid=as_str(data.get("uid")),
        ex_id=as_str(data.get("ex_id")),
        symbol=_plain_str(data.get("symbol")),
        order_type=_plain_str(data.get("order_type")),
        side=_plain_str(data.get("side")),
        volume=as_float(data.get("volume")),
        price=as_float(data.get("price")),
        cost=as_float(data.get("cost")),
        fee=as_float(data.get("fee")),
        cur_volume=as_float(data.get("cur_volume")),
        cur_avg_price=as_float(data.get("cur_avg_price")),
        cur_avg_cost=as_float(data.get("cur_avg_cost")),
        cur_fee=as_float(data.get("cur_fee")),
        roi=as_float(data.get("roi")),
        roi_pct=as_float(data.get("roi_pct")),
        total_fee=as_float(data.get("total_fee")),
        leverage=as_float(data.get("leverage")),
        time=as_datetime(data.get("time")),
        extra=_extra(data, _TRADE_KNOWN),
    )


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
    heartbeat = as_datetime(data.get("heartbeat"))
    updated = as_datetime(data.get("updated_at"))
    params = data.get("params")
    seen = heartbeat or updated
    return ProcessRecord(
        process_id=process_id,
        process_type=_plain_str(data.get("process_type")),
        component=_plain_str(data.get("component")),
        params=params if isinstance(params, dict) else None,
        status=_plain_str(data.get("status")),
        message=_plain_str(data.get("message")),
        created_at=as_datetime(data.get("created_at")),
        updated_at=updated,
        heartbeat=heartbeat,
        last_active=last_active,
        heartbeat_stale=seen is None or seen < stale_before,
    )
