"""``CacheWebSocketServer``: the API server inside your own asyncio program.

It serves the same app as ``fullon-cache-api serve`` (:func:`create_app
<fullon_cache_api.server.app.create_app>` in uvicorn, with the graceful shutdown of
:class:`~fullon_cache_api.server.serving.GracefulServer`), for a bot process or a test::

    from fullon_cache_api import fullon_cache_api, CacheWebSocketServer

    async with CacheWebSocketServer(port=0) as server:       # 0: any free port
        async with fullon_cache_api(server.ws_url) as api:
            ticker = await api.get_ticker("binance", "BTC/USDT")

or ``await server.start()`` ... ``await server.stop()``.

**Settings** are read as the server reads them (the environment, then ``./.env``), and
keyword arguments override them: ``CacheWebSocketServer(redis_url="redis://...", port=0)``;
or pass a whole :class:`~fullon_cache_api.settings.Settings` (``settings=``), which the
keyword arguments then override. ``host`` and ``port`` default to ``API_HOST`` and
``API_PORT`` (127.0.0.1:8000); port 0 takes any free port, and ``url``/``ws_url`` tell which
once started.

**Stopping** drains like SIGTERM does for ``serve``: the server stops accepting, every
WebSocket gets what was already queued for it and then a 1001 (going away) close, so clients
reconnect and resubscribe (to another instance), within ``SHUTDOWN_GRACE_S``. The server
never installs signal handlers: the program that embeds it owns them.

**Mounting** into an existing Starlette or FastAPI app: mount :attr:`CacheWebSocketServer.app`
under a prefix and run its lifespan from the host app's (a mounted app's own lifespan is not
run by Starlette)::

    api = CacheWebSocketServer()
    app = Starlette(routes=[Mount("/api", app=api.app)], lifespan=api.lifespan)
    # FastAPI: app = FastAPI(lifespan=api.lifespan); app.mount("/api", api.app)

GraphQL is then at ``/api/graphql`` (HTTP and WebSocket). The GraphiQL page links its
assets from the root, so it works only unmounted.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette

from fullon_cache_api.server.app import create_app
from fullon_cache_api.server.serving import GracefulServer, listen, websocket_options
from fullon_cache_api.settings import Settings

__all__ = ["CacheWebSocketServer"]

STARTUP_TIMEOUT_S = 30.0


class _EmbeddedServer(GracefulServer):
    """The graceful server without signal handlers, telling when start-up is over."""

    def __init__(self, config: uvicorn.Config, app: Starlette, *, grace_s: float) -> None:
        super().__init__(config, app, grace_s=grace_s)
        self.startup_done = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.startup_done.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class CacheWebSocketServer:
    """An embeddable fullon_cache_api server (see the module documentation).

    Args:
        settings: all the settings; default: read from the environment and ``./.env``.
        host: the address to listen on (default ``API_HOST``, 127.0.0.1).
        port: the port (default ``API_PORT``, 8000); 0 takes a free one.
        **overrides: settings by name (``redis_url=...``, ``api_keys=...``,
            ``graphql_path=...``), over ``settings`` or the environment.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        host: str | None = None,
        port: int | None = None,
        **overrides: Any,
    ) -> None:
        if host is not None:
            overrides["api_host"] = host
        if port is not None:
            overrides["api_port"] = port
        if settings is None:
            settings = Settings(**overrides)
        elif overrides:
            settings = type(settings).model_validate({**settings.model_dump(), **overrides})
        self.settings = settings
        #: The Starlette app: serve it with :meth:`start`, or mount it (see :attr:`lifespan`).
        self.app: Starlette = create_app(settings)
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._port: int | None = None

    # -- addresses ---------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self.settings.api_host

    @property
    def port(self) -> int:
        """The port served (the free one picked for port 0, once started)."""
        return self._port if self._port is not None else self.settings.api_port

    @property
    def url(self) -> str:
        """``http://host:port/graphql``: GraphQL over HTTP (and GraphiQL in a browser)."""
        return f"http://{self._netloc()}{self.settings.graphql_path}"

    @property
    def ws_url(self) -> str:
        """``ws://host:port/graphql``: what :func:`~fullon_cache_api.fullon_cache_api`
        connects to."""
        return f"ws://{self._netloc()}{self.settings.graphql_path}"

    def _netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def started(self) -> bool:
        return self._server is not None and self._server.started and not self._task_done()

    def _task_done(self) -> bool:
        return self._task is None or self._task.done()

    # -- running -----------------------------------------------------------------------

    async def start(self) -> Self:
        """Listen and serve in the running event loop; returns once the server accepts
        connections (its Redis pool and live feed are set up). Raises ``RuntimeError`` if
        it cannot start (port taken, lifespan failure)."""
        if self._task is not None:
            raise RuntimeError("the server is already started")
        settings = self.settings
        sock = listen(settings.api_host, settings.api_port)
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            **websocket_options(settings),
            log_config=None,  # the embedding program owns logging
            lifespan="on",
            timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s),
        )
        server = _EmbeddedServer(config, self.app, grace_s=settings.shutdown_grace_s)
        self._server = server
        self._task = asyncio.create_task(
            self._serve(server, sock), name=f"fullon-cache-api:{self._port}"
        )
        started = asyncio.create_task(server.startup_done.wait())
        try:
            await asyncio.wait(
                {self._task, started},
                timeout=STARTUP_TIMEOUT_S,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            started.cancel()
        if self._task.done() or not server.started:
            await self._abandon()
            raise RuntimeError(f"fullon_cache_api could not start on {self._netloc()}")
        return self

    @staticmethod
    async def _serve(server: _EmbeddedServer, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn exits on lifespan start-up failures
            raise RuntimeError(f"uvicorn stopped with exit code {exc.code}") from None
        finally:
            sock.close()

    async def stop(self) -> None:
        """Shut down as on SIGTERM: stop accepting, close every WebSocket with 1001 after
        what is queued for it (``SHUTDOWN_GRACE_S`` at most), then run the app's shutdown.
        Does nothing if the server is not running."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            with contextlib.suppress(RuntimeError):
                await task
        finally:
            self._server = None
            self._task = None

    async def _abandon(self) -> None:
        task, self._task, self._server = self._task, None, None
        if task is not None and not task.done():
            task.cancel()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, RuntimeError, Exception):
                await task

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- mounting ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, _host_app: Any = None) -> AsyncIterator[None]:
        """The app's start-up and shutdown, for a host app that mounts :attr:`app`:
        ``Starlette(..., lifespan=server.lifespan)`` or ``FastAPI(lifespan=server.lifespan)``
        (or ``async with server.lifespan(): ...`` inside the host's own lifespan)."""
        async with self.app.router.lifespan_context(self.app):
            yield

    def __repr__(self) -> str:
        state = "started" if self.started else "stopped"
        return f"<CacheWebSocketServer {self.ws_url} {state}>"
