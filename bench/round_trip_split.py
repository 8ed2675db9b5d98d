"""Where a query's round trip goes, the product beside the Node peer: to the server, in it,
and back.

Both servers stamp, on the clock the client reads (``CLOCK_MONOTONIC``: Python's
``time.perf_counter_ns``, Node's ``process.hrtime``), when each client message was read
(its frame parsed) and when the answer was handed to the socket. The product writes
``next`` and ``complete`` in one write; the Node peer with a document cache
(``node-cache``, which records its stamps when ``PEER_STAMPS_OUT`` is set) writes ``next``,
then ``complete``. The client records when it sent each query and when it had read the
``complete``. Each round trip is then cut in three:

- **to the server**: from the client's send to the server's message read (the client's
  framing and write, the kernel, the server's wake-up, read and frame parsing);
- **in the server**: from the message read to the answer (the ``complete``) handed to the
  socket, the Redis round trip included;
- **back**: from there to the client having read the ``complete``.

The queries go one at a time on one WebSocket per server, in interleaved rounds with no
pause between them, as ``bench/query_rtt.py`` sends them (with pauses, the servers wake
from idle and the figures change: the Node peer more than the product). No BENCHMARKS.md
section is written: the figures are notes for the query sections::

    .venv/bin/python bench/round_trip_split.py
"""

from __future__ import annotations

import argparse
import atexit
import bisect
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import node_peer
from bench._common import PRODUCT_WS, GraphQLWSClient, ServerProcess
from bench.query_rtt import QUERY, VARIABLES, seed

OUT_ENV = "ROUND_TRIP_SPLIT_OUT"
PEER_OUT_ENV = "PEER_STAMPS_OUT"  # read by bench/peers/node/server.mjs
PARTS = ("round trip", "to the server", "in the server", "back")


def create_app(redis_url: str, port: int) -> Any:
    """The product with two probes: message read, answer handed to the socket (served by
    ``bench._common`` in the child, which writes the stamps at exit)."""
    from fullon_cache_api.server import ws_protocol
    from fullon_cache_api.server.app import create_app as product
    from fullon_cache_api.settings import Settings

    clock = time.perf_counter_ns
    rows: list[str] = []
    read_at: list[int] = []
    read = ws_protocol.FramedWebSocketProtocol.send_receive_event_to_app
    write = ws_protocol.Wire.write

    def message_read(self: Any) -> None:
        read_at[:] = [clock()]
        read(self)

    def answer_written(self: Any, data: bytes) -> None:
        if read_at:  # before the write: the client may have read it before write returns
            rows.append(f"{read_at.pop()} {clock()}")
        write(self, data)

    ws_protocol.FramedWebSocketProtocol.send_receive_event_to_app = message_read  # type: ignore[method-assign]
    ws_protocol.Wire.write = answer_written  # type: ignore[method-assign]
    atexit.register(lambda: Path(os.environ[OUT_ENV]).write_text("\n".join(rows) + "\n"))
    # The message rate limit's bucket still runs (its cost is part of the path), but a
    # burst this deep never runs out, with or without another server taking turns.
    return product(Settings(redis_url=redis_url, api_port=port, ws_message_burst=10**9))


@dataclass
class Target:
    name: str
    server: ServerProcess
    stamps: Path
    client: GraphQLWSClient | None = None
    sent: list[tuple[int, int]] = field(default_factory=list)  # (sent, complete read)


async def round_trips(client: GraphQLWSClient, count: int) -> list[tuple[int, int]]:
    """``count`` sequential queries: when each was sent and when its ``complete`` was read."""
    messages = [client.subscribe_message(QUERY, VARIABLES) for _ in range(count)]
    clock = time.perf_counter_ns
    ws, receive = client.ws, client.receive
    times: list[tuple[int, int]] = []
    for message in messages:
        sent = clock()
        await ws.send(message)
        while (await receive())["type"] != "complete":
            pass
        times.append((sent, clock()))
    return times


def split(
    sent: list[tuple[int, int]], rows: list[tuple[int, ...]]
) -> tuple[dict[str, float], float | None, int]:
    """Medians (µs) of each part, of the Node peer's ``next`` → ``complete``, and how many
    round trips had a server row (the one whose message read falls inside it)."""
    rows = sorted(rows)
    reads = [row[0] for row in rows]
    parts: dict[str, list[int]] = {name: [] for name in PARTS}
    between: list[int] = []
    for start, end in sent:
        index = bisect.bisect_left(reads, start)
        if index == len(rows) or rows[index][-1] > end:
            continue
        row = rows[index]
        read, written = row[0], row[-1]
        parts["round trip"].append(end - start)
        parts["to the server"].append(read - start)
        parts["in the server"].append(written - read)
        parts["back"].append(end - written)
        if len(row) == 3:
            between.append(written - row[1])
    medians = {name: statistics.median(values) / 1000 for name, values in parts.items() if values}
    return medians, (statistics.median(between) / 1000 if between else None), len(parts["back"])


async def measure(
    redis_url: str,
    iterations: int,
    warmup: int,
    rounds: int,
    with_node: bool,
    compression: str | None,
    out: Path,
) -> list[tuple[Target, list[tuple[int, ...]]]]:
    await seed(redis_url)
    targets = [
        Target(
            "product",
            ServerProcess(
                "product",
                f"bench.round_trip_split:create_app@{PRODUCT_WS}",
                redis_url,
                extra_env={OUT_ENV: str(out / "product")},
            ),
            out / "product",
        )
    ]
    if with_node:
        name = node_peer.REFERENCE
        targets.append(
            Target(
                name,
                node_peer.server_process(
                    name,
                    node_peer.TARGETS[name],
                    redis_url,
                    extra_env={PEER_OUT_ENV: str(out / name)},
                ),
                out / name,
            )
        )
    try:
        for target in targets:
            target.server.start()
            target.client = GraphQLWSClient(target.server.ws_url, compression=compression)
            await target.client.connect()
        for target in targets:
            assert target.client is not None
            await round_trips(target.client, warmup)
        per_round = math.ceil(iterations / rounds)
        for index in range(rounds):
            shift = index % len(targets)
            for target in targets[shift:] + targets[:shift]:
                assert target.client is not None
                target.sent += await round_trips(target.client, per_round)
    finally:
        for target in targets:
            if target.client is not None:
                await target.client.close()
            target.server.close()  # SIGINT: the stamps are written at exit
    return [
        (
            target,
            [
                tuple(map(int, line.split()))
                for line in target.stamps.read_text().split("\n")
                if line
            ],
        )
        for target in targets
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=3000, help="measured, per target")
    parser.add_argument("--warmup", type=int, default=1000, help="warm-up round trips, per target")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--no-node", action="store_true", help="the product only")
    parser.add_argument(
        "--compression",
        choices=("deflate", "none"),
        default="deflate",
        help="the client's permessage-deflate offer (the Node peer declines it)",
    )
    args = parser.parse_args(argv)
    import uvloop

    from fullon_cache_api.embedded_redis import EmbeddedRedis

    skipped = "--no-node" if args.no_node else node_peer.peer_available()
    if skipped is not None:
        print(f"the Node.js peer is left out: {skipped}")
    redis_server = EmbeddedRedis()
    redis_server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results = uvloop.run(
                measure(
                    redis_server.url,
                    args.iterations,
                    args.warmup,
                    args.rounds,
                    skipped is None,
                    None if args.compression == "none" else args.compression,
                    Path(tmp),
                )
            )
    finally:
        redis_server.stop()
    compression = f"client compression {args.compression}"
    print(f"{args.iterations} queries per target, {compression}, medians in µs")
    print(f"| target | {' | '.join(PARTS)} | next → complete | matched |")
    print(f"| --- | {' | '.join('---:' for _ in PARTS)} | ---: | ---: |")
    for target, rows in results:
        medians, between, matched = split(target.sent, rows)
        cells = [f"{medians[name]:.1f}" if name in medians else "n/a" for name in PARTS]
        gap = "one write" if between is None else f"{between:.1f}"
        print(f"| {target.name} | {' | '.join(cells)} | {gap} | {matched} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
