"""Self-hosted GraphiQL: pinned npm assets served locally, plus the HTML page.

Exports are resolved lazily so that ``python -m fullon_cache_api.graphiql.assets``
does not import the module twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .assets import STATIC_DIR, assets_available, fetch_assets
    from .page import graphiql_mount, graphiql_static_app, render_graphiql

__all__ = [
    "STATIC_DIR",
    "assets_available",
    "fetch_assets",
    "graphiql_mount",
    "graphiql_static_app",
    "render_graphiql",
]

_EXPORTS = {
    "STATIC_DIR": "assets",
    "assets_available": "assets",
    "fetch_assets": "assets",
    "graphiql_mount": "page",
    "graphiql_static_app": "page",
    "render_graphiql": "page",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
