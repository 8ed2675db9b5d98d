"""Helpers shared by the benchmarks in ``bench/``.

* :class:`ServerProcess` runs an ASGI app under uvicorn in its own process (so the client's
  CPU time never shares an interpreter with the server's) and waits until it accepts
  connections. The child is this module run as ``python -m bench._common APP ...``, where
  ``APP`` names a factory ``module:function(redis_url, port) -> ASGI app``; ``--profile``
  wraps the server in cProfile.
* :class:`GraphQLWSClient` and :class:`RawHTTPClient`: minimal clients whose own cost is the
  same whatever server they talk to.
* :class:`Stats` (percentiles in µs), :func:`machine_info`, :func:`write_section`
  (rewrites one marked section of ``BENCHMARKS.md``, leaving the others alone).
* :func:`proc_cpu_seconds`, :func:`proc_run_seconds` and :func:`proc_rss_bytes`: CPU time
  (10 ms ticks, or ns from ``schedstat``) and resident memory of any process, from ``/proc``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import importlib
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = REPO_ROOT / "BENCHMARKS.md"
LOCALHOST = "127.0.0.1"
GRAPHQL_PATH = "/graphql"
TRANSPORT_WS = "graphql-transport-ws"

#: The system Chromium (``apt-get install chromium``) the dashboard soak and the browser
#: tests drive through Playwright, or None when it is not installed.
CHROMIUM: str | None = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
#: Headless in a container, as root, with nothing fetched in the background.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

BENCHMARKS_INTRO = """\
# Benchmarks

Measured by the scripts in `bench/`. Each section below is rewritten by its own script and
records the machine, the library versions and the date of the run. Each benchmark starts its
own private `redis-server` and runs every server under test in its own subprocess on
`127.0.0.1` (uvicorn for the Python servers, `node` for the Node.js reference peer in
`bench/peers/node/`, which runs when `node` is installed), driven by one client process.

Run them all with `make bench`, or one at a time:

```sh
.venv/bin/python bench/query_rtt.py            # full run, rewrites its section below
.venv/bin/python bench/query_rtt.py --quick    # short run, prints only
.venv/bin/python bench/query_rtt.py --help     # iterations, targets, profiling, variants
```

Absolute times depend on the machine and on whatever else it is doing (the reference machine
is a small shared VM), so every benchmark also measures a **baseline in the same run**,
interleaved with the targets so noise hits them alike, and reports **ratios to that
baseline**. Compare ratios between runs, not microseconds.
"""


# --------------------------------------------------------------------------- #
# Ports and server processes
# --------------------------------------------------------------------------- #


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(
    port: int, timeout: float, alive: Callable[[], bool] = lambda: True, host: str = LOCALHOST
) -> None:
    """Block until ``host:port`` accepts a TCP connection; raise if ``alive()`` turns false."""
    deadline = time.monotonic() + timeout
    while True:
        if not alive():
            raise RuntimeError("the server process exited before accepting connections")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing accepts connections on {host}:{port}") from None
            time.sleep(0.05)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far (Linux ``/proc``; NaN if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    # After the command name: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_run_seconds(pid: int) -> float:
    """CPU time of process ``pid``'s live threads, with nanosecond resolution (the first field
    of ``/proc/<pid>/task/*/schedstat``; NaN if gone). Finer than :func:`proc_cpu_seconds`'
    10 ms ticks, but threads that already exited are not counted."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return math.nan
    for task in tasks:
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def proc_rss_bytes(pid: int) -> int | None:
    """Resident set size of process ``pid`` (``VmRSS`` in ``/proc/<pid>/status``), or None."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


@dataclass
class ServerProcess:
    """``app`` (``module:factory``, optionally ``@WS``) served by uvicorn in a child process.

    The factory is called as ``factory(redis_url, port)`` in the child and returns the ASGI
    app. Uvicorn's defaults are kept (uvloop, httptools, ``ws="auto"``) unless the spec's
    ``@WS`` (a uvicorn ``--ws`` name or a ``module:Class`` protocol, e.g. the product's own,
    :data:`PRODUCT_WS`) or ``ws`` (which wins) says otherwise. With ``profile`` set, the
    child runs under cProfile and writes its stats there when stopped.
    """

    name: str
    app: str
    redis_url: str
    port: int = field(default_factory=free_port)
    ws: str | None = None
    profile: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    _log: Any = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def ws_url(self) -> str:
        return f"ws://{LOCALHOST}:{self.port}{GRAPHQL_PATH}"

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux ``/proc``)."""
        if self.proc is None:
            return math.nan
        return proc_cpu_seconds(self.proc.pid)

    def rss_bytes(self) -> int | None:
        """The server process's resident set size (``VmRSS``), or None."""
        if self.proc is None:
            return None
        return proc_rss_bytes(self.proc.pid)

    @property
    def ws_protocol(self) -> str:
        """The uvicorn ``--ws`` this server runs with."""
        return self.ws or split_spec(self.app)[1] or "auto"

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "bench._common", split_spec(self.app)[0]]
        command += ["--redis-url", self.redis_url, "--port", str(self.port)]
        command += ["--ws", self.ws_protocol]
        if self.profile is not None:
            command += ["--profile", str(self.profile)]
        return command

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        env.update(self.extra_env)
        self._log = tempfile.TemporaryFile(prefix=f"bench-{self.name}-")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.command(), cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(
                self.port, timeout, alive=lambda: self.proc is not None and self.proc.poll() is None
            )
        except Exception as error:
            output = self.output()
            self.stop()
            raise RuntimeError(f"server {self.name!r} did not start:\n{output}") from error

    def output(self) -> str:
        """What the child printed so far."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        text: str = self._log.read().decode("utf-8", "replace")
        self._log.seek(0, os.SEEK_END)
        return text

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT (uvicorn shuts down gracefully, cProfile stats are written), then SIGKILL."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.proc = None

    def close(self) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


#: The product's own uvicorn WebSocket protocol (``fullon-cache-api serve`` runs on it).
PRODUCT_WS = "fullon_cache_api.server.ws_protocol:FramedWebSocketProtocol"


def ws_text(ws: str | None) -> str:
    """How a report says which uvicorn ``--ws`` the Python targets ran on."""
    if ws is not None:
        return f"`--ws {ws}`"
    return (
        "the product on its own WebSocket protocol (`server/ws_protocol.py`: uvicorn's "
        "websockets-sansio, batches framed by the server and written in one system call), "
        "the other Python targets on `--ws auto` (websockets-sansio)"
    )


def split_spec(spec: str) -> tuple[str, str | None]:
    """``module:factory@WS`` → ``("module:factory", "WS")``; no ``@``: ``(spec, None)``."""
    app, sep, ws = spec.partition("@")
    return app, (ws if sep else None)


def add_extra_targets(
    parser: argparse.ArgumentParser,
    extras: Sequence[str],
    targets: dict[str, str],
    descriptions: dict[str, str],
    chosen: list[str],
) -> None:
    """Register each ``--extra NAME=module:factory[@WS]`` as a target and measure it."""
    for extra in extras:
        name, _, spec = extra.partition("=")
        if not name or ":" not in spec or name in targets:
            parser.error(f"--extra needs NAME=module:factory[@WS] with a new name, not {extra!r}")
        targets[name] = spec
        descriptions[name] = f"`{spec}`"
        chosen.append(name)


def _load_factory(spec: str) -> Callable[[str, int], Any]:
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise SystemExit(f"app must be module:factory, not {spec!r}")
    factory: Callable[[str, int], Any] = getattr(importlib.import_module(module_name), attr)
    return factory


def serve_main(argv: Sequence[str] | None = None) -> None:
    """Child-process entry point: ``python -m bench._common module:factory --port N ...``."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench._common")
    parser.add_argument("app", help="module:factory, called as factory(redis_url, port)")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ws", default="auto", help="uvicorn's --ws implementation")
    parser.add_argument("--profile", type=Path, help="write cProfile stats here on exit")
    args = parser.parse_args(argv)

    app = _load_factory(args.app)(args.redis_url, args.port)
    options: dict[str, Any] = {}
    settings = getattr(getattr(app, "state", None), "settings", None)
    if settings is not None:  # the product: uvicorn's options as `fullon-cache-api serve` sets them
        from fullon_cache_api.server.serving import websocket_options

        options = websocket_options(settings)
    options["ws"] = args.ws
    config = uvicorn.Config(
        app, host=LOCALHOST, port=args.port, log_level="warning", access_log=False, **options
    )
    server = uvicorn.Server(config)
    if args.profile is None:
        server.run()
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        server.run()
    finally:
        profiler.disable()
        profiler.dump_stats(args.profile)


# --------------------------------------------------------------------------- #
# Profiling a server process
# --------------------------------------------------------------------------- #


def find_py_spy() -> str | None:
    """The ``py-spy`` next to this interpreter, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


class PySpy:
    """``py-spy record`` of a running process into collapsed stacks (``--format raw``)."""

    def __init__(self, pid: int, out: Path, rate: int = 1000) -> None:
        binary = find_py_spy()
        if binary is None:
            raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
        self.out = out
        command = [binary, "record", "--pid", str(pid), "--rate", str(rate)]
        command += ["--format", "raw", "--nonblocking", "--output", str(out)]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)  # let it attach
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"py-spy failed: {self.proc.stderr.read().decode() if self.proc.stderr else ''}"
            )

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


def _frame_name(frame: str) -> str:
    """``function (file:line)`` → ``function (short/file)``."""
    match = re.match(r"(.*) \((.*):\d+\)$", frame.strip())
    if match is None:
        return frame.strip()
    name, filename = match.groups()
    short = filename.split("site-packages/")[-1].split("/src/")[-1]
    return f"{name} ({short})"


def summarize_collapsed(path: Path, limit: int = 30) -> str:
    """Top functions by own and by inclusive share of the samples in a collapsed-stack file.

    Under asyncio, time spent in C (uvloop, syscalls) is charged to the Python frame that
    called it, and the loop's own C work to ``Runner.run``.
    """
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(frame) for frame in stack.split(";")]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    lines = [f"{total} samples"]
    for title, counter in (("own", own), ("inclusive", inclusive)):
        lines.append(f"\nTop functions by {title} samples:")
        lines += [
            f"{100 * count / total:6.1f}%  {name}" for name, count in counter.most_common(limit)
        ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Clients
# --------------------------------------------------------------------------- #


class ProtocolError(RuntimeError):
    """The server answered something the benchmark did not expect."""


class GraphQLWSClient:
    """A bare ``graphql-transport-ws`` client on the ``websockets`` library.

    ``query`` sends one ``subscribe`` and waits for its ``next`` and ``complete``; server
    ``ping`` messages are answered on the way.
    """

    def __init__(self, url: str, *, compression: str | None = "deflate") -> None:
        self.url = url
        self.compression = compression
        self.ws: Any = None
        self._next_id = 0

    async def connect(self, payload: dict[str, Any] | None = None) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(
            self.url,
            subprotocols=[TRANSPORT_WS],  # type: ignore[list-item]
            compression=self.compression,
            ping_interval=None,
            max_size=None,
        )
        init: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            init["payload"] = payload
        await self.ws.send(orjson.dumps(init).decode())
        message = await self.receive()
        if message.get("type") != "connection_ack":
            raise ProtocolError(f"expected connection_ack, got {message!r}")

    async def receive(self) -> dict[str, Any]:
        """The next message other than ``ping``/``pong`` (a ``ping`` is answered)."""
        while True:
            text = await self.ws.recv()
            message: dict[str, Any] = orjson.loads(text)
            kind = message.get("type")
            if kind == "ping":
                await self.ws.send('{"type":"pong"}')
            elif kind != "pong":
                return message

    def subscribe_message(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self._next_id += 1
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        return orjson.dumps(
            {"id": str(self._next_id), "type": "subscribe", "payload": payload}
        ).decode()

    async def query(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        """One operation: its single result payload (raises on ``error``)."""
        await self.ws.send(self.subscribe_message(query, variables))
        result: Any = None
        while True:
            message = await self.receive()
            kind = message.get("type")
            if kind == "next":
                result = message.get("payload")
            elif kind == "complete":
                return result
            else:
                raise ProtocolError(f"unexpected message {message!r}")

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
            self.ws = None


class RawHTTPClient:
    """HTTP/1.1 POSTs on one keep-alive connection, with the request bytes built by hand."""

    def __init__(self, port: int, path: str = GRAPHQL_PATH, host: str = LOCALHOST) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def request(self, body: bytes) -> bytes:
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def post(self, request: bytes) -> bytes:
        """Send a request built by :meth:`request`; the response body (status must be 200)."""
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise ProtocolError(f"unexpected response: {head[:200]!r}")
        match = re.search(rb"(?im)^content-length:\s*(\d+)\r$", head)
        if match is not None:
            return await self.reader.readexactly(int(match.group(1)))
        if re.search(rb"(?im)^transfer-encoding:\s*chunked\r$", head) is None:
            raise ProtocolError("response with neither Content-Length nor chunked encoding")
        body = b""  # Node's http module answers chunked when the length was not set
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")  # no trailers are expected
                return body
            body += (await self.reader.readexactly(size + 2))[:-2]

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.writer = None


# --------------------------------------------------------------------------- #
# Statistics
# --------------------------------------------------------------------------- #


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile of already sorted values (``fraction`` in 0..1)."""
    if not sorted_values:
        return math.nan
    position = (len(sorted_values) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    weight = position - low
    return sorted_values[low] * (1 - weight) + sorted_values[high] * weight


@dataclass(frozen=True)
class Stats:
    """Latency statistics in microseconds."""

    count: int
    p50: float
    p90: float
    p99: float
    mean: float
    min: float
    max: float

    @classmethod
    def from_ns(cls, samples_ns: Sequence[int]) -> Stats:
        values = sorted(sample / 1000 for sample in samples_ns)
        if not values:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(
            count=len(values),
            p50=percentile(values, 0.50),
            p90=percentile(values, 0.90),
            p99=percentile(values, 0.99),
            mean=sum(values) / len(values),
            min=values[0],
            max=values[-1],
        )


# --------------------------------------------------------------------------- #
# Reporting
# --------------------------------------------------------------------------- #


def machine_info() -> str:
    """One line: CPU model, CPUs, OS, Python."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def versions(*packages: str) -> str:
    """``name version`` for each installed distribution, comma separated."""
    found = []
    for name in packages:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    align = ["---" if i == 0 else "---:" for i in range(len(headers))]
    return "\n".join([line(headers), line(align), *(line(row) for row in rows)])


def write_section(name: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace the text between ``<!-- {name}:start -->`` and ``<!-- {name}:end -->`` in
    ``path`` (created with :data:`BENCHMARKS_INTRO` if missing); append the section if the
    markers are not there yet. Everything outside the markers is left as it is."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else BENCHMARKS_INTRO
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _match: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    serve_main()
