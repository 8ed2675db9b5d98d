"""The query pool queues a burst larger than itself instead of failing it.

redis-py's ``ConnectionPool`` fails a command at once when all ``max_connections`` are in
use; :class:`WaitingConnectionPool` makes it wait for a released connection, up to
``REDIS_SOCKET_TIMEOUT``, and only then fails. Against the session's real redis-server.
"""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from fullon_cache_api.cache import create_redis
from fullon_cache_api.cache.connection import WaitingConnectionPool
from support.server import make_settings


async def test_a_burst_larger_than_the_pool_waits_for_connections(redis_url: str) -> None:
    redis = create_redis(make_settings(redis_url, redis_max_connections=2))
    try:
        assert isinstance(redis.connection_pool, WaitingConnectionPool)
        await redis.set("k", "v")
        # 8 blocking reads at once on 2 connections: each BLPOP holds its connection.
        replies = await asyncio.gather(*(redis.blpop([f"none:{n}"], 0.02) for n in range(8)))
        assert replies == [None] * 8
        assert await redis.get("k") == b"v"
        in_use = redis.connection_pool._in_use_connections  # what the pool lent out
        assert len(in_use) == 0
    finally:
        await redis.aclose()


async def test_a_command_fails_when_no_connection_is_freed_in_time(redis_url: str) -> None:
    pool = WaitingConnectionPool.from_url(redis_url, max_connections=1, wait_timeout=0.1)
    redis = Redis(connection_pool=pool)
    try:
        holder = asyncio.create_task(redis.blpop(["never"], 0.6))  # holds the only one
        await asyncio.sleep(0.05)
        with pytest.raises(RedisConnectionError):
            await redis.get("k")
        assert await holder is None
        assert await redis.get("k") is None  # the pool works again once it is freed
    finally:
        await redis.aclose()
