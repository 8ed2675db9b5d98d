"""Accounts (``accounts``) and positions (``account_positions``), both keyed by ex_id."""

from __future__ import annotations

from fullon_cache_api.cache import codecs, keys
from fullon_cache_api.cache.base import DomainReader, cache_read, decode_each, numeric_first
from fullon_cache_api.cache.records import AccountRecord, BalanceRecord, PositionRecord
from fullon_cache_api.cache.results import Listing


class AccountReader(DomainReader):
    @cache_read
    async def get(self, ex_id: str) -> AccountRecord | None:
        raw = await self.redis.hget(keys.ACCOUNTS, ex_id)
        return codecs.account(ex_id, raw) if raw is not None else None

    @cache_read
    async def balance(self, ex_id: str, currency: str) -> BalanceRecord | None:
        account = await self.get(ex_id)
        if account is None:
            return None
        return next((item for item in account.balances if item.currency == currency), None)

    @cache_read
    async def all(self) -> Listing[AccountRecord]:
        fields = await self.hgetall_text(keys.ACCOUNTS)
        return decode_each(keys.ACCOUNTS, sorted(fields.items(), key=numeric_first), codecs.account)


class PositionReader(DomainReader):
    @cache_read
    async def of_account(self, ex_id: str) -> list[PositionRecord]:
        """The positions of one ex_id (fullon_cache's ``get_positions`` ignores its ex_id;
        this one does not)."""
        raw = await self.redis.hget(keys.ACCOUNT_POSITIONS, ex_id)
        return codecs.positions(ex_id, raw) if raw is not None else []

    @cache_read
    async def get(self, ex_id: str, symbol: str) -> PositionRecord | None:
        return next((p for p in await self.of_account(ex_id) if p.symbol == symbol), None)

    @cache_read
    async def all(self) -> Listing[PositionRecord]:
        """Every ex_id's positions. A legacy numeric root timestamp is accepted (0.5.11 drops
        the whole ex_id); a corrupt entry drops only that ex_id."""
        fields = await self.hgetall_text(keys.ACCOUNT_POSITIONS)
        per_account = decode_each(
            keys.ACCOUNT_POSITIONS, sorted(fields.items(), key=numeric_first), codecs.positions
        )
        flat: Listing[PositionRecord] = Listing(problems=per_account.problems)
        for records in per_account.items:
            flat.items.extend(records)
        return flat
