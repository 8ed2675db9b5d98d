"""Pinned dashboard browser assets, fetched from the npm registry at install time.

The dashboard must work without internet access, so every file it loads is served by
this server: the page's own modules from the package (``dashboard/app/``, committed)
and the third-party modules below from :data:`STATIC_DIR` (not committed).
:func:`fetch_assets` installs them with ``npm pack`` and checks each file against its
pinned Subresource-Integrity hash, with the machinery GraphiQL uses
(:mod:`fullon_cache_api.assets_npm`). Unlike GraphiQL there is no CDN fallback: without
the files the page says how to install them.

Run ``python -m fullon_cache_api.dashboard.assets`` to install (or re-check) them.

What the page is built from, and why:

- **Preact** (``preact`` + ``preact/hooks``, 15 KB) with **htm** (1 KB) for templates:
  components and hooks without a build step or a bundler, as plain ES modules loaded
  through an import map. Small, mature and MIT/Apache-2.0.
- **graphql-ws** (client only, 24 KB): the reference graphql-transport-ws client. It
  keeps alive with pings, reconnects and resubscribes by itself; the page only adds a
  bounded back-off and the connection indicator.
- **lightweight-charts** (TradingView, Apache-2.0; the standalone ES module, 198 KB):
  a real candlestick chart on a canvas, made for live updates of the forming bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fullon_cache_api.assets_npm import MANIFEST_NAME, Asset, NpmAssets

__all__ = [
    "ALL_ASSETS",
    "IMPORTS",
    "MANIFEST_NAME",
    "MODULES",
    "STATIC_DIR",
    "assets_available",
    "fetch_assets",
    "main",
]

#: Where the assets live by default (inside the installed package).
STATIC_DIR = Path(__file__).resolve().parent / "static"

PREACT_VERSION = "10.29.8"
HTM_VERSION = "3.1.1"
GRAPHQL_WS_VERSION = "6.4.2"
LIGHTWEIGHT_CHARTS_VERSION = "5.2.1"

PREACT_JS = Asset(
    "preact",
    PREACT_VERSION,
    "dist/preact.module.js",
    "sha384-/+qYo5nYND9OqrXEuD1TAQve92IcrX0NRO0UL3OhOo4n0PKMsi5hsMdezdy76IvB",
)
PREACT_HOOKS_JS = Asset(
    "preact",
    PREACT_VERSION,
    "hooks/dist/hooks.module.js",
    "sha384-NB1WUh14K2Oh7NhjB2RliXB085nezUjZ+FNbCEGNeb972g+I4CjKRx+u3vbZh227",
)
HTM_JS = Asset(
    "htm",
    HTM_VERSION,
    "dist/htm.module.js",
    "sha384-k7/PyxcXOQ/zfJq1v0TM/CcBLQ2m2NzGg2tfHehdgJGqcY7RBwIP4Ye+ssG+QK1I",
)
GRAPHQL_WS_JS = Asset(
    "graphql-ws",
    GRAPHQL_WS_VERSION,
    "dist/client.js",
    "sha384-bsk5zOGRwGJLFqassmcHYGFAK03iH+zPHbdv7Y+mTXZ1uR+9DOQ4dnjw5p8904kU",
)
GRAPHQL_WS_COMMON_JS = Asset(  # imported by client.js as ./common-CGW11Fyb.js
    "graphql-ws",
    GRAPHQL_WS_VERSION,
    "dist/common-CGW11Fyb.js",
    "sha384-mCOCDRFfQ7huBk2yMBMDYCXa4ZEeuKgDfrQR5qA/eaQ9ZhpxR30d+roaYQO/DTqX",
)
LIGHTWEIGHT_CHARTS_JS = Asset(
    "lightweight-charts",
    LIGHTWEIGHT_CHARTS_VERSION,
    "dist/lightweight-charts.standalone.production.mjs",
    "sha384-KDJT+gG0LkmOKNqnbVN3H4X98ocoKlPafVpWHRYzNR756dqDUIuIC9OoM8pxWFuy",
)
_LICENSES = (
    Asset(
        "preact",
        PREACT_VERSION,
        "LICENSE",
        "sha384-xMn7eKwbmbh7PQrJ/p7EPGNYY7Ayr/2qEForngAvQzJ4zPfmwvAZRLmQUXkAYJ1W",
    ),
    Asset(
        "htm",
        HTM_VERSION,
        "LICENSE",
        "sha384-y6ya0NFYQBWrDYk1ryOS/8CoUlx/L1khJoWJvyVMtEjWvngakLiFBsblQKBT1C9q",
    ),
    Asset(
        "graphql-ws",
        GRAPHQL_WS_VERSION,
        "LICENSE.md",
        "sha384-c9rwCRJhBe3xpfGbnP7ZTP0sfjJyIeA1TwyZG3NBT2vtq9QfSZQKD4RT0zGM91Uc",
    ),
    Asset(
        "lightweight-charts",
        LIGHTWEIGHT_CHARTS_VERSION,
        "LICENSE",
        "sha384-wpjGdclEO/50MKmFUjV4Dq97lzm9getbuZh5L08LJwsImbACPysZrw0V50G9VY1t",
    ),
)

#: Import-map specifiers of the page's modules (``import ... from "preact"``).
IMPORTS: dict[str, Asset] = {
    "preact": PREACT_JS,
    "preact/hooks": PREACT_HOOKS_JS,
    "htm": HTM_JS,
    "graphql-ws": GRAPHQL_WS_JS,
    "lightweight-charts": LIGHTWEIGHT_CHARTS_JS,
}
#: Every module the page loads (preloaded, with integrity hashes).
MODULES: tuple[Asset, ...] = (*IMPORTS.values(), GRAPHQL_WS_COMMON_JS)
ALL_ASSETS: tuple[Asset, ...] = MODULES + _LICENSES

_ASSETS = NpmAssets("Dashboard", ALL_ASSETS, STATIC_DIR)


def assets_available(dest: Path | None = None) -> bool:
    """True if the pinned assets are installed in ``dest`` (default :data:`STATIC_DIR`).

    Cheap (manifest + file sizes); :func:`fetch_assets` also verifies the hashes.
    """
    return _ASSETS.available(dest)


def fetch_assets(dest: Path | None = None, *, force: bool = False) -> bool:
    """Install the pinned dashboard assets into ``dest`` (default :data:`STATIC_DIR`).

    Skips the download when the manifest and file hashes already match (unless
    ``force``). Returns True when the assets are installed, False (never raises)
    if npm is missing or anything fails; the reason is logged.
    """
    return _ASSETS.fetch(dest, force=force)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m fullon_cache_api.dashboard.assets [--dest DIR] [--force]``."""
    return _ASSETS.main("fullon_cache_api.dashboard.assets", argv)


if __name__ == "__main__":
    raise SystemExit(main())
