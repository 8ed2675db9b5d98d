"""The lean read path (``cache/resp.py``): the query client's routed read commands on
connections of its own, below redis-py's command path.

Against real redis-servers: the same results as redis-py for every routed command, order
kept under many concurrent commands, a killed Redis failing every pending read as
CACHE_UNAVAILABLE (and the next read after the restart working), a paused Redis timing
reads out within the socket timeout, AUTH and the database from the URL, the
read-only ACL user, and health checks as redis-py's pool does them: a connection dropped
silently while idle (through a loopback proxy that black-holes it) replaced after one
short PING instead of a socket timeout, a busy connection never pinged, a burst after
idle waiting for one PING, and a connection Redis closed never picked again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fullon_cache_api.cache.connection import (
    _LEAN,
    _PIPELINED,
    AutoPipelinedRedis,
    create_redis,
)
from fullon_cache_api.cache.resp import HEALTH_CHECK_TIMEOUT, LeanReads, RespProtocol
from fullon_cache_api.cache.tickers import TickerReader
from fullon_cache_api.embedded_redis import create_readonly_user
from fullon_cache_api.errors import CacheUnavailable
from fullon_cache_api.simulator import CacheWriter
from support.live import tick
from support.private_redis import private_redis
from support.server import make_settings
from support.tcp_proxy import LoopbackProxy

BINARY = bytes(range(256)) * 3  # not UTF-8
LARGE = b"\xff\x00" * 400_000  # 800 KB: several socket reads


async def _seed(client: Redis) -> None:
    await client.set("s:bin", BINARY)
    await client.set("s:large", LARGE)
    await client.set("s:text", "héllo")
    await client.hset("h", mapping={"a": "1", "b": BINARY, "\xe9": "x"})
    await client.hset("h:large", mapping={"big": LARGE, "small": "1"})
    await client.rpush("l", "x", BINARY, "z")
    await client.sadd("set", "m1", BINARY)
    await client.zadd("z", {"q": 1.5, "r": 2, "s": -3})


Call = Callable[[Redis], Awaitable[Any]]

# Every routed command, on present, missing and wrong-type keys.
CALLS: dict[str, list[Call]] = {
    "GET": [lambda c: c.get("s:bin"), lambda c: c.get("s:large"), lambda c: c.get("none")],
    "MGET": [lambda c: c.mget(["s:text", "none", "s:bin", "h"])],
    "EXISTS": [lambda c: c.exists("h", "none", "s:bin"), lambda c: c.exists("none")],
    "TYPE": [lambda c: c.type("h"), lambda c: c.type("z"), lambda c: c.type("none")],
    "HGET": [
        lambda c: c.hget("h", "b"),
        lambda c: c.hget("h", "none"),
        lambda c: c.hget("none", "a"),
        lambda c: c.hget("l", "a"),
        lambda c: c.hget("h:large", "big"),
    ],
    "HMGET": [lambda c: c.hmget("h", ["a", "none", "b"]), lambda c: c.hmget("s:bin", ["a"])],
    "HGETALL": [
        lambda c: c.hgetall("h"),
        lambda c: c.hgetall("none"),
        lambda c: c.hgetall("l"),
        lambda c: c.hgetall("h:large"),
    ],
    "HEXISTS": [lambda c: c.hexists("h", "a"), lambda c: c.hexists("h", "none")],
    "HLEN": [lambda c: c.hlen("h"), lambda c: c.hlen("none"), lambda c: c.hlen("s:bin")],
    "HKEYS": [lambda c: c.hkeys("h"), lambda c: c.hkeys("none")],
    "LLEN": [lambda c: c.llen("l"), lambda c: c.llen("h")],
    "LINDEX": [lambda c: c.lindex("l", 1), lambda c: c.lindex("l", 9)],
    "LRANGE": [lambda c: c.lrange("l", 0, -1), lambda c: c.lrange("none", 0, 5)],
    "SMEMBERS": [lambda c: c.smembers("set"), lambda c: c.smembers("none")],
    "SCARD": [lambda c: c.scard("set"), lambda c: c.scard("h")],
    "ZCARD": [lambda c: c.zcard("z"), lambda c: c.zcard("none")],
    "ZRANGE": [
        lambda c: c.zrange("z", 0, -1),
        lambda c: c.zrange("z", 0, -1, withscores=True),
        lambda c: c.zrange("z", 0, 1, desc=True, withscores=True),
        lambda c: c.zrange("h", 0, -1),
    ],
}


async def _outcome(call: Call, client: Redis) -> Any:
    try:
        return ("ok", await call(client))
    except ResponseError as error:
        return ("error", type(error), str(error))


@pytest_asyncio.fixture
async def plain(redis_url: str) -> AsyncIterator[Redis]:
    """redis-py's own client, replies as bytes (what the query client's reads expect)."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest_asyncio.fixture
async def lean(redis_url: str, plain: Redis) -> AsyncIterator[AutoPipelinedRedis]:
    await _seed(plain)
    client = create_redis(make_settings(redis_url))
    assert isinstance(client, AutoPipelinedRedis) and client.lean is not None
    try:
        yield client
    finally:
        await client.aclose()


async def test_every_routed_command_gives_what_redis_py_gives(
    lean: AutoPipelinedRedis, plain: Redis
) -> None:
    assert set(CALLS) == set(_PIPELINED)
    assert _LEAN <= _PIPELINED
    assert lean.lean is not None
    for name, calls in CALLS.items():
        for n, call in enumerate(calls):
            expected = await _outcome(call, plain)
            got = await _outcome(call, lean)
            assert got == expected, (name, n)
            assert type(got[1]) is type(expected[1]), (name, n)
        # and again, all of them in one turn (one write)
        together = await asyncio.gather(*(_outcome(call, lean) for call in calls))
        assert together == [await _outcome(call, plain) for call in calls], name
    assert lean.lean.opened == 1  # every read above on the lean path's connection
    assert len(lean.connection_pool._in_use_connections) == 0


async def test_a_huge_reply_delays_only_its_own_read(
    lean: AutoPipelinedRedis, plain: Redis
) -> None:
    """Replies on a lean connection come back in order, so a read whose reply can be a whole
    hash (HGETALL of a huge, perhaps hostile, key) stays off it: the small reads sent just
    after it answer while it is still arriving."""
    chunk = b"x" * 256 * 1024
    for start in range(0, 160, 40):  # 160 fields of 256 KB: a 40 MB reply
        await plain.hset("h:huge", mapping={f"f{n}": chunk for n in range(start, start + 40)})
    assert lean.lean is not None
    await lean.hget("h", "a")  # the lean connection is open
    order: list[str] = []

    async def read(name: str, call: Awaitable[Any]) -> Any:
        result = await call
        order.append(name)
        return result

    huge = asyncio.create_task(read("hgetall", lean.hgetall("h:huge")))
    await asyncio.sleep(0)  # its command is on its way
    small = await asyncio.gather(*(read(f"hget{n}", lean.hget("h", "a")) for n in range(5)))
    assert small == [b"1"] * 5
    everything = await huge
    assert len(everything) == 160
    assert order[-1] == "hgetall", order  # every small read answered before it
    assert lean.lean.opened == 1 and lean.lean.pending == 0


async def test_many_concurrent_reads_keep_their_order(
    lean: AutoPipelinedRedis, plain: Redis
) -> None:
    await plain.mset({f"n:{n}": str(n) for n in range(3000)})
    lean_reads = lean.lean
    assert lean_reads is not None
    lean_reads.max_pending = 500  # beyond it: a second connection, then waiting for room
    replies = await asyncio.gather(*(lean.get(f"n:{n}") for n in range(3000)))
    assert replies == [str(n).encode() for n in range(3000)]
    assert lean_reads.opened == 2
    mixed = await asyncio.gather(
        *(lean.hget("h", "a") if n % 3 else lean.get(f"n:{n}") for n in range(900))
    )
    assert mixed == [b"1" if n % 3 else str(n).encode() for n in range(900)]
    assert lean_reads.pending == 0


async def _tickers(url: str) -> TickerReader:
    writer = CacheWriter(Redis.from_url(url))
    try:
        for n in range(8):
            await writer.set_ticker(tick(100.0 + n, symbol=f"S{n}/USDT"))
    finally:
        await writer.redis.aclose()
    return TickerReader(create_redis(make_settings(url, redis_socket_timeout=0.5)))


async def test_redis_killed_mid_flight_fails_every_pending_read_then_reads_again() -> None:
    async with private_redis() as server:
        reader = await _tickers(server.url)
        client = reader.redis
        assert isinstance(client, AutoPipelinedRedis) and client.lean is not None
        try:
            assert await reader.get("binance", "S0/USDT") is not None  # connected
            server.pause()  # the reads below wait, written: then Redis dies under them
            reads = [
                asyncio.create_task(reader.get("binance", f"S{n % 8}/USDT")) for n in range(40)
            ]
            await asyncio.sleep(0.05)
            assert client.lean.pending == 40
            started = time.monotonic()
            await asyncio.to_thread(server.kill)
            results = await asyncio.wait_for(asyncio.gather(*reads, return_exceptions=True), 10)
            assert time.monotonic() - started < 0.5  # failed by the loss, not a timeout
            assert all(isinstance(result, CacheUnavailable) for result in results), results
            with pytest.raises(CacheUnavailable):  # down: fails within the connect timeout
                await asyncio.wait_for(reader.get("binance", "S1/USDT"), 30)
            await asyncio.to_thread(server.start)
            await _tickers(server.url)  # the data went with the process
            record = await reader.get("binance", "S1/USDT")
            assert record is not None and record.symbol == "S1/USDT"
        finally:
            await client.aclose()


async def test_redis_paused_times_reads_out_within_the_socket_timeout() -> None:
    async with private_redis() as server:
        reader = await _tickers(server.url)
        client = reader.redis
        assert isinstance(client, AutoPipelinedRedis) and client.lean is not None
        try:
            assert await reader.get("binance", "S0/USDT") is not None
            server.pause()
            try:
                started = time.monotonic()
                first = asyncio.create_task(reader.get("binance", "S0/USDT"))
                await asyncio.sleep(0.2)
                later = [asyncio.create_task(reader.get("binance", f"S{n}/USDT")) for n in range(8)]
                results = await asyncio.wait_for(
                    asyncio.gather(first, *later, return_exceptions=True), 10
                )
                elapsed = time.monotonic() - started
            finally:
                server.resume()
            # The oldest read times out at 0.5 s and takes its connection (and the later
            # reads on it) down with it: nothing waits longer than the socket timeout.
            assert all(isinstance(result, CacheUnavailable) for result in results), results
            assert 0.45 < elapsed < 1.5, elapsed
            again = await asyncio.gather(*(reader.get("binance", f"S{n}/USDT") for n in range(8)))
            assert [record.symbol for record in again if record] == [f"S{n}/USDT" for n in range(8)]
        finally:
            await client.aclose()


async def test_auth_and_database_from_the_url() -> None:
    async with private_redis() as server:
        setup = Redis.from_url(server.url)
        await setup.config_set("requirepass", "s3cret")  # its start-up PING needs none
        await setup.aclose()
        url = f"redis://:s3cret@{server.host}:{server.port}/5"
        admin = Redis.from_url(url)
        try:
            await admin.set("where", "db5")
            client = create_redis(make_settings(url))
            assert isinstance(client, AutoPipelinedRedis) and client.lean is not None
            try:
                assert await client.get("where") == b"db5"
                assert client.lean.opened == 1
                names = await admin.client_list()
                assert any(entry["name"] == "fullon_cache_api" for entry in names)
            finally:
                await client.aclose()
            wrong = create_redis(make_settings(f"redis://:nope@{server.host}:{server.port}/5"))
            try:
                with pytest.raises(AuthenticationError):
                    await wrong.get("where")
            finally:
                await wrong.aclose()
        finally:
            await admin.aclose()


async def test_the_read_only_acl_user_reads_on_the_lean_path(redis_url: str, plain: Redis) -> None:
    await _seed(plain)
    url = await asyncio.to_thread(create_readonly_user, redis_url, "fca_resp_ro", "ro-pass")
    client = create_redis(make_settings(url))
    assert isinstance(client, AutoPipelinedRedis) and client.lean is not None
    try:
        for calls in CALLS.values():
            for call in calls:
                assert await _outcome(call, client) == await _outcome(call, plain)
        assert client.lean.opened == 1
    finally:
        await client.aclose()
        await plain.execute_command("ACL", "DELUSER", "fca_resp_ro")


async def test_a_cancelled_read_leaves_the_others(lean: AutoPipelinedRedis) -> None:
    reads = [asyncio.create_task(lean.hget("h", "a")) for _ in range(20)]
    await asyncio.sleep(0)  # all sent (one written, the rest queued for the next turn)
    reads[0].cancel()
    reads[7].cancel()
    done = await asyncio.gather(*reads, return_exceptions=True)
    assert isinstance(done[0], asyncio.CancelledError)
    assert isinstance(done[7], asyncio.CancelledError)
    assert [d for n, d in enumerate(done) if n not in (0, 7)] == [b"1"] * 18
    assert lean.lean is not None and lean.lean.pending == 0
    assert await lean.hget("h", "a") == b"1"  # the replies stayed matched


async def test_a_unix_socket_url(tmp_path: Any) -> None:
    socket_path = tmp_path / "redis.sock"
    async with private_redis("--unixsocket", str(socket_path), "--unixsocketperm", "700") as server:
        admin = Redis.from_url(server.url)
        await admin.set("k", b"\xffv")
        await admin.aclose()
        client = create_redis(make_settings(f"unix://{socket_path}?db=0"))
        assert isinstance(client, AutoPipelinedRedis) and client.lean is not None
        try:
            assert await asyncio.gather(client.get("k"), client.get("none")) == [b"\xffv", None]
            assert client.lean.opened == 1
        finally:
            await client.aclose()


async def test_what_the_lean_path_cannot_serve_stays_on_redis_py(
    redis_url: str, plain: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    await plain.set("k", "v")
    # RESP3 replies: never taken over.
    resp3 = create_redis(make_settings(f"{redis_url}?protocol=3"))
    assert isinstance(resp3, AutoPipelinedRedis) and resp3.lean is None
    try:
        assert await resp3.get("k") == b"v"
    finally:
        await resp3.aclose()
    # A transport that cannot change protocol: every read of the moment falls back.
    client = create_redis(make_settings(redis_url))
    assert isinstance(client, AutoPipelinedRedis) and client.lean is not None

    address = urlsplit(redis_url)
    _, writer = await asyncio.open_connection(address.hostname, address.port)
    transport_class = type(writer.transport)  # what this loop's TCP connections use
    writer.close()
    await writer.wait_closed()
    original = transport_class.set_protocol

    def refuse(self: Any, protocol: Any) -> None:
        if isinstance(protocol, RespProtocol):  # only the lean path's take-over
            raise NotImplementedError
        original(self, protocol)

    monkeypatch.setattr(transport_class, "set_protocol", refuse)
    try:
        assert await asyncio.gather(*(client.get("k") for _ in range(5))) == [b"v"] * 5
        assert client.lean is None
        assert await client.get("k") == b"v"
    finally:
        await client.aclose()


# Health checks ---------------------------------------------------------------------------


def _checked_client(url: str, interval: float, **settings: Any) -> AutoPipelinedRedis:
    """The product's query client, its pool's ``health_check_interval`` set to
    ``interval`` seconds (30 in the product) before any connection opens."""
    client = create_redis(make_settings(url, **settings))
    assert isinstance(client, AutoPipelinedRedis) and client.lean is not None
    client.connection_pool.connection_kwargs["health_check_interval"] = interval
    return client


def _lean(client: AutoPipelinedRedis) -> LeanReads:
    assert client.lean is not None
    return client.lean


async def _pings(admin: Redis) -> int:
    """PINGs this Redis has run (``INFO commandstats``)."""
    stats = await admin.info("commandstats")
    return int(stats.get("cmdstat_ping", {}).get("calls", 0))


async def test_a_connection_dropped_silently_while_idle_is_replaced_after_one_short_check() -> None:
    async with private_redis() as server, LoopbackProxy(server.host, server.port) as proxy:
        admin = Redis.from_url(server.url)
        await admin.set("k", "v")
        checked = _checked_client(proxy.url, 0.3, redis_socket_timeout=3.0)
        # The same client without health checks: what a silent drop cost before.
        unchecked = _checked_client(proxy.url, 0, redis_socket_timeout=1.0)
        try:
            assert await checked.get("k") == b"v"
            assert await unchecked.get("k") == b"v"
            pings = await _pings(admin)
            proxy.black_hole()
            await asyncio.sleep(0.4)  # idle past the interval (the state under test)

            started = time.monotonic()
            with pytest.raises(RedisTimeoutError):
                await asyncio.wait_for(unchecked.get("k"), 5)
            assert time.monotonic() - started >= 0.95  # the whole socket timeout

            started = time.monotonic()
            replies = await asyncio.wait_for(
                asyncio.gather(*(checked.get("k") for _ in range(20))), 5
            )
            elapsed = time.monotonic() - started
            assert replies == [b"v"] * 20
            # One PING into the void, HEALTH_CHECK_TIMEOUT (1 s), a fresh connection: well
            # under the socket timeout (3 s) the reads would otherwise have waited.
            assert HEALTH_CHECK_TIMEOUT - 0.05 < elapsed < 1.8, elapsed
            lean = _lean(checked)
            assert lean.opened == 2 and lean.pending == 0
            # The check's PING never reached Redis; the one counted is redis-py's own, sent
            # as it connects the fresh connection (it does so whenever the interval is set).
            assert await _pings(admin) == pings + 1
            assert await checked.hget("none", "a") is None  # and it stays in use
            assert lean.opened == 2
        finally:
            await checked.aclose()
            await unchecked.aclose()
            await admin.aclose()


async def test_a_busy_connection_is_never_pinged() -> None:
    async with private_redis() as server:
        admin = Redis.from_url(server.url)
        await admin.set("k", "v")
        client = _checked_client(server.url, 0.3)
        try:
            assert await client.get("k") == b"v"
            pings = await _pings(admin)
            reads = 0
            deadline = time.monotonic() + 1.5  # five intervals of reads, one after another
            while time.monotonic() < deadline:
                assert await client.get("k") == b"v"
                assert (
                    await asyncio.gather(*(client.hget("none", "a") for _ in range(5)))
                    == [None] * 5
                )
                reads += 6
            assert reads > 100
            assert await _pings(admin) == pings
            assert _lean(client).opened == 1
        finally:
            await client.aclose()
            await admin.aclose()


async def test_reads_after_idle_wait_for_one_check_and_all_succeed() -> None:
    async with private_redis() as server:
        admin = Redis.from_url(server.url)
        await admin.mset({f"n:{n}": str(n) for n in range(300)})
        client = _checked_client(server.url, 0.3)
        lean = _lean(client)
        try:
            assert await client.get("n:0") == b"0"
            for _ in range(2):
                pings = await _pings(admin)
                await asyncio.sleep(0.4)  # idle past the interval (the state under test)
                replies = await asyncio.gather(*(client.get(f"n:{n}") for n in range(300)))
                assert replies == [str(n).encode() for n in range(300)]
                assert await _pings(admin) == pings + 1  # one check for all 300
                assert lean.opened == 1 and lean.pending == 0
            # Two connections (at most 100 reads wait on each), both idle: one check each.
            lean.max_pending = 100
            assert len(await asyncio.gather(*(client.get(f"n:{n}") for n in range(300)))) == 300
            assert lean.opened == 2
            pings = await _pings(admin)
            await asyncio.sleep(0.4)
            replies = await asyncio.gather(*(client.get(f"n:{n}") for n in range(300)))
            assert replies == [str(n).encode() for n in range(300)]
            assert await _pings(admin) == pings + 2
            assert lean.opened == 2 and lean.pending == 0
        finally:
            await client.aclose()
            await admin.aclose()


async def test_a_connection_redis_closed_is_never_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    async with private_redis() as server:
        admin = Redis.from_url(server.url)
        await admin.set("k", "v")
        client = _checked_client(server.url, 30)
        lean = _lean(client)
        dropped = asyncio.Event()
        lost = lean._lost

        def told(connection: RespProtocol) -> None:
            lost(connection)
            dropped.set()

        monkeypatch.setattr(lean, "_lost", told)
        try:
            assert await client.get("k") == b"v"
            (entry,) = [e for e in await admin.client_list() if e["name"] == "fullon_cache_api"]
            assert await admin.client_kill_filter(_id=entry["id"]) == 1
            await asyncio.wait_for(dropped.wait(), 5)  # the FIN arrives: dropped
            assert not lean._connections
            assert await asyncio.gather(*(client.get("k") for _ in range(10))) == [b"v"] * 10
            assert lean.opened == 2 and lean.pending == 0
        finally:
            await client.aclose()
            await admin.aclose()
