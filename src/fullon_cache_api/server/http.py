"""GraphQL over HTTP: POST (JSON or ``application/graphql``) and GET (queries only).

Request errors (parse, validation, limits) answer 400; execution answers 200 with
``data``/``errors``. Batched (array) bodies are refused. When API keys are configured, a
request without a valid ``Authorization: Bearer <key>`` answers 401 ``UNAUTHENTICATED``
before its body is read.
"""

from __future__ import annotations

from typing import Any

import orjson
from graphql import OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from fullon_cache_api.errors import ErrorCode
from fullon_cache_api.server.execution import RequestError, dumps, request_error
from fullon_cache_api.server.keyring import bearer_token
from fullon_cache_api.server.services import Services

JSON_TYPE = "application/json"


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(payload), status_code=status, media_type=JSON_TYPE, headers=headers)


async def _params(request: Request, max_bytes: int) -> dict[str, Any]:
    if request.method == "GET":
        params: dict[str, Any] = dict(request.query_params)
        raw_variables = params.get("variables")
        if raw_variables:
            try:
                params["variables"] = orjson.loads(raw_variables)
            except orjson.JSONDecodeError:
                raise request_error("variables is not valid JSON", ErrorCode.BAD_REQUEST) from None
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
        raise request_error("batched requests are not supported", ErrorCode.BAD_REQUEST)
    if not isinstance(data, dict):
        raise request_error("the body must be a JSON object", ErrorCode.BAD_REQUEST)
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
    return request.method == "GET" and "text/html" in accept and "query" not in request.query_params


def unauthenticated(message: str, *, invalid: bool) -> Response:
    challenge = 'Bearer realm="fullon_cache_api"' + (', error="invalid_token"' if invalid else "")
    return _json(
        {"errors": [{"message": message, "extensions": {"code": ErrorCode.UNAUTHENTICATED.value}}]},
        status=401,
        headers={"WWW-Authenticate": challenge},
    )


async def graphql_http(request: Request, services: Services) -> Response:
    settings = services.settings
    executor = services.executor
    token = bearer_token(request.headers.get("authorization"))
    principal = services.keyring.authenticate(token)
    if principal is None:
        if token is None:
            return unauthenticated(
                "an API key is required: Authorization: Bearer <key>", invalid=False
            )
        return unauthenticated("the API key is not valid", invalid=True)
    try:
        params = await _params(request, settings.max_query_bytes + 64 * 1024)
        variables = params.get("variables")
        prepared = executor.prepare(params.get("query"), params.get("operationName"), variables)
        if prepared.kind is OperationType.SUBSCRIPTION:
            raise request_error(
                "subscriptions need a WebSocket (graphql-transport-ws)", ErrorCode.BAD_REQUEST
            )
        if request.method == "GET" and prepared.kind is not OperationType.QUERY:
            return _json(
                {"errors": [{"message": "only queries may use GET"}]},
                status=405,
                headers={"Allow": "POST"},
            )
        result = await executor.execute(
            prepared, variables, context=services.context(principal.scopes)
        )
    except RequestError as error:
        # After a 413 the rest of the body is not read: the connection closes.
        close = {"Connection": "close"} if error.status == 413 else None
        return _json({"errors": error.errors}, status=error.status, headers=close)
    return _json(result)


def graphiql_unavailable() -> HTMLResponse:
    return HTMLResponse("<h1>GraphiQL is disabled on this server.</h1>", status_code=404)
