"""npm packages for the JavaScript tests: ``npm ci`` from a committed ``package-lock.json``
into the directory's gitignored ``node_modules``, once per lock file.

``NODE`` and ``NPM`` are ``None`` when the tool is not installed: tests skip then, with a
reason that says so.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

NODE = shutil.which("node")
NPM = shutil.which("npm")
INSTALL_TIMEOUT_S = 300
STAMP = ".fullon-lock-sha256"


def npm_ci(directory: Path) -> None:
    """``npm ci`` in ``directory`` unless its node_modules matches its package-lock.json."""
    stamp = directory / "node_modules" / STAMP
    lock = hashlib.sha256((directory / "package-lock.json").read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == lock:
        return
    assert NPM is not None, "npm is not installed"
    done = subprocess.run(
        [NPM, "ci", "--no-audit", "--no-fund"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"npm ci in {directory} failed:\n{done.stdout}\n{done.stderr}"
    stamp.write_text(lock)
