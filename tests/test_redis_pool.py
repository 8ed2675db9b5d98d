"""The query pool queues a burst larger than itself instead of failing it, and the query
client pipelines the reads of one event-loop turn (``AutoPipelinedRedis``).

redis-py's ``ConnectionPool`` fails a command at once when all ``max_connections`` are in
use; :class:`WaitingConnectionPool` makes it wait for a released connection, up to
``REDIS_SOCKET_TIMEOUT``, and only then fails. A caller can also wait for a free
connection before it reads (``wait_free``). Against the session's real redis-server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fullon_cache_api.cache import CacheReader, create_redis
from fullon_cache_api.cache import connection as connection_module
from fullon_cache_api.cache.connection import (
    MAX_BATCH,
    AutoPipelinedRedis,
    PromptWriteConnection,
    WaitingConnectionPool,
)
from fullon_cache_api.cache.tickers import TickerReader
from fullon_cache_api.errors import CacheUnavailable, CorruptData
from fullon_cache_api.simulator import CacheWriter
from support.live import tick, wait_until
from support.private_redis import private_redis
from support.server import make_settings
from support.tcp_proxy import LoopbackProxy


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


# ------------------------------------------------------------------ auto-pipelining
# Reads issued in the same turn of the event loop (queries of different connections
# dispatched from one batch of socket reads) share one write and one round trip.

SYMBOLS = [f"C{n}/USDT" for n in range(8)]


@pytest.fixture
def without_lean(monkeypatch: pytest.MonkeyPatch) -> None:
    """The query client with the routed reads on redis-py's path (auto-pipelined), not on
    the lean read path (``cache/resp.py``, tested in ``test_resp_reads.py``): what these
    tests measure is redis-py's path, which a client keeps when the lean one is off."""
    monkeypatch.setattr(connection_module, "LEAN_READS", False)


async def _seed_tickers(url: str) -> None:
    client = Redis.from_url(url, decode_responses=True)
    try:
        writer = CacheWriter(client)
        for n, symbol in enumerate(SYMBOLS):
            await writer.set_ticker(tick(100.0 + n, symbol=symbol))
        await client.set("tickers:notahash", "a string where a hash belongs")
    finally:
        await client.aclose()


async def test_reads_of_one_turn_share_a_round_trip_and_get_their_own_replies(
    redis_url: str, without_lean: None
) -> None:
    await _seed_tickers(redis_url)
    redis = create_redis(make_settings(redis_url))
    try:
        assert isinstance(redis, AutoPipelinedRedis)
        reader = TickerReader(redis)
        assert (await reader.get("binance", SYMBOLS[0])) is not None  # alone: no batch
        assert redis.pipelined_batches == 0

        async def read(symbol: str) -> Any:
            try:
                return await reader.get("binance", symbol)
            except CorruptData as error:
                return error

        # Started in the same turn: one batch, each its own ticker, the bad key its own
        # error, a missing ticker None.
        symbols = [*SYMBOLS, "NONE/USDT"]
        results = await asyncio.gather(
            *(read(symbol) for symbol in symbols),
            read_wrong_type(reader),
        )
        assert redis.pipelined_batches == 1
        assert redis.pipelined_commands == len(symbols) + 1
        for n, symbol in enumerate(SYMBOLS):
            record = results[n]
            assert record is not None and record.symbol == symbol
            assert record.price == 100.0 + n
        assert results[len(SYMBOLS)] is None
        assert isinstance(results[-1], CorruptData)  # WRONGTYPE: that read alone
        assert len(redis.connection_pool._in_use_connections) == 0
    finally:
        await redis.aclose()


async def read_wrong_type(reader: TickerReader) -> Any:
    try:
        return await reader.get("notahash", "X/USDT")
    except CorruptData as error:
        return error


async def test_a_cancelled_read_leaves_the_others_of_its_batch(
    redis_url: str, without_lean: None
) -> None:
    await _seed_tickers(redis_url)
    redis = create_redis(make_settings(redis_url))
    try:
        reader = TickerReader(redis)
        tasks = [asyncio.create_task(reader.get("binance", symbol)) for symbol in SYMBOLS]
        await asyncio.sleep(0)  # every task has queued its read; the first collects
        tasks[0].cancel()  # the one that collects the turn
        tasks[3].cancel()  # one that joined it
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(done[0], asyncio.CancelledError)
        assert isinstance(done[3], asyncio.CancelledError)
        for n in (1, 2, 4, 5, 6, 7):
            record = done[n]
            assert not isinstance(record, BaseException) and record is not None
            assert record.symbol == SYMBOLS[n]
        assert await reader.get("binance", SYMBOLS[0]) is not None
        assert len(redis.connection_pool._in_use_connections) == 0
    finally:
        await redis.aclose()


async def test_redis_stalling_mid_batch_fails_each_read_as_unavailable(without_lean: None) -> None:
    async with private_redis() as server:
        url = f"redis://{server.host}:{server.port}/0"
        await _seed_tickers(url)
        settings = make_settings(url, redis_socket_timeout=0.3, redis_socket_connect_timeout=0.3)
        redis = create_redis(settings)
        try:
            reader = TickerReader(redis)
            assert await reader.get("binance", SYMBOLS[0]) is not None  # connected
            server.pause()  # written, never answered: the batch times out
            try:
                results = await asyncio.wait_for(
                    asyncio.gather(
                        *(reader.get("binance", symbol) for symbol in SYMBOLS),
                        return_exceptions=True,
                    ),
                    30,
                )
            finally:
                server.resume()
            assert redis.pipelined_batches == 1
            assert all(isinstance(result, CacheUnavailable) for result in results), results
            assert reader.stats.unavailable == len(SYMBOLS)
            # Redis is back: the same client reads again, batched or alone.
            again = await asyncio.gather(*(reader.get("binance", s) for s in SYMBOLS))
            assert [record.symbol for record in again if record is not None] == SYMBOLS
        finally:
            await redis.aclose()


async def test_command_writes_keep_their_timeout_when_they_could_wait(without_lean: None) -> None:
    """Small writes into an empty transport buffer go without a timer
    (``PromptWriteConnection``); reads keep ``socket_timeout``, and a write that could
    wait (here 8 MB to a stopped Redis) keeps redis-py's write timeout."""
    async with private_redis() as server:
        url = f"redis://{server.host}:{server.port}/0"
        settings = make_settings(url, redis_socket_timeout=0.3, redis_socket_connect_timeout=0.3)
        redis = create_redis(settings)
        try:
            await redis.set("k", "v")
            connection = await redis.connection_pool.get_connection()
            assert isinstance(connection, PromptWriteConnection)
            assert connection.socket_timeout == 0.3
            await redis.connection_pool.release(connection)
            server.pause()
            try:
                for field in ("small", "x" * 8_000_000):
                    started = asyncio.get_running_loop().time()
                    with pytest.raises((RedisTimeoutError, RedisConnectionError)):
                        await asyncio.wait_for(redis.hget("k", field), 30)
                    assert asyncio.get_running_loop().time() - started < 15
            finally:
                server.resume()
            assert await redis.get("k") == b"v"
            connection = await redis.connection_pool.get_connection()
            assert connection.socket_timeout == 0.3  # never left unset
            await redis.connection_pool.release(connection)
        finally:
            await redis.aclose()


async def test_a_burst_larger_than_a_batch_goes_out_as_several(
    redis_url: str, without_lean: None
) -> None:
    await _seed_tickers(redis_url)
    redis = create_redis(make_settings(redis_url))
    try:
        assert isinstance(redis, AutoPipelinedRedis)
        reader = TickerReader(redis)
        count = 2 * MAX_BATCH + 88
        symbols = [SYMBOLS[n % len(SYMBOLS)] for n in range(count)]
        records = await asyncio.gather(*(reader.get("binance", symbol) for symbol in symbols))
        assert [record.symbol if record else None for record in records] == symbols
        assert redis.pipelined_batches == 3  # MAX_BATCH, MAX_BATCH, then the rest
        assert redis.pipelined_commands == count
    finally:
        await redis.aclose()


def reset_seen(connection: Any) -> bool:
    """The connection's stream holds the reset (an error, not an end of file)."""
    reader = getattr(connection, "_reader", None)
    return reader is None or reader.exception() is not None or reader.at_eof()


async def test_a_read_on_a_reset_pooled_connection_is_sent_again() -> None:
    """A pooled connection reset while idle (RST: its stream holds an error, not an end of
    file, so the pool hands it out as healthy) costs no read: the read that finds it
    broken is sent once more on a fresh connection. A Redis that is down still fails."""
    async with private_redis() as server, LoopbackProxy(server.host, server.port) as proxy:
        writer = Redis(host=server.host, port=server.port)
        await CacheWriter(writer).set_ticker(tick(1.0))
        client = create_redis(make_settings(proxy.url))
        try:
            for round_ in range(3):
                # HGETALL: a multi-value read, on a pooled connection (not the lean path).
                assert await client.hgetall("tickers:binance")
                idle = list(client.connection_pool._available_connections)
                assert idle, "the read's connection went back to the pool"
                proxy.reset()
                await wait_until(
                    lambda idle=idle: all(reset_seen(connection) for connection in idle),
                    message="the reset reaching the idle connections",
                )
                assert await client.hgetall("tickers:binance"), round_
            await asyncio.to_thread(server.stop)
            with pytest.raises(RedisConnectionError):
                await client.hgetall("tickers:binance")
        finally:
            await client.aclose()
            await writer.aclose()
