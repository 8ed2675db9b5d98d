"""Ticker fan-out: one ticker, 1 to 1,000 subscribers, publishes at increasing rates.

Every target is served by uvicorn in its own process, with its own private ``redis-server``
(so a publish reaches only the target being measured). Subscribers are ``graphql-transport-ws``
subscriptions opened by several client worker processes (raw ``websockets`` connections, each
connection carrying many subscription ids), all subscribed to

    subscription { ticker(exchange: "binance", symbol: "BTC/USDT") { symbol price bid ask time } }

The publisher (this process) writes ticks through the simulator,
:meth:`fullon_cache_api.simulator.CacheWriter.set_ticker` (``HSET`` + ``SET`` + ``PUBLISH``, as
fullon_cache does), at a fixed rate for a fixed time per step. Each tick carries

* ``time`` = ``time.time()`` just before ``set_ticker``: every target serialises it as an ISO
  datetime with microseconds, which the clients parse back, so publish → receive latency is
  measured on one clock (same machine) without touching the payload's shape;
* ``price`` = ``step * 1e6 + sequence``: tells the clients which step a message belongs to
  (and whether a subscription has seen the step's last tick). The first message of every
  subscription is its snapshot (the current state) and is not counted.

A step ends when every subscription has received the step's last tick (all targets deliver
the latest value eventually) or the drain timeout passes. Per step: delivered messages per
second, latency percentiles, server CPU time per delivery (``/proc/<pid>/stat``). Subscriber
levels run one after the other; within a level the steps are interleaved across targets
(order rotated every step) and repeated for ``--rounds`` rounds, the samples pooled.

Targets:

* ``floor`` — :mod:`bench.floor_fanout_server`: one shared Redis pub/sub subscription and a
  pre-built envelope per event, no GraphQL engine.
* ``product`` — :func:`fullon_cache_api.server.app.create_app`.
* ``naive`` — :mod:`bench.naive_subscription`: ``strawberry.asgi.GraphQL``, one Redis pub/sub
  connection and one execution per subscriber.
* ``node`` and ``node-cache`` — the Node.js reference peer (:mod:`bench.node_peer`,
  ``bench/peers/node/``: graphql-ws + graphql-redis-subscriptions, one execution per
  subscriber and event), plain and with a document cache; left out, with the reason printed,
  when ``node`` is missing or its ``npm ci`` fails.

Also measured: server memory per idle subscription (``VmRSS`` before and after opening
``--memory-subs`` subscriptions on a fresh server), all on one ticker that is not publishing
(one document), and each on a ticker of its own (distinct topics, one query text each; at
most ``--memory-topic-subs`` subscriptions).

Goals (issue 14): delivered/s at 1,000 subscribers ≥ 0.95x the floor's at 100 and at 1,000
pub/s; p50 at 100 subscribers x 10 pub/s ≤ 1.1x the floor's; p99.9 < 20 ms at 10,000
deliveries/s (100 subscribers x 100 pub/s); memory per idle subscription ≤ 4 KB with one
document and ≤ 12 KB with distinct topics. Every figure is also given as a ratio to the
Node peer with a document cache.

Run ``.venv/bin/python bench/fanout.py`` (rewrites its section of BENCHMARKS.md) or add
``--quick`` for a short run that only prints; ``--profile product`` profiles the product's
server process under fan-out load (py-spy; ``--profile node-cache`` uses V8's
``--cpu-prof``) instead of benchmarking.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import itertools
import math
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import node_peer
from bench._common import (
    PRODUCT_WS,
    REPO_ROOT,
    TRANSPORT_WS,
    PySpy,
    ServerProcess,
    add_extra_targets,
    machine_info,
    markdown_table,
    percentile,
    proc_run_seconds,
    summarize_collapsed,
    today,
    versions,
    write_section,
    ws_text,
)

SECTION = "fanout"
EXCHANGE = "binance"
SYMBOL = "BTC/USDT"
IDLE_SYMBOL = "ETH/USDT"  # seeded, never published to: the memory test's ticker
SELECTION = "{ symbol price bid ask time }"
QUERY = f'subscription {{ ticker(exchange: "{EXCHANGE}", symbol: "{SYMBOL}") {SELECTION} }}'
IDLE_QUERY = (
    f'subscription {{ ticker(exchange: "{EXCHANGE}", symbol: "{IDLE_SYMBOL}") {SELECTION} }}'
)
# The distinct-topics memory step: subscription n (from 0) is on ticker TOPIC_SYMBOL(n), each
# seeded and never published to; "{n}" is replaced by the client workers.
TOPIC_SYMBOL = "T{n}/USDT"
TOPIC_QUERY = (
    f'subscription {{ ticker(exchange: "{EXCHANGE}", symbol: "{TOPIC_SYMBOL}") {SELECTION} }}'
)
SCALE = 1_000_000  # price = step * SCALE + sequence number within the step

TARGETS: dict[str, str] = {
    "floor": "bench.floor_fanout_server:create_app",
    "product": f"bench.fanout:product_app@{PRODUCT_WS}",
    "naive": "bench.naive_subscription:create_app",
    **node_peer.TARGETS,
}
DESCRIPTIONS = {
    "floor": "hand-written graphql-transport-ws server, one shared Redis pub/sub "
    "subscription, payload serialised once per event and a pre-built envelope per "
    "subscriber (only the id differs), latest value only when behind, no GraphQL engine "
    "(`bench/floor_fanout_server.py`)",
    "product": "`fullon_cache_api.server.app.create_app(Settings(...))` on the server's own "
    "uvicorn WebSocket protocol (`server/ws_protocol.py`), as `fullon-cache-api serve` runs "
    "it: one Redis pub/sub connection per process, identical subscriptions grouped and "
    "executed once per event, one write per connection and event",
    "naive": "`strawberry.asgi.GraphQL` with an async-generator subscription that opens its "
    "own Redis pub/sub per subscriber and yields every decoded tick "
    "(`bench/naive_subscription.py`)",
    "node": "Node.js peer, plain: graphql-ws (`useServer` over `ws`) + graphql-js, "
    "`RedisPubSub` from graphql-redis-subscriptions (one ioredis subscriber connection, one "
    "SUBSCRIBE per channel shared by its subscribers, the message JSON-parsed once), an async "
    "generator per subscription (snapshot, then every update), graphql-js executes the "
    "selection once per subscriber and event, every event queued for every subscriber "
    "(`bench/peers/node/`)",
    "node-cache": "the Node.js peer (as `node`) with a document cache: parsed and validated "
    "documents kept by query text, returned as ExecutionArgs from `onSubscribe` "
    "(`bench/peers/node/`)",
}

# Goals (issue 14).
GOAL_DELIVERED_SUBS = 1000
GOAL_DELIVERED_RATES = (100, 1000)
GOAL_DELIVERED_RATIO = 0.95  # x the floor's delivered/s
GOAL_P50_CELL = (100, 10)  # subscribers, pub/s
GOAL_P50_RATIO = 1.1  # x the floor's p50
GOAL_P999_CELL = (100, 100)
GOAL_P999_MS = 20.0
GOAL_MEMORY_KB = {"one document": 4.0, "distinct topics": 12.0}
MEMORY_KINDS = {"one document": IDLE_QUERY, "distinct topics": TOPIC_QUERY}
# A target whose p99 passes this at some rate while its server process is busy (at least
# OVERLOADED_CPU_SHARE of a core) is not measured at higher rates (same level). A server
# that is not that busy has outrun its clients: the latency is their backlog.
OVERLOADED_P99_MS = 1000.0
OVERLOADED_CPU_SHARE = 0.8


NOTES = [
    "* Noise: the reference machine is a 2-vCPU shared VM. The server under test, the "
    "client processes, the publisher and Redis share those two CPUs; during a 1,000-message "
    "burst all of them are busy at once, so latencies at 1,000 subscribers include time the "
    "clients wait for a CPU. Compare ratios to the floor from the same run; the goal lines "
    "give the per-round values, which show how far two rounds of one run can differ.",
    "* At the highest rates the targets are CPU-bound (server CPU near 100% of a core): "
    "delivered/s is then the target's capacity on this machine and delivered / offered "
    "falls, because the product and the floor keep only the newest tick for a subscriber "
    "that is behind; the naive server and the Node peer (graphql-redis-subscriptions "
    "queues every event for every subscriber) queue every tick and fall behind instead.",
    "* When the product writes faster than the clients read (1,000 subscribers at 1,000 "
    "pub/s: two client processes parse every message while sharing the two CPUs with the "
    "servers, Redis and the publisher), its messages wait in the clients' socket buffers: "
    "its latency there is the clients' backlog. A server that cannot keep up (the floor, "
    "near 100% of a core there) drops ticks at the source instead, and shows a lower "
    "latency for fewer deliveries. Coalescing per subscriber starts when the socket stops "
    "taking data, so a reader that is behind still gets the newest tick, not every tick.",
    "* Server CPU per delivery at low rates (1 subscriber, 10 to 100 pub/s) is mostly the cost "
    "of waking up for each event and of the server's timers, not of the delivery itself; "
    "latencies at low rates are also higher than at moderate ones (idle CPUs wake up "
    "slowly on a VM).",
    "* Latency is measured at the client's `recv()`, so it includes the client library's "
    "work (frame parsing, and inflating with compression on); the same clients measure "
    "every target. The product (permessage-deflate is off unless `WS_PER_MESSAGE_DEFLATE` "
    "is set) and the Node peer (`ws`'s default) decline compression, so their clients "
    "inflate nothing; the floor and the naive server accept it.",
    "* Memory: `VmRSS` of a Node process includes garbage V8 has not collected yet (it "
    "collects when it needs room, not when a subscription is opened), so the peer's figure "
    "is what the process holds, which can be more than what its subscriptions need; "
    "CPython frees most garbage at once.",
]


def source_revision() -> str:
    """The checked-out commit, and whether the product's sources differ from it."""
    import subprocess

    def git(*command: str) -> str:
        try:
            return subprocess.run(
                ["git", *command], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown revision"
    dirty = git("status", "--porcelain", "--", "src")
    return f"commit {commit}" + (" with uncommitted changes under src/" if dirty else "")


def product_app(redis_url: str, port: int) -> Any:
    """The product, as ``python -m bench._common`` serves it."""
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.settings import Settings

    return create_app(Settings(redis_url=redis_url, api_port=port))


def tick(symbol: str, price: float, when: float) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "exchange": EXCHANGE,
        "price": price,
        "volume": 1.5,
        "time": when,
        "bid": price - 0.5,
        "ask": price + 0.5,
        "last": price,
    }


def uvloop_runner() -> Callable[[Any], Any]:
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    return runner


# =========================================================================== #
# Client worker process: ``python -m bench.fanout --worker``
# =========================================================================== #
#
# Reads one JSON command per line on stdin, answers one JSON line on stdout. It holds the
# subscriptions of every target it was asked to open, records the latency of each message
# by step, and exits when stdin closes.


class TargetSubs:
    """One target's subscriptions in this worker: indices 0..n-1 over its connections."""

    def __init__(self) -> None:
        self.conns: list[Any] = []
        self.readers: list[asyncio.Task[None]] = []
        self.last: list[float] = []  # last price seen per subscription
        self.seen: list[bool] = []  # snapshot received
        self.failed: set[int] = set()
        self.errors: list[str] = []
        self.snapshots = 0
        self.sample: Any = None  # one snapshot payload, to check the targets agree
        self.records: dict[int, array.array[float]] = {}
        self.last_receive: dict[int, float] = {}
        self.collected = 0  # steps up to here are collected: later arrivals are ignored
        self.closed = 0


async def _read_loop(ws: Any, base: int, state: TargetSubs) -> None:
    from websockets.exceptions import ConnectionClosed

    loads = orjson.loads
    now = time.time
    parse = datetime.fromisoformat
    last, seen, records, last_receive = state.last, state.seen, state.records, state.last_receive
    iso_key: str | None = None
    iso_value = 0.0
    try:
        while True:
            raw = await ws.recv(decode=False)
            received = now()
            message = loads(raw)
            kind = message.get("type")
            if kind == "next":
                index = base + int(message["id"]) - 1
                data = message["payload"].get("data") or {}
                ticker = data.get("ticker")
                if not ticker:
                    state.failed.add(index)
                    state.errors.append(raw[:300].decode("utf-8", "replace"))
                    seen[index] = True
                    continue
                price = ticker["price"]
                last[index] = price
                if not seen[index]:
                    seen[index] = True
                    state.snapshots += 1
                    if state.sample is None:
                        state.sample = message["payload"]
                    continue
                step = int(price // SCALE)
                if step <= state.collected:
                    continue
                stamp = ticker["time"]
                if stamp != iso_key:
                    iso_key, iso_value = stamp, parse(stamp).timestamp()
                record = records.get(step)
                if record is None:
                    record = records[step] = array.array("d")
                record.append(received - iso_value)
                last_receive[step] = received
            elif kind == "ping":
                await ws.send('{"type":"pong"}')
            elif kind in ("error", "complete"):
                index = base + int(message["id"]) - 1
                state.failed.add(index)
                state.errors.append(raw[:300].decode("utf-8", "replace"))
                seen[index] = True
    except ConnectionClosed:
        state.closed += 1
    except Exception as error:  # a reader must not die silently: the step would hang
        state.closed += 1
        state.errors.append(f"client reader failed: {type(error).__name__}: {error}")


async def _open_connection(
    url: str,
    compression: str | None,
    ids: int,
    base: int,
    state: TargetSubs,
    query: str,
    offset: int = 0,
    open_timeout: float = 20.0,
) -> None:
    from websockets.asyncio.client import connect

    ws = await connect(
        url,
        subprotocols=[TRANSPORT_WS],  # type: ignore[list-item]
        compression=compression,
        ping_interval=None,
        max_size=None,
        max_queue=1024,
        open_timeout=open_timeout,
    )
    state.conns.append(ws)
    await ws.send('{"type":"connection_init"}')
    ack = orjson.loads(await asyncio.wait_for(ws.recv(), open_timeout))
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"expected connection_ack, got {ack!r}")
    state.readers.append(asyncio.create_task(_read_loop(ws, base, state)))
    payload = {"query": query}
    for number in range(1, ids + 1):
        if "{n}" in query:  # a topic per subscription: n counts the target's subscriptions
            payload = {"query": query.replace("{n}", str(offset + base + number - 1))}
        await ws.send(
            orjson.dumps({"id": str(number), "type": "subscribe", "payload": payload}).decode()
        )


async def _cmd_open(cmd: dict[str, Any], targets: dict[str, TargetSubs]) -> dict[str, Any]:
    name = cmd["target"]
    if name in targets:
        await _close_target(targets.pop(name))
    state = targets[name] = TargetSubs()
    sizes: list[int] = cmd["conns"]
    total = sum(sizes)
    state.last = [-1.0] * total
    state.seen = [False] * total
    compression = cmd.get("compression")
    started = time.monotonic()
    bases = list(itertools.accumulate([0, *sizes[:-1]]))
    batch = 16  # connections opened concurrently
    pairs = list(zip(sizes, bases, strict=True))
    for first in range(0, len(pairs), batch):
        await asyncio.gather(
            *(
                _open_connection(
                    cmd["url"],
                    compression,
                    size,
                    base,
                    state,
                    cmd["query"],
                    cmd.get("offset", 0),
                    cmd["timeout"],
                )
                for size, base in pairs[first : first + batch]
            )
        )
    deadline = started + cmd["timeout"]
    while time.monotonic() < deadline:  # polled: bounded by the deadline
        if all(state.seen) or state.closed:
            break
        await asyncio.sleep(0.01)
    return {
        "subs": total,
        "snapshots": state.snapshots,
        "failed": len(state.failed),
        "errors": state.errors[:3],
        "sample": state.sample,
        "seconds": time.monotonic() - started,
        "closed": state.closed,
    }


async def _cmd_wait(cmd: dict[str, Any], targets: dict[str, TargetSubs]) -> dict[str, Any]:
    """Until every live subscription has seen a price ≥ threshold (or the timeout)."""
    state = targets[cmd["target"]]
    threshold = cmd["threshold"]
    started = time.monotonic()
    deadline = started + cmd["timeout"]
    while True:
        failed = state.failed
        missing = sum(
            1 for index, price in enumerate(state.last) if price < threshold and index not in failed
        )
        if missing == 0 or time.monotonic() >= deadline:
            return {"missing": missing, "seconds": time.monotonic() - started}
        await asyncio.sleep(0.005)


def _cmd_collect(cmd: dict[str, Any], targets: dict[str, TargetSubs]) -> dict[str, Any]:
    state = targets[cmd["target"]]
    step = cmd["step"]
    record = state.records.pop(step, array.array("d"))
    for old in [key for key in state.records if key < step]:
        del state.records[old]
    state.collected = max(state.collected, step)
    with open(cmd["path"], "wb") as out:
        record.tofile(out)
    return {
        "count": len(record),
        "last_receive": state.last_receive.pop(step, math.nan),
        "failed": len(state.failed),
        "closed": state.closed,
        "errors": state.errors[:3],
    }


async def _close_target(state: TargetSubs) -> None:
    for reader in state.readers:
        reader.cancel()
    await asyncio.gather(*state.readers, return_exceptions=True)

    async def close(ws: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)

    for first in range(0, len(state.conns), 32):
        await asyncio.gather(*(close(ws) for ws in state.conns[first : first + 32]))
    state.conns.clear()
    state.readers.clear()


async def worker_main() -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    targets: dict[str, TargetSubs] = {}
    out = sys.stdout
    try:
        while True:
            line = await stdin.readline()
            if not line:
                return  # the benchmark went away
            cmd = orjson.loads(line)
            kind = cmd["cmd"]
            try:
                if kind == "open":
                    reply = await _cmd_open(cmd, targets)
                elif kind == "wait":
                    reply = await _cmd_wait(cmd, targets)
                elif kind == "collect":
                    reply = _cmd_collect(cmd, targets)
                elif kind == "close":
                    state = targets.pop(cmd["target"], None)
                    if state is not None:
                        await _close_target(state)
                    reply = {}
                elif kind == "exit":
                    return
                else:
                    reply = {"error": f"unknown command {kind!r}"}
            except Exception as error:
                reply = {"error": f"{type(error).__name__}: {error}"}
            out.write(orjson.dumps(reply).decode() + "\n")
            out.flush()
    finally:
        for state in targets.values():
            await _close_target(state)


# =========================================================================== #
# The benchmark (orchestrator)
# =========================================================================== #


class Worker:
    """A client worker process and its command channel."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.fanout",
            "--worker",
            cwd=REPO_ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 24,
        )

    async def call(self, cmd: dict[str, Any], limit: float = 120.0) -> dict[str, Any]:
        proc = self.proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(orjson.dumps(cmd) + b"\n")
        await proc.stdin.drain()
        line = await asyncio.wait_for(proc.stdout.readline(), limit)
        if not line:
            raise RuntimeError(f"client worker {self.index} exited")
        reply: dict[str, Any] = orjson.loads(line)
        if "error" in reply:
            raise RuntimeError(f"client worker {self.index}: {reply['error']}")
        return reply

    def cpu_seconds(self) -> float:
        return proc_run_seconds(self.proc.pid) if self.proc is not None else math.nan

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.write(b'{"cmd":"exit"}\n')
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


@dataclass
class Cell:
    """Everything measured for one (subscribers, rate, target), pooled over rounds."""

    target: str
    subs: int
    rate: int
    steps: int = 0
    published: int = 0
    deliveries: int = 0
    window: float = 0.0  # first publish → last delivery (or end of publishing)
    publishing: float = 0.0  # first → last publish
    server_cpu: float = 0.0
    client_cpu: list[float] = field(default_factory=list)  # per step, max core share
    missing: int = 0
    latencies: list[array.array[float]] = field(default_factory=list)
    step_p99: list[float] = field(default_factory=list)  # per step (round), ms
    step_p999: list[float] = field(default_factory=list)
    drain_seconds: float = 0.0  # the longest wait, after publishing, for the last tick
    foreign: list[float] = field(default_factory=list)  # other processes' CPU share, per step
    retried: int = 0  # steps measured again because other processes were busy
    _sorted: list[float] | None = None

    @property
    def saturated(self) -> bool:
        return self.missing > 0

    def sorted_ms(self) -> list[float]:
        if self._sorted is None:
            values: list[float] = []
            for block in self.latencies:
                values.extend(block)
            values.sort()
            self._sorted = [value * 1000 for value in values]
        return self._sorted

    def latency_ms(self, fraction: float) -> float:
        return percentile(self.sorted_ms(), fraction)

    @property
    def delivered_per_s(self) -> float:
        return self.deliveries / self.window if self.window > 0 else math.nan

    @property
    def published_per_s(self) -> float:
        return self.published / self.publishing if self.publishing > 0 else math.nan

    @property
    def cpu_us_per_delivery(self) -> float:
        return 1e6 * self.server_cpu / self.deliveries if self.deliveries else math.nan

    @property
    def server_cpu_share(self) -> float:
        return self.server_cpu / self.window if self.window > 0 else math.nan


@dataclass
class MemoryResult:
    target: str
    kind: str  # a key of MEMORY_KINDS
    subs: int
    conns: int
    rss_before: int
    rss_after: int
    open_seconds: float
    failed: int

    @property
    def per_sub_kb(self) -> float:
        return (self.rss_after - self.rss_before) / self.subs / 1024


@dataclass
class Run:
    compression: str | None = "deflate"
    cells: dict[tuple[str, int, int], Cell] = field(default_factory=dict)
    memory: list[MemoryResult] = field(default_factory=list)
    skipped: dict[tuple[str, int], int] = field(default_factory=dict)  # (target, subs) → rate
    extra: Run | None = None  # the same steps with the other client compression setting
    notes: list[str] = field(default_factory=list)


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.workers = [Worker(index) for index in range(args.clients)]
        self.redis: dict[str, Any] = {}  # target → EmbeddedRedis
        self.writers: dict[str, Any] = {}  # target → CacheWriter
        self.clients: list[Any] = []  # redis.asyncio clients to close
        self.servers: dict[str, ServerProcess] = {}
        self.holders: dict[str, list[Worker]] = {}  # target → workers holding its subs
        self.step_id = 0
        self.run = Run(args.compression)
        self.extra_run: Run | None = None
        self.current = self.run  # where step_once pools its cells

    # -- set-up ------------------------------------------------------------------------

    async def start(self, targets: Sequence[str]) -> None:
        import redis.asyncio

        from fullon_cache_api.embedded_redis import EmbeddedRedis
        from fullon_cache_api.simulator import CacheWriter

        for name in targets:
            # The naive target holds one pub/sub connection per subscriber: bound what
            # Redis may buffer for each (a dropped connection shows up as an error).
            extra = ("--client-output-buffer-limit", "pubsub 8mb 8mb 0")
            server = EmbeddedRedis(extra_args=extra)
            server.start()
            self.redis[name] = server
            client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
            self.clients.append(client)
            writer = self.writers[name] = CacheWriter(client)
            await writer.set_ticker(tick(SYMBOL, 1.0, 1748851200.125))
            await writer.set_ticker(tick(IDLE_SYMBOL, 1.0, 1748851200.125))
            if name in self.args.memory_targets and "distinct topics" in self.args.memory_kinds:
                topics = self.memory_subs(name, "distinct topics")
                for first in range(0, topics, 50):  # the pool holds 100 connections
                    await asyncio.gather(
                        *(
                            writer.set_ticker(
                                tick(TOPIC_SYMBOL.replace("{n}", str(n)), 1.0, 1748851200.125)
                            )
                            for n in range(first, min(first + 50, topics))
                        )
                    )
        for worker in self.workers:
            await worker.start()

    async def close(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(Exception):
                await worker.stop()
        for server in self.servers.values():
            server.close()
        self.servers.clear()
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.aclose()
        for server in self.redis.values():
            with contextlib.suppress(Exception):
                server.stop()

    def memory_subs(self, name: str, kind: str) -> int:
        args = self.args
        subs: int = args.naive_memory_subs if name == "naive" else args.memory_subs
        if kind == "distinct topics":
            subs = min(subs, args.memory_topic_subs)
        return subs

    def start_server(self, name: str, cpu_prof_dir: Path | None = None) -> ServerProcess:
        spec, url = TARGETS[name], self.redis[name].url
        server: ServerProcess
        if cpu_prof_dir is not None:
            server = node_peer.NodePeerProcess(name, spec, url, cpu_prof_dir=cpu_prof_dir)
        else:
            server = node_peer.server_process(name, spec, url, ws=self.args.ws)
        server.start()
        self.servers[name] = server
        return server

    def stop_server(self, name: str) -> None:
        server = self.servers.pop(name, None)
        if server is not None:
            server.close()

    # -- subscriptions -----------------------------------------------------------------

    def layout(self, subs: int, per_conn: int) -> list[list[int]]:
        """Connection sizes for each worker (connections dealt round-robin)."""
        sizes = [per_conn] * (subs // per_conn)
        if subs % per_conn:
            sizes.append(subs % per_conn)
        plan: list[list[int]] = [[] for _ in self.workers]
        for index, size in enumerate(sizes):
            plan[index % len(plan)].append(size)
        return plan

    async def open(
        self,
        name: str,
        subs: int,
        per_conn: int,
        query: str,
        compression: str | None = "default",
    ) -> dict[str, Any]:
        server = self.servers[name]
        if compression == "default":
            compression = self.args.compression
        plan = self.layout(subs, per_conn)
        self.holders[name] = [
            worker for worker, sizes in zip(self.workers, plan, strict=True) if sizes
        ]
        offsets = list(itertools.accumulate([0, *(sum(sizes) for sizes in plan[:-1])]))
        calls = [
            worker.call(
                {
                    "cmd": "open",
                    "target": name,
                    "url": server.ws_url,
                    "conns": sizes,
                    "query": query,
                    "offset": offset,
                    "compression": compression,
                    "timeout": self.args.open_timeout,
                },
                limit=self.args.open_timeout + 60,
            )
            for worker, sizes, offset in zip(self.workers, plan, offsets, strict=True)
            if sizes
        ]
        replies = await asyncio.gather(*calls)
        summary = {
            "subs": sum(reply["subs"] for reply in replies),
            "snapshots": sum(reply["snapshots"] for reply in replies),
            "failed": sum(reply["failed"] for reply in replies),
            "errors": [error for reply in replies for error in reply["errors"]][:3],
            "sample": next((r["sample"] for r in replies if r["sample"] is not None), None),
            "seconds": max(reply["seconds"] for reply in replies),
            "closed": sum(reply["closed"] for reply in replies),
            "conns": sum(len(sizes) for sizes in plan),
        }
        if summary["snapshots"] + summary["failed"] < subs or summary["failed"]:
            raise RuntimeError(
                f"{name}: {summary['snapshots']} of {subs} subscriptions answered, "
                f"{summary['failed']} failed, {summary['closed']} connections closed: "
                f"{summary['errors']}\n{server.output()[-2000:]}"
            )
        return summary

    async def close_subs(self, name: str) -> None:
        holders = self.holders.pop(name, [])
        await asyncio.gather(*(worker.call({"cmd": "close", "target": name}) for worker in holders))

    # -- publishing --------------------------------------------------------------------

    async def publish(self, name: str, step: int, rate: float, seconds: float) -> int:
        """``rate`` ticks per second for ``seconds``; never bursts to catch up."""
        writer = self.writers[name]
        count = max(1, round(rate * seconds))
        interval = 1.0 / rate
        clock = time.perf_counter
        started = clock()
        next_at = started
        limit = started + 2 * seconds + 5
        published = 0
        for sequence in range(1, count + 1):
            delay = next_at - clock()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            elif delay < -0.05:
                next_at = clock()  # fell behind (busy machine): carry on from now
            await writer.set_ticker(tick(SYMBOL, float(step * SCALE + sequence), time.time()))
            published = sequence
            next_at += interval
            if clock() > limit:
                break
        return published

    async def wait_quiet(self, name: str, limit: float = 30.0) -> None:
        """Until the server uses < 10% CPU over 0.5 s (a backlog drained), at most ``limit``."""
        server = self.servers[name]
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            before = server_cpu(server)
            await asyncio.sleep(0.5)
            if server_cpu(server) - before < 0.05:
                return

    def our_cpu_seconds(self) -> float:
        """CPU time of every process this benchmark runs (servers, clients, Redis, itself)."""
        pids = [os.getpid()]
        pids += [server.pid for server in self.servers.values() if server.pid is not None]
        pids += [worker.pid for worker in self.workers if worker.pid is not None]
        pids += [server.pid for server in self.redis.values() if server.pid is not None]
        return sum(proc_run_seconds(pid) for pid in pids if pid is not None)

    def foreign_cpu(self) -> tuple[float, float]:
        """A reading for :meth:`foreign_share`: (machine busy, ours)."""
        return system_busy_seconds(), self.our_cpu_seconds()

    def foreign_share(self, before: tuple[float, float], seconds: float) -> float:
        """Share of one CPU that other processes of the machine used since ``before``."""
        busy, ours = self.foreign_cpu()
        return max(0.0, (busy - before[0]) - (ours - before[1])) / seconds

    async def wait_machine_quiet(self) -> bool:
        """Until other processes use < 10% of a CPU over 1 s (at most ``--quiet-timeout``)."""
        deadline = time.monotonic() + self.args.quiet_timeout
        while time.monotonic() < deadline:
            before = self.foreign_cpu()
            await asyncio.sleep(1.0)
            if self.foreign_share(before, 1.0) < 0.1:
                return True
        return False

    async def step(
        self, name: str, subs: int, rate: int, seconds: float, record: bool = True
    ) -> Cell:
        """One measured step; measured again (up to ``--retries`` times) when other
        processes of the machine used more than ``--max-foreign`` of a CPU meanwhile."""
        retried = 0
        while True:
            before, started = self.foreign_cpu(), time.monotonic()
            cell = await self.step_once(name, subs, rate, seconds)
            foreign = self.foreign_share(before, time.monotonic() - started)
            cell.foreign = [foreign]
            cell.retried = retried
            if foreign <= self.args.max_foreign or retried >= self.args.retries:
                break
            retried += 1
            log(
                f"other processes used {100 * foreign:.0f}% of a CPU during the step: "
                "waiting for the machine to be quiet, then measuring it again"
            )
            await self.wait_machine_quiet()
        if record:
            self.merge(cell)
        return cell

    async def step_once(self, name: str, subs: int, rate: int, seconds: float) -> Cell:
        self.step_id += 1
        step = self.step_id
        server = self.servers[name]
        holders = self.holders[name]
        cpu_before = server_cpu(server)
        client_before = [worker.cpu_seconds() for worker in self.workers]
        started = time.time()
        published = await self.publish(name, step, rate, seconds)
        published_until = time.time()
        threshold = float(step * SCALE + published)
        waits = await asyncio.gather(
            *(
                worker.call(
                    {
                        "cmd": "wait",
                        "target": name,
                        "threshold": threshold,
                        "timeout": self.args.drain_timeout,
                    },
                    limit=self.args.drain_timeout + 30,
                )
                for worker in holders
            )
        )
        cpu = server_cpu(server) - cpu_before
        client_cpu = [
            worker.cpu_seconds() - before
            for worker, before in zip(self.workers, client_before, strict=True)
        ]
        collected = await asyncio.gather(
            *(
                worker.call(
                    {
                        "cmd": "collect",
                        "target": name,
                        "step": step,
                        "path": str(self.tmp / f"w{worker.index}-{step}.bin"),
                    }
                )
                for worker in holders
            )
        )
        cell = Cell(name, subs, rate)
        last = published_until
        for worker, reply in zip(holders, collected, strict=True):
            path = self.tmp / f"w{worker.index}-{step}.bin"
            block: array.array[float] = array.array("d")
            block.frombytes(path.read_bytes())
            path.unlink()
            cell.latencies.append(block)
            cell.deliveries += reply["count"]
            if not math.isnan(reply["last_receive"]):
                last = max(last, reply["last_receive"])
            if reply["failed"] or reply["closed"]:
                raise RuntimeError(
                    f"{name}: {reply['failed']} subscriptions failed, {reply['closed']} "
                    f"connections closed during the step: {reply['errors']}"
                )
        cell.steps = 1
        cell.published = published
        cell.window = last - started
        cell.publishing = published_until - started
        cell.server_cpu = cpu
        cell.client_cpu = [max(client_cpu) / cell.window] if cell.window > 0 else []
        cell.missing = sum(reply["missing"] for reply in waits)
        cell.drain_seconds = max(reply["seconds"] for reply in waits)
        cell.step_p99 = [cell.latency_ms(0.99)]
        cell.step_p999 = [cell.latency_ms(0.999)]
        if cell.missing or cell.drain_seconds > 0.5:
            # A backlog: let the server finish it before anything else is measured.
            await self.wait_quiet(name)
        return cell

    def merge(self, cell: Cell) -> None:
        key = (cell.target, cell.subs, cell.rate)
        pooled = self.current.cells.get(key)
        if pooled is None:
            self.current.cells[key] = cell
            return
        pooled.steps += cell.steps
        pooled.published += cell.published
        pooled.deliveries += cell.deliveries
        pooled.window += cell.window
        pooled.publishing += cell.publishing
        pooled.server_cpu += cell.server_cpu
        pooled.client_cpu += cell.client_cpu
        pooled.missing += cell.missing
        pooled.latencies += cell.latencies
        pooled.step_p99 += cell.step_p99
        pooled.step_p999 += cell.step_p999
        pooled.drain_seconds = max(pooled.drain_seconds, cell.drain_seconds)
        pooled.foreign += cell.foreign
        pooled.retried += cell.retried
        pooled._sorted = None

    # -- phases ------------------------------------------------------------------------

    async def memory_phase(self) -> None:
        args = self.args
        for name in args.memory_targets:
            for kind in args.memory_kinds:
                subs = self.memory_subs(name, kind)
                per_conn = min(args.memory_per_conn, subs)
                query = MEMORY_KINDS[kind]
                server = self.start_server(name)
                try:
                    # Warm up (imports, caches, the topic) with one subscription, then measure.
                    await self.open(name, 1, 1, IDLE_QUERY)
                    await self.close_subs(name)
                    await asyncio.sleep(1.0)
                    before = server.rss_bytes() or 0
                    summary = await self.open(name, subs, per_conn, query)
                    await asyncio.sleep(1.0)
                    after = server.rss_bytes() or 0
                    result = MemoryResult(
                        name,
                        kind,
                        subs,
                        summary["conns"],
                        before,
                        after,
                        summary["seconds"],
                        summary["failed"],
                    )
                    self.run.memory.append(result)
                    log(
                        f"memory {name} ({kind}): {subs} idle subscriptions on "
                        f"{summary['conns']} connections: {result.per_sub_kb:.2f} KB each "
                        f"(RSS {before / 2**20:.1f} → {after / 2**20:.1f} MiB)"
                    )
                    await self.close_subs(name)
                finally:
                    self.stop_server(name)

    async def load_phase(
        self,
        run: Run,
        targets: Sequence[str],
        levels: Sequence[int],
        rates: Sequence[int],
    ) -> None:
        """Every subscriber level in turn; within one, interleaved steps of every rate."""
        args = self.args
        self.current = run
        for name in targets:
            self.start_server(name)
        order = list(targets)
        rotation = itertools.count()
        for subs in levels:
            per_conn = min(args.per_conn, subs)
            samples: dict[str, Any] = {}
            for name in order:
                summary = await self.open(name, subs, per_conn, QUERY, run.compression)
                samples[name] = summary["sample"]
                log(
                    f"{name}: {subs} subscriptions on {summary['conns']} connections "
                    f"open in {summary['seconds']:.1f} s"
                )
            if run is self.run and subs == levels[0]:  # all hold the seeded tick still
                check_agreement(samples)
            for name in order:  # warm-up, not recorded
                await self.step(name, subs, 10, args.warmup, record=False)
            for round_index in range(args.rounds):
                for rate in rates:
                    shift = next(rotation) % len(order)
                    for name in order[shift:] + order[:shift]:
                        skip_from = run.skipped.get((name, subs))
                        if skip_from is not None and rate > skip_from:
                            continue
                        cell = await self.step(name, subs, rate, args.seconds)
                        log(
                            f"[{run.compression or 'no compression'}] "
                            f"round {round_index + 1}/{args.rounds} subs {subs:>5} "
                            f"rate {rate:>5}/s {name:>8}: "
                            f"{cell.delivered_per_s:9.0f} deliveries/s, "
                            f"p50 {cell.latency_ms(0.5):7.2f} ms, "
                            f"p99 {cell.latency_ms(0.99):8.2f} ms, "
                            f"server CPU {cell.cpu_us_per_delivery:6.1f} µs/delivery"
                            + (f", {cell.missing} not drained" if cell.missing else "")
                        )
                        server_bound = cell.server_cpu_share >= OVERLOADED_CPU_SHARE
                        late = cell.latency_ms(0.99) > OVERLOADED_P99_MS
                        if cell.saturated or (late and server_bound):
                            # Far behind: higher rates would only queue more.
                            previous = run.skipped.get((name, subs), rate)
                            run.skipped[(name, subs)] = min(previous, rate)
            for name in order:
                await self.close_subs(name)
        for name in targets:
            self.stop_server(name)


def system_busy_seconds() -> float:
    """CPU time all processes of the machine have used (``/proc/stat``; 10 ms ticks)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


def server_cpu(server: ServerProcess) -> float:
    """The server process's CPU time so far (ns resolution, all live threads)."""
    return proc_run_seconds(server.pid) if server.pid is not None else math.nan


def check_agreement(samples: dict[str, Any]) -> None:
    """Every target's snapshot must carry the same data."""
    expected: Any = None
    for name, sample in samples.items():
        if not isinstance(sample, dict) or sample.get("errors") or not sample.get("data"):
            raise SystemExit(f"{name} answered {sample!r}")
        if expected is None:
            expected = sample["data"]
        elif sample["data"] != expected:
            raise SystemExit(f"{name} answered {sample['data']!r}, expected {expected!r}")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# =========================================================================== #
# Profiling
# =========================================================================== #


async def run_profile(bench: Bench, out: Path) -> None:
    args = bench.args
    name = args.profile
    node = node_peer.is_node_spec(TARGETS[name])
    await bench.start([name])
    # The Node peer: V8's sampler over the process's whole life (set-up included).
    prof_dir = out.parent / f"{out.name}.d" if node else None
    server = bench.start_server(name, cpu_prof_dir=prof_dir)
    subs = args.profile_subs
    summary = await bench.open(name, subs, min(args.per_conn, subs), QUERY)
    log(f"{name}: {subs} subscriptions on {summary['conns']} connections")
    await bench.step_once(name, subs, 50, 1.0)
    assert server.pid is not None
    spy = None if node else PySpy(server.pid, out)
    try:
        cell = await bench.step_once(name, subs, args.profile_rate, args.profile_seconds)
    finally:
        if spy is not None:
            spy.stop()
    log(
        f"{cell.delivered_per_s:.0f} deliveries/s, p50 {cell.latency_ms(0.5):.2f} ms, "
        f"p99 {cell.latency_ms(0.99):.2f} ms, server CPU {cell.cpu_us_per_delivery:.1f} "
        f"µs/delivery ({100 * cell.server_cpu_share:.0f}% of a core)"
    )
    await bench.close_subs(name)
    if prof_dir is not None:
        bench.stop_server(name)
        profiles = sorted(prof_dir.glob("*.cpuprofile"))
        if not profiles:
            raise RuntimeError(f"node wrote no .cpuprofile into {prof_dir}")
        profiles[-1].replace(out)


# =========================================================================== #
# Report
# =========================================================================== #


def fmt(value: float, digits: int = 2) -> str:
    return "—" if math.isnan(value) else f"{value:.{digits}f}"


def ratio_text(value: float) -> str:
    if math.isnan(value):
        return "—"
    return f"{value:.2f}x" if value >= 0.01 else f"{value:.1g}x"


def ratios_to(cell: Cell, base: Cell | None) -> tuple[str, str]:
    """(delivered/s ratio, p50 ratio) of ``cell`` to ``base`` as table text."""
    if base is None or not base.deliveries or not cell.deliveries:
        return "—", "—"
    return (
        ratio_text(cell.delivered_per_s / base.delivered_per_s),
        ratio_text(cell.latency_ms(0.5) / base.latency_ms(0.5)),
    )


def level_table(run: Run, targets: Sequence[str], rates: Sequence[int], subs: int) -> str:
    rows = []
    for rate in rates:
        floor = run.cells.get(("floor", subs, rate))
        peer = run.cells.get((node_peer.REFERENCE, subs, rate))
        for name in targets:
            cell = run.cells.get((name, subs, rate))
            if cell is None:
                skipped = run.skipped.get((name, subs))
                note = f"skipped (overloaded at {skipped}/s)" if skipped is not None else "—"
                rows.append([f"{rate}", name, note, *([""] * 11)])
                continue
            offered = cell.published * subs
            delivered_ratio, p50_ratio = ratios_to(cell, floor)
            delivered_peer, p50_peer = ratios_to(cell, peer)
            delivered = f"{cell.delivered_per_s:.0f}"
            if cell.saturated:
                delivered += f" ⚠ {cell.missing} not drained"
            rows.append(
                [
                    f"{rate}",
                    name,
                    f"{cell.published_per_s:.0f}",
                    delivered,
                    f"{100 * cell.deliveries / offered:.0f}%" if offered else "—",
                    delivered_ratio,
                    delivered_peer,
                    fmt(cell.latency_ms(0.5)),
                    fmt(cell.latency_ms(0.99)),
                    fmt(cell.latency_ms(0.999)),
                    p50_ratio,
                    p50_peer,
                    fmt(cell.cpu_us_per_delivery, 1),
                    f"{100 * cell.server_cpu_share:.0f}%",
                ]
            )
    headers = [
        "pub/s",
        "target",
        "published/s",
        "delivered/s",
        "delivered / offered",
        "delivered ÷ floor",
        f"delivered ÷ {node_peer.REFERENCE}",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "p50 ÷ floor",
        f"p50 ÷ {node_peer.REFERENCE}",
        "server CPU µs/delivery",
        "server CPU",
    ]
    return markdown_table(headers, rows)


def per_round(values: Sequence[float]) -> str:
    return ", ".join(f"{value:.1f}" for value in values)


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def peer_text(value: float, peer_value: float | None, unit: str = "x") -> str:
    """``; x.xx the Node peer's`` for a goal line, or nothing without the peer."""
    if peer_value is None or math.isnan(peer_value) or not peer_value:
        return ""
    return f"; **{value / peer_value:.2f}{unit}** the Node peer's ({node_peer.REFERENCE})"


def goals(run: Run, peer_note: str) -> list[str]:
    lines: list[str] = []
    product = "product"
    cells = run.cells

    def cell_of(name: str, subs: int, rate: int) -> Cell | None:
        found = cells.get((name, subs, rate))
        return found if found is not None and found.deliveries else None

    def peer_missing(subs: int) -> str:
        """Why the reference peer has no figure at this level (empty if it was not run)."""
        skipped = run.skipped.get((node_peer.REFERENCE, subs))
        if skipped is None:
            return ""
        return f"; the Node peer was overloaded at {skipped} pub/s and not measured above it"

    # 1. Delivered/s at 1,000 subscribers, 100 and 1,000 pub/s, vs the floor.
    for rate in GOAL_DELIVERED_RATES:
        mine = cell_of(product, GOAL_DELIVERED_SUBS, rate)
        floor = cell_of("floor", GOAL_DELIVERED_SUBS, rate)
        peer = cell_of(node_peer.REFERENCE, GOAL_DELIVERED_SUBS, rate)
        head = (
            f"* Delivered/s at {GOAL_DELIVERED_SUBS:,} subscribers x {rate} pub/s ≥ "
            f"{GOAL_DELIVERED_RATIO}x the floor's"
        )
        if mine is None or floor is None:
            lines.append(f"{head} — not evaluated (step not measured).")
            continue
        ratio = mine.delivered_per_s / floor.delivered_per_s
        peer_part = (
            peer_text(mine.delivered_per_s, peer.delivered_per_s) if peer is not None else ""
        )
        lines.append(
            f"{head} — {verdict(ratio >= GOAL_DELIVERED_RATIO)}: **{ratio:.2f}x** (product "
            f"{mine.delivered_per_s:.0f}/s, floor {floor.delivered_per_s:.0f}/s"
            + (f", Node peer {peer.delivered_per_s:.0f}/s" if peer is not None else "")
            + f"){peer_part}"
            + ("" if peer is not None else peer_missing(GOAL_DELIVERED_SUBS))
            + "."
        )

    # 2. p50 at 100 subscribers x 10 pub/s vs the floor.
    subs, rate = GOAL_P50_CELL
    mine, floor = cell_of(product, subs, rate), cell_of("floor", subs, rate)
    peer = cell_of(node_peer.REFERENCE, subs, rate)
    head = (
        f"* Publish → receive p50 at {subs} subscribers x {rate} pub/s ≤ {GOAL_P50_RATIO}x "
        "the floor's"
    )
    if mine is None or floor is None:
        lines.append(f"{head} — not evaluated (step not measured).")
    else:
        ratio = mine.latency_ms(0.5) / floor.latency_ms(0.5)
        lines.append(
            f"{head} — {verdict(ratio <= GOAL_P50_RATIO)}: **{ratio:.2f}x** (product "
            f"{mine.latency_ms(0.5):.2f} ms, floor {floor.latency_ms(0.5):.2f} ms"
            + (f", Node peer {peer.latency_ms(0.5):.2f} ms" if peer is not None else "")
            + ")"
            + (peer_text(mine.latency_ms(0.5), peer.latency_ms(0.5)) if peer else "")
            + ("" if peer is not None else peer_missing(subs))
            + "."
        )

    # 3. p99.9 at 10,000 deliveries/s.
    subs, rate = GOAL_P999_CELL
    runs = [run] + ([run.extra] if run.extra is not None else [])
    for variant in runs:
        found = variant.cells.get((product, subs, rate))
        if found is None:
            continue
        context = []
        for name in ("floor", node_peer.REFERENCE):
            other = variant.cells.get((name, subs, rate))
            if other is not None:
                context.append(
                    f"{name}: {other.latency_ms(0.999):.1f} ms (per round "
                    f"{per_round(other.step_p999)})"
                )
        setting = "" if variant is run else f", client compression {variant.compression or 'none'}"
        p999 = found.latency_ms(0.999)
        lines.append(
            f"* p99.9 < {GOAL_P999_MS:.0f} ms at 10,000 deliveries/s ({subs} subscribers x "
            f"{rate} pub/s{setting}) — {verdict(p999 < GOAL_P999_MS and not found.saturated)}: "
            f"product **{p999:.1f} ms** (per round {per_round(found.step_p999)}; "
            f"{found.deliveries} samples)" + (f"; {'; '.join(context)}" if context else "") + "."
        )
    if not any((product, subs, rate) in variant.cells for variant in runs):
        lines.append(
            f"* p99.9 < {GOAL_P999_MS:.0f} ms at 10,000 deliveries/s — not evaluated "
            "(step not measured)."
        )

    # 4. Memory per idle subscription.
    for kind, limit in GOAL_MEMORY_KB.items():
        mine_memory = memory_of(run, product, kind)
        if mine_memory is None:
            lines.append(
                f"* Memory per idle subscription ≤ {limit:.0f} KB with {kind} — not evaluated."
            )
            continue
        peer_memory = memory_of(run, node_peer.REFERENCE, kind)
        floor_memory = memory_of(run, "floor", kind)
        ratio_parts = []
        if floor_memory is not None and floor_memory.per_sub_kb > 0:
            ratio_parts.append(
                f"{mine_memory.per_sub_kb / floor_memory.per_sub_kb:.2f}x the floor's "
                f"{floor_memory.per_sub_kb:.2f} KB"
            )
        if peer_memory is not None and peer_memory.per_sub_kb > 0:
            ratio_parts.append(
                f"{mine_memory.per_sub_kb / peer_memory.per_sub_kb:.2f}x the Node peer's "
                f"{peer_memory.per_sub_kb:.2f} KB"
            )
        lines.append(
            f"* Memory per idle subscription ≤ {limit:.0f} KB with {kind} "
            f"({mine_memory.subs:,} subscriptions) — "
            f"{verdict(mine_memory.per_sub_kb <= limit)}: **{mine_memory.per_sub_kb:.2f} KB**"
            + (f" ({'; '.join(ratio_parts)})" if ratio_parts else "")
            + "."
        )
    if peer_note:
        lines.append(f"* Ratios to the Node peer: {peer_note}.")
    return lines


def memory_of(run: Run, target: str, kind: str) -> MemoryResult | None:
    return next(
        (result for result in run.memory if result.target == target and result.kind == kind),
        None,
    )


def memory_table(run: Run) -> str:
    rows = []
    for result in run.memory:
        ratios = []
        for base_name in ("floor", node_peer.REFERENCE):
            base = memory_of(run, base_name, result.kind)
            if base is None or base.per_sub_kb <= 0:
                ratios.append("—")
            else:
                ratios.append(f"{result.per_sub_kb / base.per_sub_kb:.2f}x")
        rows.append(
            [
                result.target,
                result.kind,
                f"{result.subs:,}",
                f"{result.conns}",
                f"{result.rss_before / 2**20:.1f}",
                f"{result.rss_after / 2**20:.1f}",
                f"{result.per_sub_kb:.2f}",
                *ratios,
                f"{result.open_seconds:.1f}",
            ]
        )
    headers = [
        "target",
        "topics",
        "idle subscriptions",
        "connections",
        "RSS before MiB",
        "RSS after MiB",
        "KB per subscription",
        "÷ floor",
        f"÷ {node_peer.REFERENCE}",
        "time to open s",
    ]
    return markdown_table(headers, rows)


def level_heading(subs: int, per_conn: int, level: int = 3) -> str:
    conns = math.ceil(subs / min(per_conn, subs))
    return (
        f"{'#' * level} {subs:,} subscriber{'s' if subs != 1 else ''} ({conns} connection"
        f"{'s' if conns != 1 else ''})"
    )


def report(args: argparse.Namespace, run: Run) -> str:
    client_cpu = [share for cell in run.cells.values() for share in cell.client_cpu]
    parts = [
        "## Ticker fan-out (`bench/fanout.py`)",
        "",
        f"Measured {today()} on {machine_info()}; product at {source_revision()}; "
        + versions(
            "uvicorn", "starlette", "strawberry-graphql", "graphql-core", "websockets", "redis"
        )
        + ". "
        + node_peer.peer_line(args.targets, args.peer_skipped),
        "",
        f"Subscription `{QUERY}`. Each Python target runs under uvicorn ({ws_text(args.ws)}, "
        "uvloop, httptools), the Node peer as `node bench/peers/node/server.mjs` (`ws` "
        "declines the clients' permessage-deflate offer, its default), each in its own "
        "process with its own private redis-server; "
        f"{args.clients} client processes hold the subscriptions (raw `websockets` "
        f"connections, graphql-transport-ws, {args.per_conn} subscription ids per "
        f"connection, client compression: {args.compression or 'none'}). This process "
        "publishes through the simulator (`CacheWriter.set_ticker`: HSET + SET + PUBLISH) at "
        f"a fixed rate for {args.seconds:g} s per step; the tick's `time` is `time.time()` "
        "just before the write and comes back in every payload as an ISO datetime "
        "(microseconds), so latency is publish → client receive on one clock, Redis and the "
        "publisher's pipeline round trip included. A step ends when every subscription has "
        f"the step's last tick (or after {args.drain_timeout:g} s: ⚠ not drained). A target "
        "that did not drain, or whose p99 passed "
        f"{OVERLOADED_P99_MS / 1000:g} s while its server used at least "
        f"{OVERLOADED_CPU_SHARE:.0%} of a core, is overloaded: its higher rates at that "
        "level are skipped (a server less busy than that has outrun its clients, and goes "
        "on). Steps are interleaved across "
        f"targets (order rotated every step), {args.rounds} round(s), samples pooled. "
        "Delivered/s = messages received ÷ (first publish → last message); "
        "delivered / offered < 100% is latest-value coalescing (a subscriber that is "
        "behind gets the newest tick, not every tick). Server CPU is the server process's "
        "CPU time over the step (`/proc/<pid>/task/*/schedstat`) per delivery, and as a "
        "share of one core. Ratios are to the floor and to the Node peer with a document "
        f"cache ({node_peer.REFERENCE}) in the same step of the same run.",
        "",
    ]
    for subs in args.subs:
        parts += [
            level_heading(subs, args.per_conn),
            "",
            level_table(run, args.targets, args.rates, subs),
            "",
        ]
    extra = run.extra
    if extra is not None and extra.cells:
        targets = [name for name in args.targets if name in args.extra_targets]
        parts += [
            f"### The same steps with client compression {extra.compression or 'none'} "
            f"({', '.join(targets)} only)",
            "",
        ]
        for subs in args.extra_subs:
            parts += [
                level_heading(subs, args.per_conn, level=4),
                "",
                level_table(extra, targets, args.extra_rates, subs),
                "",
            ]
    if run.memory:
        parts += [
            "### Memory per idle subscription",
            "",
            "A fresh server for each row; one subscription opened and closed (warm-up), then "
            f"`VmRSS` before and 1 s after opening the subscriptions, {args.memory_per_conn} "
            "per connection. One document: every subscription is "
            f"`{IDLE_QUERY}` (seeded, never published to). Distinct topics: subscription n is "
            f"on its own ticker `{TOPIC_SYMBOL}` (seeded, never published to), named in its "
            "query text, so every subscription has its own Redis channel and its own "
            f"document; at most {args.memory_topic_subs:,} of them (`--memory-topic-subs`). "
            "The naive target holds one Redis connection per subscription, so it gets fewer.",
            "",
            memory_table(run),
            "",
        ]
    peer_note = args.peer_skipped or (
        "" if node_peer.REFERENCE in args.targets else f"{node_peer.REFERENCE} not measured"
    )
    parts += ["### Goals", "", *goals(run, peer_note), ""]
    if client_cpu:
        parts += [
            f"Client processes: the busiest used at most {100 * max(client_cpu):.0f}% of a "
            "core over a step (median over steps "
            f"{100 * percentile(sorted(client_cpu), 0.5):.0f}%).",
            "",
        ]
    all_cells = list(run.cells.values()) + (list(extra.cells.values()) if extra else [])
    foreign = [share for cell in all_cells for share in cell.foreign]
    if foreign:
        retried = sum(cell.retried for cell in all_cells)
        parts += [
            "Other processes on the machine (not this benchmark's) used on average "
            f"{100 * sum(foreign) / len(foreign):.0f}% of a CPU during a measured step, at "
            f"most {100 * max(foreign):.0f}%; a step during which they used more than "
            f"{100 * args.max_foreign:.0f}% was measured again after they calmed down "
            f"(up to {args.retries} times): {retried} step(s) were.",
            "",
        ]
    parts += ["Targets:", ""]
    parts += [f"* **{name}** — {DESCRIPTIONS[name]}" for name in args.targets]
    parts += ["", "### Notes", "", *NOTES]
    if args.notes:
        parts += ["", args.notes]
    return "\n".join(parts)


# =========================================================================== #
# Main
# =========================================================================== #


def int_list(text: str) -> list[int]:
    return [int(item) for item in text.split(",") if item.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--subs", type=int_list, default=[1, 100, 1000], help="subscriber levels")
    parser.add_argument(
        "--rates", type=int_list, default=[10, 100, 300, 1000], help="publishes/s per step"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="publishing time per step")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every step")
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="seconds at 10/s per level and target"
    )
    parser.add_argument("--clients", type=int, default=2, help="client worker processes")
    parser.add_argument("--per-conn", type=int, default=10, help="subscriptions per connection")
    parser.add_argument("--drain-timeout", type=float, default=5.0, help="seconds")
    parser.add_argument("--open-timeout", type=float, default=60.0, help="seconds")
    parser.add_argument(
        "--max-foreign",
        type=float,
        default=0.25,
        help="measure a step again when other processes used more than this share of a CPU",
    )
    parser.add_argument("--retries", type=int, default=2, help="of a step, at most")
    parser.add_argument(
        "--quiet-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for other processes to calm down before a retry",
    )
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help=f"subset of {','.join(TARGETS)}"
    )
    parser.add_argument("--memory-subs", type=int, default=10_000, help="idle subscriptions")
    parser.add_argument(
        "--naive-memory-subs",
        type=int,
        default=1_000,
        help="idle subscriptions on the naive target (one Redis connection each)",
    )
    parser.add_argument(
        "--memory-topic-subs",
        type=int,
        default=2_000,
        help="idle subscriptions (and seeded tickers) of the distinct-topics memory row",
    )
    parser.add_argument("--memory-per-conn", type=int, default=100)
    parser.add_argument(
        "--memory-kinds",
        default=",".join(MEMORY_KINDS),
        help=f"comma-separated subset of: {', '.join(MEMORY_KINDS)}",
    )
    parser.add_argument(
        "--no-node",
        dest="node",
        action="store_false",
        help="leave the Node.js peer out (by default it runs when `node` is installed)",
    )
    parser.add_argument("--no-memory", dest="memory", action="store_false")
    parser.add_argument("--no-load", dest="load", action="store_false")
    parser.add_argument(
        "--ws",
        default=None,
        help="uvicorn --ws implementation for every Python target (default: the product on "
        "its own protocol, the others on uvicorn's auto)",
    )
    parser.add_argument(
        "--compression",
        default="deflate",
        choices=["deflate", "none"],
        help="client permessage-deflate offer (browsers and websockets offer it)",
    )
    parser.add_argument(
        "--extra-compression",
        default="none",
        choices=["none", "deflate", "off"],
        help="then run floor and product again with this client compression (off: don't)",
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=MODULE:FACTORY[@WS]",
        help="also measure this app (factory(redis_url, port) -> ASGI app) on uvicorn's --ws "
        "WS (a name or module:Class), e.g. a variant of the product; repeatable",
    )
    parser.add_argument("--extra-subs", type=int_list, default=[1000])
    parser.add_argument("--extra-rates", type=int_list, default=[10, 100, 1000])
    parser.add_argument(
        "--quick", action="store_true", help="a short run (< 60 s on a quiet machine), no write"
    )
    write = parser.add_mutually_exclusive_group()
    write.add_argument("--write", dest="write", action="store_true", default=None)
    write.add_argument("--no-write", dest="write", action="store_false")
    parser.add_argument("--notes", default="", help="a paragraph appended to the section")
    parser.add_argument("--notes-file", type=Path, help="append this file's text as well")
    parser.add_argument("--profile", metavar="TARGET", help="py-spy this target under load")
    parser.add_argument("--profile-subs", type=int, default=1000)
    parser.add_argument("--profile-rate", type=int, default=100)
    parser.add_argument("--profile-seconds", type=float, default=10.0)
    parser.add_argument("--profile-out", type=Path, help="keep py-spy's collapsed stacks here")
    args = parser.parse_args(argv)
    if args.quick:
        args.subs, args.rates = [1, 100], [10, 100, 1000]
        args.seconds, args.rounds, args.warmup, args.drain_timeout = 1.0, 1, 0.3, 2.0
        args.memory_subs, args.naive_memory_subs, args.memory_topic_subs = 1000, 100, 1000
        args.extra_compression = "off"
        args.retries, args.quiet_timeout = 1, 5.0
    if args.write is None:
        args.write = not args.quick and args.profile is None
    if args.notes_file is not None:
        args.notes = "\n\n".join(filter(None, [args.notes, args.notes_file.read_text().strip()]))
    args.compression = None if args.compression == "none" else args.compression
    if args.extra_compression == (args.compression or "none"):
        args.extra_compression = "off"
    args.targets = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = set(args.targets) - set(TARGETS)
    if unknown or not args.targets:
        parser.error(f"unknown targets: {sorted(unknown)}")
    add_extra_targets(parser, args.extra, TARGETS, DESCRIPTIONS, args.targets)
    args.targets.sort(key=list(TARGETS).index)
    args.peer_skipped = None
    wanted = [name for name in args.targets if name in node_peer.TARGETS]
    if wanted and not args.node:
        args.peer_skipped = "left out with --no-node"
    elif wanted or args.profile in node_peer.TARGETS:
        args.peer_skipped = node_peer.peer_available()
    if args.peer_skipped is not None:
        if args.profile in node_peer.TARGETS:
            parser.error(f"cannot profile {args.profile}: {args.peer_skipped}")
        if wanted:
            log(f"Node.js peer skipped: {args.peer_skipped}")
        args.targets = [name for name in args.targets if name not in node_peer.TARGETS]
        if not args.targets and args.profile is None:
            parser.error("no target left to measure")
    args.memory_targets = args.targets if args.memory else []
    args.memory_kinds = [kind.strip() for kind in args.memory_kinds.split(",") if kind.strip()]
    if set(args.memory_kinds) - set(MEMORY_KINDS):
        parser.error(
            f"--memory-kinds: unknown {sorted(set(args.memory_kinds) - set(MEMORY_KINDS))}"
        )
    # The second compression setting: floor, product and the reference peer.
    args.extra_targets = [
        name for name in args.targets if name in ("floor", "product", node_peer.REFERENCE)
    ]
    if args.profile is not None and args.profile not in TARGETS:
        parser.error(f"--profile: unknown target {args.profile!r}")
    if args.clients < 1 or args.per_conn < 1 or args.seconds <= 0 or args.rounds < 1:
        parser.error("--clients, --per-conn, --seconds and --rounds must be positive")
    return args


async def main_async(args: argparse.Namespace, tmp: Path) -> Run | None:
    bench = Bench(args, tmp)
    try:
        if args.profile:
            out = args.profile_out or tmp / "profile.txt"
            await run_profile(bench, out)
            if node_peer.is_node_spec(TARGETS[args.profile]):
                print(node_peer.summarize_cpuprofile(out))
            else:
                print(summarize_collapsed(out))
            return None
        await bench.start(args.targets)
        if args.memory:
            await bench.memory_phase()
        if args.load:
            await bench.load_phase(bench.run, args.targets, args.subs, args.rates)
        if args.load and args.extra_compression != "off":
            bench.extra_run = Run(None if args.extra_compression == "none" else "deflate")
            await bench.load_phase(
                bench.extra_run, args.extra_targets, args.extra_subs, args.extra_rates
            )
            bench.run.extra = bench.extra_run
        return bench.run
    finally:
        await bench.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runner = uvloop_runner()
    if args.worker:
        with contextlib.suppress(KeyboardInterrupt):
            runner(worker_main())
        return 0
    # SIGINT (even when started in the background) and SIGTERM → KeyboardInterrupt, so the
    # clean-up of servers, Redis and clients runs for them too.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        run = runner(main_async(args, Path(tmp)))
    log(f"finished in {time.monotonic() - started:.0f} s")
    if run is None:
        return 0
    text = report(args, run)
    print(text)
    if args.write:
        write_section(SECTION, text)
        log(f"wrote the {SECTION} section of BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
