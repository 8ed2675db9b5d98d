"""Command line: ``fullon-cache-api serve | demo | query | watch | export-schema``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import math
import os
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette

from fullon_cache_api.client.cli_commands import add_client_commands
from fullon_cache_api.logging_setup import configure_logging
from fullon_cache_api.server.serving import GracefulServer, listen, websocket_options
from fullon_cache_api.settings import Settings
from fullon_cache_api.version import __version__

if TYPE_CHECKING:
    from fullon_cache_api.simulator import CacheWriter

log = logging.getLogger("fullon.api.cache.cli")

DEMO_HOST = "127.0.0.1"
DEMO_PORT = 8000

SAMPLE_QUERY = """{
  exchanges
  ticker(exchange: "binance", symbol: "BTC/USDT") { symbol price bid ask time }
  health { reachable redisVersion latencyMs }
}"""
SAMPLE_SUBSCRIPTION = (
    'subscription { ticker(exchange: "binance", symbol: "BTC/USDT") { price time } }'
)


# --------------------------------------------------------------------------- server


class _Server(GracefulServer):
    """The graceful server; SIGINT/SIGTERM stop it without being re-raised afterwards.

    uvicorn re-raises a captured signal once it has shut down, which would end the
    process before the caller's own clean-up (the demo's Redis) ran.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        """Shut down gracefully, as on SIGTERM."""
        self.should_exit = True


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def run_server(
    app: Starlette,
    settings: Settings,
    *,
    host: str = DEMO_HOST,
    port: int = DEMO_PORT,
    sock: socket.socket | None = None,
    stop_after: float | None = None,
) -> bool:
    """Serve ``app`` in the running event loop until SIGINT/SIGTERM or ``stop_after`` s.

    Listens on ``sock`` when given, else binds ``host``:``port``. A second Ctrl-C skips
    waiting for open connections. Returns False if the server failed to start.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        **websocket_options(settings),
        log_config=None,  # configure_logging() is in charge
        lifespan="on",
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s),
    )
    server = _Server(config, app, grace_s=settings.shutdown_grace_s)
    timer = None
    if stop_after is not None:
        timer = asyncio.get_running_loop().call_later(stop_after, server.stop)
    try:
        await server.serve(sockets=[sock] if sock is not None else None)
    except SystemExit as exc:  # uvicorn exits on bind or lifespan start-up failures
        if exc.code not in (0, None):
            return False
        raise
    finally:
        if timer is not None:
            timer.cancel()
    return server.started


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt, so clean-up code runs for it too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    original = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, original)


def _logging_env() -> dict[str, str]:
    """The environment, over the ``LOG_*`` values of ``./.env`` (as Settings reads it)."""
    from dotenv import dotenv_values

    dotenv = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    return {**dotenv, **os.environ}


def _setup() -> Settings | None:
    """Configure logging and read the settings; print why and return None on error."""
    try:
        configure_logging(_logging_env())
        return Settings()
    except (ValueError, ValidationError) as exc:
        print(f"fullon-cache-api: invalid configuration: {exc}", file=sys.stderr)
        return None


# --------------------------------------------------------------------------- serve


def _cmd_serve(args: argparse.Namespace) -> int:
    settings = _setup()
    if settings is None:
        return 2
    host = args.host if args.host is not None else settings.api_host
    port = args.port if args.port is not None else settings.api_port
    settings = settings.model_copy(update={"api_host": host, "api_port": port})

    from fullon_cache_api.server.app import create_app

    ok = asyncio.run(run_server(create_app(settings), settings, host=host, port=port))
    return 0 if ok else 1


# --------------------------------------------------------------------------- demo


def start_live_simulator(writer: CacheWriter, rate_hz: float) -> asyncio.Task[None] | None:
    """Start the task that keeps changing the demo data while the API serves it
    (``rate_hz`` 0: none; the seeded snapshot then stays as it is)."""
    if rate_hz <= 0:
        return None
    from fullon_cache_api.simulator.live import LiveMarket

    return asyncio.create_task(LiveMarket(writer, rate_hz=rate_hz).run(), name="live-market")


def _demo_socket(port: int | None) -> socket.socket:
    if port is not None:
        return listen(DEMO_HOST, port)
    try:
        return listen(DEMO_HOST, DEMO_PORT)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
    sock = listen(DEMO_HOST, 0)
    port = sock.getsockname()[1]
    print(
        f"Port {DEMO_PORT} is busy; using {port} instead. Point the CLI, the examples and the "
        f"client at it with FULLON_CACHE_API_URL=ws://{DEMO_HOST}:{port}/graphql",
        flush=True,
    )
    return sock


def dashboard_banner_line(port: int, assets: bool | None, live: bool) -> str | None:
    """The demo banner's dashboard line (``assets`` None: the dashboard is turned off)."""
    if assets is None:
        return None
    from fullon_cache_api.dashboard.page import DASHBOARD_PATH, INSTALL_HINT

    url = f"http://{DEMO_HOST}:{port}{DASHBOARD_PATH}"
    if live:  # the live market's open-order queue
        from fullon_cache_api.simulator.live import LOCAL_OID

        url += f"?queue={LOCAL_OID}"
    if not assets:
        return f"Dashboard: {url} (assets not installed, no npm?: run `{INSTALL_HINT}`)"
    return f"Dashboard: {url}"


def _script(name: str) -> str:
    """How a new shell in the current directory runs this installation's ``name`` script:
    a relative path when the environment is below the current directory (``make demo``:
    ``.venv/bin/…``, which works without activating it), the bare name when that is what
    PATH finds, else the absolute path."""
    bin_dir = Path(sys.executable).parent
    path = bin_dir / name
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    found = shutil.which(name)
    if found is not None and Path(found).parent == bin_dir:
        return name
    return str(path)


def client_commands(ws_url: str) -> list[str]:
    """The demo's "try it" lines: the ``FULLON_CACHE_API_URL`` export, then commands that
    read it."""
    cli = _script("fullon-cache-api")
    lines = [
        f"export FULLON_CACHE_API_URL={ws_url}",
        f"{cli} query '{{ exchanges }}'",
        f"{cli} watch tickers --exchange binance",
    ]
    if Path("examples", "run_all.py").is_file():
        lines.append(f"{_script('python')} examples/run_all.py")
    return lines


def _print_banner(
    redis_url: str,
    redis_binary: str,
    port: int,
    assets: bool,
    live: bool,
    stop_after: float | None,
    dashboard_assets: bool | None = None,
) -> None:
    url = f"http://{DEMO_HOST}:{port}/graphql"
    ws_url = f"ws://{DEMO_HOST}:{port}/graphql"
    graphiql = "served locally" if assets else "not installed (no npm?): the page uses a CDN"
    dashboard = dashboard_banner_line(port, dashboard_assets, live)
    dashboard_line = f"\n  {dashboard}" if dashboard else ""
    stop = (
        f"Stops by itself after {stop_after:g} s."
        if stop_after is not None
        else "Press Ctrl-C to stop."
    )
    commands = "\n".join(f"  {line}" for line in client_commands(ws_url))
    print(
        f"""
fullon_cache_api demo
  Redis:     {redis_url} (private, seeded with the demo scenario; {redis_binary})
  Live data: {"on: a simulated market" if live else "off: the seeded snapshot does not change"}
  GraphiQL assets: {graphiql}
  GraphiQL:  {url}{dashboard_line}
  {stop}

The CLI, the examples and the Python client find the server with FULLON_CACHE_API_URL.
In another shell, in this directory:

{commands}

Sample query:
{SAMPLE_QUERY}

Sample subscription:
{SAMPLE_SUBSCRIPTION}
""",
        flush=True,
    )


async def _serve_demo(
    settings: Settings,
    redis_binary: str,
    sock: socket.socket,
    assets: bool,
    stop_after: float | None,
    rate_hz: float,
    dashboard_assets: bool | None = None,
) -> bool:
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.simulator import CacheWriter, seed_scenario

    redis_url = settings.redis_dsn()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    live: asyncio.Task[None] | None = None
    try:
        writer = CacheWriter(client)
        await seed_scenario(writer)
        live = start_live_simulator(writer, rate_hz)
        port: int = sock.getsockname()[1]
        _print_banner(
            redis_url, redis_binary, port, assets, live is not None, stop_after, dashboard_assets
        )
        return await run_server(create_app(settings), settings, sock=sock, stop_after=stop_after)
    finally:
        if live is not None:
            live.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await live
        await client.aclose()


def _cmd_demo(args: argparse.Namespace) -> int:
    from fullon_cache_api.dashboard.assets import fetch_assets as fetch_dashboard_assets
    from fullon_cache_api.embedded_redis import EmbeddedRedis, EmbeddedRedisError
    from fullon_cache_api.graphiql.assets import fetch_assets

    settings = _setup()
    if settings is None:
        return 2
    assets = fetch_assets()
    dashboard_assets = fetch_dashboard_assets() if settings.dashboard else None
    try:
        sock = _demo_socket(args.port)
    except OSError as exc:
        print(f"fullon-cache-api demo: cannot listen on port {args.port}: {exc}", file=sys.stderr)
        return 1
    redis_server = EmbeddedRedis()
    with sock, _sigterm_interrupts():
        try:
            redis_server.start()
        except (RuntimeError, EmbeddedRedisError) as exc:
            print(f"fullon-cache-api demo: cannot start Redis: {exc}", file=sys.stderr)
            return 1
        settings = settings.model_copy(update={"redis_url": redis_server.url})
        try:
            ok = asyncio.run(
                _serve_demo(
                    settings,
                    redis_server.binary,
                    sock,
                    assets,
                    args.run_seconds,
                    args.rate,
                    dashboard_assets,
                )
            )
        finally:
            redis_server.stop()
    return 0 if ok else 1


# --------------------------------------------------------------------------- export-schema


def _cmd_export_schema(args: argparse.Namespace) -> int:
    from fullon_cache_api.schema_export import export_sdl

    sdl = export_sdl()
    if args.output is None:
        sys.stdout.write(sdl)
    else:
        args.output.write_text(sdl, encoding="utf-8")
    return 0


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fullon-cache-api",
        description="Read-only GraphQL API over fullon_cache's Redis state.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API (settings from the environment)")
    serve.add_argument("--host", help="interface to bind (default: API_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: API_PORT, 8000)")
    serve.set_defaults(handler=_cmd_serve)

    demo = commands.add_parser(
        "demo", help="run the API over a private, seeded Redis (no setup needed)"
    )
    demo.add_argument(
        "--port", type=int, help=f"API port (default: {DEMO_PORT}, or a free one if busy)"
    )
    demo.add_argument(
        "--run-seconds", type=float, metavar="S", help="stop by itself after S seconds"
    )
    demo.add_argument(
        "--rate",
        type=float,
        default=5.0,
        metavar="HZ",
        help="simulated market steps per second (default 5; 0: no live data)",
    )
    demo.set_defaults(handler=_cmd_demo)

    add_client_commands(commands)

    export = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--output", type=Path, metavar="PATH", help="write to PATH, not stdout")
    export.set_defaults(handler=_cmd_export_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
