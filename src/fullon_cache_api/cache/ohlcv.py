"""OHLCV bars (``ohlcv:{symbol}:{timeframe}``): oldest first, possibly duplicated, unsorted."""

from __future__ import annotations

from fullon_cache_api.cache import codecs, keys
from fullon_cache_api.cache.base import DomainReader, cache_read, decode_each
from fullon_cache_api.cache.records import OhlcvBarRecord, OhlcvSeriesRecord
from fullon_cache_api.cache.results import Listing

MAX_READ_FACTOR = 8


class OhlcvReader(DomainReader):
    @cache_read
    async def latest(self, symbol: str, timeframe: str, count: int) -> Listing[OhlcvBarRecord]:
        """The newest ``count`` distinct bars, sorted oldest first.

        fullon_cache appends a bar again each time it is revised, so duplicates (the last
        write wins) are removed; when that leaves fewer than ``count`` bars, older items
        are read too, up to ``MAX_READ_FACTOR * count`` items. ``count`` must be ≥ 1:
        fullon_cache's ``count=0`` means all.
        """
        if count < 1:
            raise ValueError("count must be >= 1")
        key = keys.ohlcv(symbol, timeframe)
        window = count
        while True:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.llen(key)
                pipe.lrange(key, -window, -1)
                length, values = await pipe.execute()
            listing = decode_each(
                key,
                [(str(index), raw) for index, raw in enumerate(values)],
                lambda _index, raw: codecs.ohlcv_bar(raw),
            )
            newest = {bar.timestamp: bar for bar in listing.items}  # later items overwrite
            if len(newest) >= count or window >= length or window >= count * MAX_READ_FACTOR:
                break
            window = min(window * 2, count * MAX_READ_FACTOR)
        listing.items = [newest[stamp] for stamp in sorted(newest)[-count:]]
        return listing

    @cache_read
    async def series(self) -> list[OhlcvSeriesRecord]:
        """Every stored series with its length (SCAN, then pipelined LLEN)."""
        names = await self.scan(f"{keys.OHLCV_PREFIX}*", type_="list")
        parsed = [(name, parts) for name in names if (parts := keys.split_ohlcv(name))]
        if not parsed:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, _parts in parsed:
                pipe.llen(name)
            lengths = await pipe.execute()
        return [
            OhlcvSeriesRecord(symbol=parts[0], timeframe=parts[1], bars=int(length))
            for (_name, parts), length in zip(parsed, lengths, strict=True)
        ]
