"""Apollo Client in a real browser, from another origin: headless Chromium (the system's,
driven by Playwright) opens a dashboard page served on a second loopback port.

The page (``tests/js/browser/index.html``) runs ``tests/js/browser/dashboard.mjs``, bundled
with esbuild into one file from the pinned npm packages of ``tests/js`` (``npm ci``, no
network at run time), against the real server:

* ``HttpLink``: a query; ``POST application/json`` from another origin, so the browser sends
  a CORS preflight first;
* ``createPersistedQueryLink`` + ``HttpLink``: automatic persisted queries, hashes over GET;
* ``BatchHttpLink``: two queries in one POST (``HTTP_BATCH_MAX``);
* ``GraphQLWsLink`` (graphql-ws): a subscription, snapshot then an update;
* ``HttpLink`` multipart: the same subscription over HTTP (Apollo's multipart subscription
  protocol, cross-origin, through gzip-accepting Chromium).

The page writes what it received into the DOM; the test reads it back. From an origin that
``ALLOWED_ORIGINS`` does not list, the same page's query is refused by the browser (CORS)
and its WebSocket is closed with 4403.

Skipped, with the reason, only when node/npm, Chromium or Playwright are missing.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from fullon_cache_api.simulator import CacheWriter, seed_scenario
from support import RunningServer, make_settings, running_server
from support.browser import CHROMIUM, CHROMIUM_ARGS, SKIP_REASON
from support.live import wait_until
from support.npm import INSTALL_TIMEOUT_S, NODE, NPM, npm_ci

JS = Path(__file__).resolve().parent / "js"
PAGE = JS / "browser"
STEP_TIMEOUT_S = 20
BTC = {"exchange": "binance", "symbol": "BTC/USDT", "price": 105234.56}

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="playwright is not installed (make install)"
)
pytestmark = [
    pytest.mark.skipif(
        NODE is None or NPM is None, reason="node/npm are not installed: no Apollo Client bundle"
    ),
    pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON),
    pytest.mark.timeout(INSTALL_TIMEOUT_S + 120),
]


# --------------------------------------------------------------------------- the page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with index.html and bundle.js (dashboard.mjs and its npm packages)."""
    npm_ci(JS)
    out = tmp_path_factory.mktemp("dashboard")
    shutil.copy(PAGE / "index.html", out / "index.html")
    done = subprocess.run(
        [
            str(JS / "node_modules" / ".bin" / "esbuild"),
            str(PAGE / "dashboard.mjs"),
            "--bundle",
            "--format=esm",
            "--platform=browser",
            "--define:process.env.NODE_ENV='production'",
            f"--outfile={out / 'bundle.js'}",
            "--log-level=warning",
        ],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"esbuild failed:\n{done.stdout}\n{done.stderr}"
    return out


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def static_server(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a thread; yields its origin."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@dataclass
class Browser:
    """One headless Chromium; pages record console messages and the requests they make,
    CORS preflights included (from the DevTools protocol)."""

    browser: Any
    console: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, url)

    async def open(self, origin: str, server: RunningServer, steps: str) -> Any:
        context = await self.browser.new_context()
        page = await context.new_page()
        page.on("console", lambda message: self.console.append(message.text))
        cdp = await context.new_cdp_session(page)
        await cdp.send("Network.enable")
        cdp.on(
            "Network.requestWillBeSent",
            lambda event: self.requests.append(
                (event["request"]["method"], event["request"]["url"])
            ),
        )
        query = f"api={server.http_url}&ws={server.ws_url}&steps={steps}"
        await page.goto(f"{origin}/index.html?{query}")
        return page


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield Browser(browser)
        finally:
            await browser.close()


async def result(page: Any, element: str) -> Any:
    """The JSON the page wrote into ``<pre id=element>``, once it is final, without the
    ``__typename`` fields Apollo Client adds to every selection."""
    await page.wait_for_selector(
        f"#{element}[data-done]", state="attached", timeout=STEP_TIMEOUT_S * 1000
    )
    return untyped(json.loads(await page.text_content(f"#{element}") or "null"))


def untyped(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: untyped(item) for key, item in value.items() if key != "__typename"}
    if isinstance(value, list):
        return [untyped(item) for item in value]
    return value


async def move_btc(writer: CacheWriter, price: float) -> None:
    await writer.set_ticker(
        {
            "symbol": "BTC/USDT",
            "exchange": "binance",
            "price": price,
            "volume": 1.0,
            "time": time.time(),
            "bid": price - 0.5,
            "ask": price + 0.5,
            "last": price,
        }
    )


# --------------------------------------------------------------------------- the tests


async def test_apollo_client_in_chromium_from_another_origin(
    site: Path, redis_url: str, redis_client: redis.asyncio.Redis
) -> None:
    writer = CacheWriter(redis_client)
    await seed_scenario(writer)
    with static_server(site) as allowed_origin, static_server(site) as foreign_origin:
        settings = make_settings(redis_url, allowed_origins=allowed_origin, http_batch_max=5)
        async with running_server(settings) as server, chromium() as browser:
            page = await browser.open(allowed_origin, server, "query,apq,batch,ws")

            # HttpLink: the query ran, after a CORS preflight.
            assert await result(page, "query") == {"data": {"ticker": BTC}}
            preflights = [url for method, url in browser.requests if method == "OPTIONS"]
            assert any(url.startswith(server.http_url) for url in preflights), browser.requests

            # createPersistedQueryLink: hash only over GET (unknown), then hash + query over
            # POST (registered), then the hash alone over GET runs it.
            apq = await result(page, "apq")
            assert apq.get("data") == [{"ticker": BTC}] * 2, apq
            assert apq["sent"] == [
                {"method": "GET", "query": False, "hash": True, "batch": False},
                {"method": "POST", "query": True, "hash": True, "batch": False},
                {"method": "GET", "query": False, "hash": True, "batch": False},
            ]
            assert len(server.services.executor.persisted) == 1

            # BatchHttpLink: both queries in one POST, answered in order.
            batch = await result(page, "batch")
            assert batch.get("data") == [
                {"ticker": BTC},
                {"exchanges": ["binance", "bybit", "hyperliquid", "kraken"]},
            ], batch
            assert [request["batch"] for request in batch["sent"]] == [True, True]

            # GraphQLWsLink: the snapshot, then the update written now.
            snapshot = await result(page, "ws-snapshot")
            assert snapshot["data"]["tickers"] == {
                "kind": "SNAPSHOT",
                "items": [{"symbol": "BTC/USDT", "price": 105234.56}],
            }, snapshot
            await move_btc(writer, 107000.5)
            update = await result(page, "ws-update")
            assert update["data"]["tickers"] == {
                "kind": "UPSERT",
                "items": [{"symbol": "BTC/USDT", "price": 107000.5}],
            }, update

            # The same page from an origin ALLOWED_ORIGINS does not list.
            browser.console.clear()
            page = await browser.open(foreign_origin, server, "query,ws")
            refused = await result(page, "query")
            assert "Failed to fetch" in refused.get("error", ""), refused
            assert any("blocked by CORS policy" in text for text in browser.console), (
                browser.console
            )
            closed = await result(page, "ws-snapshot")
            assert closed.get("closed") == {"code": 4403, "reason": "origin not allowed"}, closed


async def test_apollo_http_multipart_subscription_in_chromium(
    site: Path, redis_url: str, redis_client: redis.asyncio.Redis
) -> None:
    writer = CacheWriter(redis_client)
    await seed_scenario(writer)
    with static_server(site) as origin:
        settings = make_settings(redis_url, allowed_origins=origin)
        async with running_server(settings) as server, chromium() as browser:
            page = await browser.open(origin, server, "multipart")
            snapshot = await result(page, "multipart-snapshot")
            assert snapshot["data"]["tickers"] == {
                "kind": "SNAPSHOT",
                "items": [{"symbol": "BTC/USDT", "price": 105234.56}],
            }, snapshot
            await move_btc(writer, 107000.5)
            update = await result(page, "multipart-update")
            assert update["data"]["tickers"]["items"] == [
                {"symbol": "BTC/USDT", "price": 107000.5}
            ], update
            # One streamed response, cross-origin (after a preflight), not compressed.
            assert server.services.stats()["connections"] == {"multipart": 1}
            preflights = [url for method, url in browser.requests if method == "OPTIONS"]
            assert any(url.startswith(server.http_url) for url in preflights), browser.requests
            # Closing the page ends the request: everything it held is released.
            await page.close()
            await wait_until(lambda: not server.services.connections, 10, "the stream to end")
            assert not server.services.runner.groups
