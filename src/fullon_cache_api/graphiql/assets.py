"""Pinned GraphiQL browser assets, fetched from the npm registry at install time.

The GraphiQL page must work without internet access, so every file it loads is
served by this server from :data:`STATIC_DIR`. The files are *not* committed:
:func:`fetch_assets` downloads the pinned package tarballs with ``npm pack``,
checks every needed file against its pinned Subresource-Integrity hash, and
copies it into the static directory together with a ``manifest.json``.

Run ``python -m fullon_cache_api.graphiql.assets`` to install (or re-check) them. The
machinery is shared with the dashboard (:mod:`fullon_cache_api.assets_npm`).

The GraphiQL 3.x UMD bundle already contains ``graphql`` and the ``graphql-ws``
client that ``GraphiQL.createFetcher({url, subscriptionUrl})`` uses for
subscriptions (graphql-transport-ws protocol), so only React needs to be added.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fullon_cache_api.assets_npm import MANIFEST_NAME, Asset, NpmAssets

__all__ = [
    "ALL_ASSETS",
    "MANIFEST_NAME",
    "SCRIPTS",
    "STATIC_DIR",
    "STYLES",
    "Asset",
    "assets_available",
    "fetch_assets",
    "main",
]

#: Where the assets live by default (inside the installed package).
STATIC_DIR = Path(__file__).resolve().parent / "static"

GRAPHIQL_VERSION = "3.9.0"
REACT_VERSION = "18.3.1"

REACT_JS = Asset(
    "react",
    REACT_VERSION,
    "umd/react.production.min.js",
    "sha384-DGyLxAyjq0f9SPpVevD6IgztCFlnMF6oW/XQGmfe+IsZ8TqEiDrcHkMLKI6fiB/Z",
)
REACT_DOM_JS = Asset(
    "react-dom",
    REACT_VERSION,
    "umd/react-dom.production.min.js",
    "sha384-gTGxhz21lVGYNMcdJOyq01Edg0jhn/c22nsx0kyqP0TxaV5WVdsSH1fSDUf5YJj1",
)
GRAPHIQL_JS = Asset(
    "graphiql",
    GRAPHIQL_VERSION,
    "graphiql.min.js",
    "sha384-8NGfVj4CVlqHajlZj+bPJT4thxPMHMJYn7DWK2CvtopLd02E7qsPHazniBYvVjOO",
)
GRAPHIQL_CSS = Asset(
    "graphiql",
    GRAPHIQL_VERSION,
    "graphiql.min.css",
    "sha384-QMux00XgRtwRLSYIY3kw2rj1ovk5AuuliAchk+HSQbqdbGFnz9GYuqIlOqxhwCE2",
)
_LICENSES = (
    Asset(
        "react",
        REACT_VERSION,
        "LICENSE",
        "sha384-dIN5gxuW3odCH42AKpxql36fRQlrVsjCi4EJgGC2Ty8Ihkcq9cdrChEZpKhSAfks",
    ),
    Asset(
        "react-dom",
        REACT_VERSION,
        "LICENSE",
        "sha384-dIN5gxuW3odCH42AKpxql36fRQlrVsjCi4EJgGC2Ty8Ihkcq9cdrChEZpKhSAfks",
    ),
    Asset(
        "graphiql",
        GRAPHIQL_VERSION,
        "LICENSE",
        "sha384-9JPX1agGTIUB7wtQt2kO3PUO7clmCJp+9e50VMjw1yd8briI77AZnMDBz5VcerBH",
    ),
)

#: Scripts in load order (GraphiQL's UMD bundle expects the React globals).
SCRIPTS: tuple[Asset, ...] = (REACT_JS, REACT_DOM_JS, GRAPHIQL_JS)
STYLES: tuple[Asset, ...] = (GRAPHIQL_CSS,)
ALL_ASSETS: tuple[Asset, ...] = SCRIPTS + STYLES + _LICENSES


_ASSETS = NpmAssets("GraphiQL", ALL_ASSETS, STATIC_DIR)


def assets_available(dest: Path | None = None) -> bool:
    """True if the pinned assets are installed in ``dest`` (default :data:`STATIC_DIR`).

    Cheap (manifest + file sizes); :func:`fetch_assets` also verifies the hashes.
    """
    return _ASSETS.available(dest)


def fetch_assets(dest: Path | None = None, *, force: bool = False) -> bool:
    """Install the pinned GraphiQL assets into ``dest`` (default :data:`STATIC_DIR`).

    Skips the download when the manifest and file hashes already match (unless
    ``force``). Returns True when the assets are installed, False (never raises)
    if npm is missing or anything fails; the reason is logged.
    """
    return _ASSETS.fetch(dest, force=force)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m fullon_cache_api.graphiql.assets [--dest DIR] [--force]``."""
    return _ASSETS.main("fullon_cache_api.graphiql.assets", argv)


if __name__ == "__main__":
    raise SystemExit(main())
