"""GraphQL over HTTP: POST (JSON or ``application/graphql``) and GET (queries only).

Request errors (parse, validation, limits) answer 400; execution answers 200 with
``data``/``errors``. When API keys are configured, a request without a valid
``Authorization: Bearer <key>`` answers 401 ``UNAUTHENTICATED`` before its body is read.

``extensions`` (a JSON object; on GET a JSON-encoded parameter) may name a persisted query
(:mod:`server.persisted`).

Subscriptions over HTTP: a request that accepts Apollo's multipart subscriptions
(``multipart/mixed;subscriptionSpec=1.0``) is streamed by :mod:`server.multipart`; Server-Sent
Events (:mod:`server.sse`) are routed before this module. Otherwise a subscription answers
400.

Batched (array) POST bodies are refused unless ``HTTP_BATCH_MAX`` > 0; then up to that many
operations run concurrently, each with its own limits and cost, and the answer is an array
in the same order (HTTP 200; an operation that cannot run has ``errors`` in its place).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from graphql import OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse

from fullon_cache_api.errors import ErrorCode
from fullon_cache_api.server import multipart
from fullon_cache_api.server.execution import RequestError, dumps, request_error
from fullon_cache_api.server.keyring import Principal, bearer_token
from fullon_cache_api.server.services import Services
from fullon_cache_api.settings import Settings

JSON_TYPE = "application/json"
SUBSCRIPTION_TRANSPORTS = (
    "subscriptions need a WebSocket (graphql-transport-ws), Server-Sent Events "
    "(Accept: text/event-stream) or multipart (Accept: multipart/mixed;subscriptionSpec=1.0)"
)


#: A response body larger than this is sent in slices of this size, with a turn for the event
#: loop in between: gzip (``HTTP_GZIP_MIN_BYTES``) then compresses one slice at a time, so a
#: response of megabytes never holds the other connections for the time zlib takes on all of it.
BODY_SLICE = 64 * 1024


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = dumps(payload)
    if len(body) <= BODY_SLICE:
        return Response(body, status_code=status, media_type=JSON_TYPE, headers=headers)
    return StreamingResponse(
        _slices(body), status_code=status, media_type=JSON_TYPE, headers=headers
    )


async def _slices(body: bytes) -> AsyncIterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(body), BODY_SLICE):
        if start:
            await asyncio.sleep(0)
        yield bytes(view[start : start + BODY_SLICE])


def error_response(error: RequestError) -> Response:
    """A request that cannot run: its errors, with its status."""
    # After a 413 the rest of the body is not read: the connection closes.
    close = {"Connection": "close"} if error.status == 413 else None
    return json_response({"errors": error.errors}, status=error.status, headers=close)


async def read_params(request: Request, settings: Settings) -> dict[str, Any]:
    """The parameters of a single (not batched) request; ``RequestError`` when they cannot
    be read."""
    params = await _params(request, settings.max_query_bytes + 64 * 1024)
    assert isinstance(params, dict)  # a batch is refused without batch_max
    return params


async def _params(
    request: Request, max_bytes: int, batch_max: int = 0
) -> dict[str, Any] | list[dict[str, Any]]:
    """The request's parameters; a list of them for a batch (``batch_max`` > 0)."""
    if request.method == "GET":
        params: dict[str, Any] = dict(request.query_params)
        for name in ("variables", "extensions"):
            raw = params.get(name)
            if raw:
                try:
                    params[name] = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    message = f"{name} is not valid JSON"
                    raise request_error(message, ErrorCode.BAD_REQUEST) from None
        return params
    body = await _body(request, max_bytes)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/graphql":
        return {"query": body.decode("utf-8", "replace")}
    if content_type not in (JSON_TYPE, "application/graphql-response+json", ""):
        raise request_error(f"unsupported content type {content_type!r}", ErrorCode.BAD_REQUEST)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise request_error("the body is not valid JSON", ErrorCode.BAD_REQUEST) from None
    if isinstance(data, list):
        return _batch(data, batch_max)
    if not isinstance(data, dict):
        raise request_error("the body must be a JSON object", ErrorCode.BAD_REQUEST)
    return data


def _batch(data: list[Any], batch_max: int) -> list[dict[str, Any]]:
    if not batch_max:
        raise request_error(
            "batched requests are not supported (HTTP_BATCH_MAX=0)", ErrorCode.BAD_REQUEST
        )
    if not data:
        raise request_error("a batch must hold at least one operation", ErrorCode.BAD_REQUEST)
    if len(data) > batch_max:
        raise request_error(
            f"a batch of {len(data)} operations; the limit is {batch_max}", ErrorCode.BAD_REQUEST
        )
    if not all(isinstance(item, dict) for item in data):
        raise request_error(
            "each operation of a batch must be a JSON object", ErrorCode.BAD_REQUEST
        )
    return data


async def _body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused (413) as soon as it is known to pass ``max_bytes``: from
    ``Content-Length`` before reading anything, else while a chunked body streams in."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise request_error("invalid Content-Length", ErrorCode.BAD_REQUEST)
        if int(declared) > max_bytes:
            raise _too_large(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(body)


def _too_large(max_bytes: int) -> RequestError:
    return request_error(
        f"request body larger than {max_bytes} bytes", ErrorCode.BAD_REQUEST, status=413
    )


def wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    params = request.query_params
    return (
        request.method == "GET"
        and "text/html" in accept
        and "query" not in params
        and "extensions" not in params
    )


def unauthenticated(message: str, *, invalid: bool) -> Response:
    challenge = 'Bearer realm="fullon_cache_api"' + (', error="invalid_token"' if invalid else "")
    return json_response(
        {"errors": [{"message": message, "extensions": {"code": ErrorCode.UNAUTHENTICATED.value}}]},
        status=401,
        headers={"WWW-Authenticate": challenge},
    )


def authenticate(request: Request, services: Services) -> Principal | Response:
    """The caller of an HTTP request (its ``Authorization: Bearer`` key), or the 401."""
    token = bearer_token(request.headers.get("authorization"))
    principal = services.keyring.authenticate(token)
    if principal is None:
        if token is None:
            return unauthenticated(
                "an API key is required: Authorization: Bearer <key>", invalid=False
            )
        return unauthenticated("the API key is not valid", invalid=True)
    return principal


async def graphql_http(request: Request, services: Services) -> Response:
    settings = services.settings
    services.touch()  # the loop polls while the query waits for Redis
    principal = authenticate(request, services)
    if isinstance(principal, Response):
        return principal
    # A batch may hold HTTP_BATCH_MAX operations, each as large as a single request.
    max_bytes = (settings.max_query_bytes + 64 * 1024) * max(1, settings.http_batch_max)
    try:
        params = await _params(request, max_bytes, settings.http_batch_max)
    except RequestError as error:
        return error_response(error)
    if isinstance(params, dict) and multipart.accepts(request):
        try:
            stream = multipart.subscribe(request, services, principal, params)
        except RequestError as error:
            return error_response(error)
        if stream is not None:
            return stream
    if isinstance(params, list):
        answers = await asyncio.gather(
            *(_operation(request, services, principal.scopes, item) for item in params)
        )
        services.touch()
        return json_response([payload for payload, _status, _headers in answers])
    payload, status, headers = await _operation(request, services, principal.scopes, params)
    services.touch()
    return json_response(payload, status=status, headers=headers)


async def _operation(
    request: Request, services: Services, scopes: frozenset[str], params: dict[str, Any]
) -> tuple[dict[str, Any], int, dict[str, str] | None]:
    """One operation: its response body, HTTP status and extra headers."""
    executor = services.executor
    try:
        variables = params.get("variables")
        prepared = executor.prepare(
            params.get("query"), params.get("operationName"), variables, params.get("extensions")
        )
        if prepared.kind is OperationType.SUBSCRIPTION:
            raise request_error(SUBSCRIPTION_TRANSPORTS, ErrorCode.BAD_REQUEST)
        if request.method == "GET" and prepared.kind is not OperationType.QUERY:
            return {"errors": [{"message": "only queries may use GET"}]}, 405, {"Allow": "POST"}
        result = await executor.execute(prepared, variables, context=services.context(scopes))
    except RequestError as error:
        return {"errors": error.errors}, error.status, None
    return result, 200, None


def graphiql_unavailable() -> HTMLResponse:
    return HTMLResponse("<h1>GraphiQL is disabled on this server.</h1>", status_code=404)
