"""HTTP middleware: CORS for the browser origins of ``ALLOWED_ORIGINS``, and gzip.

**CORS** (Starlette's ``CORSMiddleware``) applies the WebSocket's origin rule
(:mod:`server.origins`) to every HTTP route, with the same setting:

* an origin listed in ``ALLOWED_ORIGINS`` (``*``: any) gets CORS answers: a preflight
  (``OPTIONS`` with ``Access-Control-Request-Method``) is answered 200 for ``GET``/``POST``
  (and ``PUT``/``DELETE``, graphql-sse's single connection mode)
  with any request headers (``Authorization``, Apollo's ``apollographql-client-*``, ...)
  for ``CORS_MAX_AGE`` seconds, and responses carry ``Access-Control-Allow-Origin: <origin>``
  (never ``*``, so ``credentials: "include"`` works), ``Access-Control-Allow-Credentials:
  true`` and ``Access-Control-Expose-Headers: WWW-Authenticate``;
* the server's own host needs no CORS: its pages are same-origin;
* any other origin gets no CORS headers (its preflight answers 400), so browsers refuse
  to hand it the response. That is the default (``ALLOWED_ORIGINS`` empty).

Non-browser clients (no ``Origin``) are not affected. Credentials are allowed because the API
authenticates with ``Authorization: Bearer`` only, which a browser never adds on its own: a
credentialed request carries no ambient authority.

**gzip** (Starlette's ``GZipMiddleware``): responses of at least ``HTTP_GZIP_MIN_BYTES`` to
clients that send ``Accept-Encoding: gzip``; ``0`` turns it off. Requests that accept a
stream (``text/event-stream``, ``multipart/mixed``) are never compressed: gzip would hold
events back until its buffer fills.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from fullon_cache_api.settings import Settings

#: zlib level for responses: level 9 (Starlette's default) costs about three times the CPU of
#: level 5 for 5-7 % smaller JSON (``BENCHMARKS.md``, HTTP compression).
GZIP_LEVEL = 5

#: ``Accept`` values of requests answered with a stream (Server-Sent Events, multipart).
STREAMED = ("text/event-stream", "multipart/mixed")


class GZipExceptStreams:
    """Starlette's ``GZipMiddleware``, except for requests that ask for a streamed answer
    (by their ``Accept``): gzip would hold events back until its buffer fills. Decided by
    the request, so it does not depend on which content types a Starlette version's gzip
    leaves alone."""

    def __init__(self, app: ASGIApp, *, minimum_size: int, compresslevel: int) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=compresslevel)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            accept = Headers(scope=scope).get("accept", "").lower()
            if any(media_type in accept for media_type in STREAMED):
                await self.app(scope, receive, send)
                return
        await self.gzip(scope, receive, send)


def http_middleware(settings: Settings) -> list[Middleware]:
    """The middleware of the app, outermost first."""
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["*"],
            allow_credentials=True,
            expose_headers=["WWW-Authenticate"],
            max_age=settings.cors_max_age,
        )
    ]
    if settings.http_gzip_min_bytes > 0:
        middleware.append(
            Middleware(
                GZipExceptStreams,
                minimum_size=settings.http_gzip_min_bytes,
                compresslevel=GZIP_LEVEL,
            )
        )
    return middleware
