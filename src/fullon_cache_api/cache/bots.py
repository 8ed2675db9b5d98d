"""Bots (``bot_status``), exchange blocks (``block_exchange``) and opening positions."""

from __future__ import annotations

from fullon_cache_api.cache import codecs, keys
from fullon_cache_api.cache.base import (
    DomainReader,
    cache_read,
    decode_each,
    key_text,
    numeric_first,
)
from fullon_cache_api.cache.decode import CorruptValue
from fullon_cache_api.cache.records import BotRecord, ExchangeBlockRecord, OpeningPositionRecord
from fullon_cache_api.cache.results import Listing


class BotReader(DomainReader):
    @cache_read
    async def all(self) -> Listing[BotRecord]:
        """Every bot. A corrupt entry is left out and reported (fullon_cache would return
        ``{"error": "Invalid JSON"}`` in its place)."""
        fields = await self.hgetall_text(keys.BOT_STATUS)
        return decode_each(keys.BOT_STATUS, sorted(fields.items(), key=numeric_first), codecs.bot)

    @cache_read
    async def get(self, bot_id: str) -> BotRecord | None:
        raw = await self.redis.hget(keys.BOT_STATUS, bot_id)
        return codecs.bot(bot_id, raw) if raw is not None else None


class BlockReader(DomainReader):
    @cache_read
    async def all(self) -> Listing[ExchangeBlockRecord]:
        fields = await self.hgetall_text(keys.BLOCK_EXCHANGE)
        return decode_each(keys.BLOCK_EXCHANGE, sorted(fields.items()), _block)

    @cache_read
    async def blocking_bot(self, ex_id: str, symbol: str) -> str | None:
        """The id of the bot blocking ``(ex_id, symbol)``, or ``None``."""
        raw = await self.redis.hget(keys.BLOCK_EXCHANGE, keys.pair_field(ex_id, symbol))
        return (key_text(raw) or None) if raw is not None else None


class OpeningPositionReader(DomainReader):
    @cache_read
    async def all(self) -> Listing[OpeningPositionRecord]:
        fields = await self.hgetall_text(keys.OPENING_POSITION)
        return decode_each(keys.OPENING_POSITION, sorted(fields.items()), _opening)

    @cache_read
    async def exists(self, ex_id: str, symbol: str) -> bool:
        return bool(await self.redis.hexists(keys.OPENING_POSITION, keys.pair_field(ex_id, symbol)))


def _pair(field: str) -> tuple[str, str]:
    pair = keys.split_pair_field(field)
    if pair is None:
        raise CorruptValue(f"field {field!r} is not '{{ex_id}}:{{symbol}}'")
    return pair


def _block(field: str, raw: bytes | str) -> ExchangeBlockRecord:
    ex_id, symbol = _pair(field)
    bot_id = key_text(raw)
    if not bot_id:
        raise CorruptValue("empty or non-text bot id")
    return ExchangeBlockRecord(ex_id=ex_id, symbol=symbol, bot_id=bot_id)


def _opening(field: str, raw: bytes | str) -> OpeningPositionRecord:
    ex_id, symbol = _pair(field)
    return codecs.opening_position(ex_id, symbol, raw)
