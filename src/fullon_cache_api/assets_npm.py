"""Pinned browser assets fetched from the npm registry at install time (shared helper).

The pages this server serves (GraphiQL, the dashboard) must work without internet
access, so every third-party file they load is served by this server from a static
directory inside the package. The files are *not* committed: :meth:`NpmAssets.fetch`
downloads the pinned package tarballs with ``npm pack``, checks every needed file
against its pinned Subresource-Integrity hash, and copies it into the static
directory together with a ``manifest.json`` (written last: without it the directory
never counts as installed).

Each page declares its own :class:`NpmAssets` (a name, the pinned files, the static
directory) and exposes ``python -m <its module>`` through :meth:`NpmAssets.main`.
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MANIFEST_NAME", "Asset", "NpmAssets", "sri"]

log = logging.getLogger(__name__)

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
        """The same pinned file on a public CDN (GraphiQL's fallback when npm was missing)."""
        return f"{_CDN_BASE}/{self.package}@{self.version}/{self.path}"

    @property
    def spec(self) -> str:
        """``npm pack`` argument."""
        return f"{self.package}@{self.version}"


class FetchError(Exception):
    """A fetch step failed; the message says why."""


def sri(data: bytes) -> str:
    """The Subresource-Integrity value (``sha384-<base64>``) of ``data``."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_manifest(dest: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((dest / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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
        raise FetchError(f"could not run npm: {exc}") from exc
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        errors = [ln for ln in lines if ln.startswith("npm error") and ln.strip() != "npm error"]
        detail = " | ".join((errors or lines)[:4])
        raise FetchError(f"npm pack exited with {proc.returncode}: {detail}")
    try:
        packed = json.loads(proc.stdout)
        tarballs = {f"{p['name']}@{p['version']}": workdir / p["filename"] for p in packed}
    except (ValueError, KeyError, TypeError) as exc:
        raise FetchError(f"unexpected npm pack output: {exc}") from exc
    missing = [s for s in specs if s not in tarballs or not tarballs[s].is_file()]
    if missing:
        raise FetchError(f"npm pack produced no tarball for {', '.join(missing)}")
    return tarballs


def _extract(tarball: Path, member: str) -> bytes:
    with tarfile.open(tarball, "r:gz") as tar:
        try:
            info = tar.getmember(f"package/{member}")
        except KeyError as exc:
            raise FetchError(f"{tarball.name} has no {member}") from exc
        handle = tar.extractfile(info) if info.isfile() else None
        if handle is None:
            raise FetchError(f"{tarball.name}: {member} is not a regular file")
        with handle:
            return handle.read()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class NpmAssets:
    """A page's pinned npm files and the static directory they are installed into."""

    name: str
    """Shown in log lines, e.g. ``"GraphiQL"``."""
    assets: tuple[Asset, ...]
    static_dir: Path
    """Where the files live by default (inside the installed package)."""

    def _target(self, dest: Path | None) -> Path:
        return self.static_dir if dest is None else Path(dest)

    def _expected_manifest_entries(self) -> dict[str, dict[str, str]]:
        return {
            a.local_path: {"package": a.package, "version": a.version, "path": a.path}
            for a in self.assets
        }

    def installed(self, dest: Path | None = None, *, verify_hashes: bool) -> bool:
        """True if ``dest`` holds exactly the pinned assets described by its manifest."""
        dest = self._target(dest)
        manifest = _read_manifest(dest)
        if manifest is None or manifest.get("format") != _MANIFEST_FORMAT:
            return False
        files = manifest.get("files")
        if not isinstance(files, dict):
            return False
        expected = self._expected_manifest_entries()
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

    def available(self, dest: Path | None = None) -> bool:
        """True if the pinned assets are installed in ``dest`` (default: the static dir).

        Cheap (manifest + file sizes); :meth:`fetch` also verifies the hashes.
        """
        return self.installed(dest, verify_hashes=False)

    def _install(self, npm: str, dest: Path) -> None:
        with tempfile.TemporaryDirectory(prefix=f"{self.name.lower()}-npm-") as tmp:
            specs = sorted({a.spec for a in self.assets})
            tarballs = _npm_pack(npm, specs, Path(tmp))
            contents: dict[Asset, bytes] = {}
            for asset in self.assets:
                data = _extract(tarballs[asset.spec], asset.path)
                if sri(data) != asset.integrity:
                    raise FetchError(f"{asset.spec}/{asset.path} does not match its pinned hash")
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
            "packages": {a.package: a.version for a in self.assets},
            "files": files,
        }
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        _write_atomic(dest / MANIFEST_NAME, text.encode("utf-8"))

    def fetch(self, dest: Path | None = None, *, force: bool = False) -> bool:
        """Install the pinned assets into ``dest`` (default: the static dir).

        Skips the download when the manifest and file hashes already match (unless
        ``force``). Returns True when the assets are installed, False (never raises)
        if npm is missing or anything fails; the reason is logged.
        """
        target = self._target(dest)
        try:
            if not force and self.installed(target, verify_hashes=True):
                log.info("%s assets already installed in %s", self.name, target)
                return True
            npm = shutil.which("npm")
            if npm is None:
                log.warning("npm not found on PATH; %s assets not installed", self.name)
                return False
            self._install(npm, target)
        except (FetchError, OSError, tarfile.TarError) as exc:
            log.warning("could not install %s assets into %s: %s", self.name, target, exc)
            return False
        log.info(
            "installed %s assets into %s: %s",
            self.name,
            target,
            ", ".join(sorted({a.spec for a in self.assets})),
        )
        return True

    def main(self, prog: str, argv: Sequence[str] | None = None) -> int:
        """CLI: ``python -m <prog> [--dest DIR] [--force]``."""
        parser = argparse.ArgumentParser(
            prog=f"python -m {prog}",
            description=f"Install the pinned {self.name} browser assets from the npm registry.",
        )
        parser.add_argument("--dest", type=Path, default=None, help=f"default: {self.static_dir}")
        parser.add_argument("--force", action="store_true", help="download even if up to date")
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
        return 0 if self.fetch(args.dest, force=args.force) else 1
