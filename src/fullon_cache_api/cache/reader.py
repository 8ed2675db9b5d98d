"""``CacheReader``: every read of layout document §9, grouped by domain."""

from __future__ import annotations

from redis.asyncio import Redis

from fullon_cache_api.cache.accounts import AccountReader, PositionReader
from fullon_cache_api.cache.base import Clock, DomainReader, ReadStats, utc_now
from fullon_cache_api.cache.bots import BlockReader, BotReader, OpeningPositionReader
from fullon_cache_api.cache.connection import WaitingConnectionPool
from fullon_cache_api.cache.health import HealthReader
from fullon_cache_api.cache.ohlcv import OhlcvReader
from fullon_cache_api.cache.orders import OpenOrderQueueReader, OrderReader
from fullon_cache_api.cache.processes import ProcessReader
from fullon_cache_api.cache.tickers import TickerReader
from fullon_cache_api.cache.trades import TradeReader
from fullon_cache_api.errors import CacheUnavailable


class CacheReader:
    """Read-only access to fullon_cache's Redis state, one attribute per domain."""

    def __init__(
        self, redis: Redis, *, clock: Clock = utc_now, process_stale_after_s: float = 120.0
    ) -> None:
        self.redis = redis
        self.tickers = TickerReader(redis, clock)
        self.accounts = AccountReader(redis, clock)
        self.positions = PositionReader(redis, clock)
        self.orders = OrderReader(redis, clock)
        self.order_queues = OpenOrderQueueReader(redis, clock)
        self.trades = TradeReader(redis, clock)
        self.bots = BotReader(redis, clock)
        self.blocks = BlockReader(redis, clock)
        self.opening_positions = OpeningPositionReader(redis, clock)
        self.ohlcv = OhlcvReader(redis, clock)
        self.processes = ProcessReader(redis, clock, stale_after_s=process_stale_after_s)
        self.health = HealthReader(redis, clock)
        self.stats = ReadStats()
        for reader in vars(self).values():
            if isinstance(reader, DomainReader):
                reader.stats = self.stats

    async def connection_free(self) -> None:
        """Wait until the pool has a free connection (see
        :meth:`WaitingConnectionPool.wait_free`); ``CacheUnavailable`` when none was freed
        in time, as a read that waited for one would fail. Call :meth:`read_done` after
        the read."""
        pool = self.redis.connection_pool
        if isinstance(pool, WaitingConnectionPool) and not await pool.wait_free():
            self.stats.unavailable += 1
            raise CacheUnavailable("the cache (Redis) is unavailable")

    def read_done(self) -> None:
        pool = self.redis.connection_pool
        if isinstance(pool, WaitingConnectionPool):
            pool.pass_on()

    async def close(self) -> None:
        await self.redis.aclose()
