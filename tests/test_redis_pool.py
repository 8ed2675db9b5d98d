"""The query pool queues a burst larger than itself instead of failing it.

redis-py's ``ConnectionPool`` fails a command at once when all ``max_connections`` are in
use; :class:`WaitingConnectionPool` makes it wait for a released connection, up to
``REDIS_SOCKET_TIMEOUT``, and only then fails. A caller can also wait for a free
connection before it reads (``wait_free``). Against the session's real redis-server.
"""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from fullon_cache_api.cache import CacheReader, create_redis
from fullon_cache_api.cache.connection import WaitingConnectionPool
from fullon_cache_api.errors import CacheUnavailable
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


async def test_waiting_for_a_free_connection_before_a_read(redis_url: str) -> None:
    """``wait_free`` (what a topic's reader calls before reading): callers queue for a
    free connection without taking it, each woken by a release in turn; one that is
    woken and then reads nothing passes its turn on (``pass_on``), so the others do not
    wait out the timeout."""
    pool = WaitingConnectionPool.from_url(redis_url, max_connections=2, wait_timeout=2.0)
    redis = Redis(connection_pool=pool)
    try:
        assert await pool.wait_free()  # nothing in use: at once
        holders = [asyncio.create_task(redis.blpop([f"none:{n}"], 0.2)) for n in range(2)]
        await asyncio.sleep(0.05)
        order: list[int] = []

        async def read(n: int, *, reads: bool) -> None:
            assert await pool.wait_free()
            try:
                if reads:
                    await redis.get("k")
                order.append(n)
            finally:
                pool.pass_on()

        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(read(n, reads=n % 2 == 0) for n in range(6)), *holders)
        assert sorted(order) == list(range(6))
        assert asyncio.get_running_loop().time() - started < 1.0  # none waited 2 s
        assert len(pool._in_use_connections) == 0
    finally:
        await redis.aclose()


async def test_waiting_for_a_free_connection_gives_up_in_time(redis_url: str) -> None:
    """No connection freed within ``wait_timeout``: False, and ``CacheReader`` reports the
    cache unavailable, as a read that waited in ``get_connection`` would."""
    pool = WaitingConnectionPool.from_url(redis_url, max_connections=1, wait_timeout=0.1)
    redis = Redis(connection_pool=pool)
    try:
        holder = asyncio.create_task(redis.blpop(["never"], 0.6))  # holds the only one
        await asyncio.sleep(0.05)
        assert not await pool.wait_free()
        with pytest.raises(CacheUnavailable):
            await CacheReader(redis).connection_free()

        # Several callers, one timer for all: each gives up at its own deadline.
        loop = asyncio.get_running_loop()

        async def waited(delay: float) -> float:
            await asyncio.sleep(delay)
            started = loop.time()
            assert not await pool.wait_free()
            return loop.time() - started

        waits = await asyncio.gather(*(waited(0.03 * n) for n in range(3)))
        assert all(0.09 <= wait < 0.25 for wait in waits), waits
        assert not pool._waiters
        assert await holder is None
        assert await pool.wait_free()
    finally:
        await redis.aclose()
