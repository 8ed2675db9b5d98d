"""Execute once, fan out to many: throttling per subscriber, many subscribers on one upstream
subscription, and a clean slate after thousands of subscribe/complete cycles.

Everything runs against the real app in uvicorn and a private redis-server; Redis itself is
asked how many subscriptions the server holds (``PUBSUB NUMSUB``/``NUMPAT``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from support.live import LiveClient, LiveEnv, live_env, task_kinds, tick, wait_until

JSONDict = dict[str, Any]

CHANNEL = "ticker_updates:binance:BTC/USDT"
TICKER = """
subscription T($minIntervalMs: Int) {
  ticker(exchange: "binance", symbol: "BTC/USDT", minIntervalMs: $minIntervalMs) { price }
}
"""
TICKERS = """
subscription Ts($minIntervalMs: Int) {
  tickers(exchange: "binance", symbols: ["BTC/USDT"], minIntervalMs: $minIntervalMs) {
    kind items { price }
  }
}
"""


@pytest_asyncio.fixture(scope="module")
async def env() -> AsyncIterator[LiveEnv]:
    async with live_env("keyspace") as live:
        yield live


@pytest_asyncio.fixture
async def live(env: LiveEnv) -> AsyncIterator[LiveEnv]:
    await env.reset()
    yield env
    await env.wait_idle()


# --------------------------------------------------------------------------- throttling


async def test_min_interval_throttles_one_subscriber_only(live: LiveEnv) -> None:
    """Keyed stream: the unthrottled subscriber gets every UPSERT of a burst, in order; the
    throttled one (same topic, its own group) gets fewer, ending with the latest value."""
    n = 30
    await live.writer.set_ticker(tick(0.0))
    async with live.client() as fast, live.client() as slow:
        await fast.subscribe("f", TICKERS)
        await slow.subscribe("s", TICKERS, {"minIntervalMs": 400})
        for client, op_id in ((fast, "f"), (slow, "s")):
            first = await client.data(op_id)
            assert first == {"kind": "SNAPSHOT", "items": [{"price": 0.0}]}
        assert len(live.runner.groups) == 2
        assert list(live.hub.topics) == [("tickers", "binance")]

        for i in range(1, n + 1):
            await live.writer.set_ticker(tick(float(i)))

        fast_prices = []
        for _ in range(n):
            value = await fast.data("f")
            assert value["kind"] == "UPSERT", value
            fast_prices.extend(item["price"] for item in value["items"])
        assert fast_prices == [float(i) for i in range(1, n + 1)]

        slow_prices: list[float] = []
        while not slow_prices or slow_prices[-1] != float(n):
            value = await slow.data("s")
            assert value["kind"] == "UPSERT", value
            assert len(value["items"]) == 1, value
            slow_prices.append(value["items"][0]["price"])
        assert 1 <= len(slow_prices) < n
        assert slow_prices == sorted(set(slow_prices))  # increasing: no repeat, no reorder
        # Nothing more is coming for the throttled one: the next tick is its next event.
        await live.writer.set_ticker(tick(n + 1.0))
        value = await slow.data("s")
        assert value["items"] == [{"price": n + 1.0}]
        assert (await fast.data("f"))["items"] == [{"price": n + 1.0}]


async def test_min_interval_on_a_latest_value_stream(live: LiveEnv) -> None:
    """``ticker``: one subscriber throttled to 300 ms, another not, same connection. The
    unthrottled one sees each tick (the publisher waits for it); the throttled one sees
    fewer and its last event is the latest price."""
    n = 20
    await live.writer.set_ticker(tick(0.0))
    async with live.client() as client:
        await client.subscribe("all", TICKER)
        await client.subscribe("few", TICKER, {"minIntervalMs": 300})
        assert await client.data("all") == {"price": 0.0}
        assert await client.data("few") == {"price": 0.0}
        for i in range(1, n + 1):
            await live.writer.set_ticker(tick(float(i)))
            assert await client.data("all") == {"price": float(i)}
        few: list[float] = []
        while not few or few[-1] != float(n):
            few.append((await client.data("few"))["price"])
        assert len(few) < n
        assert few == sorted(set(few))
        assert client.pending("all") == 0


# --------------------------------------------------------------------------- many


async def test_idle_subscriptions_hold_no_task_of_their_topic_or_group(live: LiveEnv) -> None:
    """100 subscriptions, each on a ticker of its own (its own topic, Redis channel and
    delivery group), plus a keyed stream re-read on keyspace notifications: while idle,
    each holds one task (its operation's), not a topic reader and a group pump as well.
    A change still arrives on every kind of topic (the reader and the pump start when
    there is something to do), and they end again once it has gone out."""
    n = 100
    for i in range(n):
        await live.writer.set_ticker(tick(1.0, symbol=f"T{i}/USDT"))
    await live.writer.update_bot(1, {"status": "running"})
    ticker = 'subscription {{ ticker(exchange: "binance", symbol: "T{i}/USDT") {{ price }} }}'
    bots = "subscription { bots { kind items { botId status } } }"
    async with live.client() as client, live.client() as other:
        before = set(asyncio.all_tasks())
        for i in range(n):
            await client.subscribe(f"t{i}", ticker.format(i=i))
        await other.subscribe("b", bots)
        for i in range(n):
            assert await client.data(f"t{i}") == {"price": 1.0}
        assert await other.data("b") == {
            "kind": "SNAPSHOT",
            "items": [{"botId": "1", "status": "running"}],
        }
        assert len(live.hub.topics) == n + 1
        assert len(live.runner.groups) == n + 1

        def new_tasks() -> dict[str, int]:
            kinds = task_kinds(set(asyncio.all_tasks()) - before)
            kinds.pop("RedisFeed._run", None)  # the one shared upstream feed
            return kinds

        await wait_until(
            lambda: new_tasks() == {"run_operation": n + 1}, message="one task per subscription"
        )
        # The keyed topic's timer (its safety re-read, with keyspace notifications) is a
        # timer handle of the loop, not a task.
        assert live.hub.poller_count == 1

        await live.writer.set_ticker(tick(2.0, symbol="T7/USDT"))
        assert await client.data("t7") == {"price": 2.0}
        await live.writer.set_ticker(tick(3.0, symbol=f"T{n - 1}/USDT"))
        assert await client.data(f"t{n - 1}") == {"price": 3.0}
        await live.writer.update_bot(2, {"status": "starting"})
        assert await other.data("b") == {
            "kind": "UPSERT",
            "items": [{"botId": "2", "status": "starting"}],
        }
        await wait_until(lambda: new_tasks() == {"run_operation": n + 1}, message="idle again")
        assert client.pending("t0") == 0


async def test_a_subscriber_leaving_while_its_group_opens_leaves_the_others() -> None:
    """Two subscriptions of one group, on two connections, while the group waits for its
    first read (the server's only Redis connection is busy): the first is completed by
    its client meanwhile; the opening goes on, and the second gets its snapshot."""
    async with live_env("keyspace", redis_max_connections=1) as live:
        await live.writer.set_ticker(tick(5.0))
        busy = asyncio.create_task(live.services.cache.redis.blpop(["nothing"], 0.5))
        await asyncio.sleep(0.05)  # it holds the pool's only connection
        async with live.client() as first, live.client() as second:
            await first.subscribe("a", TICKER)
            await second.subscribe("b", TICKER)
            await wait_until(
                lambda: live.runner.groups and next(iter(live.runner.groups.values())).pending == 2,
                message="both waiting for the group",
            )
            group = next(iter(live.runner.groups.values()))
            assert not group.opened.done()
            await first.complete("a")
            await wait_until(lambda: group.pending == 1, message="the first gone")
            assert not group.opened.cancelled()
            assert await busy is None
            assert await second.data("b") == {"price": 5.0}
            assert live.runner.member_count == 1
            assert first.pending("a") == 0


async def test_200_subscribers_share_one_upstream_subscription(live: LiveEnv) -> None:
    connections, per_connection, ticks = 10, 20, 20
    await live.writer.set_ticker(tick(0.0))
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(live.client()) for _ in range(connections)]
        for client in clients:
            for j in range(per_connection):
                await client.subscribe(f"s{j}", TICKER)

        async def first(client: LiveClient) -> None:
            for j in range(per_connection):
                assert await client.data(f"s{j}") == {"price": 0.0}

        await asyncio.gather(*(first(client) for client in clients))

        assert await live.numsub(CHANNEL) == 1
        assert live.hub.feed.channels == [CHANNEL]
        assert len(live.runner.groups) == 1
        assert live.runner.member_count == connections * per_connection
        assert len(live.hub.topics) == 1
        topic = next(iter(live.hub.topics.values()))
        assert len(topic.streams) == 1  # one source stream for the whole group

        # Each tick reaches every subscriber (the next one is published once all have it).
        async def receive(client: LiveClient, price: float) -> None:
            for j in range(per_connection):
                assert await client.data(f"s{j}") == {"price": price}

        group = next(iter(live.runner.groups.values()))
        executed_before = group.events
        for i in range(1, ticks + 1):
            await live.writer.set_ticker(tick(float(i)))
            await asyncio.gather(*(receive(client, float(i)) for client in clients))
        # Executed once per event, not once per subscriber.
        assert group.events - executed_before == ticks

        # A burst: latest-value streams may coalesce, but never repeat or reorder, and
        # every subscriber ends on the latest value.
        for i in range(ticks + 1, 2 * ticks + 1):
            await live.writer.set_ticker(tick(float(i)))

        async def burst(client: LiveClient) -> None:
            for j in range(per_connection):
                seen: list[float] = []
                while not seen or seen[-1] != float(2 * ticks):
                    seen.append((await client.data(f"s{j}"))["price"])
                assert seen == sorted(set(seen)), seen
                assert seen[0] > ticks

        await asyncio.gather(*(burst(client) for client in clients))


# --------------------------------------------------------------------------- live results

LIVE_TICKERS = """
subscription LiveTickers($maxRate: Float) {
  tickers(exchange: "binance", live: FULL, maxRate: $maxRate) { kind items { symbol price } }
}
"""
LIVE_SYMBOLS = [f"L{index}/USDT" for index in range(6)]


def prices(event: JSONDict) -> dict[str, float]:
    return {item["symbol"]: item["price"] for item in event["items"]}


async def test_live_full_results_three_subscribers(live: LiveEnv) -> None:
    """``live: FULL`` on ``tickers``, three subscribers: every event is the whole set (a
    SNAPSHOT), at most ``maxRate`` per second however fast the market moves, and it is
    still one group (executed once per event for all of them) on one Redis subscription."""
    rate = 5.0
    state = {symbol: 100.0 + index for index, symbol in enumerate(LIVE_SYMBOLS)}
    for symbol, price in state.items():
        await live.writer.set_ticker(tick(price, symbol=symbol))
    async with live.client() as a, live.client() as b, live.client() as c:
        clients = [a, b, c]
        for client in clients:
            await client.subscribe("live", LIVE_TICKERS, {"maxRate": rate})
        for client in clients:
            first = await client.data("live")
            assert first["kind"] == "SNAPSHOT" and prices(first) == state, first
        assert len(live.runner.groups) == 1
        (group,) = live.runner.groups.values()
        assert len(group.members) == 3
        assert await live.numpat() == 1 and live.hub.feed.patterns == ["ticker_updates:binance:*"]
        executed = group.events

        # A burst: 2 s of about 100 ticks per second over the six symbols.
        duration = 2.0
        started = time.monotonic()
        step = 0
        while time.monotonic() - started < duration:
            step += 1
            symbol = LIVE_SYMBOLS[step % len(LIVE_SYMBOLS)]
            state[symbol] = 1000.0 + step
            await live.writer.set_ticker(tick(state[symbol], symbol=symbol))
            await asyncio.sleep(0.01)
        assert step > 100

        async def until_final(client: LiveClient) -> list[tuple[float, JSONDict]]:
            seen = []
            while True:
                payload = await client.payload("live")
                event = payload["data"]["tickers"]
                seen.append((time.monotonic(), payload))
                assert event["kind"] == "SNAPSHOT", event
                assert set(prices(event)) == set(LIVE_SYMBOLS), event  # the whole set
                if prices(event) == state:
                    return seen

        received = await asyncio.gather(*(until_final(client) for client in clients))
        # The rate cap: at most one event per 1/maxRate (and one more for the last changes).
        events = len(received[0])
        assert duration * rate / 2 <= events <= duration * rate + 2, events
        assert group.events - executed == events  # once per event for the three
        # The same events, byte for byte the same payloads, for every subscriber.
        assert (
            [p for _, p in received[0]]
            == [p for _, p in received[1]]
            == [p for _, p in received[2]]
        )
        cursors = [payload["extensions"]["seq"] for _, payload in received[0]]
        assert cursors == sorted(set(cursors))
        assert await live.numpat() == 1 and len(live.runner.groups) == 1


async def test_live_full_results_follow_removals_and_resume_with_the_set(live: LiveEnv) -> None:
    """A keyed stream's REMOVE shows as a smaller set; a resuming subscriber gets the set,
    not deltas; ``maxRate`` is checked against LIVE_MAX_RATE."""
    query = "subscription B($r: Float) { bots(live: FULL, maxRate: $r) { kind items { botId } } }"
    for bot_id in ("1", "2", "3"):
        await live.writer.update_bot(bot_id, {"status": "running"})
    async with live.client() as client:
        await client.subscribe("b", query, {"r": 10.0})
        first = await client.payload("b")
        assert first["data"]["bots"]["kind"] == "SNAPSHOT"
        assert [item["botId"] for item in first["data"]["bots"]["items"]] == ["1", "2", "3"]
        await live.writer.del_bot("2")
        event = await client.data("b")
        assert event == {"kind": "SNAPSHOT", "items": [{"botId": "1"}, {"botId": "3"}]}
        await live.writer.update_bot("4", {"status": "opening"})
        event = await client.data("b")
        assert [item["botId"] for item in event["items"]] == ["1", "3", "4"]

        # Resuming from the first cursor: the current set, not the changes since.
        extensions = {"resumeAfter": first["extensions"]["cursor"]}
        await client.subscribe("r", query, {"r": 10.0}, extensions=extensions)
        assert await client.data("r") == event

        # maxRate: above 0, at most LIVE_MAX_RATE (10 by default).
        for bad in (0.0, -1.0, 10.5):
            await client.subscribe(f"x{bad}", query, {"r": bad})
            refused = await client.message(f"x{bad}")
            assert refused["type"] == "error", refused
            assert refused["payload"][0]["extensions"] == {
                "code": "INVALID_ARGUMENT",
                "argument": "maxRate",
            }


# --------------------------------------------------------------------------- cycles

CYCLE_DOCUMENTS: list[tuple[str, JSONDict | None]] = [
    (TICKER, None),
    (TICKER, {"minIntervalMs": 50}),
    (TICKERS, None),
    ('subscription { ticker(exchange: "kraken", symbol: "ETH/USD") { price } }', None),
    ("subscription { tickers { kind } }", None),
    ("subscription { bots { kind items { botId } } }", None),
    ('subscription { orders(exchange: "binance") { kind } }', None),
    ('subscription { trades(exchange: "binance", symbol: "BTC/USDT") { kind } }', None),
    ('subscription { processBroadcasts(type: "tick") { message } }', None),
    ('subscription { openOrderQueue(localOid: "L1") }', None),
    ("subscription { systemHealth { healthy } }", None),
    ('subscription { ohlcv(symbol: "BTC/USDT", timeframe: "1m", count: 5) { kind } }', None),
]
STATELESS = {8}  # processBroadcasts: no first message to wait for


async def _tasks_settled(baseline: int) -> bool:
    return len(asyncio.all_tasks()) <= baseline


@pytest.mark.parametrize("mode", ["keyspace", "poll"])
async def test_thousand_cycles_leave_nothing_behind(mode: str) -> None:
    async with live_env(mode) as live:
        await live.writer.set_ticker(tick(1.0))
        # Warm up (the feed's reader task lives as long as the server), then take the
        # baseline of running tasks.
        async with live.client() as client:
            await client.subscribe("w", TICKER)
            await client.data("w")
        await live.wait_idle()
        baseline = len(asyncio.all_tasks())

        rng = random.Random(1234)
        counter = itertools.count()

        async def cycles(client: LiveClient, count: int) -> None:
            for _ in range(count):
                index = rng.randrange(len(CYCLE_DOCUMENTS))
                query, variables = CYCLE_DOCUMENTS[index]
                op_id = f"c{next(counter)}"
                await client.subscribe(op_id, query, variables)
                if index not in STATELESS and rng.random() < 0.6:
                    message = await client.message(op_id)
                    assert message["type"] == "next", message
                await client.complete(op_id)

        async with contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(live.client()) for _ in range(10)]
            await asyncio.gather(*(cycles(client, 100) for client in clients))
            # Ticks keep flowing while streams open and close.
            await live.writer.set_ticker(tick(2.0))

        # Abrupt disconnects: TCP connections dropped mid-subscription, without a close
        # frame, some while their subscriptions are still opening.
        for round_ in range(5):
            async with live.client() as client:
                for index, (query, variables) in enumerate(CYCLE_DOCUMENTS):
                    await client.subscribe(f"a{index}", query, variables)
                if round_ % 2 == 0:
                    await client.message("a0")
                await live.writer.set_ticker(tick(3.0 + round_))
                transport = client.ws.connection.transport
                transport.abort()

        await live.wait_idle(timeout=10)
        hub = live.hub
        assert hub.topics == {}
        assert hub.poller_count == 0
        assert hub.feed.channels == []
        assert hub.feed.patterns == []
        assert live.runner.groups == {}
        assert live.runner.member_count == 0
        assert live.services.connections == set()
        assert await live.numsub(CHANNEL) == 0
        assert await live.numpat() == 0
        assert await live.our_channels() == []
        await wait_until(
            lambda: _tasks_settled(baseline),
            10,
            f"the running tasks to return to the baseline of {baseline}",
        )
        # Still serving.
        async with live.client() as client:
            await client.subscribe("again", TICKER)
            assert (await client.data("again"))["price"] == 7.0
