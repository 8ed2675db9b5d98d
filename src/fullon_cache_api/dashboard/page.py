"""The dashboard's HTML page, its static mounts, and the routes the app includes.

The page is a shell: an import map naming the locally served modules (with their
integrity hashes), the page's own modules from ``dashboard/app/`` and a JSON config
(the GraphQL endpoint). Everything after that goes through the public GraphQL API over
graphql-transport-ws, with the API key (if any) in ``connection_init``, like any client.

- ``GET /dashboard``: the page, or, when the npm assets are not installed, a page saying
  how to install them (HTTP 503).
- ``/dashboard/vendor/...``: the pinned npm files (:mod:`.assets`), versioned paths,
  cached as immutable.
- ``/dashboard/app/<digest>/<file>``: the page's own modules and stylesheet, read once
  and served from memory; the digest of their contents is in the path, so they are
  immutable too and a new version is a new URL.

All three are sent gzipped to browsers that accept it. The page carries a
Content-Security-Policy that allows scripts, styles and connections to this server only.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from fullon_cache_api.vendor_static import IMMUTABLE, VersionedStaticFiles
from fullon_cache_api.version import __version__

from .assets import IMPORTS, MODULES, STATIC_DIR, assets_available

if TYPE_CHECKING:
    from fullon_cache_api.settings import Settings

__all__ = [
    "APP_DIR",
    "DASHBOARD_PATH",
    "INSTALL_HINT",
    "AppBuild",
    "dashboard_routes",
    "render_dashboard",
    "render_missing_assets",
]

DASHBOARD_PATH = "/dashboard"
#: The page's own modules and stylesheet (committed with the package).
APP_DIR = Path(__file__).resolve().parent / "app"
ENTRY_MODULE = "main.js"
STYLESHEET = "dashboard.css"

INSTALL_HINT = "python -m fullon_cache_api.dashboard.assets"


_GZIP_MIN_BYTES = 512


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


_MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css"}


@dataclass(frozen=True, slots=True)
class AppFile:
    data: bytes
    gzipped: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class AppBuild:
    """The page's own files, read once: their contents, a digest of all of them (part of
    their URLs) and each one's SRI hash. They are served from memory, so what the page's
    integrity hashes promise is what is sent, whatever happens on disk later."""

    digest: str
    integrity: dict[str, str]
    files: dict[str, AppFile]

    @classmethod
    def read(cls, directory: Path = APP_DIR) -> AppBuild:
        whole = hashlib.sha256()
        integrity: dict[str, str] = {}
        files: dict[str, AppFile] = {}
        paths = sorted(directory.iterdir()) if directory.is_dir() else []
        for path in paths:
            media_type = _MEDIA_TYPES.get(path.suffix)
            if media_type is None or not path.is_file() or path.name.startswith("."):
                continue
            data = path.read_bytes()
            whole.update(path.name.encode() + b"\0" + data + b"\0")
            integrity[path.name] = _sri(data)
            files[path.name] = AppFile(data, gzip.compress(data, mtime=0), media_type)
        return cls(whole.hexdigest()[:16], integrity, files)


def _json_for_script(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (cannot close it)."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _script_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _csp(import_map: str) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {_script_hash(import_map)}",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def render_dashboard(
    endpoint: str, build: AppBuild, *, prefix: str = DASHBOARD_PATH
) -> tuple[str, str]:
    """The page for the GraphQL ``endpoint``, and its Content-Security-Policy."""
    prefix = prefix.rstrip("/")
    vendor = f"{prefix}/vendor"
    app = f"{prefix}/app/{build.digest}"
    integrity = {f"{vendor}/{a.local_path}": a.integrity for a in MODULES}
    integrity.update(
        {f"{app}/{name}": sri for name, sri in build.integrity.items() if name.endswith(".js")}
    )
    import_map = _json_for_script(
        {
            "imports": {name: f"{vendor}/{a.local_path}" for name, a in IMPORTS.items()},
            "integrity": integrity,
        }
    )
    preload = "\n".join(
        f'<link rel="modulepreload" href="{html.escape(url)}" integrity="{html.escape(sri)}">'
        for url, sri in integrity.items()
    )
    css = f"{app}/{STYLESHEET}"
    css_sri = build.integrity.get(STYLESHEET, "")
    entry = f"{app}/{ENTRY_MODULE}"
    entry_attrs = f'src="{html.escape(entry)}" integrity="{html.escape(integrity[entry])}"'
    config = _json_for_script({"endpoint": endpoint, "version": __version__})
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>fullon dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{html.escape(css)}" integrity="{html.escape(css_sri)}">
<script type="importmap">{import_map}</script>
{preload}
</head>
<body>
<div id="app"><p class="boot">Loading the dashboard\N{HORIZONTAL ELLIPSIS}</p></div>
<noscript><p class="boot">The dashboard needs JavaScript.</p></noscript>
<script id="dashboard-config" type="application/json">{config}</script>
<script type="module" {entry_attrs}></script>
</body>
</html>
"""
    return page, _csp(import_map)


def render_missing_assets() -> str:
    """The page served when the npm assets are not installed: how to install them."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fullon dashboard: assets not installed</title>
<link rel="icon" href="data:,">
<style>
body {{ margin: 0; background: #0d1117; color: #d5dde6;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }}
main {{ max-width: 720px; padding: 24px; }}
pre {{ background: #151b23; border: 1px solid #262f3a; padding: 10px 12px; }}
</style>
</head>
<body>
<main role="alert">
<h1>The dashboard's assets are not installed</h1>
<p>The dashboard serves its browser modules (Preact, htm, graphql-ws and TradingView
Lightweight Charts) from this server, so it needs no internet access. They are fetched from
the npm registry at install time, and npm was unavailable then.</p>
<p>On the server, with npm installed, run:</p>
<pre>{html.escape(INSTALL_HINT)}</pre>
<p>(<code>make install</code> runs it too.) Then reload this page; no restart is needed.
If this page stays, the package was installed without its data files: reinstall it.</p>
</main>
</body>
</html>
"""


def _vendor_static(directory: Path) -> GZipMiddleware:
    return GZipMiddleware(
        VersionedStaticFiles(
            directory=directory, check_dir=False, headers={"X-Content-Type-Options": "nosniff"}
        ),
        minimum_size=_GZIP_MIN_BYTES,
    )


def dashboard_routes(
    settings: Settings,
    *,
    vendor_dir: Path | None = None,
    app_dir: Path = APP_DIR,
    prefix: str = DASHBOARD_PATH,
) -> list[BaseRoute]:
    """The dashboard's page and static mounts, for the app's route list."""
    prefix = prefix.rstrip("/")
    vendor = STATIC_DIR if vendor_dir is None else vendor_dir
    build = AppBuild.read(app_dir)
    complete = ENTRY_MODULE in build.files and STYLESHEET in build.files
    headers = {
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Vary": "Accept-Encoding",
    }
    # The page for each root path the app is served under (mounted under /api, its URLs
    # start with /api): rendered once per root path.
    rendered: dict[str, tuple[bytes, bytes, str]] = {}

    def page_for(root_path: str) -> tuple[bytes, bytes, str]:
        found = rendered.get(root_path)
        if found is None:
            page, csp = render_dashboard(
                root_path + settings.graphql_path, build, prefix=root_path + prefix
            )
            data = page.encode("utf-8")
            found = (data, gzip.compress(data, mtime=0), csp)
            if len(rendered) < 16:
                rendered[root_path] = found
        return found

    def _gzip_accepted(request: Request) -> bool:
        return "gzip" in request.headers.get("accept-encoding", "").lower()

    async def app_file(request: Request) -> Response:
        found = build.files.get(request.path_params["name"])
        if found is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        file_headers = {
            "Cache-Control": IMMUTABLE,
            "X-Content-Type-Options": "nosniff",
            "Vary": "Accept-Encoding",
        }
        body = found.data
        if _gzip_accepted(request):
            body = found.gzipped
            file_headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=found.media_type, headers=file_headers)

    async def dashboard_page(request: Request) -> Response:
        if not complete or not assets_available(vendor):
            return HTMLResponse(
                render_missing_assets(),
                status_code=503,
                headers={"Cache-Control": "no-cache", "Retry-After": "60"},
            )
        data, gzipped, csp = page_for(str(request.scope.get("root_path", "")).rstrip("/"))
        page_headers = {**headers, "Content-Security-Policy": csp}
        if _gzip_accepted(request):
            return HTMLResponse(gzipped, headers={**page_headers, "Content-Encoding": "gzip"})
        return HTMLResponse(data, headers=page_headers)

    return [
        Route(prefix, dashboard_page, methods=["GET"], name="dashboard"),
        Mount(f"{prefix}/vendor", app=_vendor_static(vendor), name="dashboard-vendor"),
        Route(f"{prefix}/app/{build.digest}/{{name}}", app_file, name="dashboard-app"),
    ]
