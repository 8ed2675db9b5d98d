"""Trades (``trades:*``, ``user_trades:*``) and their status markers.

fullon_cache's ``get_trades`` deletes the list it reads and its ``pop_*`` consume: this
reader uses LRANGE only, so the ohlcv batcher keeps getting every trade.
"""

from __future__ import annotations

from fullon_cache_api.cache import codecs, keys
from fullon_cache_api.cache.base import DomainReader, cache_read, decode_each
from fullon_cache_api.cache.decode import as_datetime
from fullon_cache_api.cache.records import TradeRecord, TradeStatusRecord
from fullon_cache_api.cache.results import Listing


class TradeReader(DomainReader):
    @cache_read
    async def of_symbol(
        self, exchange: str, symbol: str, last: int | None = None
    ) -> Listing[TradeRecord]:
        """Trades pushed for the symbol and not yet drained, oldest first (``last``: only
        the newest N)."""
        return await self._list(keys.trades(exchange, symbol), last)

    @cache_read
    async def of_user(
        self, uid: str, exchange: str, last: int | None = None
    ) -> Listing[TradeRecord]:
        return await self._list(keys.user_trades(uid, exchange), last)

    @cache_read
    async def status(self, exchange: str) -> TradeStatusRecord | None:
        return await self._status(keys.TRADE_STATUS_PREFIX, exchange)

    @cache_read
    async def statuses(self) -> list[TradeStatusRecord]:
        return await self._statuses(keys.TRADE_STATUS_PREFIX)

    @cache_read
    async def user_status(self, key: str) -> TradeStatusRecord | None:
        return await self._status(keys.USER_TRADE_STATUS_PREFIX, key)

    @cache_read
    async def user_statuses(self) -> list[TradeStatusRecord]:
        return await self._statuses(keys.USER_TRADE_STATUS_PREFIX)

    async def _list(self, key: str, last: int | None) -> Listing[TradeRecord]:
        start = -last if last else 0
        values = await self.redis.lrange(key, start, -1)
        return decode_each(
            key,
            [(str(index), raw) for index, raw in enumerate(values)],
            lambda _index, raw: codecs.trade(raw),
        )

    async def _status(self, prefix: str, suffix: str) -> TradeStatusRecord | None:
        raw = await self.redis.get(f"{prefix}{suffix}")
        if raw is None:
            return None
        return TradeStatusRecord(key=suffix, timestamp=as_datetime(raw))

    async def _statuses(self, prefix: str) -> list[TradeStatusRecord]:
        names = await self.scan(f"{prefix}*", type_="string")
        if not names:
            return []
        values = await self.redis.mget(names)
        return [
            TradeStatusRecord(key=name[len(prefix) :], timestamp=as_datetime(raw))
            for name, raw in zip(names, values, strict=True)
            if raw is not None
        ]
