"""HTTP response compression (gzip) and the cost of the HTTP middleware (CORS + gzip).

Three servers, each in its own uvicorn process against one private redis-server:

* ``bare``: the product without its HTTP middleware (the baseline);
* ``product``: the product as it ships (CORS and gzip middleware, ``HTTP_GZIP_MIN_BYTES``
  at its default);
* ``no-gzip``: the product with ``HTTP_GZIP_MIN_BYTES=0``.

Each answers three queries over one keep-alive connection, with and without
``Accept-Encoding: gzip``: a small one (one ticker, below the minimum size: never
compressed), 1000 OHLCV bars and a page of 1000 trades. Reported: bytes on the wire, p50
round trip and server CPU per request, and ratios to ``bare`` from the same run. A second
table compresses the two large bodies in-process at several zlib levels, which is how
``GZIP_LEVEL`` in ``server/middleware.py`` was chosen.

    .venv/bin/python bench/http_compression.py            # rewrites its BENCHMARKS.md section
    .venv/bin/python bench/http_compression.py --quick    # short run, prints only
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    LOCALHOST,
    ProtocolError,
    RawHTTPClient,
    ServerProcess,
    Stats,
    machine_info,
    markdown_table,
    today,
    versions,
    write_section,
)

T0_MS = 1_763_700_000_000
QUERIES = {
    "ticker (small)": '{ ticker(exchange: "binance", symbol: "BTC/USDT") '
    "{ symbol exchange price bid ask last volume time } }",
    "1000 OHLCV bars": '{ ohlcv(symbol: "BTC/USDT", timeframe: "1m", count: 1000) '
    "{ timestamp open high low close volume } }",
    "1000 trades": '{ trades(exchange: "binance", symbol: "BTC/USDT", last: 1000) '
    "{ tradeId side price volume time } }",
}
LEVELS = (1, 5, 6, 9)


def product_app(redis_url: str, port: int) -> Any:
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.settings import Settings

    return create_app(Settings(redis_url=redis_url, api_port=port))


def bare_app(redis_url: str, port: int) -> Any:
    """The product without CORS and gzip: the baseline."""
    from fullon_cache_api.server import app as app_module
    from fullon_cache_api.settings import Settings

    app_module.http_middleware = lambda settings: []  # type: ignore[assignment]
    return app_module.create_app(Settings(redis_url=redis_url, api_port=port))


class Client(RawHTTPClient):
    """:class:`RawHTTPClient`, optionally sending ``Accept-Encoding: gzip``; keeps the size
    of the last response body as sent."""

    def __init__(self, port: int, gzip: bool) -> None:
        super().__init__(port)
        self.gzip = gzip

    def request(self, body: bytes) -> bytes:
        encoding = "Accept-Encoding: gzip\r\n" if self.gzip else ""
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json\r\n{encoding}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


@dataclass
class Cell:
    wire_bytes: int = 0
    samples: list[int] = field(default_factory=list)
    cpu_s: float = 0.0


async def seed(redis_url: str) -> None:
    import redis.asyncio

    from fullon_cache_api.simulator import CacheWriter

    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    writer = CacheWriter(client)
    try:
        await writer.set_ticker(
            {"symbol": "BTC/USDT", "exchange": "binance", "price": 105234.56, "bid": 105234.55,
             "ask": 105234.57, "last": 105234.56, "volume": 1234.5, "time": T0_MS / 1000}
        )  # fmt: skip
        price = 105000.0
        bars = []
        for index in range(1000):
            price += math.sin(index / 7) * 35.0
            bars.append(
                [T0_MS + index * 60_000, price, price + 21.5, price - 18.25, price + 3.75,
                 12.0 + (index % 17) * 0.731]
            )  # fmt: skip
        await writer.update_ohlcv_bars("BTC/USDT", "1m", bars)
        for index in range(1000):
            await writer.push_trade(
                "binance",
                {"symbol": "BTC/USDT", "id": str(1_795_299_000 + index),
                 "side": "buy" if index % 3 else "sell", "price": price + (index % 50) * 0.5,
                 "volume": 0.001 * (1 + index % 40), "time": T0_MS / 1000 + index},
            )  # fmt: skip
    finally:
        await client.aclose()


async def measure(
    servers: dict[str, ServerProcess], count: int, rounds: int
) -> dict[tuple[str, str, bool], Cell]:
    cells: dict[tuple[str, str, bool], Cell] = {}
    bodies = {label: orjson.dumps({"query": query}) for label, query in QUERIES.items()}
    targets = [(name, gzip) for name in servers for gzip in (False, True)]
    for round_index in range(rounds):
        shift = round_index % len(targets)
        for name, gzip in targets[shift:] + targets[:shift]:
            # A new connection per block: uvicorn closes idle ones after 5 s.
            client = Client(servers[name].port, gzip)
            await client.connect()
            try:
                for label, body in bodies.items():
                    cell = cells.setdefault((name, label, gzip), Cell())
                    request = client.request(body)
                    answer = await client.post(request)  # warm-up, and the size
                    if not gzip and b'"errors"' in answer[:20]:
                        raise ProtocolError(f"{label}: {answer[:300]!r}")
                    cell.wire_bytes = len(answer)
                    cpu_before = servers[name].cpu_seconds()
                    for _ in range(count):
                        started = time.perf_counter_ns()
                        await client.post(request)
                        cell.samples.append(time.perf_counter_ns() - started)
                    cell.cpu_s += servers[name].cpu_seconds() - cpu_before
            finally:
                await client.close()
    return cells


def level_table(bodies: dict[str, bytes], repeat: int) -> str:
    rows = []
    for label, body in bodies.items():
        for level in LEVELS:
            times = []
            for _ in range(repeat):
                started = time.perf_counter_ns()
                compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
                size = len(compressor.compress(body) + compressor.flush())
                times.append(time.perf_counter_ns() - started)
            micros = min(times) / 1000  # the least disturbed run: this is a shared machine
            rows.append(
                [label, str(level), f"{len(body)}", f"{size}", f"{len(body) / size:.1f}x",
                 f"{micros:.0f}"]
            )  # fmt: skip
    return markdown_table(
        ["body", "zlib level", "JSON bytes", "gzip bytes", "smaller by", "µs to compress"], rows
    )


def results_table(cells: dict[tuple[str, str, bool], Cell], count: int) -> str:
    rows = []
    for label in QUERIES:
        base = cells["bare", label, False]
        base_p50 = Stats.from_ns(base.samples).p50
        base_cpu = base.cpu_s / len(base.samples) * 1e6
        for name in ("bare", "product", "no-gzip"):
            for gzip in (False, True):
                cell = cells[name, label, gzip]
                stats = Stats.from_ns(cell.samples)
                cpu = cell.cpu_s / len(cell.samples) * 1e6
                rows.append(
                    [label, name, "gzip" if gzip else "-", str(cell.wire_bytes),
                     f"{stats.p50:.0f}", f"**{stats.p50 / base_p50:.2f}x**", f"{cpu:.0f}",
                     f"{cpu / base_cpu:.2f}x"]
                )  # fmt: skip
    return markdown_table(
        ["response", "server", "Accept-Encoding", "bytes sent", "p50 µs", "p50 / bare",
         "server CPU µs/request", "CPU / bare"],
        rows,
    )  # fmt: skip


async def run(args: argparse.Namespace) -> str:
    from fullon_cache_api.embedded_redis import EmbeddedRedis

    redis_server = EmbeddedRedis()
    redis_server.start()
    servers: dict[str, ServerProcess] = {}
    try:
        url = f"redis://{redis_server.host}:{redis_server.port}/0"
        await seed(url)
        module = "bench.http_compression"
        servers = {
            "bare": ServerProcess("bare", f"{module}:bare_app", url),
            "product": ServerProcess("product", f"{module}:product_app", url),
            "no-gzip": ServerProcess(
                "no-gzip", f"{module}:product_app", url, extra_env={"HTTP_GZIP_MIN_BYTES": "0"}
            ),
        }
        for server in servers.values():
            server.start()
        cells = await measure(servers, args.count, args.rounds)
        bodies = {}
        probe = Client(servers["bare"].port, gzip=False)
        await probe.connect()
        with contextlib.suppress(Exception):
            for label in list(QUERIES)[1:]:
                bodies[label] = await probe.post(
                    probe.request(orjson.dumps({"query": QUERIES[label]}))
                )
        await probe.close()
    finally:
        for server in servers.values():
            server.close()
        redis_server.stop()
    total = args.count * args.rounds
    return f"""## HTTP compression (`bench/http_compression.py`)

Measured {today()} on {machine_info()}; {versions("uvicorn", "starlette")}.

Servers on `{LOCALHOST}`, each in its own uvicorn process: `bare` is the product without its
HTTP middleware (the baseline), `product` as shipped (CORS + gzip, `HTTP_GZIP_MIN_BYTES=1024`,
zlib level 5), `no-gzip` with `HTTP_GZIP_MIN_BYTES=0`. One keep-alive connection per server
and encoding, {total} requests per cell in {args.rounds} interleaved rounds. Loopback has no
bandwidth limit, so the round trips show the CPU cost of compressing; on a real network the
bytes saved dominate.

{results_table(cells, total)}

Compressing the large bodies in-process, by zlib level (the fastest of 50 runs):

{level_table(bodies, 50)}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="requests per cell and round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="a short run; print only")
    args = parser.parse_args()
    if args.quick:
        args.count, args.rounds = 10, 2
    section = asyncio.run(run(args))
    print(section)
    if not args.quick:
        write_section("http_compression", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
