"""The Starlette application: ``/graphql`` (HTTP, Server-Sent Events, multipart and
WebSocket), ``/health``, ``/ready``, ``/metrics``, GraphiQL and its locally served assets,
and the ``/dashboard`` page.

The endpoints are plain module-level functions reading the process's :class:`Services`
(``app.state.services``), which the lifespan builds in one step and shuts down along one
path. ``app.state.settings`` holds the settings the app was made with, for whoever serves
it (:func:`~fullon_cache_api.server.serving.websocket_options` gives uvicorn's options).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import strawberry
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from fullon_cache_api.dashboard import dashboard_routes
from fullon_cache_api.graphiql import graphiql_mount, render_graphiql
from fullon_cache_api.schema import schema as default_schema
from fullon_cache_api.server import redact, sse, wire
from fullon_cache_api.server.http import graphiql_unavailable, graphql_http, wants_html
from fullon_cache_api.server.middleware import http_middleware
from fullon_cache_api.server.origins import origin_allowed
from fullon_cache_api.server.services import Services, build_services
from fullon_cache_api.server.socket import socket_for
from fullon_cache_api.server.websocket import GraphQLWebSocket, reject
from fullon_cache_api.settings import Settings, get_settings
from fullon_cache_api.version import __version__

log = logging.getLogger("fullon.api.cache.server")

GRAPHIQL_STATIC = "/graphiql/static"


def services_of(app: Starlette) -> Services:
    services: Services = app.state.services
    return services


async def graphql_endpoint(request: Request) -> Response:
    services = services_of(request.app)
    settings = services.settings
    if wants_html(request):
        if not settings.graphiql:
            return graphiql_unavailable()
        return HTMLResponse(render_graphiql(settings.graphql_path, static_prefix=GRAPHIQL_STATIC))
    if sse.handles(request):
        return await sse.endpoint(request, services)
    return await graphql_http(request, services)


async def graphql_websocket(websocket: WebSocket) -> None:
    services = services_of(websocket.app)
    socket = socket_for(websocket, services.settings.ws_compress_min_bytes)
    address = socket.address
    offered = socket.offered_subprotocols
    refused = services.limiter.acquire(address)  # no await before it: bursts cannot overshoot
    if refused is not None:
        await reject(socket, wire.TRY_AGAIN_LATER, refused, offered)
        return
    try:
        if not origin_allowed(websocket.headers, services.settings.allowed_origins):
            await reject(socket, wire.FORBIDDEN, "origin not allowed", offered)
            return
        protocol = wire.choose(offered)
        if protocol is None:
            await reject(
                socket, wire.SUBPROTOCOL_NOT_ACCEPTABLE, "Subprotocol not acceptable", offered
            )
            return
        await GraphQLWebSocket(socket, protocol, services).serve()
    finally:
        services.limiter.release(address)


async def health(_request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def ready(request: Request) -> Response:
    if await services_of(request.app).cache.health.ready():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "unavailable", "reason": "redis unreachable"}, 503)


async def metrics(request: Request) -> Response:
    registry = services_of(request.app).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def watch_keys(services: Services) -> None:
    """Re-read ``API_KEYS_FILE`` when it changes; close connections whose key went away."""
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
            log.info("closed %d connection(s) whose API key was removed or changed", len(revoked))


def _announce(services: Services) -> None:
    settings = services.settings
    log.info("fullon_cache_api %s serving %s", __version__, settings.graphql_path)
    keyring = services.keyring
    if keyring.enabled:
        log.info("API keys required: %d key(s) configured", len(keyring))
        if keyring.watches_file:
            services.background(asyncio.create_task(watch_keys(services), name="api-keys-watch"))
    else:
        log.warning(
            "no API keys configured (API_KEYS, API_KEYS_FILE): every client may read "
            "everything, anonymously"
        )


def routes(settings: Settings) -> list[BaseRoute]:
    path = settings.graphql_path
    found: list[BaseRoute] = [
        Route(path, graphql_endpoint, methods=["GET", "POST", "PUT", "DELETE"]),
        WebSocketRoute(path, graphql_websocket),
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    if settings.graphiql:
        found.append(graphiql_mount(GRAPHIQL_STATIC))
    if settings.dashboard:
        found.extend(dashboard_routes(settings))
    return found


def create_app(
    settings: Settings | None = None, schema: strawberry.Schema = default_schema
) -> Starlette:
    settings = settings or get_settings()
    redact.install()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await build_services(settings, schema)
        app.state.services = services
        _announce(services)
        try:
            yield
        finally:
            await services.shutdown()

    app = Starlette(
        routes=routes(settings), lifespan=lifespan, middleware=http_middleware(settings)
    )
    app.state.settings = settings
    return app
