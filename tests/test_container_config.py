"""The container files (Dockerfile, .dockerignore, docker-compose.yml) against the code.

No Docker engine runs here, so nothing is built. What can be checked without one is:
the image runs a console script that exists, with a subcommand that exists; its
HEALTHCHECK hits a real route and passes (or fails) against a real server; it runs as a
non-root user and binds every interface; the GraphiQL and dashboard assets are fetched by the
project's own (stdlib-only) installers into the package directories the wheel ships; every
environment variable the files set is one the application reads, with a value it accepts; and the
server stops the way ``docker stop`` expects (SIGTERM -> clean exit).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib.metadata
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest
import yaml

from fullon_cache_api.dashboard import assets as dashboard_assets
from fullon_cache_api.graphiql import assets as graphiql_assets
from fullon_cache_api.server.app import create_app
from fullon_cache_api.settings import Settings
from support.live import live_client
from support.server import RunningServer, make_settings

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
LOGGING_SETUP = ROOT / "src" / "fullon_cache_api" / "logging_setup.py"
VENV_BIN = Path(sys.executable).parent

#: Variables of the interpreter / package tools, not of the application.
TOOL_VARS = frozenset(
    {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PIP_NO_CACHE_DIR"}
    | {"PIP_DISABLE_PIP_VERSION_CHECK"}
)

TICKER = 'subscription { ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'


# --------------------------------------------------------------------------- Dockerfile


@dataclass
class Instruction:
    keyword: str
    value: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.value for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> str:
        values = self.all(keyword)
        assert values, f"stage {self.name or self.base} has no {keyword}"
        return values[-1]

    def env(self) -> dict[str, str]:
        """The stage's ``ENV key=value ...`` settings (later ones win)."""
        values: dict[str, str] = {}
        for value in self.all("ENV"):
            for word in shlex.split(value):
                assert "=" in word, f"use ENV key=value, not {value!r}"
                key, _, val = word.partition("=")
                values[key] = val
        return values


@dataclass
class Dockerfile:
    args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise AssertionError(f"no stage named {name!r}")

    @property
    def runtime(self) -> Stage:
        return self.stages[-1]


def _logical_lines(text: str) -> list[str]:
    """Instructions with continuations joined and comment lines dropped (as Docker does)."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    assert not current, "the Dockerfile ends inside a continuation"
    return lines


def parse_dockerfile(text: str) -> Dockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in _logical_lines(text):
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        value = value.strip()
        if keyword == "FROM":
            words = value.split()
            words = [w for w in words if not w.startswith("--")]
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            key, _, default = value.partition("=")
            args[key] = default
        else:
            stages[-1].instructions.append(Instruction(keyword, value))
    return Dockerfile(args=args, stages=stages)


def exec_form(value: str) -> list[str]:
    """A JSON-array (exec form) instruction argument."""
    assert value.startswith("["), f"use the exec (JSON array) form, not {value!r}"
    words = json.loads(value)
    assert isinstance(words, list) and all(isinstance(w, str) for w in words), value
    return words


def copy_parts(value: str) -> tuple[dict[str, str], list[str], str]:
    """``COPY [--opt=x] src... dest`` -> (options, sources, destination)."""
    words = value.split()
    options = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
    paths = [w for w in words if not w.startswith("--")]
    return options, paths[:-1], paths[-1]


def healthcheck(stage: Stage) -> tuple[dict[str, str], list[str]]:
    """(options, command) of the stage's HEALTHCHECK."""
    options_text, sep, command = stage.last("HEALTHCHECK").partition(" CMD ")
    assert sep, "HEALTHCHECK without CMD"
    options = dict(w[2:].partition("=")[::2] for w in options_text.split())
    return options, exec_form(command.strip())


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def test_stages(dockerfile: Dockerfile) -> None:
    names = [stage.name for stage in dockerfile.stages]
    assert names == ["assets", "builder", "runtime"]
    assert dockerfile.stage("assets").base == "node:20-slim"
    assert dockerfile.stage("builder").base == "python:3.11-slim"
    assert dockerfile.runtime.base == "python:3.11-slim"


def test_entrypoint_is_the_console_script(dockerfile: Dockerfile) -> None:
    entrypoint = exec_form(dockerfile.runtime.last("ENTRYPOINT"))
    assert entrypoint == ["fullon-cache-api"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[entrypoint[0]] == "fullon_cache_api.cli:main"
    # ... and the installed distribution declares it, as the wheel in the image will.
    installed = importlib.metadata.entry_points(group="console_scripts", name=entrypoint[0])
    assert [ep.value for ep in installed] == ["fullon_cache_api.cli:main"]


def test_cmd_is_a_real_subcommand(dockerfile: Dockerfile) -> None:
    import subprocess

    command = exec_form(dockerfile.runtime.last("ENTRYPOINT"))
    command += exec_form(dockerfile.runtime.last("CMD"))
    assert command == ["fullon-cache-api", "serve"]
    script = VENV_BIN / command[0]
    assert script.is_file(), f"{script} is not installed"
    result = subprocess.run(
        [str(script), *command[1:], "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "usage: fullon-cache-api serve" in result.stdout
    assert "--host" in result.stdout and "--port" in result.stdout


def test_runtime_binds_every_interface(dockerfile: Dockerfile) -> None:
    runtime = dockerfile.runtime
    env = runtime.env()
    assert env["API_HOST"] == "0.0.0.0"
    assert env["API_PORT"] == "8000"
    assert runtime.all("EXPOSE") == [env["API_PORT"]]
    assert env["PATH"].startswith("/opt/venv/bin:")
    # The application itself defaults to loopback, which is why the image sets it.
    assert Settings.model_fields["api_host"].default == "127.0.0.1"


def test_runtime_user_is_not_root(dockerfile: Dockerfile) -> None:
    runtime = dockerfile.runtime
    user = runtime.last("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, f"USER {user!r}: use a numeric non-root uid"
    assert not gid or (gid.isdigit() and int(gid) != 0)
    # The uid exists in the image (created in the same stage, before USER).
    created = " ".join(runtime.all("RUN"))
    assert re.search(rf"useradd\b.*--uid {uid}\b", created), created
    keywords = [i.keyword for i in runtime.instructions]
    after_user = keywords[keywords.index("USER") :]
    assert "RUN" not in after_user, "nothing should run as root after USER"


def test_runtime_copies_only_the_venv(dockerfile: Dockerfile) -> None:
    runtime = dockerfile.runtime
    assert not runtime.all("ADD")
    copies = [copy_parts(value) for value in runtime.all("COPY")]
    assert [(opts.get("from"), srcs, dest) for opts, srcs, dest in copies] == [
        ("builder", ["/opt/venv"], "/opt/venv")
    ]
    builder_runs = " ".join(dockerfile.stage("builder").all("RUN"))
    assert "python -m venv /opt/venv" in builder_runs
    assert "/opt/venv/bin/pip install /wheels/fullon_cache_api-" in builder_runs


INSTALLERS = {"graphiql": graphiql_assets, "dashboard": dashboard_assets}


def _import_time_imports(path: Path) -> set[str]:
    """Absolute imports a module runs when imported: module level, outside ``if
    TYPE_CHECKING:`` (imports inside functions run only when they are called)."""
    names: set[str] = set()
    pending: list[ast.stmt] = list(ast.parse(path.read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module or "")
        elif isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                pending.extend(node.body)
            pending.extend(node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend(node.body + node.orelse + node.finalbody)
    return names


def test_browser_assets_end_up_in_the_installed_package(
    dockerfile: Dockerfile, tmp_path: Path
) -> None:
    node = dockerfile.stage("assets")
    node_workdir = PurePosixPath(node.last("WORKDIR"))
    # The stage copies the installers and what they import, in the package's own layout ...
    copied: dict[PurePosixPath, Path] = {}
    for opts, srcs, dest in map(copy_parts, node.all("COPY")):
        assert "from" not in opts and dest.endswith("/"), (opts, dest)
        for src in srcs:
            copied[PurePosixPath(dest) / PurePosixPath(src).name] = ROOT / src
    for inside, source in copied.items():
        assert (ROOT / "src" / inside).resolve() == source.resolve(), inside
    modules = {".".join(p.with_suffix("").parts).removesuffix(".__init__") for p in copied}
    # ... which import nothing but the standard library and each other ...
    for source in copied.values():
        for name in _import_time_imports(source):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__" or name in modules, (
                source,
                name,
            )
    # ... so they run with the standard library alone (-S: no site-packages).
    for inside, source in copied.items():
        (tmp_path / inside).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / inside).write_bytes(source.read_bytes())
    runs = " ".join(node.all("RUN"))
    builder = dockerfile.stage("builder")
    workdir = PurePosixPath(builder.last("WORKDIR"))
    builder_copies = [copy_parts(v) for v in builder.all("COPY")]
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for name, module in INSTALLERS.items():
        assert Path(module.__file__).resolve() in {p.resolve() for p in copied.values()}
        found = re.search(rf"python3 -m {re.escape(module.__name__)} --dest (\S+)", runs)
        assert found is not None, (name, runs)
        ran = subprocess.run(
            [sys.executable, "-S", "-m", module.__name__, "--help"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        # The builder copies the assets into the package source before building the wheel ...
        [into] = [
            into
            for opts, srcs, into in builder_copies
            if opts.get("from") == "assets" and srcs == [found[1]]
        ]
        static = Path(module.STATIC_DIR).relative_to(ROOT).as_posix()
        assert PurePosixPath(os.path.normpath(workdir / into)) == workdir / static
        # ... whose package data ships that directory ...
        assert f"{name}/static/**/*" in package_data["package-data"]["fullon_cache_api"]
        # ... and checks that the installed package has them.
        assert f"from {module.__name__} import assets_available" in " ".join(builder.all("RUN"))
    assert str(node_workdir) == "/work"


# --------------------------------------------------------------------------- healthcheck


def _health_path(command: list[str]) -> str:
    urls = re.findall(r"http://127\.0\.0\.1:[^/]+(/[\w/-]*)", " ".join(command))
    assert len(urls) == 1, command
    return urls[0]


def test_healthcheck_hits_a_real_route(dockerfile: Dockerfile) -> None:
    options, command = healthcheck(dockerfile.runtime)
    assert command[:2] == ["python", "-c"], "no curl in the slim image: python's urllib"
    assert set(options) <= {"interval", "timeout", "start-period", "retries"}
    path = _health_path(command)
    assert path == "/health"
    app = create_app(make_settings("redis://127.0.0.1:1/0"))
    gets = {r.path for r in app.routes if "GET" in (getattr(r, "methods", None) or ())}
    assert path in gets, sorted(gets)


async def _run(argv: list[str], env: Mapping[str, str], timeout: float = 30) -> int:  # noqa: ASYNC109
    process = await asyncio.create_subprocess_exec(
        *argv, env=dict(env), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), timeout)


async def test_healthcheck_passes_against_a_running_server(
    dockerfile: Dockerfile, api_server: RunningServer
) -> None:
    _, command = healthcheck(dockerfile.runtime)
    response = await api_server.http.get(_health_path(command))
    assert response.status_code == 200
    # The command itself, as Docker runs it (the image's API_PORT is the server's port).
    argv = [sys.executable, *command[1:]]
    assert await _run(argv, {"API_PORT": str(api_server.port)}) == 0

    # Nothing listening: the check fails (non-zero exit status).
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    assert await _run(argv, {"API_PORT": str(closed_port)}) != 0


# --------------------------------------------------------------------------- .dockerignore


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker matches it: ``*`` and ``?`` stay within one path
    segment, ``**`` spans any number of them."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i:]:
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` (or a parent directory of it) out of the context."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern(os.path.normpath(pattern.removeprefix("!")).strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            ignored = not negate
    return ignored


def test_dockerignore(dockerfile: Dockerfile) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "node_modules/x/index.js",
        "tests/js/node_modules/x/index.js",
        ".pytest_cache/v/cache",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/x",
        "src/fullon_cache_api/__pycache__/cli.cpython-311.pyc",
        "src/fullon_cache_api.egg-info/PKG-INFO",
        "src/fullon_cache_api/graphiql/static/manifest.json",
        "src/fullon_cache_api/dashboard/static/manifest.json",
        ".env",
    ):
        assert _ignored(path, patterns), f"{path} is sent to the build context"

    # Everything a COPY takes from the context exists and is not excluded.
    sources = [
        src
        for stage in dockerfile.stages
        for opts, srcs, _ in map(copy_parts, stage.all("COPY"))
        if "from" not in opts
        for src in srcs
    ]
    assert sources, "no COPY from the build context?"
    for src in sources:
        assert (ROOT / src).exists(), src
        assert not _ignored(src, patterns), f"{src} is copied but excluded by .dockerignore"
    for path in (
        "src/fullon_cache_api/cli.py",
        "src/fullon_cache_api/graphiql/page.py",
        "src/fullon_cache_api/dashboard/app/main.js",
    ):
        assert not _ignored(path, patterns), path
    # The wheel's metadata reads the readme named in pyproject.toml.
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    assert readme in sources


# --------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _compose_env(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", duration)
    assert match, duration
    return float(match[1]) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match[2]]


def test_compose(compose: dict[str, Any], dockerfile: Dockerfile) -> None:
    services = compose["services"]
    redis_service, api = services["redis"], services["api"]
    assert redis_service["image"] == "redis:7-alpine"
    assert "CMD" in redis_service["healthcheck"]["test"]
    assert "ping" in redis_service["healthcheck"]["test"]
    # Keyspace notifications are there, commented out, for whoever wants them.
    assert re.search(r"#\s*command:.*--notify-keyspace-events.*KA", COMPOSE.read_text())

    assert api["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert api["depends_on"] == {"redis": {"condition": "service_healthy"}}
    env = _compose_env(api)
    assert env["REDIS_HOST"] == "redis"

    port = dockerfile.runtime.env()["API_PORT"]
    assert api["ports"] == [f"127.0.0.1:{port}:{port}"]
    test = api["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1:3] == ["python", "-c"]
    _, image_check = healthcheck(dockerfile.runtime)
    assert _health_path(test[1:]) == _health_path(image_check)
    assert f"127.0.0.1:{port}/" in test[3]

    # docker stop sends SIGTERM, then SIGKILL after stop_grace_period. Shutdown takes up
    # to SHUTDOWN_GRACE_S for WebSockets, then up to that again for HTTP requests.
    grace = float(env.get("SHUTDOWN_GRACE_S", Settings.model_fields["shutdown_grace_s"].default))
    assert _seconds(api["stop_grace_period"]) >= 2 * grace + 5


# --------------------------------------------------------------------------- variables


def _log_vars() -> set[str]:
    return set(re.findall(r"\"(LOG_[A-Z_]+)\"", LOGGING_SETUP.read_text()))


def _container_env(dockerfile: Dockerfile, compose: dict[str, Any]) -> dict[str, str]:
    """What the API process sees in the compose setup: image ENV, then compose's."""
    env = {k: v for k, v in dockerfile.runtime.env().items() if k not in TOOL_VARS}
    env.update(_compose_env(compose["services"]["api"]))
    return env


def test_every_variable_is_read_by_the_application(
    dockerfile: Dockerfile, compose: dict[str, Any]
) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    assert Settings.model_config.get("env_prefix", "") == ""
    known = fields | _log_vars()
    assert {"LOG_LEVEL", "LOG_FORMAT"} <= known

    used: dict[str, str] = {}
    for stage in dockerfile.stages:
        for name in stage.env():
            used[name] = f"Dockerfile ENV ({stage.name})"
    _, check = healthcheck(dockerfile.runtime)
    for name in re.findall(r"os\.environ\.get\('(\w+)'", " ".join(check)):
        used[name] = "Dockerfile HEALTHCHECK"
    for name in _compose_env(compose["services"]["api"]):
        used[name] = "docker-compose.yml"
    unknown = {name: where for name, where in used.items() if name not in known | TOOL_VARS}
    assert not unknown, f"not read by the application: {unknown}"


def test_the_container_environment_is_accepted(
    dockerfile: Dockerfile, compose: dict[str, Any], tmp_path: Path
) -> None:
    """The serve command's start-up (logging, then settings) in a clean process, with
    exactly the compose environment and no ./.env."""
    import subprocess

    env = _container_env(dockerfile, compose)
    code = (
        "import json; from fullon_cache_api.cli import _setup; s = _setup(); "
        "print(json.dumps(None if s is None else [s.api_host, s.api_port, s.redis_dsn()]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["0.0.0.0", 8000, "redis://redis:6379/0"], result.stderr


# --------------------------------------------------------------------------- docker stop


@contextlib.asynccontextmanager
async def _serve(env: Mapping[str, str], cwd: Path) -> AsyncIterator[tuple[Any, int, list[str]]]:
    """``fullon-cache-api serve`` as the image runs it; yields (process, port, log lines)."""
    process = await asyncio.create_subprocess_exec(
        str(VENV_BIN / "fullon-cache-api"),
        "serve",
        env=dict(env),
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[str] = []
    port_found: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def read() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            lines.append(line)
            match = re.search(r"Uvicorn running on http://[\d.]+:(\d+)", line)
            if match and not port_found.done():
                port_found.set_result(int(match[1]))
        if not port_found.done():
            port_found.set_exception(AssertionError("server exited:\n" + "\n".join(lines)))

    reader = asyncio.create_task(read())
    try:
        port = await asyncio.wait_for(port_found, 20)
        yield process, port, lines
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await asyncio.wait_for(reader, 10)


def _sigterm_env(dockerfile: Dockerfile, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in dockerfile.runtime.env().items() if k not in TOOL_VARS}
    env.update(
        API_HOST="127.0.0.1",  # the image binds 0.0.0.0; a test needs no more than loopback
        API_PORT="0",  # any free port (read back from the log)
        REDIS_URL=redis_url,
        LOG_LEVEL="INFO",
        LOG_FORMAT="minimal",
        SHUTDOWN_GRACE_S="5",
    )
    return env


async def test_sigterm_stops_the_server_cleanly(
    dockerfile: Dockerfile, redis_url: str, tmp_path: Path
) -> None:
    """``docker stop``: SIGTERM to PID 1. WebSockets are closed with 1001 (going away) and
    no ``complete`` (which would tell clients the stream is over for good, so they would
    not resubscribe on another instance); the process exits 0, well within the grace."""
    env = _sigterm_env(dockerfile, redis_url)
    async with _serve(env, tmp_path) as (process, port, lines):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/health")).status_code == 200
            assert (await http.get("/ready")).status_code == 200
        async with live_client(f"ws://127.0.0.1:{port}/graphql") as client:
            await client.subscribe("t", TICKER)
            assert await client.data("t") is None  # the (empty) current value
            process.send_signal(signal.SIGTERM)
            code, _reason = await client.ws.expect_close(timeout=10)
            assert code == 1001, (code, lines)
            received = [json.loads(raw) for raw in client.ws.before_close]
            assert not [m for m in received if m.get("type") == "complete"], received
        assert await asyncio.wait_for(process.wait(), 10) == 0, "\n".join(lines)
    assert any("Application shutdown complete" in line for line in lines), lines


async def test_sigterm_with_100_subscriptions_closes_every_client_in_time(
    dockerfile: Dockerfile, redis_url: str, tmp_path: Path
) -> None:
    """100 open subscriptions on 10 connections: SIGTERM closes every socket with 1001 and
    the process exits 0 within the grace period."""
    env = _sigterm_env(dockerfile, redis_url)
    grace = float(env["SHUTDOWN_GRACE_S"])
    async with _serve(env, tmp_path) as (process, port, lines):
        url = f"ws://127.0.0.1:{port}/graphql"
        async with contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(live_client(url)) for _ in range(10)]
            for client in clients:
                for index in range(10):
                    await client.subscribe(f"t{index}", TICKER)
            for client in clients:
                for index in range(10):
                    assert await client.data(f"t{index}") is None
            started = asyncio.get_running_loop().time()
            process.send_signal(signal.SIGTERM)
            closes = [await client.ws.expect_close(timeout=grace + 5) for client in clients]
            assert [code for code, _reason in closes] == [1001] * len(clients), lines
            assert await asyncio.wait_for(process.wait(), grace + 5) == 0, "\n".join(lines)
            assert asyncio.get_running_loop().time() - started < grace
