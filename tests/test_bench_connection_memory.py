"""``bench/connection_memory.py``: the product as it ships declines permessage-deflate, the
variant with ``WS_PER_MESSAGE_DEFLATE=true`` accepts it, and its connections hold more
memory (zlib's state for each)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_deflate_costs_memory_per_connection() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "bench/connection_memory.py",
            # 150, as the bench: with a few dozen, new connections mostly reuse memory
            # the warm-up freed, and the figures say little (9-17 KiB for the product,
            # zlib's state hidden as well).
            *("--connections", "150", "--rounds", "1", "--no-write"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = {}
    for line in run.stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in ("product", "deflate"):
            rows[cells[0]] = cells
    assert rows["product"][1] == "none", run.stdout
    assert rows["deflate"][1] == "permessage-deflate", run.stdout
    product, deflate = float(rows["product"][2]), float(rows["deflate"][2])
    assert product > 0, run.stdout
    assert deflate > product + 16, run.stdout  # KiB: zlib's windows and tables
