"""Where one query's round trip goes inside the product's server: timestamps on its path.

The product runs in its own uvicorn process with probes wrapped around the calls a query
passes on its way (``perf_counter_ns``, a few hundred ns each): the client's message read
(``send_receive_event_to_app``), the operation's task made and started, the Redis command
written (``RespProtocol.send``) and its reply read (``data_received``), the result rendered
(``Outbox.result``) and the answer written (``Wire.write``). The benchmark's client sends
``--iterations`` queries one at a time on one WebSocket, as ``bench/query_rtt.py`` does;
this prints the median of each step and the client's round trip, so the server's share
(and the part of it spent waiting for Redis) can be read beside the whole::

    .venv/bin/python bench/critical_path.py

No BENCHMARKS.md section is written: the figures are notes for the query sections
("Where a query's time goes"), and the probes themselves add a little to each step.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import PRODUCT_WS, GraphQLWSClient, ServerProcess
from bench.query_rtt import seed, ws_samples

OUT_ENV = "CRITICAL_PATH_OUT"
STEPS = (
    "message read -> task made",
    "task made -> task runs",
    "task runs -> Redis command written",
    "Redis command written -> reply read",
    "reply read -> task resumed",
    "task resumed -> result rendered",
    "result rendered -> answer written",
    "message read -> answer written (server)",
)
# A connection's message budget is 1000/s (burst 2000): round trips go in blocks of this
# many with a pause between.
BLOCK = 1500
PAUSE_S = 1.6


def create_app(redis_url: str, port: int) -> Any:
    """The product with the probes installed (served by ``bench._common`` in the child)."""
    from fullon_cache_api.cache import resp
    from fullon_cache_api.server import operation, outbox, websocket, ws_protocol
    from fullon_cache_api.server.app import create_app as product
    from fullon_cache_api.settings import Settings

    clock = time.perf_counter_ns
    stamps: dict[str, int] = {}
    rows: list[tuple[int, ...]] = []

    def probe(owner: Any, name: str, key: str) -> None:
        original = getattr(owner, name)

        def stamped(*args: Any, **kwargs: Any) -> Any:
            stamps[key] = clock()
            return original(*args, **kwargs)

        setattr(owner, name, stamped)

    read = ws_protocol.FramedWebSocketProtocol.send_receive_event_to_app

    def message_read(self: Any) -> None:
        stamps.clear()
        stamps["read"] = clock()
        read(self)

    ws_protocol.FramedWebSocketProtocol.send_receive_event_to_app = message_read  # type: ignore[method-assign]

    make_task = asyncio.create_task

    def task_made(coroutine: Any, **kwargs: Any) -> Any:
        stamps["made"] = clock()
        return make_task(coroutine, **kwargs)

    websocket.asyncio.create_task = task_made  # type: ignore[attr-defined]
    run = operation.run_operation

    async def task_runs(*args: Any, **kwargs: Any) -> Any:
        stamps["runs"] = clock()
        return await run(*args, **kwargs)

    operation.run_operation = task_runs  # type: ignore[assignment]  # OperationHost.run's
    send = resp.RespProtocol.send

    def command_written(self: Any, *args: Any, **kwargs: Any) -> Any:
        stamps["sent"] = clock()
        future = send(self, *args, **kwargs)
        if future is not None:  # a future's callbacks run in order: this one, then the task
            future.add_done_callback(lambda _: stamps.__setitem__("resumed", clock()))
        return future

    resp.RespProtocol.send = command_written  # type: ignore[method-assign]
    probe(resp.RespProtocol, "data_received", "reply")
    probe(outbox.Outbox, "result", "rendered")
    write = ws_protocol.Wire.write

    def answer_written(self: Any, data: bytes) -> None:
        now = clock()
        if "rendered" in stamps and "sent" in stamps:
            order = ("read", "made", "runs", "sent", "reply", "resumed", "rendered")
            times = [stamps[key] for key in order] + [now]
            steps = [later - earlier for earlier, later in itertools.pairwise(times)]
            rows.append((*steps, now - stamps["read"]))
            stamps.clear()
        write(self, data)

    ws_protocol.Wire.write = answer_written  # type: ignore[method-assign]

    def dump() -> None:
        with open(os.environ[OUT_ENV], "w", encoding="utf-8") as out:
            out.writelines(" ".join(map(str, row)) + "\n" for row in rows)

    atexit.register(dump)
    return product(Settings(redis_url=redis_url, api_port=port))


async def measure(redis_url: str, iterations: int, warmup: int, out: Path) -> list[int]:
    await seed(redis_url)
    server = ServerProcess(
        "product",
        f"bench.critical_path:create_app@{PRODUCT_WS}",
        redis_url,
        extra_env={OUT_ENV: str(out)},
    )
    server.start()
    samples: list[int] = []
    try:
        client = GraphQLWSClient(server.ws_url)
        await client.connect()
        await ws_samples(client, warmup)
        await asyncio.sleep(PAUSE_S)
        while len(samples) < iterations:
            samples += await ws_samples(client, min(BLOCK, iterations - len(samples)))
            if len(samples) < iterations:
                await asyncio.sleep(PAUSE_S)
        await client.close()
    finally:
        server.close()  # SIGINT: the child writes its rows at exit
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args(argv)
    import uvloop

    from fullon_cache_api.embedded_redis import EmbeddedRedis

    redis_server = EmbeddedRedis()
    redis_server.start()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.txt"
        try:
            samples = uvloop.run(measure(redis_server.url, args.iterations, args.warmup, out))
        finally:
            redis_server.stop()
        rows = [tuple(map(int, line.split())) for line in out.read_text().splitlines()]
    rows = rows[-args.iterations :]  # the measured queries (the warm-up's come first)
    print(f"{len(rows)} queries; medians in µs")
    for index, step in enumerate(STEPS):
        print(f"  {step:42s} {statistics.median(row[index] for row in rows) / 1000:8.1f}")
    print(f"  {'client round trip':42s} {statistics.median(samples) / 1000:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
