"""Prometheus metrics, served at ``/metrics``.

The hot paths only bump plain integers on the objects that already exist; each component
reports its own figures (``stats()``: the delivery runner, the live hub and its feed, the
connections, the cache reader), and the collector here reads them when Prometheus scrapes.
Two histograms are observed as things happen: query latency by root field, and the event
loop's lag.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from fullon_cache_api.version import __version__

PREFIX = "fullon_cache_api"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PROTOCOLS = ("graphql-transport-ws", "graphql-ws", "sse", "multipart")
MODES = ("keyspace", "poll")

Stats = Callable[[], dict[str, Any]]


class Metrics:
    """The registry of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()  # collected at scrape time only
        self.query_seconds = Histogram(
            f"{PREFIX}_query_seconds",
            "Query latency by root field",
            ["field"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            f"{PREFIX}_event_loop_lag_seconds",
            "How late the event loop ran a timer (sampled every 50 ms)",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self._latency: dict[str, Histogram] = {}  # label children, looked up once per field

    def report(self, stats: Stats) -> None:
        """Read ``stats()`` at every scrape."""
        self.registry.register(_StateCollector(stats))

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
    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Any]:
        stats = self.stats()
        delivery, live = stats["delivery"], stats["live"]
        info = InfoMetricFamily(f"{PREFIX}_build", "Build information")
        info.add_metric(
            [],
            {"version": __version__, "python": platform.python_version(), "platform": sys.platform},
        )
        yield info

        connections = GaugeMetricFamily(
            f"{PREFIX}_connections",
            "Open connections: WebSockets by subprotocol, HTTP streams (sse, multipart)",
            labels=["protocol"],
        )
        for protocol in PROTOCOLS:
            connections.add_metric([protocol], stats["connections"].get(protocol, 0))
        yield connections

        subscriptions = GaugeMetricFamily(
            f"{PREFIX}_subscriptions", "Active subscriptions", labels=["field"]
        )
        for name, count in sorted(delivery["members"].items()):
            subscriptions.add_metric([name], count)
        yield subscriptions
        yield _gauge(
            "subscription_groups",
            "Groups of identical subscriptions executed once per event",
            delivery["groups"],
        )

        upstream = GaugeMetricFamily(
            f"{PREFIX}_upstream_subscriptions",
            "Redis pub/sub subscriptions held by the shared feed",
            labels=["kind"],
        )
        upstream.add_metric(["channel"], live["channels"])
        upstream.add_metric(["pattern"], live["patterns"])
        yield upstream
        yield _gauge("topics", "Shared live topics", live["topics"])
        yield _gauge("topics_failing", "Topics that cannot read the cache", live["failing_topics"])
        yield _gauge("feed_connected", "Whether the pub/sub feed is connected", live["connected"])
        mode = GaugeMetricFamily(
            f"{PREFIX}_change_detection",
            "How non-pub/sub changes are noticed: 1 for the mode in force",
            labels=["mode"],
        )
        for name in MODES:
            mode.add_metric([name], 1 if live["mode"] == name else 0)
        yield mode

        yield _counter("redis_messages", "Pub/sub messages received from Redis", live["messages"])
        yield _counter("redis_reconnects", "Reconnects of the pub/sub feed", live["reconnects"])
        yield _counter(
            "change_detection_switches",
            "Switches between keyspace notifications and polling",
            live["mode_switches"],
        )
        yield _counter("redis_errors", "Reads that found Redis unavailable", stats["redis_errors"])
        yield _counter("deliveries", "Subscription events delivered", delivery["deliveries"])
        coalesced = stats["coalesced"] + delivery["superseded"]
        yield _counter("coalesced", "Events replaced by a newer value before sending", coalesced)
        yield _counter("dropped", "Subscriptions ended for reading too slowly", stats["dropped"])
        admission = stats["admission"]
        yield _gauge(
            "inflight_cost", "Cost held by expensive queries running now", admission["in_use"]
        )
        yield _gauge(
            "admission_queued", "Expensive queries waiting for their turn", admission["queued"]
        )
        yield _counter(
            "admission_waited", "Expensive queries that waited for a turn", admission["waited"]
        )
        yield _counter(
            "admission_refused",
            "Queries refused with RATE_LIMITED after waiting",
            admission["refused"],
        )
        yield _counter(
            "idle_poll_seconds",
            "Seconds the event loop polled instead of sleeping after answers (IDLE_POLL_US)",
            stats["idle_polled_s"],
        )


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, value=value)
