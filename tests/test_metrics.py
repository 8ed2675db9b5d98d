"""``/metrics`` moves with what the server does: connect, subscribe, deliver, disconnect."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from fullon_cache_api import __version__
from fullon_cache_api.simulator import CacheWriter
from support.server import RunningServer, make_settings, running_server
from support.ws import raw_ws

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
TRANSPORT = "graphql-transport-ws"
TICKER = 'subscription { ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(server: RunningServer) -> Samples:
    response = await server.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(metrics: Samples, name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


async def wait_for(server: RunningServer, check: Callable[[Samples], bool]) -> Samples:
    deadline = time.monotonic() + 5.0
    while True:
        metrics = await scrape(server)
        if check(metrics):
            return metrics
        if time.monotonic() > deadline:
            raise AssertionError(f"metrics never matched: {metrics}")
        await asyncio.sleep(0.02)


def tick(price: float) -> dict[str, object]:
    return {"symbol": "BTC/USDT", "exchange": "binance", "price": price, "volume": 1.0,
            "time": time.time(), "bid": price - 1, "ask": price + 1, "last": price}  # fmt: skip


async def test_metrics_follow_connections_subscriptions_and_deliveries(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    writer = CacheWriter(redis_client)
    await writer.set_ticker(tick(100.0))
    async with running_server(make_settings(redis_url)) as server:
        before = await scrape(server)
        build = [labels for name, labels in before if name == "fullon_cache_api_build_info"]
        assert len(build) == 1 and ("version", __version__) in build[0]
        assert value(before, "fullon_cache_api_connections", protocol=TRANSPORT) == 0

        # A query is timed under its root field.
        assert (await server.graphql("{ exchanges }"))["data"]["exchanges"] == ["binance"]
        after_query = await scrape(server)
        assert value(after_query, "fullon_cache_api_query_seconds_count", field="exchanges") == 1

        async with raw_ws(server.ws_url) as first, raw_ws(server.ws_url) as second:
            await first.init()
            await second.init()
            for client in (first, second):
                await client.send({"id": "t", "type": "subscribe", "payload": {"query": TICKER}})
                snapshot = await client.recv()
                assert snapshot["payload"]["data"]["ticker"]["price"] == 100.0
            metrics = await scrape(server)
            assert value(metrics, "fullon_cache_api_connections", protocol=TRANSPORT) == 2
            assert value(metrics, "fullon_cache_api_subscriptions", field="ticker") == 2
            assert value(metrics, "fullon_cache_api_subscription_groups") == 1
            assert value(metrics, "fullon_cache_api_upstream_subscriptions", kind="channel") == 1

            await writer.set_ticker(tick(101.0))
            for client in (first, second):
                update = await client.recv()
                assert update["payload"]["data"]["ticker"]["price"] == 101.0
            metrics = await scrape(server)
            assert value(metrics, "fullon_cache_api_deliveries_total") == 2
            assert value(metrics, "fullon_cache_api_redis_messages_total") >= 1

        # Disconnected: gauges fall back, counters keep what happened.
        metrics = await wait_for(
            server,
            lambda m: (
                value(m, "fullon_cache_api_connections", protocol=TRANSPORT) == 0
                and value(m, "fullon_cache_api_upstream_subscriptions", kind="channel") == 0
            ),
        )
        assert value(metrics, "fullon_cache_api_subscriptions", field="ticker") == 0
        assert value(metrics, "fullon_cache_api_subscription_groups") == 0
        assert value(metrics, "fullon_cache_api_deliveries_total") == 2


async def test_redis_errors_are_counted(redis_url: str) -> None:
    from fullon_cache_api.embedded_redis import EmbeddedRedis

    with EmbeddedRedis() as private:
        async with running_server(make_settings(private.url)) as server:
            private.stop()
            body = await server.graphql(
                '{ ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'
            )
            assert body["errors"][0]["extensions"]["code"] == "CACHE_UNAVAILABLE"
            metrics = await scrape(server)
            assert value(metrics, "fullon_cache_api_redis_errors_total") >= 1
            private.start()


async def test_the_readme_lists_every_metric_the_server_exports(redis_url: str) -> None:
    """README's metrics table and ``/metrics`` name the same families (a counter as its
    ``_total`` sample, an info as its ``_info`` sample)."""
    section = README.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(fullon_cache_api_[a-z_]+)` \|", section, re.MULTILINE))
    async with running_server(make_settings(redis_url)) as server:
        response = await server.http.get("/metrics")
    suffix = {"counter": "_total", "info": "_info"}
    exported = {
        family.name + suffix.get(family.type, "")
        for family in text_string_to_metric_families(response.text)
        if not family.name.endswith("_created")  # the client library's creation stamps
    }
    assert exported == documented
