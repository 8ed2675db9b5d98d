"""Serving the pinned npm files of the product's pages (GraphiQL, the dashboard).

Their paths carry their version, so every file but the manifest is cached as immutable.
The directory may be created after start-up (``fetch_assets``): until then a request is a
plain 404, not a server error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from fullon_cache_api.assets_npm import MANIFEST_NAME

IMMUTABLE = "public, max-age=31536000, immutable"


class VersionedStaticFiles(StaticFiles):
    """``StaticFiles`` for versioned asset paths, with ``headers`` added to every file."""

    def __init__(self, *args: Any, headers: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra_headers = dict(headers or {})

    async def check_config(self) -> None:
        return None

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        immutable = Path(full_path).name != MANIFEST_NAME
        response.headers["Cache-Control"] = IMMUTABLE if immutable else "no-cache"
        response.headers.update(self.extra_headers)
        return response


__all__ = ["IMMUTABLE", "VersionedStaticFiles"]
