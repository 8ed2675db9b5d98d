"""``bench/critical_path.py`` still finds every step of a query's path in the server (its
probes wrap the product's own calls: a renamed call would leave a step unmeasured)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``bench`` is not an installed package
    sys.path.insert(0, str(ROOT))

from bench.critical_path import STEPS  # noqa: E402


def test_every_step_is_measured() -> None:
    run = subprocess.run(
        [sys.executable, "bench/critical_path.py", "--iterations", "200", "--warmup", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = run.stdout.splitlines()
    assert lines[0] == "200 queries; medians in µs", run.stdout
    figures = {}
    for line in lines[1:]:
        name, _, value = line.strip().rpartition(" ")
        figures[name.strip()] = float(value)
    assert set(figures) == {*STEPS, "client round trip"}
    assert all(value > 0 for value in figures.values()), figures
    # The server's share is inside the client's round trip, and the steps add up to it.
    server = figures["message read -> answer written (server)"]
    assert server < figures["client round trip"]
    assert abs(sum(figures[step] for step in STEPS[:-1]) - server) < server * 0.5
