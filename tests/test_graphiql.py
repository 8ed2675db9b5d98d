"""Self-hosted GraphiQL: npm-fetched assets, the page, the static mount, a real browser."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from fullon_cache_api.graphiql import (
    STATIC_DIR,
    assets_available,
    fetch_assets,
    graphiql_mount,
    render_graphiql,
)
from fullon_cache_api.graphiql.assets import ALL_ASSETS, MANIFEST_NAME, SCRIPTS, STYLES
from fullon_cache_api.graphiql.page import CDN_BANNER

# Every src/href attribute and every url(...) in the page.
_URL_ATTR = re.compile(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)


@pytest.fixture(scope="module")
def static_dir() -> Path:
    """The package's static dir, installed from npm if it is not yet."""
    if not assets_available():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed: cannot fetch the GraphiQL assets")
        assert fetch_assets(), "npm is present but fetch_assets() failed (see log)"
    assert assets_available()
    return STATIC_DIR


# --------------------------------------------------------------------------- assets


def test_fetch_assets_produced_pinned_files(static_dir: Path) -> None:
    manifest = json.loads((static_dir / MANIFEST_NAME).read_text())
    assert set(manifest["files"]) == {a.local_path for a in ALL_ASSETS}
    for asset in ALL_ASSETS:
        entry = manifest["files"][asset.local_path]
        data = (static_dir / asset.local_path).read_bytes()
        assert (entry["package"], entry["version"]) == (asset.package, asset.version)
        assert entry["size"] == len(data) > 0
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    graphiql_js = next(a for a in SCRIPTS if a.package == "graphiql")
    bundle = (static_dir / graphiql_js.local_path).read_text(encoding="utf-8")
    # The UMD bundle carries the graphql-ws client used for subscriptions.
    assert "graphql-transport-ws" in bundle


def test_fetch_assets_is_idempotent(static_dir: Path) -> None:
    manifest = static_dir / MANIFEST_NAME
    before = manifest.stat().st_mtime_ns
    started = time.monotonic()
    assert fetch_assets() is True
    assert time.monotonic() - started < 2.0  # no npm round-trip
    assert manifest.stat().st_mtime_ns == before


def test_fetch_assets_without_npm_returns_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin-here"))
    assert fetch_assets(tmp_path / "static") is False
    assert not assets_available(tmp_path / "static")


def test_broken_install_is_not_available(static_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "static"
    shutil.copytree(static_dir, copy)
    assert assets_available(copy)
    target = copy / SCRIPTS[0].local_path
    target.write_bytes(target.read_bytes()[:-1])
    assert not assets_available(copy)
    (copy / MANIFEST_NAME).write_text("not json")
    assert not assets_available(copy)


# --------------------------------------------------------------------------- page


def test_page_uses_only_local_assets(static_dir: Path) -> None:
    page = render_graphiql("/graphql")
    urls = _URL_ATTR.findall(page)
    assert urls, "no src/href found"
    for url in urls:
        assert url == "data:," or url.startswith("/graphiql/static/"), url
    for asset in (*SCRIPTS, *STYLES):
        assert f"/graphiql/static/{asset.local_path}" in page
    # No absolute or protocol-relative URL anywhere (markup, CSS or script).
    assert not re.search(r"https?://|(?<![:\w])//[\w.-]+\.\w", page.replace("\\/", "/"))
    assert "url(" not in page and "@import" not in page
    assert CDN_BANNER not in page
    assert "GraphiQL.createFetcher" in page and "subscriptionUrl" in page
    assert '"wss:"' in page and '"ws:"' in page


def test_page_config_and_escaping(static_dir: Path) -> None:
    page = render_graphiql(
        "/api/graphql",
        static_prefix="/assets/",
        subscription_path="/api/ws",
        default_query="{ a } # </script><b>",
    )
    assert "/assets/graphiql-3.9.0/graphiql.min.js" in page
    config = re.search(r'<script id="graphiql-config"[^>]*>(.*?)</script>', page, re.S)
    assert config is not None
    data = json.loads(config.group(1))
    assert data["endpoint"] == "/api/graphql"
    assert data["subscriptionPath"] == "/api/ws"
    assert data["defaultQuery"] == "{ a } # </script><b>"
    assert "</script><b>" not in page


def test_page_falls_back_to_cdn_with_banner(tmp_path: Path) -> None:
    page = render_graphiql("/graphql", static_dir=tmp_path)
    assert CDN_BANNER in page
    assert "python -m fullon_cache_api.graphiql.assets" in page
    assert "npm was unavailable" in page
    for asset in (*SCRIPTS, *STYLES):
        assert asset.cdn_url in page
        assert f'integrity="{asset.integrity}"' in page
        assert f"@{asset.version}/" in asset.cdn_url
    assert "/graphiql/static/" not in page


# --------------------------------------------------------------------------- mount


async def test_static_mount_serves_with_cache_headers(static_dir: Path, tmp_path: Path) -> None:
    css = STYLES[0]
    app = Starlette(routes=[graphiql_mount()])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        resp = await c.get(f"/graphiql/static/{css.local_path}")
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/css")
        assert "immutable" in resp.headers["cache-control"]
        assert (await c.get(f"/graphiql/static/{MANIFEST_NAME}")).headers[
            "cache-control"
        ] == "no-cache"
        assert (await c.get("/graphiql/static/nope.js")).status_code == 404
        assert (await c.get("/graphiql/static/../assets.py")).status_code == 404

    missing = Starlette(routes=[graphiql_mount(directory=tmp_path / "absent")])
    transport = httpx.ASGITransport(missing)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        assert (await c.get(f"/graphiql/static/{css.local_path}")).status_code == 404


# --------------------------------------------------------------------------- browser


def _make_app(posts: list[str]) -> Starlette:
    async def graphql(request: Request) -> Response:
        if request.method == "GET":
            return HTMLResponse(render_graphiql("/graphql"))
        body = await request.json()
        posts.append(str(body.get("query", "")))
        return JSONResponse({"data": {"__typename": "Query"}})

    return Starlette(routes=[Route("/graphql", graphql, methods=["GET", "POST"]), graphiql_mount()])


@pytest.fixture
def live_server() -> Iterator[tuple[str, list[str]]]:
    posts: list[str] = []
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(_make_app(posts), lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/graphql", posts
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.mark.timeout(60)
def test_graphiql_renders_in_headless_chromium(
    static_dir: Path, live_server: tuple[str, list[str]], tmp_path: Path
) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium): browser check skipped")
    url, posts = live_server
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # Anything but the local server is unresolvable: proves nothing external is needed.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=45, check=False)
    dom = proc.stdout
    assert "graphiql-container" in dom, (
        f"GraphiQL did not render (rc={proc.returncode}).\n"
        f"DOM head: {dom[:2000]}\nstderr tail: {proc.stderr[-2000:]}"
    )
    assert "graphiql-editor" in dom
    assert "Loading GraphiQL" not in dom
    assert CDN_BANNER not in dom
    # GraphiQL's schema introspection went through the fetcher to our POST endpoint.
    assert any("__schema" in q for q in posts), posts
