"""The system Chromium the browser tests drive through Playwright, and how it is launched
(declared once, in ``bench/_common.py``, for the dashboard soak too)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:  # ``bench`` is not an installed package
    sys.path.insert(0, str(ROOT))

from bench._common import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

SKIP_REASON = "chromium is not installed (apt-get install chromium): browser tests skipped"

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "SKIP_REASON"]
