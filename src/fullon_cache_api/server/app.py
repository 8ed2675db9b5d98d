"""The Starlette application: ``/graphql`` (HTTP and WebSocket), ``/health``, ``/ready``,
GraphiQL and its locally served assets, and the ``/dashboard`` page."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

import strawberry
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from fullon_cache_api import __version__
from fullon_cache_api.auth import missing_scopes
from fullon_cache_api.cache import CacheReader, create_redis
from fullon_cache_api.dashboard import dashboard_routes
from fullon_cache_api.graphiql import graphiql_mount, render_graphiql
from fullon_cache_api.schema import schema as default_schema
from fullon_cache_api.server import redact
from fullon_cache_api.server import ws_protocols as wire
from fullon_cache_api.server.execution import Executor
from fullon_cache_api.server.http import graphiql_unavailable, graphql_http, wants_html
from fullon_cache_api.server.origins import origin_allowed
from fullon_cache_api.server.services import Services
from fullon_cache_api.server.ws_connection import GraphQLWebSocket, reject
from fullon_cache_api.settings import Settings, get_settings
from fullon_cache_api.subscriptions.fanout import FanoutRunner
from fullon_cache_api.subscriptions.hub import LiveHub

log = logging.getLogger("fullon.api.cache.server")

GRAPHIQL_STATIC = "/graphiql/static"


def check_field_scopes(schema: strawberry.Schema) -> None:
    """Every root field must have a scope (fail closed: no field is readable by accident)."""
    roots = [schema._schema.query_type, schema._schema.subscription_type]
    missing = missing_scopes({root.name: root.fields for root in roots if root is not None})
    if missing:
        raise RuntimeError(f"root fields without a scope in auth.FIELD_SCOPES: {missing}")


async def watch_keys(services: Services) -> None:
    """Re-read ``API_KEYS_FILE`` when it changes; close WebSockets whose key went away."""
    keyring = services.keyring
    while True:
        await asyncio.sleep(services.settings.api_keys_recheck_s)
        try:
            if not keyring.reload_if_changed():
                continue
        except Exception:
            log.exception("API_KEYS_FILE check failed")
            continue
        revoked = [
            connection
            for connection in list(services.connections)
            if connection.principal is not None and not keyring.still_valid(connection.principal)
        ]
        for connection in revoked:
            connection.close(wire.FORBIDDEN, "API key revoked")
        if revoked:
            log.info("closed %d WebSocket(s) whose API key was removed or changed", len(revoked))


def create_app(
    settings: Settings | None = None, schema: strawberry.Schema = default_schema
) -> Starlette:
    settings = settings or get_settings()
    path = settings.graphql_path
    check_field_scopes(schema)
    redact.install()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        cache = CacheReader(
            create_redis(settings), process_stale_after_s=settings.process_stale_seconds
        )
        live = LiveHub(cache, settings)
        await live.start()
        services = Services(settings=settings, cache=cache, live=live)
        services.executor = Executor(schema, settings, services.context)
        services.runner = FanoutRunner(services)
        app.state.services = services
        if settings.gc_freeze:
            # Objects created at start-up never need collecting: keep them out of the GC's
            # generations so collection pauses stay short under fan-out.
            gc.collect()
            gc.freeze()
        log.info("fullon_cache_api %s serving %s", __version__, path)
        watcher: asyncio.Task[None] | None = None
        if services.keyring.enabled:
            log.info("API keys required: %d key(s) configured", len(services.keyring))
            if services.keyring.watches_file:
                watcher = asyncio.create_task(watch_keys(services), name="api-keys-watch")
        else:
            log.warning(
                "no API keys configured (API_KEYS, API_KEYS_FILE): every client may read "
                "everything, anonymously"
            )
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            for connection in list(services.connections):
                connection.close(wire.GOING_AWAY, "server shutting down")
            await services.runner.close()
            await live.close()
            await cache.close()

    async def graphql_endpoint(request: Request) -> Response:
        if wants_html(request):
            if not settings.graphiql:
                return graphiql_unavailable()
            return HTMLResponse(render_graphiql(path, static_prefix=GRAPHIQL_STATIC))
        return await graphql_http(request, request.app.state.services)

    async def graphql_websocket(websocket: WebSocket) -> None:
        services: Services = websocket.app.state.services
        address = websocket.client.host if websocket.client else "unknown"
        refused = services.limiter.acquire(address)  # no await before it: bursts cannot overshoot
        if refused is not None:
            await reject(websocket, wire.TRY_AGAIN_LATER, refused)
            return
        try:
            if not origin_allowed(websocket.headers, settings.allowed_origins):
                await reject(websocket, wire.FORBIDDEN, "origin not allowed")
                return
            protocol = wire.choose(websocket.scope.get("subprotocols", []))
            if protocol is None:
                await reject(
                    websocket, wire.SUBPROTOCOL_NOT_ACCEPTABLE, "Subprotocol not acceptable"
                )
                return
            await GraphQLWebSocket(websocket, protocol, services).serve()
        finally:
            services.limiter.release(address)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def ready(request: Request) -> Response:
        services: Services = request.app.state.services
        if await services.cache.health.ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "reason": "redis unreachable"}, 503)

    async def metrics(request: Request) -> Response:
        services: Services = request.app.state.services
        return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route(path, graphql_endpoint, methods=["GET", "POST"]),
        WebSocketRoute(path, graphql_websocket),
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    if settings.graphiql:
        routes.append(graphiql_mount(GRAPHIQL_STATIC))
    if settings.dashboard:
        routes.extend(dashboard_routes(settings))
    return Starlette(routes=routes, lifespan=lifespan)
