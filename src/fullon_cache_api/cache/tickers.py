"""Tickers: ``tickers:{exchange}`` hashes and ``ticker_time:*`` strings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fullon_cache_api.cache import codecs, keys
from fullon_cache_api.cache.base import DomainReader, cache_read, decode_each, text_fields
from fullon_cache_api.cache.decode import CorruptValue, as_datetime
from fullon_cache_api.cache.records import TickerRecord
from fullon_cache_api.cache.results import Listing


class TickerReader(DomainReader):
    @cache_read
    async def exchanges(self) -> list[str]:
        """Exchanges with tickers, discovered with SCAN (not fullon_cache's fixed five)."""
        names = await self.scan(f"{keys.TICKERS_PREFIX}*", type_="hash")
        return [name[len(keys.TICKERS_PREFIX) :] for name in names]

    @cache_read
    async def is_exchange(self, name: str) -> bool:
        """Whether ``name`` is an exchange with tickers (``EXISTS tickers:{name}``)."""
        return bool(await self.redis.exists(keys.tickers(name)))

    @cache_read
    async def get(self, exchange: str, symbol: str) -> TickerRecord | None:
        raw = await self.redis.hget(keys.tickers(exchange), symbol)
        if raw is None:
            return None
        return codecs.ticker(exchange, symbol, raw)

    @cache_read
    async def of_exchange(self, exchange: str) -> Listing[TickerRecord]:
        return await self._of_exchanges([exchange])

    @cache_read
    async def all(self) -> Listing[TickerRecord]:
        return await self._of_exchanges(await self.exchanges())

    @cache_read
    async def for_symbol(self, symbol: str) -> Listing[TickerRecord]:
        """The symbol's ticker on every exchange that has it, freshest first."""
        exchanges = await self.exchanges()
        async with self.redis.pipeline(transaction=False) as pipe:
            for exchange in exchanges:
                pipe.hget(keys.tickers(exchange), symbol)
            values = await pipe.execute()
        listing: Listing[TickerRecord] = Listing()
        for exchange, raw in zip(exchanges, values, strict=True):
            listing.extend(
                decode_each(
                    keys.tickers(exchange),
                    [(symbol, raw)],
                    _decoder(exchange),
                )
            )
        listing.items.sort(key=_freshness, reverse=True)
        return listing

    @cache_read
    async def time(self, exchange: str, symbol: str) -> datetime | None:
        """``ticker_time:{exchange}:{symbol}``: a float string, or ``"None"``."""
        raw = await self.redis.get(keys.ticker_time(exchange, symbol))
        return as_datetime(raw) if raw is not None else None

    async def _of_exchanges(self, exchanges: list[str]) -> Listing[TickerRecord]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for exchange in exchanges:
                pipe.hgetall(keys.tickers(exchange))
            hashes = await pipe.execute()
        listing: Listing[TickerRecord] = Listing()
        for exchange, fields in zip(exchanges, hashes, strict=True):
            entries = sorted(text_fields(fields).items())
            listing.extend(
                decode_each(
                    keys.tickers(exchange),
                    entries,
                    _decoder(exchange),
                )
            )
        return listing


def decode_message(channel: str, payload: bytes) -> TickerRecord:
    """A ``ticker_updates:{exchange}:{symbol}`` message (payload = the stored value)."""
    parts = keys.split_ticker_channel(channel)
    if parts is None:
        raise CorruptValue(f"not a ticker channel: {channel!r}")
    return codecs.ticker(parts[0], parts[1], payload)


def _decoder(exchange: str) -> Callable[[str, bytes | str], TickerRecord]:
    return lambda symbol, raw: codecs.ticker(exchange, symbol, raw)


def _freshness(record: TickerRecord) -> float:
    return record.time.timestamp() if record.time else float("-inf")
