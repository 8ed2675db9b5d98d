"""Print pip constraints pinning each of the package's own dependencies to the lowest
version ``pyproject.toml`` allows (``name>=X`` → ``name==X``), for ``.ci/lowest-deps``."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)")


def lowest(pyproject: Path) -> list[str]:
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins = []
    for dependency in dependencies:
        match = SPEC.match(dependency)
        if match is None:
            raise SystemExit(f"no lower bound to pin in {dependency!r}")
        pins.append(f"{match.group(1)}=={match.group(2)}")
    return pins


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    print("\n".join(lowest(root / "pyproject.toml")))
