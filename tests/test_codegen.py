"""The code-generation configurations of ``docs/codegen.md`` work on ``schema.graphql``.

* **TypeScript:** graphql-codegen (pinned in ``tests/codegen/package.json`` and its lock
  file, installed with ``npm ci`` into ``tests/codegen/node_modules`` when missing) runs the
  ``codegen.yml`` of the docs on the sample operations; ``tsc --strict`` then checks the
  output together with ``tests/codegen/check.ts``. Skipped only when node/npm are absent.
* **Python:** ariadne-codegen (pinned in ``tests/codegen/requirements.txt``, installed into
  ``tests/codegen/.venv`` when missing: it needs graphql-core<3.3, so it cannot share the
  project's environment) runs the ``pyproject.toml`` of the docs; ``mypy --strict`` checks
  the generated package and ``tests/codegen/check_client.py``, which then runs against the
  real server.

The configurations are read from the docs, so the docs cannot drift from what works.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio

from fullon_cache_api.simulator import CacheWriter, seed_scenario
from support import RunningServer

ROOT = Path(__file__).resolve().parents[1]
CODEGEN = ROOT / "tests" / "codegen"
DOC = ROOT / "docs" / "codegen.md"
SCHEMA = ROOT / "schema.graphql"
OPERATIONS = CODEGEN / "operations.graphql"
VENV = CODEGEN / ".venv"
INSTALL_TIMEOUT_S = 300
RUN_TIMEOUT_S = 120

NODE = shutil.which("node")
NPM = shutil.which("npm")


def doc_block(language: str, first_line: str) -> str:
    """The fenced ``language`` block of docs/codegen.md whose first line is ``first_line``."""
    text = DOC.read_text(encoding="utf-8")
    for match in re.finditer(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        body = match[1]
        if body.splitlines()[0] == first_line:
            return body
    raise AssertionError(f"docs/codegen.md has no ```{language} block starting {first_line!r}")


def run(argv: list[str], cwd: Path, timeout: float = RUN_TIMEOUT_S) -> str:
    done = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = f"$ {' '.join(argv)}\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, output
    return done.stdout


# --------------------------------------------------------------------------- TypeScript


def npm_ci() -> None:
    """``npm ci`` in tests/codegen, unless node_modules matches package-lock.json."""
    stamp = CODEGEN / "node_modules" / ".fullon-lock-sha256"
    lock = hashlib.sha256((CODEGEN / "package-lock.json").read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == lock:
        return
    assert NPM is not None
    run([NPM, "ci", "--no-audit", "--no-fund"], CODEGEN, timeout=INSTALL_TIMEOUT_S)
    stamp.write_text(lock)


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 2 * RUN_TIMEOUT_S)
@pytest.mark.skipif(
    NODE is None or NPM is None, reason="node/npm are not installed: TypeScript codegen skipped"
)
def test_graphql_codegen_output_passes_tsc_strict(tmp_path: Path) -> None:
    npm_ci()
    project = tmp_path / "ts"
    (project / "src").mkdir(parents=True)
    shutil.copy(SCHEMA, project / "schema.graphql")
    shutil.copy(OPERATIONS, project / "src" / "operations.graphql")
    shutil.copy(CODEGEN / "check.ts", project / "src" / "check.ts")
    (project / "codegen.yml").write_text(doc_block("yaml", "# codegen.yml"))
    (project / "node_modules").symlink_to(CODEGEN / "node_modules")
    npx = shutil.which("npx")
    assert npx is not None

    run([npx, "--no-install", "graphql-codegen", "--config", "codegen.yml"], project)
    operations = (project / "src" / "gql" / "operations.ts").read_text()
    assert operations.count("export type ChangeKind") == 1
    assert "unknown" not in re.sub(r"\[key: string\]: unknown|unknown\[\]", "", operations)
    assert "time: string | null" in operations

    generated = sorted(str(p.relative_to(project)) for p in (project / "src" / "gql").glob("*.ts"))
    assert generated == ["src/gql/operations.ts", "src/gql/schema-types.ts"]
    run([npx, "--no-install", "tsc", "--strict", "--noEmit", *generated, "src/check.ts"], project)


def test_typescript_operations_and_typescript_in_one_file_is_explained() -> None:
    """The docs warn about the one-file setup that fails with TS2567."""
    text = DOC.read_text(encoding="utf-8")
    assert "TS2567" in text
    config = doc_block("yaml", "# codegen.yml")
    for output in re.findall(r"plugins: \[(.*?)\]", config):
        assert output.count(",") == 0, f"one plugin per output: {output}"


# --------------------------------------------------------------------------- Python


def venv_python() -> Path:
    """tests/codegen/.venv with the pinned requirements (re-created when they change)."""
    requirements = CODEGEN / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = VENV / ".fullon-requirements-sha256"
    python = VENV / "bin" / "python"
    if stamp.is_file() and stamp.read_text() == digest and python.exists():
        return python
    shutil.rmtree(VENV, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(VENV)], CODEGEN)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip, "-r", str(requirements)], CODEGEN, timeout=INSTALL_TIMEOUT_S)
    stamp.write_text(digest)
    return python


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 3 * RUN_TIMEOUT_S)
async def test_ariadne_codegen_output_passes_mypy_strict_and_runs(
    tmp_path: Path, api_server: RunningServer, redis_client: redis.asyncio.Redis
) -> None:
    python = await asyncio.to_thread(venv_python)
    bin_dir = python.parent
    project = tmp_path / "py"
    project.mkdir()
    shutil.copy(SCHEMA, project / "schema.graphql")
    shutil.copy(OPERATIONS, project / "queries.graphql")
    shutil.copy(CODEGEN / "check_client.py", project / "check_client.py")
    (project / "pyproject.toml").write_text(doc_block("toml", "# pyproject.toml"))

    await asyncio.to_thread(run, [str(bin_dir / "ariadne-codegen")], project)
    enums = (project / "fullon_gql" / "enums.py").read_text()
    assert "class ChangeKind" in enums
    models = (project / "fullon_gql" / "dashboard.py").read_text()
    assert "Optional[datetime]" in models and "JsonValue" in models
    await asyncio.to_thread(
        run, [str(bin_dir / "mypy"), "--strict", "fullon_gql", "check_client.py"], project
    )

    # And the generated client works against the real server (HTTP and graphql-transport-ws).
    await seed_scenario(CacheWriter(redis_client))
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    proc = await asyncio.create_subprocess_exec(
        str(python),
        "check_client.py",
        api_server.http_url,
        api_server.ws_url,
        cwd=project,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    assert proc.returncode == 0, err.decode()
    seen = json.loads(out.decode().strip().splitlines()[-1])
    assert seen == {
        "time_type": "datetime",
        "date_type": "datetime",
        "data_type": "dict",
        "kind": "SNAPSHOT",
        "symbols": ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"],
    }
