"""``bench/round_trip_split.py`` cuts each round trip of the product (and of the Node peer,
when ``node`` is installed) in three parts that add up to it: its probes wrap the
product's own calls and the peer's socket, so a renamed call would leave rows unmatched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``bench`` is not an installed package
    sys.path.insert(0, str(ROOT))

from bench import node_peer  # noqa: E402
from bench.round_trip_split import PARTS  # noqa: E402

ITERATIONS = 200


def _rows(stdout: str) -> dict[str, list[str]]:
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("target", "---"):
            rows[cells[0]] = cells[1:]
    return rows


def test_each_round_trip_is_split_in_parts_that_add_up() -> None:
    with_node = node_peer.peer_available() is None
    command = [sys.executable, "bench/round_trip_split.py", "--iterations", str(ITERATIONS)]
    command += ["--warmup", "20", "--rounds", "2"]
    if not with_node:
        command.append("--no-node")
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180, check=True)
    rows = _rows(run.stdout)
    assert set(rows) == ({"product", node_peer.REFERENCE} if with_node else {"product"})
    for name, cells in rows.items():
        parts = dict(zip(PARTS, map(float, cells[: len(PARTS)]), strict=True))
        assert all(value > 0 for value in parts.values()), (name, run.stdout)
        assert int(cells[-1]) == ITERATIONS, run.stdout  # every round trip had its server row
        # Medians of the parts need not add up exactly, but nearly: each round trip's do.
        whole = parts["round trip"]
        assert abs(sum(parts[part] for part in PARTS[1:]) - whole) < whole * 0.25, run.stdout
        gap = cells[len(PARTS)]
        if name == "product":
            assert gap == "one write"  # next and complete leave together
        else:
            assert float(gap) > 0  # the peer writes complete after next
