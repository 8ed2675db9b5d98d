"""fullon_cache_api: a read-only GraphQL window on fullon_cache's Redis state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"

if TYPE_CHECKING:
    from fullon_cache_api.client import fullon_cache_api

__all__ = ["__version__", "fullon_cache_api"]


def __getattr__(name: str) -> Any:
    # The client needs the optional ``client`` extra (gql); import it only on use.
    if name == "fullon_cache_api":
        from fullon_cache_api.client import fullon_cache_api

        return fullon_cache_api
    raise AttributeError(name)
