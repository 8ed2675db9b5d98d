"""The Node.js reference peer (``bench/peers/node/``) as a benchmark target.

The peer is what a team would pick instead of the product: graphql-js + graphql-ws over
``ws`` + graphql-http, ioredis and graphql-redis-subscriptions, versions pinned in its
``package-lock.json``. It runs in two forms, ``node`` (plain: every operation parsed and
validated) and ``node-cache`` (parsed + validated documents cached by query text).

:func:`peer_available` installs it once (``npm ci`` into ``bench/peers/node/node_modules``,
gitignored) and returns None, or the reason it cannot run (no ``node``/``npm``, or the
install failed): the benchmarks then leave the peer out and print that reason.
:func:`server_process` gives a :class:`NodePeerProcess` for a ``node:...`` target spec and a
uvicorn :class:`~bench._common.ServerProcess` for anything else.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench._common import REPO_ROOT, ServerProcess

PEER_DIR = REPO_ROOT / "bench" / "peers" / "node"
SERVER = PEER_DIR / "server.mjs"
NODE_MAJOR_MIN = 20
INSTALL_TIMEOUT_S = 300.0
# The npm packages whose versions every report names (as installed).
PACKAGES = ("graphql", "graphql-ws", "ws", "graphql-http", "ioredis", "graphql-redis-subscriptions")

# Target name → spec. A spec ``node:FLAGS`` runs server.mjs with these flags (comma
# separated, without the leading ``--``).
TARGETS: dict[str, str] = {
    "node": "node:",
    "node-cache": "node:document-cache",
}
DESCRIPTIONS = {
    "node": "Node.js peer, plain: graphql-js + graphql-ws (`useServer` over `ws`) + "
    "graphql-http + ioredis + graphql-redis-subscriptions, every operation parsed and "
    "validated (the libraries' defaults; `bench/peers/node/`)",
    "node-cache": "the Node.js peer (as `node`) with a document cache: `onSubscribe` returns "
    "ExecutionArgs with the parsed and validated document kept by query text "
    "(`bench/peers/node/`)",
}
# The peer the goals are measured against.
REFERENCE = "node-cache"


def node_binary() -> str | None:
    return shutil.which("node")


def _installed() -> bool:
    """node_modules matches the lock (npm writes its own copy of the lock when it installs)."""
    hidden = PEER_DIR / "node_modules" / ".package-lock.json"
    lock = PEER_DIR / "package-lock.json"
    return hidden.exists() and hidden.stat().st_mtime >= lock.stat().st_mtime


@functools.cache
def peer_available() -> str | None:
    """None when the peer can run (installing it first if needed), else why it cannot."""
    node = node_binary()
    if node is None:
        return "`node` is not on PATH"
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
        major = int(version.lstrip("v").split(".", 1)[0])
    except (OSError, subprocess.SubprocessError, ValueError):
        return "`node --version` failed"
    if major < NODE_MAJOR_MIN:
        return f"node {version} is older than {NODE_MAJOR_MIN}"
    if _installed():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "`npm` is not on PATH (needed once, to install bench/peers/node)"
    command = [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"]
    try:
        result = subprocess.run(
            command, cwd=PEER_DIR, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError) as error:
        return f"`npm ci` in bench/peers/node failed: {error}"
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        return f"`npm ci` in bench/peers/node failed: {' / '.join(tail)}"
    return None


def installed_versions() -> str:
    """``node vX, graphql 16.x, ...`` as installed (empty if the peer is not installed)."""
    import json

    node = node_binary()
    if node is None or not _installed():
        return ""
    found = []
    with_node = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    found.append(f"node {with_node.stdout.strip()}")
    for name in PACKAGES:
        manifest = PEER_DIR / "node_modules" / name / "package.json"
        try:
            found.append(f"{name} {json.loads(manifest.read_text())['version']}")
        except (OSError, ValueError, KeyError):
            found.append(f"{name} (not installed)")
    return ", ".join(found)


@dataclass
class NodePeerProcess(ServerProcess):
    """``node bench/peers/node/server.mjs`` with the ``node:FLAGS`` spec in ``app``."""

    flags: list[str] = field(default_factory=list)
    cpu_prof_dir: Path | None = None  # profile with V8's sampler (--cpu-prof) into here

    def __post_init__(self) -> None:
        _, _, text = self.app.partition(":")
        self.flags = [f"--{flag.strip()}" for flag in text.split(",") if flag.strip()]

    def command(self) -> list[str]:
        if self.profile is not None:
            raise ValueError("the Node peer is profiled with --cpu-prof, not cProfile")
        node = node_binary()
        if node is None:
            raise RuntimeError("node is not installed")
        command = [node]
        if self.cpu_prof_dir is not None:
            command += ["--cpu-prof", "--cpu-prof-dir", str(self.cpu_prof_dir)]
        command.append(str(SERVER))
        return [*command, "--redis-url", self.redis_url, "--port", str(self.port), *self.flags]


def is_node_spec(spec: str) -> bool:
    return spec.startswith("node:")


def server_process(
    name: str, spec: str, redis_url: str, ws: str | None = None, **kwargs: object
) -> ServerProcess:
    """A uvicorn ServerProcess for ``module:factory[@WS]`` (``ws``, when given, for every
    Python target), a NodePeerProcess for ``node:...``."""
    if is_node_spec(spec):
        return NodePeerProcess(name, spec, redis_url, **kwargs)  # type: ignore[arg-type]
    return ServerProcess(name, spec, redis_url, ws=ws, **kwargs)  # type: ignore[arg-type]


def peer_line(targets: list[str], skipped: str | None) -> str:
    """The report's sentence about the peer: its versions, or why it was left out."""
    if skipped is not None:
        return f"The Node.js peer was not measured: {skipped}."
    if not any(name in TARGETS for name in targets):
        return "The Node.js peer was not measured (not among --targets)."
    return f"Node.js peer: {installed_versions()}."


def _frame_name(call_frame: dict[str, object]) -> str:
    name = str(call_frame.get("functionName") or "(anonymous)")
    url = str(call_frame.get("url") or "")
    if not url:
        return name
    short = url.split("node_modules/")[-1] if "node_modules/" in url else url.rsplit("/", 1)[-1]
    line = call_frame.get("lineNumber")
    return f"{name} ({short}:{int(line) + 1 if isinstance(line, int) else '?'})"


def summarize_cpuprofile(path: Path, limit: int = 30) -> str:
    """Top functions by own and by inclusive share of the samples of a V8 ``.cpuprofile``
    (as ``node --cpu-prof`` writes it): the Node counterpart of
    :func:`bench._common.summarize_collapsed`. ``(program)`` is V8 and libuv outside
    JavaScript (the socket writes, the event loop), ``(garbage collector)`` is GC."""
    import collections
    import json

    profile = json.loads(path.read_text())
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent: dict[int, int] = {}
    for node in profile["nodes"]:
        for child in node.get("children", []):
            parent[child] = node["id"]
    hits: collections.Counter[int] = collections.Counter(profile.get("samples", []))
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for node_id, count in hits.items():
        frame = _frame_name(nodes[node_id]["callFrame"])
        if frame == "(idle)":
            continue
        total += count
        own[frame] += count
        names = set()
        current: int | None = node_id
        while current is not None:
            names.add(_frame_name(nodes[current]["callFrame"]))
            current = parent.get(current)
        for name in names - {"(root)"}:
            inclusive[name] += count
    lines = [f"{total} samples (idle excluded)"]
    for title, counter in (("own", own), ("inclusive", inclusive)):
        lines.append(f"\nTop functions by {title} samples:")
        lines += [
            f"{100 * count / max(total, 1):6.1f}%  {name}"
            for name, count in counter.most_common(limit)
        ]
    return "\n".join(lines)
