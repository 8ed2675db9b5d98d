"""What the Python client adds to a query round trip.

One product server (uvicorn, its own process) and three clients in this process, each on
its own WebSocket (``graphql-transport-ws``), sending the same ticker query one at a time:

* ``raw`` — a bare protocol client (:class:`bench._common.GraphQLWSClient`): the baseline.
* ``gql`` — gql's ``Client`` session on ``WebsocketsTransport``, executing a pre-parsed
  document.
* ``fullon_cache_api`` — ``await api.get_ticker(exchange, symbol)``: gql plus the client's
  supervisor, error mapping and typed ``Ticker`` result.

Clients run in interleaved rounds (rotated order) so a shared machine's noise lands on all
three; each one's p50 is reported next to the raw client's p50 from the same run.

Run ``.venv/bin/python bench/client_overhead.py`` (rewrites its section of BENCHMARKS.md)
or ``--quick`` for a short run that only prints.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    GraphQLWSClient,
    ServerProcess,
    Stats,
    machine_info,
    markdown_table,
    today,
    versions,
    write_section,
)
from bench.query_rtt import QUERY, TARGETS, VARIABLES, seed

SECTION = "client_overhead"
Sampler = Callable[[], Awaitable[object]]


async def samples(call: Sampler, count: int) -> list[int]:
    """``count`` sequential calls, each timed in ns, with the GC off (collected first)."""
    clock = time.perf_counter_ns
    out: list[int] = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(count):
            start = clock()
            await call()
            out.append(clock() - start)
    finally:
        gc.enable()
    return out


async def run(args: argparse.Namespace, redis_url: str) -> dict[str, list[int]]:
    from gql import Client, gql
    from gql.transport.websockets import WebsocketsTransport

    from fullon_cache_api import fullon_cache_api

    await seed(redis_url)
    server = ServerProcess("product", TARGETS["product"], redis_url)
    server.start()
    raw = GraphQLWSClient(server.ws_url, compression=None)
    transport = WebsocketsTransport(
        url=server.ws_url, subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL]
    )
    document = gql(QUERY)
    try:
        await raw.connect()
        async with (
            Client(transport=transport) as session,
            fullon_cache_api(server.ws_url) as api,
        ):

            async def raw_call() -> object:
                return await raw.query(QUERY, VARIABLES)

            async def gql_call() -> object:
                return await session.execute(document, variable_values=VARIABLES)

            async def client_call() -> object:
                return await api.get_ticker("binance", "BTC/USDT")

            calls: dict[str, Sampler] = {
                "raw": raw_call,
                "gql": gql_call,
                "fullon_cache_api": client_call,
            }
            ticker = await api.get_ticker("binance", "BTC/USDT")
            if ticker is None or ticker.symbol != "BTC/USDT":
                raise SystemExit(f"the client answered {ticker!r}")
            for call in calls.values():  # warm-up
                await samples(call, args.warmup)
            results: dict[str, list[int]] = {name: [] for name in calls}
            names = list(calls)
            per_round = math.ceil(args.iterations / args.rounds)
            for index in range(args.rounds):
                shift = index % len(names)
                for name in names[shift:] + names[:shift]:
                    results[name] += await samples(calls[name], per_round)
                print(f"round {index + 1}/{args.rounds}", end="\r", file=sys.stderr, flush=True)
            return results
    finally:
        await raw.close()
        server.close()


def report(args: argparse.Namespace, results: dict[str, list[int]]) -> str:
    stats = {name: Stats.from_ns(values) for name, values in results.items()}
    base = stats["raw"]
    rows = [
        [
            name,
            f"{value.p50:.0f}",
            f"{value.p90:.0f}",
            f"{value.p99:.0f}",
            f"{value.p50 - base.p50:+.0f}",
            f"{value.p50 / base.p50:.2f}x",
        ]
        for name, value in stats.items()
    ]
    table = markdown_table(
        ["client", "p50 µs", "p90 µs", "p99 µs", "p50 - raw p50 µs", "p50 / raw p50"], rows
    )
    return f"""## Client overhead (`bench/client_overhead.py`)

Date: {today()}. Machine: {machine_info()}.
Versions: {versions("gql", "websockets", "uvicorn", "strawberry-graphql", "graphql-core")}.
Method: one product server process; three clients in one process, each on its own
WebSocket, the same ticker query sent sequentially; {args.iterations} measured calls per
client after {args.warmup} warm-up, in {args.rounds} interleaved rounds (rotated order).
The column "p50 - raw p50" is what each client adds to a round trip.

{table}

`gql` is gql's own session executing a pre-parsed document; `fullon_cache_api` adds the
supervisor (reconnects), error mapping and the typed `Ticker` result on top of it.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="short run, print only")
    args = parser.parse_args(argv)
    if args.quick:
        args.iterations, args.warmup, args.rounds = 300, 50, 3
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from fullon_cache_api.embedded_redis import EmbeddedRedis

    runner: Callable[[Any], Any] = asyncio.run
    with EmbeddedRedis() as redis_server:
        results = runner(run(args, redis_server.url))
    text = report(args, results)
    print(text)
    if not args.quick:
        write_section(SECTION, text)
        print(f"\nwrote the {SECTION} section of BENCHMARKS.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
