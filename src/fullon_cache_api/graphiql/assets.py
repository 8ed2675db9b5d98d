"""Pinned GraphiQL browser assets, fetched from the npm registry at install time.

The GraphiQL page must work without internet access, so every file it loads is
served by this server from :data:`STATIC_DIR`. The files are *not* committed:
:func:`fetch_assets` downloads the pinned package tarballs with ``npm pack``,
checks every needed file against its pinned Subresource-Integrity hash, and
copies it into the static directory together with a ``manifest.json``.

Run ``python -m fullon_cache_api.graphiql.assets`` to install (or re-check) them.

The GraphiQL 3.x UMD bundle already contains ``graphql`` and the ``graphql-ws``
client that ``GraphiQL.createFetcher({url, subscriptionUrl})`` uses for
subscriptions (graphql-transport-ws protocol), so only React needs to be added.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

log = logging.getLogger(__name__)

#: Where the assets live by default (inside the installed package).
STATIC_DIR = Path(__file__).resolve().parent / "static"
MANIFEST_NAME = "manifest.json"
_MANIFEST_FORMAT = 1
_NPM_TIMEOUT_S = 180.0
_CDN_BASE = "https://cdn.jsdelivr.net/npm"


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of a pinned npm package."""

    package: str
    version: str
    path: str
    """Path inside the package (the tarball's ``package/`` prefix excluded)."""
    integrity: str
    """Subresource-Integrity hash (``sha384-<base64>``) of the pinned file."""

    @property
    def local_path(self) -> str:
        """Path relative to the static directory; versioned, so cacheable forever."""
        return f"{self.package}-{self.version}/{self.path}"

    @property
    def cdn_url(self) -> str:
        """The same pinned file on a public CDN (fallback when npm was unavailable)."""
        return f"{_CDN_BASE}/{self.package}@{self.version}/{self.path}"

    @property
    def spec(self) -> str:
        """``npm pack`` argument."""
        return f"{self.package}@{self.version}"


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


class _FetchError(Exception):
    """A fetch step failed; the message says why."""


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _expected_manifest_entries() -> dict[str, dict[str, str]]:
    return {
        a.local_path: {"package": a.package, "version": a.version, "path": a.path}
        for a in ALL_ASSETS
    }


def _read_manifest(dest: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((dest / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _installed(dest: Path, *, verify_hashes: bool) -> bool:
    """True if ``dest`` holds exactly the pinned assets described by its manifest."""
    manifest = _read_manifest(dest)
    if manifest is None or manifest.get("format") != _MANIFEST_FORMAT:
        return False
    files = manifest.get("files")
    if not isinstance(files, dict):
        return False
    expected = _expected_manifest_entries()
    if set(files) != set(expected):
        return False
    for local_path, want in expected.items():
        entry = files[local_path]
        if not isinstance(entry, dict) or any(entry.get(k) != v for k, v in want.items()):
            return False
        path = dest / local_path
        try:
            if path.stat().st_size != entry.get("size"):
                return False
            if verify_hashes and _sha256_file(path) != entry.get("sha256"):
                return False
        except OSError:
            return False
    return True


def assets_available(dest: Path | None = None) -> bool:
    """True if the pinned assets are installed in ``dest`` (default :data:`STATIC_DIR`).

    Cheap (manifest + file sizes); :func:`fetch_assets` also verifies the hashes.
    """
    return _installed(STATIC_DIR if dest is None else dest, verify_hashes=False)


def _npm_pack(npm: str, specs: list[str], workdir: Path) -> dict[str, Path]:
    """``npm pack`` every spec into ``workdir``; returns ``{spec: tarball}``."""
    env = dict(os.environ)
    env.update(
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
        npm_config_loglevel="error",
    )
    # Fail reasonably fast when offline, unless the user configured retries.
    env.setdefault("npm_config_fetch_retries", "1")
    env.setdefault("npm_config_fetch_retry_maxtimeout", "15000")
    cmd = [npm, "pack", "--json", "--pack-destination", str(workdir), *specs]
    try:
        proc = subprocess.run(
            cmd,
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=_NPM_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise _FetchError(f"could not run npm: {exc}") from exc
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        errors = [ln for ln in lines if ln.startswith("npm error") and ln.strip() != "npm error"]
        detail = " | ".join((errors or lines)[:4])
        raise _FetchError(f"npm pack exited with {proc.returncode}: {detail}")
    try:
        packed = json.loads(proc.stdout)
        tarballs = {f"{p['name']}@{p['version']}": workdir / p["filename"] for p in packed}
    except (ValueError, KeyError, TypeError) as exc:
        raise _FetchError(f"unexpected npm pack output: {exc}") from exc
    missing = [s for s in specs if s not in tarballs or not tarballs[s].is_file()]
    if missing:
        raise _FetchError(f"npm pack produced no tarball for {', '.join(missing)}")
    return tarballs


def _extract(tarball: Path, member: str) -> bytes:
    with tarfile.open(tarball, "r:gz") as tar:
        try:
            info = tar.getmember(f"package/{member}")
        except KeyError as exc:
            raise _FetchError(f"{tarball.name} has no {member}") from exc
        handle = tar.extractfile(info) if info.isfile() else None
        if handle is None:
            raise _FetchError(f"{tarball.name}: {member} is not a regular file")
        with handle:
            return handle.read()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _install(npm: str, dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="graphiql-npm-") as tmp:
        specs = sorted({a.spec for a in ALL_ASSETS})
        tarballs = _npm_pack(npm, specs, Path(tmp))
        contents: dict[Asset, bytes] = {}
        for asset in ALL_ASSETS:
            data = _extract(tarballs[asset.spec], asset.path)
            if _sri(data) != asset.integrity:
                raise _FetchError(f"{asset.spec}/{asset.path} does not match its pinned hash")
            contents[asset] = data

    # The manifest goes last: without it the directory never counts as installed.
    (dest / MANIFEST_NAME).unlink(missing_ok=True)
    files: dict[str, dict[str, Any]] = {}
    for asset, data in contents.items():
        _write_atomic(dest / asset.local_path, data)
        files[asset.local_path] = {
            "package": asset.package,
            "version": asset.version,
            "path": asset.path,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    manifest = {
        "format": _MANIFEST_FORMAT,
        "source": "npm pack",
        "packages": {a.package: a.version for a in ALL_ASSETS},
        "files": files,
    }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    _write_atomic(dest / MANIFEST_NAME, text.encode("utf-8"))


def fetch_assets(dest: Path | None = None, *, force: bool = False) -> bool:
    """Install the pinned GraphiQL assets into ``dest`` (default :data:`STATIC_DIR`).

    Skips the download when the manifest and file hashes already match (unless
    ``force``). Returns True when the assets are installed, False (never raises)
    if npm is missing or anything fails; the reason is logged.
    """
    target = STATIC_DIR if dest is None else Path(dest)
    try:
        if not force and _installed(target, verify_hashes=True):
            log.info("GraphiQL assets already installed in %s", target)
            return True
        npm = shutil.which("npm")
        if npm is None:
            log.warning("npm not found on PATH; GraphiQL assets not installed")
            return False
        _install(npm, target)
    except (_FetchError, OSError, tarfile.TarError) as exc:
        log.warning("could not install GraphiQL assets into %s: %s", target, exc)
        return False
    log.info(
        "installed GraphiQL assets into %s: %s",
        target,
        ", ".join(sorted({a.spec for a in ALL_ASSETS})),
    )
    return True


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m fullon_cache_api.graphiql.assets [--dest DIR] [--force]``."""
    parser = argparse.ArgumentParser(
        prog="python -m fullon_cache_api.graphiql.assets",
        description="Install the pinned GraphiQL browser assets from the npm registry.",
    )
    parser.add_argument("--dest", type=Path, default=None, help=f"default: {STATIC_DIR}")
    parser.add_argument("--force", action="store_true", help="download even if up to date")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    return 0 if fetch_assets(args.dest, force=args.force) else 1


if __name__ == "__main__":
    raise SystemExit(main())
