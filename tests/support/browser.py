"""The system Chromium the browser tests drive through Playwright, and how it is launched."""

from __future__ import annotations

import shutil
from pathlib import Path

#: The chromium binary (``apt-get install chromium``), or None when it is not installed.
CHROMIUM: str | None = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)

#: Headless in a container, as root, with nothing fetched in the background.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

SKIP_REASON = "chromium is not installed (apt-get install chromium): browser tests skipped"
