"""The GraphiQL HTML page and the Starlette mount serving its local assets.

With the assets installed (see :mod:`fullon_cache_api.graphiql.assets`) the page
loads nothing from outside this server. Otherwise it falls back to the same
pinned versions on a public CDN (with Subresource Integrity) and says so in a
visible banner.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from fullon_cache_api.vendor_static import VersionedStaticFiles

from .assets import SCRIPTS, STATIC_DIR, STYLES, Asset, assets_available

__all__ = [
    "CDN_BANNER",
    "DEFAULT_QUERY",
    "DEFAULT_STATIC_PREFIX",
    "graphiql_mount",
    "graphiql_static_app",
    "render_graphiql",
]

DEFAULT_STATIC_PREFIX = "/graphiql/static"

CDN_BANNER = (
    "GraphiQL assets are not installed locally (npm was unavailable at install time); "
    "loading from a CDN \N{EM DASH} this needs internet access. "
    "Run `python -m fullon_cache_api.graphiql.assets` to install them."
)

DEFAULT_QUERY = """\
# fullon_cache_api \N{EM DASH} read-only GraphQL over the fullon_cache Redis state.
#
# Queries go over HTTP POST; subscriptions go over a WebSocket
# (graphql-transport-ws), so `subscription { ... }` operations stream live here.
# Open the Docs panel (book icon) to browse the schema.

query RootFields {
  __schema {
    queryType { fields { name description } }
    subscriptionType { fields { name description } }
  }
}
"""


# Builds the HTTP and WebSocket URLs from window.location, then mounts GraphiQL.
_BOOT_JS = """\
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("graphiql-config").textContent);
  var root = document.getElementById("graphiql");
  if (typeof React === "undefined" || typeof ReactDOM === "undefined" ||
      typeof GraphiQL === "undefined") {
    root.textContent = config.local
      ? "GraphiQL could not be loaded: the local assets failed to load."
      : "GraphiQL could not be loaded from the CDN (no internet access?). " +
        "Run `python -m fullon_cache_api.graphiql.assets` on the server.";
    return;
  }
  var loc = window.location;
  var url = new URL(config.endpoint, loc.href).toString();
  // Same host and port as the page; ws: or wss: to match http: or https:.
  var ws = new URL(config.subscriptionPath, loc.href);
  if (ws.protocol === "http:" || ws.protocol === "https:") {
    ws.protocol = ws.protocol === "https:" ? "wss:" : "ws:";
  }
  var fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: ws.toString() });
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, { fetcher: fetcher, defaultQuery: config.defaultQuery })
  );
})();
"""

_STYLE = """\
html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: column; }
#graphiql { flex: 1 1 auto; min-height: 0; }
.graphiql-cdn-banner {
  padding: 8px 12px; background: #fff3cd; color: #664d03;
  border-bottom: 1px solid #ffecb5; font: 14px/1.4 system-ui, sans-serif;
}
"""


def _json_for_script(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (cannot close it)."""
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset_attrs(asset: Asset, *, local: bool, static_prefix: str) -> str:
    if local:
        return f'"{html.escape(f"{static_prefix}/{asset.local_path}")}"'
    return (
        f'"{html.escape(asset.cdn_url)}" integrity="{html.escape(asset.integrity)}"'
        ' crossorigin="anonymous"'
    )


def render_graphiql(
    endpoint: str,
    *,
    static_prefix: str = DEFAULT_STATIC_PREFIX,
    subscription_path: str | None = None,
    default_query: str = DEFAULT_QUERY,
    static_dir: Path | None = None,
) -> str:
    """Return the GraphiQL HTML page for the GraphQL ``endpoint`` (e.g. ``"/graphql"``).

    ``subscription_path`` (default: ``endpoint``) is the WebSocket path; the page
    resolves it against ``window.location`` and switches the scheme to ``ws:`` or
    ``wss:`` (an absolute ``ws(s)://`` URL is used as-is). Assets come from
    ``static_prefix`` when they are installed in ``static_dir`` (default: the
    package's static directory), otherwise from the CDN with a visible banner.
    """
    local = assets_available(static_dir)
    prefix = static_prefix.rstrip("/")
    styles = "\n".join(
        f'<link rel="stylesheet" href={_asset_attrs(a, local=local, static_prefix=prefix)}>'
        for a in STYLES
    )
    scripts = "\n".join(
        f"<script src={_asset_attrs(a, local=local, static_prefix=prefix)}></script>"
        for a in SCRIPTS
    )
    banner = (
        ""
        if local
        else f'<div class="graphiql-cdn-banner" role="alert">{html.escape(CDN_BANNER)}</div>\n'
    )
    config = _json_for_script(
        {
            "endpoint": endpoint,
            "subscriptionPath": subscription_path or endpoint,
            "defaultQuery": default_query,
            "local": local,
        }
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL \N{MIDDLE DOT} fullon_cache_api</title>
<link rel="icon" href="data:,">
{styles}
<style>
{_STYLE}</style>
</head>
<body>
{banner}<div id="graphiql">Loading GraphiQL\N{HORIZONTAL ELLIPSIS}</div>
<noscript>GraphiQL needs JavaScript.</noscript>
{scripts}
<script id="graphiql-config" type="application/json">{config}</script>
<script>
{_BOOT_JS}</script>
</body>
</html>
"""


def graphiql_static_app(directory: Path | None = None) -> StaticFiles:
    """ASGI app serving the installed assets (default: the package's static dir)."""
    return VersionedStaticFiles(
        directory=STATIC_DIR if directory is None else directory, check_dir=False
    )


def graphiql_mount(
    prefix: str = DEFAULT_STATIC_PREFIX,
    *,
    directory: Path | None = None,
    name: str = "graphiql-static",
) -> Mount:
    """A Starlette ``Mount`` serving the assets at ``prefix`` (match ``static_prefix``)."""
    return Mount(prefix.rstrip("/"), app=graphiql_static_app(directory), name=name)
