"""The live dashboard at ``/dashboard``: a page served by the product that reads the
public GraphQL API (graphql-transport-ws subscriptions) like any other client.

Its third-party browser modules are pinned npm files installed at install time
(``python -m fullon_cache_api.dashboard.assets``); its own modules are in ``app/``.
Exports are resolved lazily so that ``python -m fullon_cache_api.dashboard.assets``
needs nothing but the standard library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .assets import STATIC_DIR, assets_available, fetch_assets
    from .page import DASHBOARD_PATH, dashboard_routes, render_dashboard, render_missing_assets

__all__ = [
    "DASHBOARD_PATH",
    "STATIC_DIR",
    "assets_available",
    "dashboard_routes",
    "fetch_assets",
    "render_dashboard",
    "render_missing_assets",
]

_EXPORTS = {
    "STATIC_DIR": "assets",
    "assets_available": "assets",
    "fetch_assets": "assets",
    "DASHBOARD_PATH": "page",
    "dashboard_routes": "page",
    "render_dashboard": "page",
    "render_missing_assets": "page",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
