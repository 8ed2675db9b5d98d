"""Memory per idle WebSocket connection: the product as it ships (permessage-deflate off)
against the product with ``WS_PER_MESSAGE_DEFLATE=true``, in the same run.

In each round, each target starts in a uvicorn process of its own (on the product's
WebSocket protocol) and is warmed by one connection; then ``--connections`` clients that
offer permessage-deflate (as browsers and the ``websockets`` library do) connect, send
``connection_init``, get ``connection_ack`` and run one query each, and the server's RSS
is read. The figure is the RSS added per open connection, median of the rounds (a fresh
process each time: in a process that has had connections before, new ones reuse the
memory of closed ones and the figure depends on what came before). The connections stay
under the per-address limit (``WS_MAX_CONNECTIONS_PER_IP``, 200), as one client
machine's would::

    .venv/bin/python bench/connection_memory.py

Rewrites the ``connection_memory`` section of BENCHMARKS.md (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    PRODUCT_WS,
    GraphQLWSClient,
    ServerProcess,
    machine_info,
    markdown_table,
    today,
    versions,
    write_section,
)
from bench.query_rtt import QUERY, VARIABLES, seed

TARGETS = {
    "product": f"bench.query_rtt:product_app@{PRODUCT_WS}",
    "deflate": f"bench.variants:with_deflate@{PRODUCT_WS}",
}
DESCRIPTIONS = {
    "product": "the product as it ships (`WS_PER_MESSAGE_DEFLATE=false`: the offer is declined)",
    "deflate": "the product with `WS_PER_MESSAGE_DEFLATE=true` (`bench.variants:with_deflate`)",
}
SETTLE_S = 0.3  # after the clients' last answer, before RSS is read
HEADERS = ["target", "extension accepted", "KiB per connection", "/ product", "rounds (KiB)"]


@dataclass
class Target:
    name: str
    spec: str
    per_connection: list[float] = field(default_factory=list)  # bytes, one per round
    accepted: str = ""


async def one_round(target: Target, redis_url: str, connections: int) -> None:
    """A fresh server: warmed by one connection, then ``connections`` more."""
    with ServerProcess(target.name, target.spec, redis_url) as server:
        first = GraphQLWSClient(server.ws_url)  # imports, caches, the Redis pool: warm
        clients = [GraphQLWSClient(server.ws_url) for _ in range(connections)]
        try:
            await first.connect()
            await first.query(QUERY, VARIABLES)
            await asyncio.sleep(SETTLE_S)
            base = server.rss_bytes()
            for client in clients:
                await client.connect()
                await client.query(QUERY, VARIABLES)
            await asyncio.sleep(SETTLE_S)
            after = server.rss_bytes()
            headers = clients[0].ws.response.headers
            extension = headers.get("Sec-WebSocket-Extensions") or "none"
            target.accepted = extension.split(";", 1)[0]
        finally:
            for client in [first, *clients]:
                await client.close()
    assert base is not None and after is not None
    target.per_connection.append((after - base) / connections)


async def measure(redis_url: str, connections: int, rounds: int) -> list[Target]:
    await seed(redis_url)
    targets = [Target(name, spec) for name, spec in TARGETS.items()]
    for index in range(rounds):
        shift = index % len(targets)
        for target in targets[shift:] + targets[:shift]:
            await one_round(target, redis_url, connections)
    return targets


def report(targets: list[Target], connections: int, rounds: int) -> str:
    base = targets[0]
    rows = []
    for target in targets:
        kib = statistics.median(target.per_connection) / 1024
        ratio = statistics.median(target.per_connection) / statistics.median(base.per_connection)
        spread = ", ".join(f"{value / 1024:.1f}" for value in target.per_connection)
        rows.append([target.name, target.accepted, f"{kib:.1f}", f"**{ratio:.2f}x**", spread])
    described = "\n".join(f"* **{t.name}**: {DESCRIPTIONS[t.name]}" for t in targets)
    return f"""## Memory per idle WebSocket connection (`bench/connection_memory.py`)

Measured {today()} on {machine_info()}; {versions("uvicorn", "websockets")}.

{connections} clients that offer permessage-deflate connect, initialise and run one ticker
query each, against a fresh server warmed by one connection; the server's RSS added per
open connection, median of {rounds} interleaved rounds, as a ratio to the product's in the
same run.

{markdown_table(HEADERS, rows)}

{described}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=150, help="per round (at most 199)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    if not 1 <= args.connections < 200:
        parser.error("--connections must be 1-199 (the per-address limit is 200)")
    import uvloop

    from fullon_cache_api.embedded_redis import EmbeddedRedis

    redis_server = EmbeddedRedis()
    redis_server.start()
    try:
        targets = uvloop.run(measure(redis_server.url, args.connections, args.rounds))
    finally:
        redis_server.stop()
    body = report(targets, args.connections, args.rounds)
    print(body)
    if args.write:
        write_section("connection_memory", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
