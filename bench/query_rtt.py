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

The same targets also answer the query as an HTTP POST on a keep-alive connection.

Goal: product p50 ≤ 1.5x floor p50 (WebSocket).

Run ``.venv/bin/python bench/query_rtt.py`` (rewrites its section of BENCHMARKS.md) or add
``--quick`` for a short run that only prints. ``--extra NAME=module:factory`` measures a
variant beside the others; ``--profile product`` profiles the product's server process
(py-spy or cProfile) instead of benchmarking.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
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

from bench._common import (
    GraphQLWSClient,
    ProtocolError,
    PySpy,
    RawHTTPClient,
    ServerProcess,
    Stats,
    machine_info,
    markdown_table,
    percentile,
    summarize_collapsed,
    today,
    versions,
    write_section,
)

SECTION = "query_rtt"
GOAL = 1.5
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
    "product": "bench.query_rtt:product_app",
    "naive": "bench.naive_strawberry:create_app",
}
DESCRIPTIONS = {
    "floor": "hand-written graphql-transport-ws + HTTP endpoint, no GraphQL engine "
    "(`bench/floor_server.py`)",
    "product": "`fullon_cache_api.server.app.create_app(Settings(...))`",
    "naive": "`strawberry.asgi.GraphQL` with an equivalent resolver, no caches "
    "(`bench/naive_strawberry.py`)",
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
        Target(name, ServerProcess(name, TARGETS[name], redis_url, ws=args.ws))
        for name in args.targets
    ]
    try:
        for target in targets:
            target.server.start()
        for target in targets:
            target.ws = GraphQLWSClient(target.server.ws_url, compression=args.compression)
            await target.ws.connect()
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
        return targets
    finally:
        for target in targets:
            if target.ws is not None:
                await target.ws.close()
            if target.http is not None:
                await target.http.close()
            target.server.close()


# --------------------------------------------------------------------------- #
# Profiling
# --------------------------------------------------------------------------- #


async def run_profile(args: argparse.Namespace, redis_url: str, out: Path) -> None:
    """Serve ``args.profile``, drive it with the benchmark's WebSocket client and profile the
    server process: with py-spy (sampling, collapsed stacks in ``out``) or under cProfile
    (``out`` is its stats file)."""
    await seed(redis_url)
    cprofile = args.profiler == "cprofile"
    server = ServerProcess(
        args.profile,
        TARGETS[args.profile],
        redis_url,
        ws=args.ws,
        profile=out if cprofile else None,
    )
    server.start()
    try:
        client = GraphQLWSClient(server.ws_url, compression=args.compression)
        await client.connect()
        await ws_samples(client, args.warmup)
        assert server.pid is not None
        spy = None if cprofile else PySpy(server.pid, out)
        try:
            await ws_samples(client, args.iterations)
        finally:
            if spy is not None:
                spy.stop()
        await client.close()
        await asyncio.sleep(0.2)
    finally:
        server.close()


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


def ratio_range(rounds: list[list[int]], floor_rounds: list[list[int]]) -> str:
    ratios = [
        Stats.from_ns(mine).p50 / Stats.from_ns(floor).p50
        for mine, floor in zip(rounds, floor_rounds, strict=True)
    ]
    ratios.sort()
    return f"{percentile(ratios, 0.5):.2f} ({ratios[0]:.2f} to {ratios[-1]:.2f})"


def table(targets: list[Target], http: bool) -> tuple[str, dict[str, float]]:
    floor = next((target for target in targets if target.name == "floor"), None)
    ratios: dict[str, float] = {}
    rows = []
    for target in targets:
        samples = target.http_samples if http else target.ws_samples
        rounds = target.http_rounds if http else target.ws_rounds
        stats = Stats.from_ns(samples)
        cpu_us = 1e6 * (target.http_cpu if http else target.ws_cpu) / max(len(samples), 1)
        if floor is not None:
            floor_samples = floor.http_samples if http else floor.ws_samples
            floor_rounds = floor.http_rounds if http else floor.ws_rounds
            ratio = stats.p50 / Stats.from_ns(floor_samples).p50
            ratios[target.name] = ratio
            ratio_text = f"**{ratio:.2f}x**"
            spread = ratio_range(rounds, floor_rounds)
        else:
            ratio_text = spread = "n/a"
        rows.append(
            [
                target.name,
                f"{stats.p50:.0f}",
                f"{stats.p90:.0f}",
                f"{stats.p99:.0f}",
                f"{stats.mean:.0f}",
                ratio_text,
                spread,
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
        "per-round ratio: median (range)",
        "server CPU µs/query",
    ]
    return markdown_table(headers, rows), ratios


def verdict(ratios: dict[str, float]) -> str:
    if "product" not in ratios:
        return "goal not evaluated (needs the floor and the product)"
    ratio = ratios["product"]
    met = "met" if ratio <= GOAL else "not met"
    return f"Goal: product p50 ≤ {GOAL}x floor p50 — **{met}** ({ratio:.2f}x)."


def report(args: argparse.Namespace, targets: list[Target]) -> str:
    ws_table, ws_ratios = table(targets, http=False)
    parts = [
        "## Query round trip (`bench/query_rtt.py`)",
        "",
        f"Measured {today()} on {machine_info()}; "
        + versions("uvicorn", "starlette", "strawberry-graphql", "graphql-core", "websockets")
        + ".",
        "",
        f"Query `{QUERY}` with variables `{orjson.dumps(VARIABLES).decode()}`, against one "
        "ticker in a private redis-server. Each target runs under uvicorn "
        f"(`--ws {args.ws}`, uvloop, httptools) in its own process; one client process. "
        f"{args.iterations} measured round trips per target after {args.warmup} warm-up, "
        f"in {args.rounds} interleaved rounds (order rotated every round). Ratios are to the "
        "floor's p50 from the same run; the per-round column is the median and range of that ratio "
        "computed round by round. Server CPU is the server process's user + system time during the "
        "measured blocks divided by the round trips (10 ms tick resolution).",
        "",
        "### WebSocket (`graphql-transport-ws`, one connection, subscribe → next → complete; "
        f"client compression: {args.compression or 'none'})",
        "",
        ws_table,
        "",
        verdict(ws_ratios),
    ]
    if args.http:
        http_table, _ = table(targets, http=True)
        parts += [
            "",
            "### HTTP POST (one keep-alive connection, `application/json`)",
            "",
            http_table,
        ]
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
    parser.add_argument("--ws", default="auto", help="uvicorn --ws implementation")
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
    if args.write is None:
        args.write = not args.quick and args.profile is None
    args.compression = None if args.compression == "none" else args.compression
    args.targets = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = set(args.targets) - set(TARGETS)
    if unknown or not args.targets:
        parser.error(f"unknown targets: {sorted(unknown)}")
    args.targets.sort(key=list(TARGETS).index)
    for extra in args.extra:
        name, _, spec = extra.partition("=")
        if not name or ":" not in spec or name in TARGETS:
            parser.error(f"--extra needs NAME=module:factory with a new name, not {extra!r}")
        TARGETS[name] = spec
        DESCRIPTIONS[name] = f"`{spec}`"
        args.targets.append(name)
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
                if args.profiler == "cprofile":
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
