"""Trades (``trades:*``, ``user_trades:*``) and their status markers.

fullon_cache's ``get_trades`` deletes the list it reads and its ``pop_*`` consume: this
reader uses LRANGE only, so the ohlcv batcher keeps getting every trade.
"""

from __future__ import annotations

from fullon_cache_api.cache import codecs, keys
from fullon_cache_api.cache.base import DomainReader, cache_read, decode_in_slices
from fullon_cache_api.cache.decode import as_datetime
from fullon_cache_api.cache.paging import ListCursor, ListPage
from fullon_cache_api.cache.records import TradeRecord, TradeStatusRecord
from fullon_cache_api.cache.results import Appended, Listing


class TradeReader(DomainReader):
    @cache_read
    async def of_symbol(self, exchange: str, symbol: str, page: ListPage) -> Listing[TradeRecord]:
        """One page of the trades pushed for the symbol and not yet drained, oldest first."""
        return await self._list(keys.trades(exchange, symbol), page)

    @cache_read
    async def of_exchange(
        self, exchange: str, page: ListPage, max_lists: int
    ) -> Listing[TradeRecord]:
        """One page of every symbol's trades on ``exchange`` (``SCAN trades:{exchange}:*``,
        at most ``max_lists`` lists, by key name; then a pipelined page of each), oldest
        first within a symbol. ``exchange`` must hold no glob character."""
        names = (await self.scan(keys.trades_pattern(exchange), type_="list"))[:max_lists]
        listing: Listing[TradeRecord] = Listing()
        if not names:
            return listing
        start, stop = page.bounds()
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.llen(name)
                pipe.lrange(name, start, stop)
            replies = await pipe.execute()
        for number, name in enumerate(names):
            length, values = replies[2 * number], replies[2 * number + 1]
            first = page.first_index(int(length))
            entries = [(str(first + offset), raw) for offset, raw in enumerate(values)]
            listing.extend(
                await decode_in_slices(name, entries, lambda _index, raw: codecs.trade(raw))
            )
        return listing

    @cache_read
    async def of_user(self, uid: str, exchange: str, page: ListPage) -> Listing[TradeRecord]:
        """One page of a user's unconsumed trades, oldest first."""
        return await self._list(keys.user_trades(uid, exchange), page)

    @cache_read
    async def appended_of_symbol(
        self, exchange: str, symbol: str, window: int, cursor: ListCursor | None
    ) -> tuple[Appended[TradeRecord], ListCursor]:
        """The trades pushed for the symbol since ``cursor`` (see ``list_appended``)."""
        return await self.list_appended(keys.trades(exchange, symbol), window, cursor, _trade)

    @cache_read
    async def appended_of_user(
        self, uid: str, exchange: str, window: int, cursor: ListCursor | None
    ) -> tuple[Appended[TradeRecord], ListCursor]:
        """A user's trades pushed since ``cursor`` (a pop reads the window again)."""
        return await self.list_appended(keys.user_trades(uid, exchange), window, cursor, _trade)

    @cache_read
    async def count(self, exchange: str, symbol: str) -> int:
        return int(await self.redis.llen(keys.trades(exchange, symbol)))

    @cache_read
    async def user_count(self, uid: str, exchange: str) -> int:
        return int(await self.redis.llen(keys.user_trades(uid, exchange)))

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

    async def _list(self, key: str, page: ListPage) -> Listing[TradeRecord]:
        values = await self.list_page(key, page)
        return await decode_in_slices(key, values, _trade)

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


def _trade(_index: str, raw: bytes | str) -> TradeRecord:
    return codecs.trade(raw)
