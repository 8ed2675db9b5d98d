"""Orders (``order_status:{exchange or ex_id}``) and open-order queues (``new_orders:*``).

Queues are read with LRANGE/LLEN only: ``pop_open_order`` is fullon_cache's consumer.
"""

from __future__ import annotations

from collections.abc import Callable

from fullon_cache_api.cache import codecs, keys
from fullon_cache_api.cache.base import (
    DomainReader,
    cache_read,
    decode_each,
    decode_in_slices,
    key_text,
)
from fullon_cache_api.cache.decode import CorruptValue
from fullon_cache_api.cache.paging import ListPage
from fullon_cache_api.cache.records import OrderRecord
from fullon_cache_api.cache.results import Listing
from fullon_cache_api.errors import InvalidArgument


class OrderReader(DomainReader):
    @cache_read
    async def get(self, key: str, order_id: str) -> OrderRecord | None:
        raw = await self.redis.hget(keys.order_status(key), order_id)
        return codecs.order(key, order_id, raw) if raw is not None else None

    @cache_read
    async def of_key(self, key: str) -> Listing[OrderRecord]:
        """All orders under ``order_status:{key}``, oldest cache write first. The whole hash
        may vanish: one ``canceled`` order puts a 1 h TTL on it."""
        name = keys.order_status(key)
        fields = await self.hgetall_text(name)
        listing = decode_each(
            name, sorted(fields.items()), lambda field, raw: codecs.order(key, field, raw)
        )
        listing.items.sort(key=_written_order)
        return listing

    @cache_read
    async def by_id(self, order_id: str, max_keys: int) -> Listing[OrderRecord]:
        """The order ``order_id`` under every ``order_status:*`` hash that holds it (SCAN,
        then one pipelined HGET per key), by key. More than ``max_keys`` keys is refused:
        the caller should name the key."""
        suffixes = await self.status_keys()
        if len(suffixes) > max_keys:
            raise InvalidArgument(
                f"invalid orderId: more than {max_keys} order_status keys to search; "
                "name the key (order(exchange, orderId))",
                argument="orderId",
            )
        if not suffixes:
            return Listing()
        async with self.redis.pipeline(transaction=False) as pipe:
            for suffix in suffixes:
                pipe.hget(keys.order_status(suffix), order_id)
            values = await pipe.execute()
        listing: Listing[OrderRecord] = Listing()
        for suffix, raw in zip(suffixes, values, strict=True):
            listing.extend(
                decode_each(keys.order_status(suffix), [(order_id, raw)], _decoder(suffix))
            )
        return listing

    @cache_read
    async def status_keys(self) -> list[str]:
        """The suffixes of every ``order_status:*`` hash (exchange names or ex_ids)."""
        names = await self.scan(f"{keys.ORDER_STATUS_PREFIX}*", type_="hash")
        return [name[len(keys.ORDER_STATUS_PREFIX) :] for name in names]


class OpenOrderQueueReader(DomainReader):
    @cache_read
    async def items(self, local_oid: str, page: ListPage) -> Listing[str]:
        """One page of the queued exchange order ids, index 0 first to be consumed (never
        popped). A non-text id is left out and reported."""
        key = keys.open_orders(local_oid)
        return await decode_in_slices(key, await self.list_page(key, page), _order_id)

    @cache_read
    async def length(self, local_oid: str) -> int:
        return int(await self.redis.llen(keys.open_orders(local_oid)))


def _decoder(key: str) -> Callable[[str, bytes | str], OrderRecord]:
    """Decode a stored order of ``order_status:{key}``."""
    return lambda field, raw: codecs.order(key, field, raw)


def _order_id(_index: str, raw: bytes | str) -> str:
    text = key_text(raw)
    if text is None:
        raise CorruptValue("the order id is not UTF-8 text")
    return text


def _written_order(record: OrderRecord) -> tuple[float, str]:
    stamp = record.timestamp.timestamp() if record.timestamp else float("-inf")
    return (stamp, record.order_id)
