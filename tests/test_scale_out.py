"""Scale-out: several API instances over one Redis, and an API reading from a replica.

(a) Two instances (same Redis, different ports) behind a trivial client-side round robin:
    both answer queries, both stream the same ticker updates, and each holds exactly one
    upstream pub/sub subscription per channel, however many clients it serves.
(b) A primary and a replica redis-server: an instance pointed at the replica answers with
    data written to the primary and streams changes written to the primary: tickers
    (PUBLISH is replicated) and bots, by polling and by keyspace notifications (a replica
    emits keyspace events for the writes it applies; an expiry on the primary arrives as
    ``del``). The API never connects to the primary.

Nothing sleeps to synchronise: frames are awaited with timeouts, server state is polled
with a deadline, and reads after writes go through ``WAIT`` (the replica has applied them).
"""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio

from fullon_cache_api.embedded_redis import EmbeddedRedis
from fullon_cache_api.simulator import CacheWriter
from support.live import KEYSPACE_ARGS, LiveClient, live_client, tick, wait_until
from support.private_redis import private_redis
from support.server import RunningServer, make_settings, running_server

DB = 1
CHANNEL = "ticker_updates:binance:BTC/USDT"
FEED_CLIENT = "fullon_cache_api:feed"
TICKER_SUB = 'subscription { ticker(exchange: "binance", symbol: "BTC/USDT") { price bid } }'
TICKER_QUERY = '{ exchanges ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'
BOTS_SUB = "subscription { bots { kind items { botId status } } }"
POLL_MS = 50

JSONDict = dict[str, Any]


def db_url(server: EmbeddedRedis) -> str:
    return f"redis://{server.host}:{server.port}/{DB}"


@contextlib.asynccontextmanager
async def client_of(server: EmbeddedRedis) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(db_url(server), decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def numsub(client: redis.asyncio.Redis, channel: str) -> int:
    reply = await client.pubsub_numsub(channel)
    return int(reply[0][1])


async def api_clients(client: redis.asyncio.Redis) -> list[JSONDict]:
    """The connections the API instances opened (they all name themselves)."""
    return [c for c in await client.client_list() if c["name"].startswith("fullon_cache_api")]


class RoundRobin:
    """A trivial client-side load balancer: each request or connection goes to the next
    instance in turn."""

    def __init__(self, servers: list[RunningServer]) -> None:
        self._cycle: Iterator[RunningServer] = itertools.cycle(servers)
        self.picks: Counter[int] = Counter()

    def pick(self) -> RunningServer:
        server = next(self._cycle)
        self.picks[server.port] += 1
        return server


async def next_price(client: LiveClient, op_id: str = "t") -> float | None:
    value = await client.data(op_id)
    return None if value is None else float(value["price"])


# --------------------------------------------------------------------------- (a)


@pytest_asyncio.fixture
async def two_instances() -> AsyncIterator[tuple[EmbeddedRedis, list[RunningServer]]]:
    """A private Redis (so CLIENT LIST and PUBSUB see only these two instances) and two
    API instances on different ports reading it."""
    async with private_redis() as server:
        settings = make_settings(db_url(server))
        async with running_server(settings) as first, running_server(settings) as second:
            assert first.port != second.port
            yield server, [first, second]


async def test_round_robin_queries(
    two_instances: tuple[EmbeddedRedis, list[RunningServer]],
) -> None:
    server, instances = two_instances
    async with client_of(server) as client:
        writer = CacheWriter(client)
        await writer.set_ticker(tick(100.0))
        await writer.set_ticker(tick(7.0, exchange="kraken", symbol="ETH/USD"))
        balancer = RoundRobin(instances)
        answers = [await balancer.pick().graphql(TICKER_QUERY) for _ in range(6)]
    assert set(balancer.picks.values()) == {3}, balancer.picks
    expected = {"data": {"exchanges": ["binance", "kraken"], "ticker": {"price": 100.0}}}
    assert answers == [expected] * 6
    for instance in instances:
        assert (await instance.http.get("/ready")).status_code == 200


async def test_round_robin_streams_share_one_upstream_subscription_per_instance(
    two_instances: tuple[EmbeddedRedis, list[RunningServer]],
) -> None:
    server, instances = two_instances
    balancer = RoundRobin(instances)
    async with contextlib.AsyncExitStack() as stack, client_of(server) as redis_client:
        writer = CacheWriter(redis_client)
        await writer.set_ticker(tick(100.0))

        # One subscriber on each instance: one upstream subscription on each.
        clients = [
            await stack.enter_async_context(live_client(balancer.pick().ws_url)) for _ in range(2)
        ]
        for client in clients:
            await client.subscribe("t", TICKER_SUB)
        assert [await next_price(client) for client in clients] == [100.0] * 2
        assert [len(i.services.connections) for i in instances] == [1, 1]
        assert await numsub(redis_client, CHANNEL) == 2
        for instance in instances:
            assert instance.services.live.feed.channels == [CHANNEL]
        feeds = [c for c in await api_clients(redis_client) if c["name"] == FEED_CLIENT]
        assert [(int(c["sub"]), int(c["psub"])) for c in feeds] == [(1, 0), (1, 0)], feeds

        # A third client (round robin: the first instance again) shares that instance's
        # subscription: still 2 upstream, not 3.
        third = await stack.enter_async_context(live_client(balancer.pick().ws_url))
        await third.subscribe("t", TICKER_SUB)
        assert await next_price(third) == 100.0
        clients.append(third)
        assert [len(i.services.connections) for i in instances] == [2, 1]
        assert await numsub(redis_client, CHANNEL) == 2

        # Every update reaches every client of both instances.
        for price in (101.0, 102.0, 103.0):
            await writer.set_ticker(tick(price))
            assert [await next_price(client) for client in clients] == [price] * 3

        # The last client of an instance gone: its upstream subscription goes too.
        await stack.aclose()

        async def unsubscribed() -> bool:
            return await numsub(redis_client, CHANNEL) == 0

        await wait_until(unsubscribed, 5, "both instances to unsubscribe upstream")


# --------------------------------------------------------------------------- (b)


@pytest.fixture(scope="module")
def replica_pair() -> Iterator[tuple[EmbeddedRedis, EmbeddedRedis]]:
    """A primary (keyspace notifications off) and its replica (on, ``KA``)."""
    primary = EmbeddedRedis()
    primary.start()
    replica = EmbeddedRedis(replica_of=(primary.host, primary.port), extra_args=KEYSPACE_ARGS)
    try:
        replica.start()
        try:
            yield primary, replica
        finally:
            replica.stop()
    finally:
        primary.stop()


@pytest_asyncio.fixture
async def replication(
    replica_pair: tuple[EmbeddedRedis, EmbeddedRedis],
) -> AsyncIterator[tuple[redis.asyncio.Redis, redis.asyncio.Redis]]:
    """Clients of (primary, replica), once the link is up and the database is empty."""
    primary, replica = replica_pair
    async with client_of(primary) as on_primary, client_of(replica) as on_replica:

        async def link_up() -> bool:
            info = await on_replica.info("replication")
            return info.get("role") == "slave" and info.get("master_link_status") == "up"

        await wait_until(link_up, 15, "master_link_status:up on the replica")
        await on_primary.flushdb()
        assert await on_primary.wait(1, 5000) == 1
        assert await on_replica.dbsize() == 0
        yield on_primary, on_replica


async def replicated(primary: redis.asyncio.Redis) -> None:
    """Until the replica has applied every write made so far (``WAIT 1``)."""
    assert await primary.wait(1, 5000) == 1, "the replica did not acknowledge in 5 s"


def replica_settings(replica: EmbeddedRedis, mode: str) -> Any:
    return make_settings(
        db_url(replica),
        keyspace_notifications="auto" if mode == "keyspace" else "off",
        poll_interval_ms=POLL_MS,
    )


async def test_the_replica_is_configured_as_documented(
    replica_pair: tuple[EmbeddedRedis, EmbeddedRedis],
    replication: tuple[redis.asyncio.Redis, redis.asyncio.Redis],
) -> None:
    on_primary, on_replica = replication
    primary_flags = await on_primary.config_get("notify-keyspace-events")
    replica_flags = await on_replica.config_get("notify-keyspace-events")
    assert primary_flags["notify-keyspace-events"] == ""
    assert set(replica_flags["notify-keyspace-events"]) >= set("AK")
    with pytest.raises(redis.ReadOnlyError):
        await on_replica.set("x", "1")


async def test_replica_answers_queries_with_the_primarys_data(
    replica_pair: tuple[EmbeddedRedis, EmbeddedRedis],
    replication: tuple[redis.asyncio.Redis, redis.asyncio.Redis],
) -> None:
    _, replica = replica_pair
    on_primary, on_replica = replication
    writer = CacheWriter(on_primary)
    await writer.set_ticker(tick(100.0))
    await writer.update_bot(3, {"status": "running"})
    await replicated(on_primary)

    async with running_server(replica_settings(replica, "poll")) as api:
        body = await api.graphql(
            '{ exchanges ticker(exchange: "binance", symbol: "BTC/USDT") { price } '
            "bots { botId status } }"
        )
        assert "errors" not in body, body
        assert body["data"] == {
            "exchanges": ["binance"],
            "ticker": {"price": 100.0},
            "bots": [{"botId": "3", "status": "running"}],
        }
        assert (await api.http.get("/ready")).status_code == 200

        # Newer data, once replicated, is what the next query sees.
        await writer.set_ticker(tick(101.0))
        await replicated(on_primary)
        body = await api.graphql(TICKER_QUERY)
        assert body["data"]["ticker"] == {"price": 101.0}

        # The instance only ever talked to the replica.
        assert await api_clients(on_replica)
        assert await api_clients(on_primary) == []


async def test_replica_streams_tickers_published_on_the_primary(
    replica_pair: tuple[EmbeddedRedis, EmbeddedRedis],
    replication: tuple[redis.asyncio.Redis, redis.asyncio.Redis],
) -> None:
    _, replica = replica_pair
    on_primary, on_replica = replication
    writer = CacheWriter(on_primary)
    await writer.set_ticker(tick(100.0))
    await replicated(on_primary)

    async with (
        running_server(replica_settings(replica, "poll")) as api,
        live_client(api.ws_url) as client,
    ):
        await client.subscribe("t", TICKER_SUB)
        assert await next_price(client) == 100.0
        assert await numsub(on_replica, CHANNEL) == 1
        assert await numsub(on_primary, CHANNEL) == 0
        for price in (101.0, 102.0):
            await writer.set_ticker(tick(price))  # PUBLISH on the primary
            assert await client.data("t") == {"price": price, "bid": price - 0.5}


@pytest.mark.parametrize("mode", ["poll", "keyspace"])
async def test_replica_streams_bot_changes_made_on_the_primary(
    mode: str,
    replica_pair: tuple[EmbeddedRedis, EmbeddedRedis],
    replication: tuple[redis.asyncio.Redis, redis.asyncio.Redis],
) -> None:
    _, replica = replica_pair
    on_primary, on_replica = replication
    writer = CacheWriter(on_primary)
    await writer.update_bot(1, {"status": "running"})
    await replicated(on_primary)
    keyspace_channel = f"__keyspace@{DB}__:bot_status"

    async with (
        running_server(replica_settings(replica, mode)) as api,
        live_client(api.ws_url) as client,
    ):
        # Keyspace mode is detected on the replica (CONFIG GET there); the primary has
        # no notifications configured at all.
        assert api.services.live.mode == mode
        await client.subscribe("b", BOTS_SUB)
        assert await client.data("b") == {
            "kind": "SNAPSHOT",
            "items": [{"botId": "1", "status": "running"}],
        }
        # How the change is noticed: a keyspace subscription on the replica, or a poller.
        # (Timers: the poller or, with keyspace events, the slow safety re-read that
        # notices when notifications stop; the reader is a task only while it reads.)
        assert await numsub(on_replica, keyspace_channel) == (1 if mode == "keyspace" else 0)
        assert api.services.live.poller_count == 1

        await writer.update_bot(2, {"status": "starting"})
        assert await client.data("b") == {
            "kind": "UPSERT",
            "items": [{"botId": "2", "status": "starting"}],
        }
        await writer.update_bot(1, {"status": "paused"})
        assert await client.data("b") == {
            "kind": "UPSERT",
            "items": [{"botId": "1", "status": "paused"}],
        }
        # An expiry on the primary: a replica never expires keys itself; the primary's
        # DEL reaches it (as a `del` keyspace event, not `expired`).
        await on_primary.pexpire("bot_status", 100)
        removed = await client.data("b")
        assert removed["kind"] == "REMOVE"
        assert sorted(item["botId"] for item in removed["items"]) == ["1", "2"]
        assert await on_replica.exists("bot_status") == 0
