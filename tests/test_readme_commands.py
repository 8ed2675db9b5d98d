"""Every shell command the README shows runs as written, from a fresh shell.

The shell blocks (```` ```sh ````, ```` ```bash ````, ```` ```shell ````) of ``README.md`` and
``examples/README.md`` are run by ``bash -e`` in the repository's root, with a clean
environment: ``PATH`` without the project's ``.venv/bin`` (nothing is activated), ``HOME``,
``LANG`` and ``TERM``, as in a new terminal. An HTML comment on the line right before a
block changes how it is run (it is invisible on the rendered page):

``<!-- readme-test: server (…) -->``
    The long-running server the other blocks use (``make demo``). It is started once, before
    the other blocks, until it prints ``Press Ctrl-C to stop.`` and answers ``/health``; it
    is stopped with Ctrl-C (SIGINT) after them. Every ``server`` block runs the same command.
``<!-- readme-test: until "TEXT" (…) -->``
    A command that runs until stopped (``watch``): it is started in a terminal (a pty), must
    print ``TEXT``, and is then stopped with Ctrl-C.
``<!-- readme-test: skip (REASON) -->``
    Not run, for a reason (it needs a real fullon Redis, or it is the test suite itself). At
    most ``MAX_SKIPPED`` blocks may be skipped.

Any other block must exit 0. A comment line that is a JSON value (``# {"data": …}``) shows
output: that value must be among the JSON values the block prints.

If port 8000 is busy, the demo serves on another port and prints the ``export
FULLON_CACHE_API_URL=…`` line to use: the blocks then run with that variable set, and the
blocks that name port 8000 are skipped (with that reason).
"""

from __future__ import annotations

import json
import os
import pty
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "examples/README.md")
SHELLS = {"sh", "bash", "shell"}
KINDS = {"server", "until", "skip"}
MAX_SKIPPED = 3
START_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0

MARKER_RE = re.compile(r"<!--\s*readme-test:\s*(\w+)\s*(.*?)\s*-->")
PORT_RE = re.compile(r"GraphiQL:\s+http://127\.0\.0\.1:(\d+)/graphql")
READY_TEXT = "Press Ctrl-C to stop."
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\r")


@dataclass(frozen=True)
class Block:
    path: str
    line: int  # of the opening fence
    code: str
    kind: str = "run"  # run, server, until, skip
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    def until_text(self) -> str:
        match = re.match(r'"([^"]+)"', self.note)
        assert match, f'{self.id}: write the marker as until "TEXT"'
        return match[1]

    def expected_outputs(self) -> list[Any]:
        """The JSON values shown as ``# …`` comment lines."""
        values = []
        for line in self.code.splitlines():
            text = line.strip()
            if text.startswith("# {") or text.startswith("# ["):
                values.append(json.loads(text[2:]))
        return values


@dataclass
class Parsed:
    blocks: list[Block] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse(path: str) -> Parsed:
    """The shell blocks of ``path``, with their markers; misplaced markers are problems."""
    result = Parsed()
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    marker: tuple[int, str, str] | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if match := MARKER_RE.fullmatch(line.strip()):
            marker = (index + 1, match[1], match[2])
            index += 1
            continue
        if line.startswith("```"):
            words = line[3:].split()
            language = words[0] if words else ""
            start = index
            index += 1
            body = []
            while index < len(lines) and not lines[index].startswith("```"):
                body.append(lines[index])
                index += 1
            if language in SHELLS:
                kind, note = ("run", "") if marker is None else (marker[1], marker[2])
                if kind not in KINDS | {"run"}:
                    result.problems.append(f"{path}:{marker and marker[0]}: unknown kind {kind!r}")
                result.blocks.append(Block(path, start + 1, "\n".join(body), kind, note))
            elif marker is not None:
                result.problems.append(f"{path}:{marker[0]}: marker before a non-shell block")
            marker = None
        elif marker is not None:
            result.problems.append(f"{path}:{marker[0]}: marker not right before a block")
            marker = None
        index += 1
    return result


PARSED = [parse(path) for path in DOCUMENTS]
BLOCKS = [block for parsed in PARSED for block in parsed.blocks]
RUNNABLE = [block for block in BLOCKS if block.kind in ("run", "until")]


def clean_env() -> dict[str, str]:
    """A new terminal's environment: no virtualenv on PATH, nothing of the test run."""
    venv_bin = Path(sys.prefix, "bin").resolve()
    path = [
        entry
        for entry in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
        if entry and Path(entry).resolve() != venv_bin
    ]
    return {
        "PATH": os.pathsep.join(path),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "TERM": "xterm-256color",
    }


def json_values(text: str) -> list[Any]:
    """Every top-level JSON object or array printed in ``text``."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    index = 0
    while (index := _next_start(text, index)) >= 0:
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index += 1
            continue
        values.append(value)
        index = end
    return values


def _next_start(text: str, index: int) -> int:
    starts = [i for i in (text.find("{", index), text.find("[", index)) if i >= 0]
    return min(starts) if starts else -1


def _command(code: str) -> str:
    return "\n".join(line.split("#")[0].strip() for line in code.splitlines()).strip()


def _stop(proc: subprocess.Popen[Any]) -> int:
    """Ctrl-C to the process group; killed if it does not stop in time."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            return proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError("did not stop within 30 s of Ctrl-C") from None
    code: int = proc.returncode
    return code


# --------------------------------------------------------------------------- the demo


@dataclass
class Demo:
    block: Block
    port: int
    output: list[str]

    def env(self) -> dict[str, str]:
        env = clean_env()
        if self.port != 8000:  # what the banner says to do
            env["FULLON_CACHE_API_URL"] = f"ws://127.0.0.1:{self.port}/graphql"
        return env


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    block = next(block for block in BLOCKS if block.kind == "server")
    proc = subprocess.Popen(
        ["bash", "-e", "-c", block.code],
        cwd=ROOT,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while READY_TEXT not in "".join(output):
            remaining = deadline - time.monotonic()
            line = lines.get(timeout=max(remaining, 0.001)) if remaining > 0 else None
            if line is None:
                pytest.fail(f"{block.id}: {block.code!r} did not start:\n{''.join(output)}")
            output.append(line)
        match = PORT_RE.search("".join(output))
        assert match, "".join(output)
        port = int(match[1])
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
        assert health.status_code == 200, health.text
        yield Demo(block, port, output)
    finally:
        code = _stop(proc)
        while (line := lines.get(timeout=STOP_TIMEOUT_S)) is not None:
            output.append(line)
    # make reports the interrupt; the demo itself must have shut down cleanly.
    assert code in (0, 2, 130, -signal.SIGINT), "".join(output)
    assert "Application shutdown complete" in "".join(output), "".join(output)


# --------------------------------------------------------------------------- tests


def test_blocks_are_marked_sensibly() -> None:
    problems = [problem for parsed in PARSED for problem in parsed.problems]
    assert not problems
    assert RUNNABLE, "no shell blocks found"
    skipped = [block for block in BLOCKS if block.kind == "skip"]
    assert len(skipped) <= MAX_SKIPPED, [block.id for block in skipped]
    assert all(block.note for block in skipped), "every skipped block says why"
    servers = [block for block in BLOCKS if block.kind == "server"]
    assert servers and servers[0].path == "README.md"
    assert {_command(block.code) for block in servers} == {"make demo"}
    for block in BLOCKS:
        if block.kind == "until":
            assert block.until_text()


@pytest.mark.parametrize("block", RUNNABLE, ids=[block.id for block in RUNNABLE])
def test_block_runs_as_written(block: Block, demo: Demo) -> None:
    if demo.port != 8000 and ":8000" in block.code:
        pytest.skip(f"port 8000 was busy (the demo serves on {demo.port}): {block.id} names 8000")
    if block.kind == "until":
        _run_until(block, demo)
        return
    done = subprocess.run(
        ["bash", "-e", "-c", block.code],
        cwd=ROOT,
        env=demo.env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    report = f"{block.id}:\n{block.code}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, report
    printed = json_values(done.stdout)
    for expected in block.expected_outputs():
        assert expected in printed, report


def _run_until(block: Block, demo: Demo) -> None:
    """Run ``block`` in a terminal until it printed its text, then press Ctrl-C."""
    import fcntl
    import struct
    import termios

    expected = block.until_text()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    try:
        proc = subprocess.Popen(
            ["bash", "-e", "-c", block.code],
            cwd=ROOT,
            env=demo.env(),
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
    finally:
        os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while expected not in ANSI_RE.sub("", seen.decode(errors="replace")):
            remaining = deadline - time.monotonic()
            assert remaining > 0 and proc.poll() is None, (
                f"{block.id}: no {expected!r} in the output:\n{seen.decode(errors='replace')}"
            )
            ready, _, _ = select.select([master], [], [], remaining)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:  # the terminal closed: the command ended
                    break
    finally:
        code = _stop(proc)
        os.close(master)
    text = ANSI_RE.sub("", seen.decode(errors="replace"))
    assert expected in text, f"{block.id}:\n{text}"
    assert code in (0, 130, -signal.SIGINT), f"{block.id}: exit status {code}\n{text}"
