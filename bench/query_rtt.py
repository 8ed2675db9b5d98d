"""Ticker-query round trip: the product against a no-GraphQL floor and a naive Strawberry app.

Every target is served by uvicorn in its own process; one client process talks to each over
one WebSocket (``graphql-transport-ws``) and sends the same query with variables, one at a
time: ``subscribe`` → ``next`` → ``complete`` is one sample. The targets are measured in
interleaved rounds (floor, product, naive, then the next round in rotated order) so the
noise of a shared machine lands on all of them, and each target's p50 is reported as a
ratio to the floor's p50 from the same run.

Targets:

* ``floor`` — :mod:`bench.floor_server`: a hand-written graphql-transport-ws server doing
  the same ``HGET`` and JSON work with no GraphQL engine, on the same uvicorn + Starlette.
* ``product`` — :func:`fullon_cache_api.server.app.create_app`.
* ``naive`` — :mod:`bench.naive_strawberry`: ``strawberry.asgi.GraphQL`` as documented.
* ``node`` and ``node-cache`` — the Node.js reference peer (:mod:`bench.node_peer`,
  ``bench/peers/node/``), plain and with a document cache; left out, with the reason
  printed, when ``node`` is missing or its ``npm ci`` fails.

The same targets also answer the query as an HTTP POST on a keep-alive connection. Then
every target serves the query on 10 connections at once, each running its queries back to
back (closed loop), in interleaved timed blocks: queries per second.

Goals (WebSocket): product p50 ≤ 0.9x the Node peer's with a document cache and ≤ 1.15x
the floor's; queries/s on 10 connections ≥ 1.0x the Node peer's with a document cache.

Run ``.venv/bin/python bench/query_rtt.py`` (rewrites its section of BENCHMARKS.md) or add
``--quick`` for a short run that only prints. ``--extra NAME=module:factory`` measures a
variant beside the others; ``--profile product`` profiles the product's server process
(py-spy or cProfile; ``--profile node-cache`` uses V8's ``--cpu-prof``) instead of
benchmarking.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import node_peer
from bench._common import (
    PRODUCT_WS,
    GraphQLWSClient,
    ProtocolError,
    PySpy,
    RawHTTPClient,
    ServerProcess,
    Stats,
    add_extra_targets,
    machine_info,
    markdown_table,
    percentile,
    proc_cpu_seconds,
    summarize_collapsed,
    today,
    versions,
    write_section,
    ws_text,
)

SECTION = "query_rtt"
# Goals (issue 14): WebSocket p50 against the floor and the Node peer with a document cache,
# and queries/s on QPS_CONNECTIONS connections against that peer.
GOAL_FLOOR = 1.15
GOAL_PEER = 0.9
GOAL_QPS_PEER = 1.0
QPS_CONNECTIONS = 10
QUERY = (
    "query T($e: String!, $s: String!) "
    "{ ticker(exchange: $e, symbol: $s) { symbol exchange price bid ask last volume time } }"
)
VARIABLES = {"e": "binance", "s": "BTC/USDT"}
TICK = {
    "symbol": "BTC/USDT",
    "exchange": "binance",
    "price": 105234.56,
    "volume": 18342.712,
    "time": 1748851200.125,
    "bid": 105234.55,
    "ask": 105234.57,
    "last": 105234.56,
}

TARGETS: dict[str, str] = {
    "floor": "bench.floor_server:create_app",
    "product": f"bench.query_rtt:product_app@{PRODUCT_WS}",
    "naive": "bench.naive_strawberry:create_app",
    **node_peer.TARGETS,
}
DESCRIPTIONS = {
    "floor": "hand-written graphql-transport-ws + HTTP endpoint, no GraphQL engine "
    "(`bench/floor_server.py`)",
    "product": "`fullon_cache_api.server.app.create_app(Settings(...))` on the server's own "
    "uvicorn WebSocket protocol (`server/ws_protocol.py`), as `fullon-cache-api serve` runs it",
    "naive": "`strawberry.asgi.GraphQL` with an equivalent resolver, no caches "
    "(`bench/naive_strawberry.py`)",
    **node_peer.DESCRIPTIONS,
}


def product_app(redis_url: str, port: int) -> Any:
    """The product, as ``python -m bench._common`` serves it."""
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.settings import Settings

    return create_app(Settings(redis_url=redis_url, api_port=port))


# --------------------------------------------------------------------------- #
# Measurement
# --------------------------------------------------------------------------- #


@dataclass
class Target:
    name: str
    server: ServerProcess
    ws: GraphQLWSClient | None = None
    http: RawHTTPClient | None = None
    ws_samples: list[int] = field(default_factory=list)
    http_samples: list[int] = field(default_factory=list)
    ws_rounds: list[list[int]] = field(default_factory=list)
    http_rounds: list[list[int]] = field(default_factory=list)
    ws_cpu: float = 0.0  # server CPU seconds spent during the measured WebSocket blocks
    http_cpu: float = 0.0
    extensions: str = ""  # the WebSocket extensions the server accepted
    qps_clients: list[GraphQLWSClient] = field(default_factory=list)
    qps_rounds: list[tuple[int, float]] = field(default_factory=list)  # (queries, seconds)
    qps_cpu: float = 0.0
    qps_client_cpu: float = 0.0  # this (client) process's CPU during the blocks

    @property
    def qps(self) -> float:
        seconds = sum(elapsed for _, elapsed in self.qps_rounds)
        return sum(count for count, _ in self.qps_rounds) / seconds if seconds else math.nan

    def round_qps(self, index: int) -> float:
        count, elapsed = self.qps_rounds[index]
        return count / elapsed if elapsed else math.nan


async def ws_samples(client: GraphQLWSClient, count: int) -> list[int]:
    """``count`` sequential round trips (ns); messages are built before timing."""
    messages = [client.subscribe_message(QUERY, VARIABLES) for _ in range(count)]
    ws = client.ws
    receive = client.receive
    clock = time.perf_counter_ns
    samples: list[int] = []
    for message in messages:
        start = clock()
        await ws.send(message)
        while True:
            answer = await receive()
            kind = answer["type"]
            if kind == "complete":
                break
            if kind != "next":
                raise ProtocolError(f"unexpected answer {answer!r}")
        samples.append(clock() - start)
    return samples


async def http_samples(client: RawHTTPClient, count: int) -> list[int]:
    request = client.request(orjson.dumps({"query": QUERY, "variables": VARIABLES}))
    post = client.post
    clock = time.perf_counter_ns
    samples: list[int] = []
    for _ in range(count):
        start = clock()
        await post(request)
        samples.append(clock() - start)
    return samples


async def qps_block(clients: list[GraphQLWSClient], seconds: float) -> tuple[int, float]:
    """Every connection sends the query, waits for its ``complete``, and again, until
    ``seconds`` have passed (then finishes the query in flight): (queries, elapsed)."""
    clock = time.perf_counter
    started = clock()
    deadline = started + seconds

    async def loop(client: GraphQLWSClient) -> int:
        ws, receive, build = client.ws, client.receive, client.subscribe_message
        done = 0
        while clock() < deadline:
            await ws.send(build(QUERY, VARIABLES))
            while True:
                answer = await receive()
                kind = answer["type"]
                if kind == "complete":
                    break
                if kind != "next":
                    raise ProtocolError(f"unexpected answer {answer!r}")
            done += 1
        return done

    counts = await asyncio.gather(*(loop(client) for client in clients))
    return sum(counts), clock() - started


async def timed_block(measure: Awaitable[list[int]]) -> list[int]:
    """Await one block of samples with the client's GC off (collected first)."""
    gc.collect()
    gc.disable()
    try:
        return await measure
    finally:
        gc.enable()


async def check_equivalence(targets: list[Target], http: bool) -> None:
    """Every target must answer the query with the same data (no errors)."""
    expected: Any = None
    for target in targets:
        assert target.ws is not None
        answers = [("ws", await target.ws.query(QUERY, VARIABLES))]
        if http:
            assert target.http is not None
            body = orjson.dumps({"query": QUERY, "variables": VARIABLES})
            answers.append(
                ("http", orjson.loads(await target.http.post(target.http.request(body))))
            )
        for transport, answer in answers:
            if not isinstance(answer, dict) or "errors" in answer or not answer.get("data"):
                raise SystemExit(f"{target.name} ({transport}) answered {answer!r}")
            if expected is None:
                expected = answer["data"]
            elif answer["data"] != expected:
                raise SystemExit(
                    f"{target.name} ({transport}) answered {answer['data']!r}, "
                    f"expected {expected!r}"
                )


async def seed(redis_url: str) -> None:
    import redis.asyncio

    from fullon_cache_api.simulator import CacheWriter

    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await CacheWriter(client).set_ticker(TICK)
    finally:
        await client.aclose()


async def run_benchmark(args: argparse.Namespace, redis_url: str) -> list[Target]:
    await seed(redis_url)
    targets = [
        Target(name, node_peer.server_process(name, TARGETS[name], redis_url, ws=args.ws))
        for name in args.targets
    ]
    try:
        for target in targets:
            target.server.start()
        for target in targets:
            target.ws = GraphQLWSClient(target.server.ws_url, compression=args.compression)
            await target.ws.connect()
            headers = target.ws.ws.response.headers
            accepted = headers.get("Sec-WebSocket-Extensions") or "none"
            target.extensions = accepted.split(";", 1)[0]
            if args.http:
                target.http = RawHTTPClient(target.server.port)
                await target.http.connect()
        await check_equivalence(targets, args.http)

        for target in targets:  # warm-up: connection pools, document caches, CPU caches
            assert target.ws is not None
            await ws_samples(target.ws, args.warmup)
            if target.http is not None:
                await http_samples(target.http, args.warmup)

        per_round = math.ceil(args.iterations / args.rounds)
        for index in range(args.rounds):
            shift = index % len(targets)
            for target in targets[shift:] + targets[:shift]:
                assert target.ws is not None
                cpu = target.server.cpu_seconds()
                block = await timed_block(ws_samples(target.ws, per_round))
                target.ws_cpu += target.server.cpu_seconds() - cpu
                target.ws_rounds.append(block)
                target.ws_samples += block
            if args.http:
                for target in targets[shift:] + targets[:shift]:
                    assert target.http is not None
                    cpu = target.server.cpu_seconds()
                    block = await timed_block(http_samples(target.http, per_round))
                    target.http_cpu += target.server.cpu_seconds() - cpu
                    target.http_rounds.append(block)
                    target.http_samples += block
            print(f"round {index + 1}/{args.rounds}", end="\r", file=sys.stderr, flush=True)
        if args.qps:
            await measure_qps(args, targets)
        return targets
    finally:
        for target in targets:
            if target.ws is not None:
                await target.ws.close()
            if target.http is not None:
                await target.http.close()
            for client in target.qps_clients:
                await client.close()
            target.server.close()


async def measure_qps(args: argparse.Namespace, targets: list[Target]) -> None:
    """Interleaved timed blocks of :func:`qps_block` on every target's connections.

    The connections open here, not with the others: idle through the round trips, they
    would read none of the product's keep-alive pings and be closed (1011) after
    ``WS_PONG_TIMEOUT``."""
    for target in targets:
        for _ in range(args.qps_connections):
            client = GraphQLWSClient(target.server.ws_url, compression=args.compression)
            await client.connect()
            target.qps_clients.append(client)
    for target in targets:  # warm-up
        await qps_block(target.qps_clients, args.qps_warmup)
    me = os.getpid()
    for index in range(args.qps_rounds):
        shift = index % len(targets)
        for target in targets[shift:] + targets[:shift]:
            cpu, client_cpu = target.server.cpu_seconds(), proc_cpu_seconds(me)
            gc.collect()
            gc.disable()
            try:
                block = await qps_block(target.qps_clients, args.qps_seconds)
            finally:
                gc.enable()
            target.qps_cpu += target.server.cpu_seconds() - cpu
            target.qps_client_cpu += proc_cpu_seconds(me) - client_cpu
            target.qps_rounds.append(block)
        print(
            f"queries/s round {index + 1}/{args.qps_rounds}", end="\r", file=sys.stderr, flush=True
        )


# --------------------------------------------------------------------------- #
# Profiling
# --------------------------------------------------------------------------- #


# Idle time between profiled blocks: each connection's message budget refills.
PROFILE_PAUSE_S = 1.0


async def run_profile(args: argparse.Namespace, redis_url: str, out: Path) -> None:
    """Serve ``args.profile``, drive it with the benchmark's WebSocket client and profile the
    server process: with py-spy (sampling, collapsed stacks in ``out``) or under cProfile
    (``out`` is its stats file)."""
    await seed(redis_url)
    spec = TARGETS[args.profile]
    node = node_peer.is_node_spec(spec)
    cprofile = args.profiler == "cprofile" and not node
    server: ServerProcess
    if node:
        # V8's sampler over the whole life of the process (the warm-up is included).
        prof_dir = out.parent / f"{out.name}.d"
        server = node_peer.NodePeerProcess(args.profile, spec, redis_url, cpu_prof_dir=prof_dir)
    else:
        server = ServerProcess(
            args.profile, spec, redis_url, ws=args.ws, profile=out if cprofile else None
        )
    server.start()
    try:
        clients = [GraphQLWSClient(server.ws_url, compression=args.compression)]
        await clients[0].connect()
        await ws_samples(clients[0], args.warmup)
        assert server.pid is not None
        spy = None if cprofile or node else PySpy(server.pid, out)
        try:
            # What the goals measure: round trips on one connection, then queries on
            # ``--qps-connections`` at once, in blocks with a pause between them, so no
            # connection passes the product's default message rate limit (1000/s, burst
            # 2000), which a connection sending as fast as it can reaches in seconds.
            per_block = math.ceil(args.iterations / args.rounds)
            for _ in range(args.rounds):
                await ws_samples(clients[0], per_block)
                await asyncio.sleep(PROFILE_PAUSE_S)
            # Opened now: idle through the round trips, they would answer no keep-alive
            # ping and be closed (1011), as ``measure_qps`` explains.
            for _ in range(args.qps_connections - 1):
                clients.append(GraphQLWSClient(server.ws_url, compression=args.compression))
                await clients[-1].connect()
            for _ in range(args.qps_rounds):
                await qps_block(clients, args.qps_seconds)
                await asyncio.sleep(PROFILE_PAUSE_S)
        finally:
            if spy is not None:
                spy.stop()
        for client in clients:
            await client.close()
        await asyncio.sleep(0.2)
    finally:
        server.close()
    if node:
        profiles = sorted(prof_dir.glob("*.cpuprofile"))
        if not profiles:
            raise SystemExit(f"node wrote no .cpuprofile into {prof_dir}")
        profiles[-1].replace(out)


def print_profile(path: Path, limit: int = 30) -> None:
    stats = pstats.Stats(str(path))
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = stats.stats  # type: ignore[attr-defined]

    def show(title: str, key: int) -> None:
        print(f"\n{title} (total {total:.3f} s of profiled CPU)")
        print(f"{'own %':>7} {'cum %':>7} {'calls':>9}  function")
        ordered = sorted(rows.items(), key=lambda item: item[1][key], reverse=True)
        for (filename, line, name), (_cc, calls, own, cum, _callers) in ordered[:limit]:
            short = filename.split("site-packages/")[-1].split("/src/")[-1]
            print(
                f"{100 * own / total:6.1f}% {100 * cum / total:6.1f}% {calls:9d}  "
                f"{short}:{line}({name})"
            )

    show("Top functions by own time", 2)
    show("Top functions by cumulative time", 3)


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #


def ratio_range(rounds: list[list[int]], base_rounds: list[list[int]]) -> str:
    ratios = [
        Stats.from_ns(mine).p50 / Stats.from_ns(base).p50
        for mine, base in zip(rounds, base_rounds, strict=True)
    ]
    ratios.sort()
    return f"{percentile(ratios, 0.5):.2f} ({ratios[0]:.2f} to {ratios[-1]:.2f})"


def find(targets: list[Target], name: str) -> Target | None:
    return next((target for target in targets if target.name == name), None)


def table(targets: list[Target], http: bool) -> tuple[str, dict[str, dict[str, float]]]:
    """The p50 table; ratios[target] = {"floor": p50 ratio, "peer": p50 ratio}."""
    floor, peer = find(targets, "floor"), find(targets, node_peer.REFERENCE)

    def samples_of(target: Target) -> list[int]:
        return target.http_samples if http else target.ws_samples

    def rounds_of(target: Target) -> list[list[int]]:
        return target.http_rounds if http else target.ws_rounds

    ratios: dict[str, dict[str, float]] = {}
    rows = []
    for target in targets:
        stats = Stats.from_ns(samples_of(target))
        cpu_us = (
            1e6 * (target.http_cpu if http else target.ws_cpu) / max(len(samples_of(target)), 1)
        )
        mine = ratios[target.name] = {}
        cells = []
        for key, base in (("floor", floor), ("peer", peer)):
            if base is None:
                cells += ["n/a", "n/a"]
                continue
            mine[key] = stats.p50 / Stats.from_ns(samples_of(base)).p50
            cells += [f"**{mine[key]:.2f}x**", ratio_range(rounds_of(target), rounds_of(base))]
        rows.append(
            [
                target.name,
                f"{stats.p50:.0f}",
                f"{stats.p90:.0f}",
                f"{stats.p99:.0f}",
                f"{stats.mean:.0f}",
                *cells,
                f"{cpu_us:.0f}",
            ]
        )
    headers = [
        "target",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "mean µs",
        "p50 / floor p50",
        "per round: median (range)",
        f"p50 / {node_peer.REFERENCE} p50",
        "per round: median (range)",
        "server CPU µs/query",
    ]
    return markdown_table(headers, rows), ratios


def qps_ratio_range(target: Target, base: Target) -> str:
    ratios = sorted(
        target.round_qps(index) / base.round_qps(index) for index in range(len(target.qps_rounds))
    )
    return f"{percentile(ratios, 0.5):.2f} ({ratios[0]:.2f} to {ratios[-1]:.2f})"


def qps_table(targets: list[Target]) -> tuple[str, dict[str, dict[str, float]]]:
    floor, peer = find(targets, "floor"), find(targets, node_peer.REFERENCE)
    ratios: dict[str, dict[str, float]] = {}
    rows = []
    for target in targets:
        queries = sum(count for count, _ in target.qps_rounds)
        seconds = sum(elapsed for _, elapsed in target.qps_rounds)
        mine = ratios[target.name] = {}
        cells = []
        for key, base in (("floor", floor), ("peer", peer)):
            if base is None:
                cells += ["n/a", "n/a"]
                continue
            mine[key] = target.qps / base.qps
            cells += [f"**{mine[key]:.2f}x**", qps_ratio_range(target, base)]
        rows.append(
            [
                target.name,
                f"{target.qps:.0f}",
                *cells,
                f"{1e6 * target.qps_cpu / max(queries, 1):.0f}",
                f"{100 * target.qps_cpu / seconds:.0f}%" if seconds else "—",
                f"{100 * target.qps_client_cpu / seconds:.0f}%" if seconds else "—",
            ]
        )
    headers = [
        "target",
        "queries/s",
        "/ floor",
        "per round: median (range)",
        f"/ {node_peer.REFERENCE}",
        "per round: median (range)",
        "server CPU µs/query",
        "server CPU",
        "client CPU",
    ]
    return markdown_table(headers, rows), ratios


def met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def goals(
    ws: dict[str, dict[str, float]], qps: dict[str, dict[str, float]] | None, peer_note: str
) -> list[str]:
    product = ws.get("product", {})
    lines = []
    if "floor" in product:
        ratio = product["floor"]
        lines.append(
            f"* WebSocket p50 ≤ {GOAL_FLOOR}x the floor's — {met(ratio <= GOAL_FLOOR)} "
            f"(**{ratio:.2f}x**)."
        )
    else:
        lines.append(f"* WebSocket p50 ≤ {GOAL_FLOOR}x the floor's — not evaluated.")
    if "peer" in product:
        ratio = product["peer"]
        lines.append(
            f"* WebSocket p50 ≤ {GOAL_PEER}x the Node peer's with a document cache — "
            f"{met(ratio <= GOAL_PEER)} (**{ratio:.2f}x**)."
        )
    else:
        lines.append(
            f"* WebSocket p50 ≤ {GOAL_PEER}x the Node peer's with a document cache — not "
            f"evaluated ({peer_note})."
        )
    product_qps = (qps or {}).get("product", {})
    if "peer" in product_qps:
        ratio = product_qps["peer"]
        lines.append(
            f"* Queries/s on {QPS_CONNECTIONS} connections ≥ {GOAL_QPS_PEER}x the Node peer's "
            f"with a document cache — {met(ratio >= GOAL_QPS_PEER)} (**{ratio:.2f}x**)."
        )
    else:
        reason = peer_note if qps is not None else "queries/s not measured"
        lines.append(
            f"* Queries/s on {QPS_CONNECTIONS} connections ≥ {GOAL_QPS_PEER}x the Node peer's "
            f"with a document cache — not evaluated ({reason})."
        )
    return lines


def report(args: argparse.Namespace, targets: list[Target]) -> str:
    ws_table, ws_ratios = table(targets, http=False)
    names = [target.name for target in targets]
    peer_note = args.peer_skipped or (
        f"{node_peer.REFERENCE} not among --targets"
        if node_peer.REFERENCE not in names
        else "no product"
    )
    extensions = ", ".join(f"{target.name}: {target.extensions}" for target in targets)
    parts = [
        "## Query round trip (`bench/query_rtt.py`)",
        "",
        f"Measured {today()} on {machine_info()}; "
        + versions("uvicorn", "starlette", "strawberry-graphql", "graphql-core", "websockets")
        + ". "
        + node_peer.peer_line(names, args.peer_skipped),
        "",
        f"Query `{QUERY}` with variables `{orjson.dumps(VARIABLES).decode()}`, against one "
        "ticker in a private redis-server. Each Python target runs under uvicorn "
        f"({ws_text(args.ws)}, uvloop, httptools) in its own process, the Node peer as "
        "`node bench/peers/node/server.mjs`; one client process. "
        f"{args.iterations} measured round trips per target after {args.warmup} warm-up, "
        f"in {args.rounds} interleaved rounds (order rotated every round). Ratios are to the "
        f"floor's and to the Node peer's ({node_peer.REFERENCE}) p50 from the same run; the "
        "per-round columns are the median and range of that ratio computed round by round. "
        "Server CPU is the server process's user + system time during the measured blocks "
        "divided by the round trips (10 ms tick resolution).",
        "",
        "### WebSocket (`graphql-transport-ws`, one connection, subscribe → next → complete; "
        f"client compression: {args.compression or 'none'})",
        "",
        ws_table,
        "",
        f"Compression the servers accepted: {extensions}.",
    ]
    if args.http:
        http_table, _ = table(targets, http=True)
        parts += [
            "",
            "### HTTP POST (one keep-alive connection, `application/json`)",
            "",
            http_table,
        ]
    qps_ratios = None
    if args.qps:
        qps_text, qps_ratios = qps_table(targets)
        parts += [
            "",
            f"### Queries/s on {args.qps_connections} WebSocket connections",
            "",
            f"The same query on {args.qps_connections} connections per target at once, each "
            "sending its next query when the last one completed (closed loop, one query in "
            f"flight per connection), in {args.qps_rounds} interleaved timed blocks of "
            f"{args.qps_seconds:g} s per target after a {args.qps_warmup:g} s warm-up. Server "
            "CPU and client CPU (the one client process) are shares of one core over the "
            "blocks: a client near 100% means the client, not the server, set the pace.",
            "",
            qps_text,
        ]
    parts += ["", "### Goals", "", *goals(ws_ratios, qps_ratios, peer_note)]
    parts += ["", "Targets:", ""]
    parts += [f"* **{target.name}** — {DESCRIPTIONS[target.name]}" for target in targets]
    if args.notes:
        parts += ["", args.notes]
    return "\n".join(parts)


# --------------------------------------------------------------------------- #
# Main
# --------------------------------------------------------------------------- #


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=3000, help="measured, per target")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up round trips per target")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds")
    parser.add_argument(
        "--quick", action="store_true", help="300 iterations, 50 warm-up, 3 rounds; no write"
    )
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help=f"comma-separated subset of {','.join(TARGETS)}",
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=MODULE:FACTORY",
        help="also measure this app (factory(redis_url, port) -> ASGI app), e.g. a variant "
        "of the product; repeatable",
    )
    parser.add_argument("--no-http", dest="http", action="store_false", help="skip HTTP POST")
    parser.add_argument(
        "--no-qps", dest="qps", action="store_false", help="skip the queries/s measurement"
    )
    parser.add_argument(
        "--qps-connections", type=int, default=QPS_CONNECTIONS, help="connections per target"
    )
    parser.add_argument("--qps-rounds", type=int, default=10, help="interleaved queries/s blocks")
    parser.add_argument("--qps-seconds", type=float, default=1.0, help="length of one block")
    parser.add_argument("--qps-warmup", type=float, default=0.5, help="seconds per target")
    parser.add_argument(
        "--no-node",
        dest="node",
        action="store_false",
        help="leave the Node.js peer out (by default it runs when `node` is installed)",
    )
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
        help="client permessage-deflate offer",
    )
    parser.add_argument(
        "--redis-url", help="use this Redis (DB is written!) instead of a private one"
    )
    write = parser.add_mutually_exclusive_group()
    write.add_argument(
        "--write",
        dest="write",
        action="store_true",
        default=None,
        help="rewrite the query_rtt section of BENCHMARKS.md (default, except --quick/--profile)",
    )
    write.add_argument(
        "--no-write", dest="write", action="store_false", help="only print the results"
    )
    parser.add_argument("--notes", default="", help="a paragraph appended to the section")
    parser.add_argument(
        "--profile",
        metavar="TARGET",
        help="instead of benchmarking, profile this target's server process and print where "
        "its time goes",
    )
    parser.add_argument(
        "--profiler",
        choices=["py-spy", "cprofile"],
        default="py-spy",
        help="py-spy (sampling, needs `pip install py-spy`) or cProfile (deterministic, "
        "inflates small calls)",
    )
    parser.add_argument(
        "--profile-out", type=Path, help="keep the py-spy collapsed stacks / cProfile stats here"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.iterations, args.warmup, args.rounds = 300, 50, 3
        args.qps_rounds, args.qps_seconds, args.qps_warmup = 2, 0.5, 0.2
    if args.write is None:
        args.write = not args.quick and args.profile is None
    args.compression = None if args.compression == "none" else args.compression
    args.targets = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = set(args.targets) - set(TARGETS)
    if unknown or not args.targets:
        parser.error(f"unknown targets: {sorted(unknown)}")
    args.targets.sort(key=list(TARGETS).index)
    args.peer_skipped = None
    wanted = [name for name in args.targets if name in node_peer.TARGETS]
    if wanted and not args.node:
        args.peer_skipped = "left out with --no-node"
    elif wanted or (args.profile in node_peer.TARGETS):
        args.peer_skipped = node_peer.peer_available()
    if args.peer_skipped is not None:
        if args.profile in node_peer.TARGETS:
            parser.error(f"cannot profile {args.profile}: {args.peer_skipped}")
        if wanted:
            print(f"Node.js peer skipped: {args.peer_skipped}", file=sys.stderr)
        args.targets = [name for name in args.targets if name not in node_peer.TARGETS]
        if not args.targets and args.profile is None:
            parser.error("no target left to measure")
    if args.qps_connections < 1 or args.qps_rounds < 1 or args.qps_seconds <= 0:
        parser.error("--qps-connections, --qps-rounds and --qps-seconds must be positive")
    add_extra_targets(parser, args.extra, TARGETS, DESCRIPTIONS, args.targets)
    if args.profile is not None and args.profile not in TARGETS:
        parser.error(f"--profile: unknown target {args.profile!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:
        runner = asyncio.run

    redis_server = None
    redis_url = args.redis_url
    if redis_url is None:
        from fullon_cache_api.embedded_redis import EmbeddedRedis

        redis_server = EmbeddedRedis()
        redis_server.start()
        redis_url = redis_server.url
    try:
        if args.profile:
            with tempfile.TemporaryDirectory() as tmp:
                out = args.profile_out or Path(tmp) / f"{args.profile}.prof"
                runner(run_profile(args, redis_url, out))
                if node_peer.is_node_spec(TARGETS[args.profile]):
                    print(node_peer.summarize_cpuprofile(out))
                elif args.profiler == "cprofile":
                    print_profile(out)
                else:
                    print(summarize_collapsed(out))
            return 0
        targets = runner(run_benchmark(args, redis_url))
    finally:
        if redis_server is not None:
            redis_server.stop()

    text = report(args, targets)
    print(text)
    if args.write:
        write_section(SECTION, text)
        print(f"\nwrote the {SECTION} section of BENCHMARKS.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
