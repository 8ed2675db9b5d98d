"""Run the real application in uvicorn, inside the test's event loop.

::

    async with running_server(make_settings(redis_url)) as server:
        body = await server.graphql("{ health { reachable } }")      # HTTP POST
        async with raw_ws(server.ws_url) as ws: ...

The server binds ``127.0.0.1`` on a free port (port 0, the real port is read back from the
listening socket). Start-up is awaited on an event set when ``uvicorn.Server.startup`` returns
(no sleeps); shutdown sets ``should_exit`` and awaits the serve task, so the app's lifespan
shutdown (closing WebSockets and the Redis pool) has run when the ``async with`` block exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import strawberry
import uvicorn
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from starlette.applications import Starlette

from fullon_cache_api.schema import schema as default_schema
from fullon_cache_api.server.app import create_app
from fullon_cache_api.server.services import Services
from fullon_cache_api.server.serving import GracefulServer
from fullon_cache_api.server.ws_protocol import FramedWebSocketProtocol
from fullon_cache_api.settings import Settings

STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 15.0
HOST = "127.0.0.1"


class IsolatedSettings(Settings):
    """``Settings`` built only from constructor arguments: no environment, no ``.env``, so a
    developer's shell cannot change what a test runs against."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def free_port() -> int:
    """A TCP port free on loopback now (for a process that must bind it itself)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def start_up_objects_frozen() -> Iterator[None]:
    """What ``GC_FREEZE`` does for a served process, for a test that times an in-process
    server: the objects that exist now (everything the test session has made so far) are
    kept out of the collector's generations until the block ends, so a full collection
    triggered inside it scans what the block made, not the whole session's heap (which on a
    loaded machine late in a run took 0.46 s once, and is not the server's doing)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def make_settings(redis_url: str, *, api_port: int = 0, **overrides: Any) -> Settings:
    """``Settings(redis_url=..., api_port=..., **overrides)`` for a test server on loopback.

    ``gc_freeze`` defaults to off: a test session starts many servers and freezing the GC
    each time would pin every object created so far. ``topic_linger_s`` defaults to 0, so
    a topic goes when its last subscriber does (tests of lingering set it).
    """
    values: dict[str, Any] = {"api_host": HOST, "gc_freeze": False, "topic_linger_s": 0}
    values.update(overrides)
    return IsolatedSettings(redis_url=redis_url, api_port=api_port, **values)


class _Server(GracefulServer):
    """uvicorn's server, with an event for "startup finished" and no signal capture (the
    test runner keeps its own SIGINT handling)."""

    def __init__(self, config: uvicorn.Config, app: Starlette, grace_s: float) -> None:
        super().__init__(config, app, grace_s=grace_s)
        self.startup_done = asyncio.Event()

    async def startup(self, sockets: list[Any] | None = None) -> None:
        try:
            await super().startup(sockets)
        except SystemExit as exc:  # uvicorn exits the process on bind/lifespan failure
            raise RuntimeError(f"uvicorn failed to start (exit code {exc.code})") from None
        finally:
            self.startup_done.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RunningServer:
    """A started server. URLs point at 127.0.0.1 and the real port."""

    settings: Settings
    app: Starlette
    port: int
    uvicorn: uvicorn.Server
    http: httpx.AsyncClient = field(repr=False)
    host: str = HOST

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:{port}``: for ``/health`` and ``/ready``."""
        return f"http://{self.host}:{self.port}"

    @property
    def graphql_path(self) -> str:
        return self.settings.graphql_path

    @property
    def http_url(self) -> str:
        """The GraphQL HTTP endpoint."""
        return f"{self.base_url}{self.graphql_path}"

    @property
    def ws_url(self) -> str:
        """The GraphQL WebSocket endpoint."""
        return f"ws://{self.host}:{self.port}{self.graphql_path}"

    @property
    def origin(self) -> str:
        """The server's own origin, as a browser on its page would send it."""
        return self.base_url

    @property
    def services(self) -> Services:
        """The live ``Services`` (cache reader, executor, connections) of the app."""
        services: Services = self.app.state.services
        return services

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """POST a GraphQL request as JSON."""
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if operation_name is not None:
            body["operationName"] = operation_name
        return await self.http.post(self.graphql_path, json=body, **kwargs)

    async def get(
        self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """GET a GraphQL request (query string parameters)."""
        params: dict[str, str] = {"query": query}
        if variables is not None:
            params["variables"] = json.dumps(variables)
        return await self.http.get(self.graphql_path, params=params, **kwargs)

    async def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST and return the response body; the status must be 200."""
        response = await self.post(query, variables)
        assert response.status_code == 200, (response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")
        body: dict[str, Any] = response.json()
        return body


@contextlib.asynccontextmanager
async def running_server(
    settings: Settings, *, schema: strawberry.Schema = default_schema, ws: Any = None
) -> AsyncIterator[RunningServer]:
    """Serve ``create_app(settings)`` with uvicorn in the current event loop, on the
    server's own WebSocket protocol (as ``fullon-cache-api serve`` does) unless ``ws``
    names another (``"auto"``: uvicorn's default, the app then sends through ASGI)."""
    app = create_app(settings, schema=schema)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        ws=FramedWebSocketProtocol if ws is None else ws,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        lifespan="on",
        log_level=logging.WARNING,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = _Server(config, app, grace_s=5.0)
    serve = asyncio.create_task(server.serve(), name=f"uvicorn:{settings.api_port}")
    started = asyncio.create_task(server.startup_done.wait())
    try:
        done, _ = await asyncio.wait(
            {serve, started}, timeout=STARTUP_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        started.cancel()
    if serve in done:
        serve.result()  # raises what went wrong
        raise RuntimeError("uvicorn stopped during start-up")
    if not done or not server.started:
        server.should_exit = True
        await asyncio.wait_for(serve, SHUTDOWN_TIMEOUT)
        raise RuntimeError("uvicorn did not start")

    port = server.servers[0].sockets[0].getsockname()[1]
    http = httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=10.0)
    running = RunningServer(settings=settings, app=app, port=port, uvicorn=server, http=http)
    try:
        yield running
    finally:
        await http.aclose()
        server.should_exit = True
        await asyncio.wait_for(serve, SHUTDOWN_TIMEOUT)
