"""fullon_cache_api: a read-only GraphQL window on fullon_cache's Redis state.

``from fullon_cache_api import fullon_cache_api, CacheWebSocketServer``: the client (needs
the ``client`` extra) and the embeddable server. Both are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fullon_cache_api.version import __version__

if TYPE_CHECKING:
    from fullon_cache_api.client import fullon_cache_api
    from fullon_cache_api.websocket_server import CacheWebSocketServer

__all__ = ["CacheWebSocketServer", "__version__", "fullon_cache_api"]


def __getattr__(name: str) -> Any:
    # The client needs the optional ``client`` extra (gql), the server the whole app: import
    # them only on use.
    if name == "fullon_cache_api":
        from fullon_cache_api.client import fullon_cache_api

        return fullon_cache_api
    if name == "CacheWebSocketServer":
        from fullon_cache_api.websocket_server import CacheWebSocketServer

        return CacheWebSocketServer
    raise AttributeError(name)
