"""The live dashboard at /dashboard: its assets, its page and routes, and a real browser.

The browser tests drive the system Chromium with Playwright (from PyPI; never
``playwright install``) against servers started the way users start them: ``fullon-cache-api
demo`` for the demo market, and ``fullon-cache-api serve`` (killed and restarted on the same
port, or with ``API_KEYS``) over this module's own Redis, seeded with the demo scenario and
kept moving by a ``LiveMarket``. They are skipped, with the reason, only when Chromium or
Playwright is absent. A full-page screenshot and the measured transfer size are written to
``tests/output/`` (not committed).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from fullon_cache_api.dashboard import assets_available, dashboard_routes, fetch_assets
from fullon_cache_api.dashboard.assets import ALL_ASSETS, IMPORTS, MANIFEST_NAME, MODULES
from fullon_cache_api.dashboard.page import INSTALL_HINT, AppBuild
from fullon_cache_api.embedded_redis import EmbeddedRedis
from fullon_cache_api.server.app import create_app
from support.browser import CHROMIUM, CHROMIUM_ARGS, SKIP_REASON
from support.server import free_port, make_settings

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "tests" / "output"
START_DEADLINE_S = 30.0
MARKET_KEY = "dashboard-market-key-0123456789"
#: What the page may transfer in all (every response, headers included), gzip on.
TRANSFER_BUDGET_BYTES = 160 * 1024
URL_ATTR = re.compile(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)


@pytest.fixture(scope="module")
def vendor_dir() -> Path:
    """The package's vendor dir, installed from npm if it is not yet."""
    if not assets_available():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed: cannot fetch the dashboard assets")
        assert fetch_assets(), "npm is present but fetch_assets() failed (see log)"
    from fullon_cache_api.dashboard import STATIC_DIR

    return Path(STATIC_DIR)


# --------------------------------------------------------------------------- assets


def test_assets_are_the_pinned_npm_files(vendor_dir: Path) -> None:
    manifest = json.loads((vendor_dir / MANIFEST_NAME).read_text())
    assert set(manifest["files"]) == {a.local_path for a in ALL_ASSETS}
    for asset in ALL_ASSETS:
        entry = manifest["files"][asset.local_path]
        data = (vendor_dir / asset.local_path).read_bytes()
        assert (entry["package"], entry["version"]) == (asset.package, asset.version)
        assert entry["size"] == len(data) > 0
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert set(IMPORTS) == {"preact", "preact/hooks", "htm", "graphql-ws", "lightweight-charts"}
    client = (vendor_dir / IMPORTS["graphql-ws"].local_path).read_text()
    # graphql-ws's client imports its one sibling chunk, which is pinned too.
    siblings = set(re.findall(r"from '\./([\w.-]+\.js)'", client))
    assert siblings == {Path(m.path).name for m in MODULES if m.package == "graphql-ws"} - {
        "client.js"
    }


def test_without_npm_nothing_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin-here"))
    assert fetch_assets(tmp_path / "static") is False
    assert not assets_available(tmp_path / "static")


# --------------------------------------------------------------------------- page and routes


def _between(text: str, pattern: str) -> str:
    found = re.search(pattern, text, re.S)
    assert found is not None, pattern
    return found.group(1)


def _app(**overrides: Any) -> Any:
    return create_app(make_settings("redis://127.0.0.1:1/0", **overrides))


async def test_page_and_everything_it_loads_is_local(vendor_dir: Path) -> None:
    transport = httpx.ASGITransport(_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        page = await client.get("/dashboard")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp
        assert "unsafe" not in csp
        text = page.text
        import_map = json.loads(_between(text, r'<script type="importmap">(.*?)</script>'))
        assert set(import_map["imports"]) == set(IMPORTS)
        urls = set(URL_ATTR.findall(text)) | set(import_map["imports"].values())
        assert not re.search(r"https?://|(?<![:\w])//[\w.-]+\.\w", text)
        config = json.loads(_between(text, r'id="dashboard-config"[^>]*>(.*?)</script>'))
        assert config["endpoint"] == "/graphql"
        for url in sorted(urls - {"data:,"}):
            assert url.startswith("/dashboard/"), url
            response = await client.get(url, headers={"accept-encoding": "gzip"})
            assert response.status_code == 200, url
            assert "immutable" in response.headers["cache-control"], url
            kind = response.headers["content-type"]
            assert kind.startswith("text/css" if url.endswith(".css") else "text/javascript"), url
            if len(response.content) > 1024:
                assert response.headers.get("content-encoding") == "gzip", url
            integrity = import_map["integrity"].get(url)
            if integrity:  # what the page promises is what is served
                digest = hashlib.sha384(response.content).digest()
                assert integrity == "sha384-" + base64.b64encode(digest).decode(), url
        assert (await client.get("/dashboard/app/0000000000000000/main.js")).status_code == 404
        assert (await client.get("/dashboard/vendor/../page.py")).status_code == 404


async def test_page_under_a_mount_point_uses_its_prefix(vendor_dir: Path) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    outer = Starlette(routes=[Mount("/api", app=_app())])
    transport = httpx.ASGITransport(outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        text = (await client.get("/api/dashboard")).text
        config = json.loads(_between(text, r'id="dashboard-config"[^>]*>(.*?)</script>'))
        assert config["endpoint"] == "/api/graphql"
        import_map = json.loads(_between(text, r'<script type="importmap">(.*?)</script>'))
        urls = set(URL_ATTR.findall(text)) | set(import_map["imports"].values())
        for url in sorted(urls - {"data:,"}):
            assert url.startswith("/api/dashboard/"), url
            assert (await client.get(url)).status_code == 200, url


async def test_dashboard_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from fullon_cache_api.settings import Settings

    monkeypatch.setenv("DASHBOARD", "false")
    assert Settings(_env_file=None).dashboard is False  # type: ignore[call-arg]
    transport = httpx.ASGITransport(_app(dashboard=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/dashboard")).status_code == 404
        assert (await client.get("/health")).status_code == 200


async def test_missing_assets_page_says_how_to_install(tmp_path: Path) -> None:
    from starlette.applications import Starlette

    settings = make_settings("redis://127.0.0.1:1/0")
    app = Starlette(routes=dashboard_routes(settings, vendor_dir=tmp_path / "empty"))
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        page = await client.get("/dashboard")
    assert page.status_code == 503
    assert INSTALL_HINT in page.text
    assert "npm" in page.text
    assert not re.search(r"<script|https?://", page.text)

    # A package installed without its own modules says so too, rather than failing to start.
    broken = Starlette(routes=dashboard_routes(settings, app_dir=tmp_path / "no-app"))
    transport = httpx.ASGITransport(broken)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        page = await client.get("/dashboard")
    assert page.status_code == 503
    assert "reinstall" in page.text


def test_app_build_is_read_once(tmp_path: Path) -> None:
    for name in ("main.js", "dashboard.css", "notes.txt"):
        (tmp_path / name).write_text(f"/* {name} */\n")
    build = AppBuild.read(tmp_path)
    assert set(build.files) == {"main.js", "dashboard.css"}
    (tmp_path / "main.js").write_text("changed")
    assert AppBuild.read(tmp_path).digest != build.digest
    assert build.files["main.js"].data == b"/* main.js */\n"


# --------------------------------------------------------------------------- browser helpers


@pytest.fixture(scope="module")
def browser(vendor_dir: Path) -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip(SKIP_REASON)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright): browser tests skipped")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Recorder:
    """Every request and WebSocket a page opens, with the bytes each response took."""

    requests: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    finished: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfinished", lambda r: self.finished.append(r))
        page.on("websocket", lambda ws: self.sockets.append(ws.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(
            "console",
            lambda m: self.errors.append(m.text) if m.type == "error" else None,
        )

    def hosts(self) -> set[str]:
        return {urlsplit(url).netloc for url in self.requests + self.sockets}

    def transfer(self) -> dict[str, int]:
        body = headers = 0
        for request in self.finished:
            sizes = request.sizes()
            body += sizes["responseBodySize"]
            headers += sizes["responseHeadersSize"]
        return {"requests": len(self.finished), "body": body, "headers": headers}


@pytest.fixture
def page_factory(browser: Any) -> Iterator[Callable[[], tuple[Any, Recorder]]]:
    contexts: list[Any] = []

    def make() -> tuple[Any, Recorder]:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        contexts.append(context)
        page = context.new_page()
        recorder = Recorder()
        recorder.attach(page)
        return page, recorder

    yield make
    for context in contexts:
        context.close()


def _wait_state(page: Any, state: str, timeout_ms: float = 10_000) -> None:
    page.wait_for_selector(f'[data-testid="connection"][data-state="{state}"]', timeout=timeout_ms)


def _ticker_prices(page: Any) -> dict[str, str]:
    prices: dict[str, str] = page.eval_on_selector_all(
        '[data-testid="tickers"] tbody tr',
        "rows => Object.fromEntries(rows.map(r => "
        "[r.dataset.symbol, r.querySelector('[data-field=price]').textContent.trim()]))",
    )
    return prices


def _wait_prices_change(page: Any, timeout_ms: float) -> None:
    before = _ticker_prices(page)
    page.wait_for_function(
        """before => [...document.querySelectorAll('[data-testid="tickers"] tbody tr')].some(
             r => r.querySelector('[data-field=price]').textContent.trim()
                  !== before[r.dataset.symbol])""",
        arg=before,
        timeout=timeout_ms,
    )


def _number(text: str) -> float:
    return float(text.replace(",", "").split()[0])


# --------------------------------------------------------------------------- the demo


@dataclass
class Process:
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    event: threading.Condition = field(default_factory=threading.Condition)

    def pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.event:
                self.lines.append(line)
                self.event.notify_all()

    def wait_for(
        self, pattern: re.Pattern[str], timeout: float = START_DEADLINE_S
    ) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self.event:
            while True:
                for line in self.lines:
                    if match := pattern.search(line):
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    pytest.fail(f"no {pattern.pattern!r} in:\n{''.join(self.lines)}")
                self.event.wait(min(left, 0.5))

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _spawn(args: list[str], env: dict[str, str], cwd: Path) -> Process:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fullon_cache_api.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,  # no stray .env
        env=env,
    )
    process = Process(proc)
    threading.Thread(target=process.pump, daemon=True).start()
    return process


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("API_", "REDIS_", "LOG_"))}
    env.update(LOG_LEVEL="WARNING", **extra)
    return env


def _wait_http(url: str) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} never answered"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[str]:
    """``fullon-cache-api demo`` on a free port; the dashboard URL its banner prints (only
    started when there is a browser to open it)."""
    cwd = tmp_path_factory.mktemp("demo")
    process = _spawn(["demo", "--port", str(free_port())], _env(), cwd)
    try:
        url = process.wait_for(re.compile(r"Dashboard: (http://127\.0\.0\.1:\d+/dashboard\S*)"))[1]
        _wait_http(url.split("?")[0].replace("/dashboard", "/health"))
        yield url
    finally:
        process.stop()


def test_demo_dashboard_shows_a_live_market(
    demo: str, page_factory: Callable[[], tuple[Any, Recorder]]
) -> None:
    page, recorder = page_factory()
    page.goto(demo)
    # A person sees a live market within 2 s: the first price, in the page's own clock
    # (milliseconds since the navigation started).
    first_price_ms = page.wait_for_function(
        """() => document.querySelector('[data-testid="tickers"] [data-field="price"]')
                 && performance.now()""",
        timeout=10_000,
    ).json_value()
    assert first_price_ms < 2000, f"first price after {first_price_ms:.0f} ms"
    _wait_state(page, "live")
    assert "Live" in page.inner_text('[data-testid="connection"]')

    # Tickers: real prices from the demo market, bid < ask, a spread and a tick age.
    row = page.locator('[data-testid="tickers"] tr[data-symbol="BTC/USDT"]')
    # Both read in one turn of the page: read one by one, a tick in between can pair one
    # tick's bid with the next one's ask.
    bid_text, ask_text = row.evaluate(
        """r => ['bid', 'ask'].map(f => r.querySelector(`[data-field="${f}"]`).innerText)"""
    )
    bid, ask = _number(bid_text), _number(ask_text)
    assert 50_000 < bid < ask < 200_000
    assert row.locator('[data-field="spread"]').inner_text().endswith("%")
    assert row.locator('[data-field="age"]').inner_text().endswith("s")
    _wait_prices_change(page, timeout_ms=2000)  # a price changes within 2 s
    page.wait_for_selector('[data-testid="tickers"] .flash-up, [data-testid="tickers"] .flash-down')

    # Candles: the forming bar's close changes.
    close = page.locator('[data-testid="candle-close"]')
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"candle-close\"]')", timeout=5000
    )
    first_close = close.inner_text()
    assert 50_000 < _number(first_close) < 200_000
    page.wait_for_function(
        "before => document.querySelector('[data-testid=\"candle-close\"]').textContent.trim()"
        " !== before",
        arg=first_close.strip(),
        timeout=20_000,
    )
    assert page.locator('[data-testid="chart"] canvas').count() > 0

    # Every other panel holds real values from the demo.
    page.wait_for_selector('[data-testid="trades"] tbody tr')
    page.wait_for_selector('[data-testid="balances"] tbody tr')
    assert "USDT" in page.inner_text('[data-testid="balances"]')
    page.wait_for_selector('[data-testid="positions"] tbody tr')
    page.wait_for_selector('[data-testid="orders"] tbody tr')
    assert re.search(r"open|filled|canceled", page.inner_text('[data-testid="orders"]'))
    page.wait_for_selector('[data-testid="queue-length"]')
    page.wait_for_selector('[data-testid="bots"] tbody tr')
    page.wait_for_selector('[data-testid="blocks"] tbody tr')
    page.wait_for_selector('[data-testid="opening"] tbody tr')
    page.wait_for_selector('[data-testid="processes"] tbody tr')
    assert "processes in the last hour" in page.inner_text('[data-testid="health"]')
    # A stale process stands out, with the time since its heartbeat.
    stale = page.locator('[data-testid="processes"] tr[data-stale="true"]').first
    assert "stale" in stale.inner_text().lower()
    assert re.search(r"\d+ m \d+ s ago", stale.locator('[data-field="heartbeat-age"]').inner_text())
    assert page.locator('[data-testid="scope-note"]').count() == 0

    # The choices are in the URL.
    assert "exchange=binance" in page.url and "symbol=BTC%2FUSDT" in page.url

    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "dashboard.png"), full_page=True)
    transfer = recorder.transfer()
    transfer["first_price_ms"] = round(first_price_ms)
    (OUTPUT / "dashboard-transfer.json").write_text(json.dumps(transfer, indent=2) + "\n")
    assert transfer["body"] + transfer["headers"] < TRANSFER_BUDGET_BYTES, transfer

    # Nothing but the server itself was asked for anything.
    origin = urlsplit(demo).netloc
    assert recorder.hosts() == {origin}, recorder.requests + recorder.sockets
    assert recorder.sockets and all(s.startswith("ws://") for s in recorder.sockets)
    assert not recorder.errors, recorder.errors


def test_choices_live_in_the_url(
    demo: str, page_factory: Callable[[], tuple[Any, Recorder]]
) -> None:
    page, _ = page_factory()
    base = demo.split("?")[0]
    page.goto(f"{base}?exchange=kraken&account=2")
    page.wait_for_selector('[data-testid="tickers"] tr[data-symbol="BTC/USD"]')
    assert page.locator('[data-testid="tickers"] tr[data-symbol="BTC/USDT"]').count() == 0
    page.wait_for_selector('[data-testid="balances"] >> text=EUR')
    # A click is a new URL (and history entry) that reloads to the same view.
    page.get_by_test_id("panel-tickers").get_by_role("tab", name="hyperliquid").click()
    page.wait_for_selector('[data-testid="tickers"] tr[data-symbol="HYPE/USDC:USDC"]')
    assert "exchange=hyperliquid" in page.url
    page.go_back()
    page.wait_for_selector('[data-testid="tickers"] tr[data-symbol="BTC/USD"]')
    page.goto(page.url.replace("kraken", "bybit"))
    page.wait_for_selector('[data-testid="tickers"] tr[data-symbol="ETH/USDT:USDT"]')


# --------------------------------------------------------------------------- serve over own Redis


# The market runs in its own process: a stop is a kill, whatever the simulator is awaiting
# (a thread's event loop that has not finished its cancellation cannot be closed).
_MARKET_SCRIPT = """
import asyncio, sys
import redis.asyncio
from fullon_cache_api.simulator import CacheWriter, seed_scenario
from fullon_cache_api.simulator.live import LiveMarket

async def main() -> None:
    client = redis.asyncio.Redis.from_url(sys.argv[1], decode_responses=True)
    writer = CacheWriter(client)
    await seed_scenario(writer)
    print("seeded", flush=True)
    await LiveMarket(writer, rate_hz=5.0).run()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def market(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private Redis with the demo scenario, kept moving by a LiveMarket (its own process);
    only started when there is a browser to open its pages."""
    server = EmbeddedRedis()
    server.start()
    url = f"{server.url.rsplit('/', 1)[0]}/0"
    proc = subprocess.Popen(
        [sys.executable, "-c", _MARKET_SCRIPT, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path_factory.mktemp("market"),
    )
    process = Process(proc)
    threading.Thread(target=process.pump, daemon=True).start()
    try:
        process.wait_for(re.compile(r"^seeded$"))
        yield url
    finally:
        process.stop(signal.SIGKILL)
        server.stop()


@pytest.fixture
def serve(market: str, tmp_path: Path) -> Iterator[Callable[..., tuple[str, Process]]]:
    """Start ``fullon-cache-api serve`` over the market's Redis (on a given port)."""
    started: list[Process] = []

    def start(port: int | None = None, **env: str) -> tuple[str, Process]:
        port = port or free_port()
        process = _spawn(["serve", "--port", str(port)], _env(REDIS_URL=market, **env), tmp_path)
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/health")
        return base, process

    yield start
    for process in started:
        process.stop(signal.SIGKILL)


def test_reconnects_after_the_server_is_killed(
    serve: Callable[..., tuple[str, Process]], page_factory: Callable[[], tuple[Any, Recorder]]
) -> None:
    port = free_port()
    base, server = serve(port)
    page, recorder = page_factory()
    page.goto(f"{base}/dashboard")
    _wait_state(page, "live")
    page.wait_for_selector('[data-testid="tickers"] tbody tr')
    page.evaluate("() => { window.__sameDocument = true; }")

    server.stop(signal.SIGKILL)
    _wait_state(page, "reconnecting", timeout_ms=10_000)
    indicator = page.inner_text('[data-testid="connection"]')
    assert "Reconnecting" in indicator
    assert re.search(r"stale since \d\d:\d\d:\d\d", indicator), indicator
    frozen = _ticker_prices(page)  # the last values stay on screen while reconnecting
    assert frozen

    serve(port)  # the same port, the same Redis
    _wait_state(page, "live", timeout_ms=20_000)
    _wait_prices_change(page, timeout_ms=10_000)
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    assert recorder.hosts() == {f"127.0.0.1:{port}"}


def test_market_only_key_hides_the_other_panels(
    serve: Callable[..., tuple[str, Process]], page_factory: Callable[[], tuple[Any, Recorder]]
) -> None:
    base, _ = serve(API_KEYS=f"{MARKET_KEY}:market")
    page, recorder = page_factory()
    page.goto(f"{base}/dashboard")
    _wait_state(page, "auth")
    form = page.locator('[data-testid="key-form"]')
    form.locator("input").fill("not-the-right-key-at-all")
    form.locator("button").click()
    page.wait_for_selector('[data-testid="key-form"] [role="alert"]')  # refused, asked again
    form.locator("input").fill(MARKET_KEY)
    form.locator("button").click()
    _wait_state(page, "live")
    page.wait_for_selector('[data-testid="tickers"] tbody tr [data-field="price"]')
    _wait_prices_change(page, timeout_ms=5000)
    page.wait_for_selector('[data-testid="candle-close"]')
    for panel in ("panel-tickers", "panel-candles", "panel-trades"):
        assert page.locator(f'[data-testid="{panel}"] [data-testid="scope-note"]').count() == 0
    for panel, scope in (
        ("panel-account", "account"),
        ("panel-orders", "account"),
        ("panel-bots", "ops"),
        ("panel-processes", "ops"),
    ):
        note = page.locator(f'[data-testid="{panel}"] [data-testid="scope-note"]')
        note.wait_for()
        assert "not in your key's scope" in note.inner_text().lower()
        assert scope in note.inner_text()
    assert page.evaluate("() => sessionStorage.length") == 1
    # The key is asked for once: a reload connects with the stored one.
    page.reload()
    _wait_state(page, "live")
    assert page.locator('[data-testid="key-form"]').count() == 0
    assert recorder.hosts() == {urlsplit(base).netloc}


def test_reconnects_after_a_close_code_graphql_ws_gives_up_on(
    demo: str, page_factory: Callable[[], tuple[Any, Recorder]]
) -> None:
    """graphql-ws stops retrying after some close codes (1011: no pong in time, 1008: too
    slow, 4429, ...); the dashboard starts over by itself."""
    page, _ = page_factory()
    routes: list[Any] = []

    def through(route: Any) -> None:
        route.connect_to_server()
        routes.append(route)

    page.route_web_socket(re.compile(r".*/graphql$"), through)
    page.goto(demo)
    _wait_state(page, "live")
    page.wait_for_selector('[data-testid="tickers"] tbody tr')
    routes[0].close(code=1011, reason="keep-alive timeout")
    _wait_state(page, "reconnecting")
    _wait_state(page, "live", timeout_ms=15_000)
    assert len(routes) >= 2
    _wait_prices_change(page, timeout_ms=10_000)
