"""``ohlcv(count)`` returns ``count`` distinct bars even when revisions were appended."""

from __future__ import annotations

import redis.asyncio as aioredis

from fullon_cache_api.cache import CacheReader
from fullon_cache_api.simulator import CacheWriter

MINUTE_MS = 60_000


async def test_revised_bars_do_not_shrink_the_window(
    redis_client: aioredis.Redis, redis_url: str
) -> None:
    writer = CacheWriter(redis_client)
    start = 1_748_775_600_000
    # 10 closed bars, then the current bar revised 12 times (fullon_cache appends each one).
    closed = [[start + i * MINUTE_MS, 100.0 + i, 101.0, 99.0, 100.5 + i, 1.0] for i in range(10)]
    await writer.update_ohlcv_bars("BTC/USDT", "1m", closed)
    current = start + 10 * MINUTE_MS
    for revision in range(12):
        await writer.update_ohlcv_bars(
            "BTC/USDT", "1m", [[current, 110.0, 111.0, 109.0, 110.0 + revision, float(revision)]]
        )
    reader = CacheReader(aioredis.Redis.from_url(redis_url))
    try:
        bars = (await reader.ohlcv.latest("BTC/USDT", "1m", 3)).items
        assert [bar.timestamp.timestamp() * 1000 for bar in bars] == [
            start + 8 * MINUTE_MS,
            start + 9 * MINUTE_MS,
            current,
        ]
        assert bars[-1].close == 121.0  # the last revision wins
        # Asking for more than exist returns what exists, deduplicated.
        everything = (await reader.ohlcv.latest("BTC/USDT", "1m", 100)).items
        assert len(everything) == 11
        assert await redis_client.llen("ohlcv:BTC/USDT:1m") == 22  # read, never trimmed
    finally:
        await reader.close()
