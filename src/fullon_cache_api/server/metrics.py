"""Prometheus metrics, served at ``/metrics``.

The hot paths only bump plain integers on the objects that already exist (the feed, the
fan-out runner, each connection); this collector reads them when Prometheus scrapes. The
one histogram, query latency by root field, is observed once per root field of a query.
"""

from __future__ import annotations

import platform
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from fullon_cache_api import __version__

if TYPE_CHECKING:
    from fullon_cache_api.server.services import Services

PREFIX = "fullon_cache_api"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Totals:
    """Counters kept as plain integers on the hot path, read at scrape time."""

    __slots__ = ("closed_coalesced", "deliveries", "dropped")

    def __init__(self) -> None:
        self.deliveries = 0  # subscription events handed to connections
        self.dropped = 0  # subscriptions ended as SLOW_CONSUMER
        self.closed_coalesced = 0  # coalesced events of connections already closed


class Metrics:
    """The registry of one app, and the pieces the server reports into."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()  # collected at scrape time only
        self.totals = Totals()
        self.query_seconds = Histogram(
            f"{PREFIX}_query_seconds",
            "Query latency by root field",
            ["field"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._latency: dict[str, Histogram] = {}  # label children, looked up once per field

    def attach(self, services: Services) -> None:
        self.registry.register(_StateCollector(services, self.totals))

    async def timed(self, field: str, result: Awaitable[Any]) -> Any:
        """Await a root field's result, observing how long it took under ``field``."""
        start = time.perf_counter()
        try:
            return await result
        finally:
            child = self._latency.get(field)
            if child is None:
                child = self._latency[field] = self.query_seconds.labels(field)
            child.observe(time.perf_counter() - start)


class _StateCollector(Collector):
    def __init__(self, services: Services, totals: Totals) -> None:
        self.services = services
        self.totals = totals

    def collect(self) -> Iterator[Any]:
        services = self.services
        info = InfoMetricFamily(f"{PREFIX}_build", "Build information")
        info.add_metric(
            [],
            {"version": __version__, "python": platform.python_version(), "platform": sys.platform},
        )
        yield info

        by_protocol: Counter[str] = Counter(c.protocol.name for c in services.connections)
        connections = GaugeMetricFamily(
            f"{PREFIX}_connections", "Open WebSocket connections", labels=["protocol"]
        )
        for protocol in ("graphql-transport-ws", "graphql-ws"):
            connections.add_metric([protocol], by_protocol.get(protocol, 0))
        yield connections

        runner = services.runner
        groups = list(getattr(runner, "groups", {}).values())
        by_field: Counter[str] = Counter()
        for group in groups:
            by_field[group.field] += len(group.members)
        subscriptions = GaugeMetricFamily(
            f"{PREFIX}_subscriptions", "Active subscriptions", labels=["field"]
        )
        for field, count in sorted(by_field.items()):
            subscriptions.add_metric([field], count)
        yield subscriptions
        yield GaugeMetricFamily(
            f"{PREFIX}_subscription_groups",
            "Groups of identical subscriptions executed once per event",
            value=len(groups),
        )

        live = services.live
        channels = GaugeMetricFamily(
            f"{PREFIX}_upstream_subscriptions",
            "Redis pub/sub subscriptions held by the shared feed",
            labels=["kind"],
        )
        feed = live.feed if live is not None else None
        channels.add_metric(["channel"], len(feed.channels) if feed else 0)
        channels.add_metric(["pattern"], len(feed.patterns) if feed else 0)
        yield channels
        yield GaugeMetricFamily(
            f"{PREFIX}_topics", "Shared live topics", value=len(live.topics) if live else 0
        )

        totals = self.totals
        yield _counter("redis_messages", "Pub/sub messages received from Redis",
                       feed.messages_received if feed else 0)  # fmt: skip
        yield _counter("redis_reconnects", "Reconnects of the pub/sub feed",
                       feed.reconnects if feed else 0)  # fmt: skip
        yield _counter(
            "redis_errors", "Reads that found Redis unavailable", services.cache.stats.unavailable
        )
        yield _counter("deliveries", "Subscription events delivered", totals.deliveries)
        coalesced = (
            totals.closed_coalesced
            + sum(c.coalesced for c in services.connections)
            + sum(g.source.superseded for g in groups if g.source is not None)
        )
        yield _counter("coalesced", "Events replaced by a newer value before sending", coalesced)
        yield _counter("dropped", "Subscriptions ended for reading too slowly", totals.dropped)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", documentation, value=value)
