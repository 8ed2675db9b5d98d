"""A writer that reproduces fullon_cache 0.5.11's Redis layout byte for byte.

This is the only code in the project that writes to Redis. The API server never
imports it; it exists for tests, benchmarks and the demo. Every method mirrors one
fullon_cache writer: the same keys, Redis types, TTLs, trimming, command order and JSON
text (Python ``json.dumps`` defaults). The cache's ORM objects are replaced by plain
dicts, which are stored as given, so the caller controls key order and value types the
way ``fullon_orm``'s ``to_dict()`` would.

Sequences of writes that fullon_cache issues one after another are sent here as a
non-transactional pipeline, in the same order, so keyspace events and pub/sub ordering
match (for instance, a ticker subscriber can already read the hash).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

__all__ = [
    "BAR_LIMIT",
    "CANCELED_ORDER_TTL",
    "POSITION_FIELDS",
    "PROCESS_TTL",
    "CacheWriter",
    "dumps",
    "to_redis_timestamp",
]

JSONDict = dict[str, Any]
Clock = Callable[[], datetime]

#: TTL fullon_cache puts on the whole ``order_status:{x}`` hash after a "canceled" save.
CANCELED_ORDER_TTL = 3600
#: TTL of ``process:data:{id}``, reset on every register/update/stop.
PROCESS_TTL = 86400
#: ``update_ohlcv_bars`` keeps the newest this many bars (``LTRIM key -10000 -1``).
BAR_LIMIT = 10_000
#: The per-symbol keys AccountCache stores for a position, in stored order.
POSITION_FIELDS = ("cost", "volume", "fee", "count", "price", "timestamp")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _as_utc(dt: datetime) -> datetime:
    """Treat a naive datetime as UTC and convert an aware one to UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def to_redis_timestamp(dt: datetime) -> str:
    """fullon_cache's ``_to_redis_timestamp``: UTC ``isoformat()`` with ``+00:00``.

    The fraction is dropped when microseconds are 0, as ``isoformat()`` does.
    """
    return _as_utc(dt).isoformat()


def _json_default(obj: object) -> str:
    # Mirrors BaseCache.set_json (and what Trade/Order.to_dict() do with datetimes).
    if isinstance(obj, datetime):
        return obj.isoformat()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    """Serialise like fullon_cache: ``json.dumps`` defaults (ASCII, ``", "``, NaN allowed).

    Datetimes become ``isoformat()`` strings; any other non-JSON type raises TypeError.
    """
    return json.dumps(value, default=_json_default)


def _feed_stamped(status: Mapping[str, Any], timestamp: str) -> JSONDict:
    """Copy of a bot status with ``timestamp`` set in every value that is a dict."""
    return {
        key: {**value, "timestamp": timestamp} if isinstance(value, dict) else value
        for key, value in status.items()
    }


def _order_dict(order: Mapping[str, Any]) -> JSONDict:
    """OrdersCache._order_to_dict on a plain dict.

    A datetime ``timestamp`` becomes ISO; ``order_id`` is the order's own id when it is
    truthy, otherwise its ``ex_order_id`` when that is truthy.
    """
    data = dict(order)
    if isinstance(data.get("timestamp"), datetime):
        data["timestamp"] = to_redis_timestamp(data["timestamp"])
    if order.get("order_id"):
        data["order_id"] = order["order_id"]
    elif order.get("ex_order_id"):
        data["order_id"] = order["ex_order_id"]
    return data


def _order_field(order: Mapping[str, Any]) -> str:
    """The hash field of an order: ``str(ex_order_id or order_id)`` (may be ``"None"``)."""
    return str(order.get("ex_order_id") or order.get("order_id"))


class CacheWriter:
    """Writes fullon_cache 0.5.11's Redis layout from plain dicts.

    Args:
        redis: an asyncio client created with ``decode_responses=True``.
        now: the clock used for every timestamp the cache itself stamps (order
            ``timestamp``, account ``date``, process times and ids, ...). A naive result
            is taken as UTC. Defaults to the current UTC time; inject a fixed clock to
            make output deterministic.
    """

    def __init__(self, redis: aioredis.Redis, now: Clock = _utc_now) -> None:
        self.redis = redis
        self.clock = now

    def now(self) -> datetime:
        """The injected clock's current time, as an aware UTC datetime."""
        return _as_utc(self.clock())

    def _iso_now(self) -> str:
        return to_redis_timestamp(self.now())

    async def _exec(self, *commands: tuple[str, Sequence[Any]]) -> list[Any]:
        """Send ``(command, args)`` pairs as one non-transactional pipeline, in order."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, args in commands:
                pipe.execute_command(name, *args)
            return list(await pipe.execute())

    # ------------------------------------------------------------------ TickCache

    async def set_ticker(self, tick: Mapping[str, Any]) -> str:
        """TickCache.set_ticker: HSET the tick, SET its time string, PUBLISH the JSON.

        ``tick`` needs ``exchange`` and ``symbol``; it is stored as given. The
        ``ticker_time`` value is ``str(tick["time"])`` (``"None"`` when absent or null).
        Returns the stored JSON, which is also the published payload.
        """
        exchange, symbol = tick["exchange"], tick["symbol"]
        payload = dumps(dict(tick))
        await self._exec(
            ("HSET", (f"tickers:{exchange}", symbol, payload)),
            ("SET", (f"ticker_time:{exchange}:{symbol}", str(tick.get("time")))),
            ("PUBLISH", (f"ticker_updates:{exchange}:{symbol}", payload)),
        )
        return payload

    async def delete_ticker(self, exchange: str, symbol: str) -> bool:
        """TickCache.delete_ticker: HDEL the hash field, then DEL the time key.

        No message is published. Returns whether the hash field existed.
        """
        removed, _ = await self._exec(
            ("HDEL", (f"tickers:{exchange}", symbol)),
            ("DEL", (f"ticker_time:{exchange}:{symbol}",)),
        )
        return bool(removed)

    # --------------------------------------------------------------- AccountCache

    async def upsert_user_account(
        self,
        ex_id: int | str,
        account: Mapping[str, Any] | None = None,
        update_date: str | None = None,
    ) -> bool:
        """AccountCache.upsert_user_account.

        Full form: stores ``account`` plus ``"date"`` (the clock, ISO) in the
        ``accounts`` hash under ``str(ex_id)``. With a non-empty ``update_date`` only the
        existing entry's ``date`` is replaced by that string, verbatim; False (and no
        write) when there is no entry.
        """
        field = str(ex_id)
        if update_date:
            existing = await self.redis.hget("accounts", field)
            if not existing:
                return False
            data = json.loads(existing)
            data["date"] = update_date
        else:
            data = dict(account or {})
            data["date"] = self._iso_now()
        await self.redis.hset("accounts", field, dumps(data))
        return True

    async def upsert_positions(
        self,
        ex_id: int | str,
        positions: Mapping[str, Mapping[str, Any]],
        root_timestamp: str | float | None = None,
        *,
        update_date: bool = False,
    ) -> bool:
        """AccountCache.upsert_positions: replace the ``account_positions`` entry.

        ``positions`` maps symbol to a position; each is stored with exactly the keys
        :data:`POSITION_FIELDS` in that order (missing ones become null), followed by
        the root ``"timestamp"``: the clock as ISO, or ``root_timestamp`` when given
        (a number reproduces the legacy epoch root that 0.5.11's reader chokes on).
        An empty mapping HDELs the entry. ``update_date=True`` only refreshes the root
        timestamp of an existing entry (False if there is none).
        """
        field = str(ex_id)
        if update_date:
            existing = await self.redis.hget("account_positions", field)
            if not existing:
                return False
            data = json.loads(existing)
            data["timestamp"] = self._iso_now()
            await self.redis.hset("account_positions", field, dumps(data))
            return True
        if not positions:
            return bool(await self.redis.hdel("account_positions", field))
        stored: JSONDict = {
            symbol: {key: position.get(key) for key in POSITION_FIELDS}
            for symbol, position in positions.items()
        }
        stored["timestamp"] = self._iso_now() if root_timestamp is None else root_timestamp
        await self.redis.hset("account_positions", field, dumps(stored))
        return True

    # ---------------------------------------------------------------- OrdersCache

    async def _store_order(self, key: str, field: str, data: JSONDict, status: Any) -> None:
        commands: list[tuple[str, Sequence[Any]]] = [
            ("HSET", (f"order_status:{key}", field, dumps(data)))
        ]
        if status == "canceled":  # exactly; "cancelled" does not expire anything
            commands.append(("EXPIRE", (f"order_status:{key}", CANCELED_ORDER_TTL)))
        await self._exec(*commands)

    async def save_order(self, key: str, order: Mapping[str, Any]) -> str:
        """OrdersCache.save_order: overwrite one order in ``order_status:{key}``.

        ``key`` is an exchange name or an ex_id. The field is
        ``str(ex_order_id or order_id)``; the stored ``timestamp`` is the write time and
        ``order_id`` the field string. A status of exactly ``"canceled"`` puts a 3600 s
        TTL on the whole hash. Returns the field.
        """
        field = _order_field(order)
        data = _order_dict(order)
        data["timestamp"] = self._iso_now()
        data["order_id"] = field
        await self._store_order(key, field, data, order.get("status"))
        return field

    async def _merge_order(self, key: str, order: Mapping[str, Any]) -> tuple[str, JSONDict] | None:
        field = _order_field(order)
        existing = await self.redis.hget(f"order_status:{key}", field)
        if not existing:
            return None
        data: JSONDict = json.loads(existing)
        data.update((k, v) for k, v in _order_dict(order).items() if v is not None)
        data["timestamp"] = self._iso_now()
        return field, data

    async def update_order(self, key: str, order: Mapping[str, Any]) -> str:
        """OrdersCache.update_order: merge the non-null values into the stored order.

        ``timestamp`` is refreshed, but ``order_id`` is *not* re-stringified: a numeric
        DB ``order_id`` ends up stored as a number. Falls back to :meth:`save_order`
        when there is no stored order. Returns the field.
        """
        merged = await self._merge_order(key, order)
        if merged is None:
            return await self.save_order(key, order)
        field, data = merged
        await self._store_order(key, field, data, data.get("status"))
        return field

    async def save_order_data(self, key: str, order: Mapping[str, Any]) -> str:
        """OrdersCache.save_order_data: merge like :meth:`update_order`, then set
        ``order_id`` back to the field string. Returns the field.
        """
        merged = await self._merge_order(key, order)
        if merged is None:
            return await self.save_order(key, order)
        field, data = merged
        data["order_id"] = field
        await self._store_order(key, field, data, data.get("status"))
        return field

    async def push_open_order(self, oid: str, local_oid: str) -> int:
        """OrdersCache.push_open_order: RPUSH ``oid`` onto ``new_orders:{local_oid}``."""
        return int(await self.redis.rpush(f"new_orders:{local_oid}", oid))

    # ---------------------------------------------------------------- TradesCache

    async def pop_open_order(self, local_oid: str) -> str | None:
        """What fullon's order service does with ``pop_open_order`` (non-blocking LPOP)."""
        value = await self.redis.lpop(f"new_orders:{local_oid}")
        return value if isinstance(value, str) or value is None else str(value)

    async def drain_trades(self, exchange: str, symbol: str) -> list[str]:
        """What fullon's batcher does with ``get_trades``: LRANGE, then DEL the list."""
        key = f"trades:{exchange}:{symbol.replace('/', '')}"
        values = await self.redis.lrange(key, 0, -1)
        await self.redis.delete(key)
        return [str(value) for value in values]

    async def push_trade_list(self, symbol: str, exchange: str, trade: Mapping[str, Any]) -> int:
        """TradesCache.push_trade_list: RPUSH onto ``trades:{exchange}:{symbol sans "/"}``,
        then SET ``TRADE:STATUS:{exchange}`` to the clock (ISO). Returns the list length.
        """
        key = f"trades:{exchange}:{symbol.replace('/', '')}"
        length, _ = await self._exec(
            ("RPUSH", (key, dumps(dict(trade)))),
            ("SET", (f"TRADE:STATUS:{exchange}", self._iso_now())),
        )
        return int(length)

    async def push_trade(self, exchange: str, trade: Mapping[str, Any]) -> int:
        """TradesCache.push_trade: like :meth:`push_trade_list` with ``trade["symbol"]``."""
        return await self.push_trade_list(trade["symbol"], exchange, trade)

    async def push_user_trade(self, uid: int | str, exchange: str, trade: Mapping[str, Any]) -> int:
        """TradesCache.push_user_trade: RPUSH onto ``user_trades:{uid}:{exchange}``.

        Does not touch any status key. Returns the list length.
        """
        return int(await self.redis.rpush(f"user_trades:{uid}:{exchange}", dumps(dict(trade))))

    async def update_user_trade_status(self, key: str, timestamp: datetime | None = None) -> str:
        """TradesCache.update_user_trade_status: SET ``USER_TRADE:STATUS:{key}`` to ISO.

        Uses the clock when ``timestamp`` is None. Returns the stored string.
        """
        value = to_redis_timestamp(timestamp if timestamp is not None else self.now())
        await self.redis.set(f"USER_TRADE:STATUS:{key}", value)
        return value

    # ------------------------------------------------------------------- BotCache

    async def block_exchange(self, ex_id: int | str, symbol: str, bot_id: int | str) -> None:
        """BotCache.block_exchange: HSET ``block_exchange`` ``{ex_id}:{symbol}`` -> bot id."""
        await self.redis.hset("block_exchange", f"{ex_id}:{symbol}", str(bot_id))

    async def unblock_exchange(self, ex_id: int | str, symbol: str) -> bool:
        """BotCache.unblock_exchange: HDEL the block. Returns whether it existed."""
        return bool(await self.redis.hdel("block_exchange", f"{ex_id}:{symbol}"))

    async def mark_opening_position(self, ex_id: int | str, symbol: str, bot_id: int | str) -> str:
        """BotCache.mark_opening_position: HSET ``opening_position`` -> ``"{bot_id}:{ISO}"``.

        Returns the stored value.
        """
        value = f"{bot_id}:{self._iso_now()}"
        await self.redis.hset("opening_position", f"{ex_id}:{symbol}", value)
        return value

    async def unmark_opening_position(self, ex_id: int | str, symbol: str) -> bool:
        """BotCache.unmark_opening_position: HDEL. Returns whether it existed."""
        return bool(await self.redis.hdel("opening_position", f"{ex_id}:{symbol}"))

    async def update_bot(self, bot_id: int | str, status: Mapping[str, Any]) -> str:
        """BotCache.update_bot: HSET ``bot_status`` ``str(bot_id)`` -> JSON.

        Every value that is itself a dict (a "feed") gets ``"timestamp"`` = clock ISO;
        top-level scalars do not. The caller's dict is not modified. Returns the JSON.
        """
        payload = dumps(_feed_stamped(status, self._iso_now()))
        await self.redis.hset("bot_status", str(bot_id), payload)
        return payload

    async def del_bot(self, bot_id: int | str) -> bool:
        """BotCache.del_bot: HDEL the bot's status. Returns whether it existed."""
        return bool(await self.redis.hdel("bot_status", str(bot_id)))

    # ----------------------------------------------------------------- OHLCVCache

    async def update_ohlcv_bars(
        self, symbol: str, timeframe: str, bars: Iterable[Sequence[Any]]
    ) -> int:
        """OHLCVCache.update_ohlcv_bars: RPUSH every bar, then ``LTRIM key -10000 -1``.

        Only list bars with at least 6 elements are kept (extra elements stay). The
        symbol is used verbatim; nothing is sorted or deduplicated. Returns the number
        of bars pushed (0 means nothing was written).
        """
        encoded = [dumps(bar) for bar in bars if isinstance(bar, list) and len(bar) >= 6]
        if not encoded:
            return 0
        key = f"ohlcv:{symbol}:{timeframe}"
        await self._exec(("RPUSH", (key, *encoded)), ("LTRIM", (key, -BAR_LIMIT, -1)))
        return len(encoded)

    # --------------------------------------------------------------- ProcessCache

    async def register_process(
        self,
        process_type: str,
        component: str,
        params: Mapping[str, Any] | None = None,
        message: str | None = None,
        status: str = "starting",
    ) -> str:
        """ProcessCache.register_process.

        The id is ``f"{process_type}:{component}:{clock.timestamp()}"``. Writes
        ``process:data:{id}`` (SETEX 86400), then ``process:active:{type}`` id -> ISO,
        then ``process:components`` component -> id. Returns the id.
        """
        ts = self.now()
        iso = ts.isoformat()
        process_id = f"{process_type}:{component}:{ts.timestamp()}"
        record: JSONDict = {
            "process_id": process_id,
            "process_type": process_type,
            "component": component,
            "params": dict(params) if params else {},
            "status": status,
            "message": message or f"Process {component} registered",
            "created_at": iso,
            "updated_at": iso,
            "heartbeat": iso,
        }
        await self._exec(
            ("SETEX", (f"process:data:{process_id}", PROCESS_TTL, dumps(record))),
            ("HSET", (f"process:active:{process_type}", process_id, iso)),
            ("HSET", ("process:components", component, process_id)),
        )
        return process_id

    def _process_update(
        self,
        process_id: str,
        record: JSONDict,
        status: str | None,
        message: str | None,
        params: Mapping[str, Any] | None,
        heartbeat: bool,
    ) -> list[tuple[str, Sequence[Any]]]:
        """Apply update_process's changes to ``record``; return its SETEX and HSET."""
        iso = self.now().isoformat()
        record["updated_at"] = iso
        if heartbeat:
            record["heartbeat"] = iso
        if status:
            record["status"] = status
        if message:
            record["message"] = message
        if params:
            record["params"].update(params)
        return [
            ("SETEX", (f"process:data:{process_id}", PROCESS_TTL, dumps(record))),
            ("HSET", (f"process:active:{record['process_type']}", process_id, iso)),
        ]

    async def _get_process(self, process_id: str) -> JSONDict | None:
        raw = await self.redis.get(f"process:data:{process_id}")
        if not raw:
            return None
        record: JSONDict = json.loads(raw)
        return record

    async def update_process(
        self,
        process_id: str,
        status: str | None = None,
        message: str | None = None,
        params: Mapping[str, Any] | None = None,
        heartbeat: bool = True,
    ) -> bool:
        """ProcessCache.update_process: GET, modify, SETEX 86400, HSET active time.

        ``updated_at`` (and ``heartbeat`` unless ``heartbeat=False``) take the clock;
        truthy ``status``/``message`` replace, ``params`` merge. False if the data key
        is gone.
        """
        record = await self._get_process(process_id)
        if record is None:
            return False
        await self._exec(
            *self._process_update(process_id, record, status, message, params, heartbeat)
        )
        return True

    async def stop_process(self, process_id: str, message: str | None = None) -> bool:
        """ProcessCache.stop_process, quirks included.

        Updates with status ``"stopped"`` (message default ``"Process stopped"``,
        heartbeat untouched), then HDELs the id from ``process:active:{type}`` and the
        component from ``process:components`` even if it now points at a newer process.
        The data key stays until its TTL. False if the data key is gone.
        """
        record = await self._get_process(process_id)
        if record is None:
            return False
        commands = self._process_update(
            process_id, record, "stopped", message or "Process stopped", None, heartbeat=False
        )
        commands.append(("HDEL", (f"process:active:{record['process_type']}", process_id)))
        commands.append(("HDEL", ("process:components", record["component"])))
        await self._exec(*commands)
        return True

    async def broadcast_message(
        self, process_type: str, message: str, data: Mapping[str, Any] | None = None
    ) -> int:
        """ProcessCache.broadcast_message: PUBLISH on ``process:broadcast:{type}``.

        Payload ``{"message", "data", "timestamp"}``. Returns the number of receivers.
        """
        payload = {
            "message": message,
            "data": dict(data) if data else {},
            "timestamp": self.now().isoformat(),
        }
        return int(await self.redis.publish(f"process:broadcast:{process_type}", dumps(payload)))

    # ------------------------------------------------ raw writes (tests only)

    async def write_raw_hash_field(self, key: str, field: str, value: str) -> None:
        """Test-only: HSET an arbitrary string, e.g. corrupt JSON or foreign data.

        fullon_cache never writes such values; use this only to simulate damage or
        other tenants sharing the Redis.
        """
        await self.redis.hset(key, field, value)

    async def write_raw_string(self, key: str, value: str) -> None:
        """Test-only: SET an arbitrary string value (see :meth:`write_raw_hash_field`)."""
        await self.redis.set(key, value)

    async def write_raw_list(self, key: str, values: Iterable[str]) -> int:
        """Test-only: RPUSH arbitrary strings (appending to any existing list).

        Returns the list length (unchanged when ``values`` is empty).
        """
        items = list(values)
        if not items:
            return int(await self.redis.llen(key))
        return int(await self.redis.rpush(key, *items))
