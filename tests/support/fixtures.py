"""Files the tests read: every one of them lives in the repository (``tests/fixtures``)."""

from __future__ import annotations

from pathlib import Path

from fullon_cache_api.simulator.fixture import FIXTURE_NAME

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

#: The dump of a Redis written by the real fullon_cache 0.5.11 (67 keys).
DUMP_PATH = FIXTURES / FIXTURE_NAME
