"""GraphQL over Server-Sent Events: the graphql-sse protocol, both modes.

**Distinct connections mode.** A ``POST`` (JSON body) or ``GET`` (``query``, ``variables``,
... as parameters, so a plain ``EventSource`` works) with ``Accept: text/event-stream``
runs one operation and streams it::

    event: next
    data: {"data":{...},"extensions":{"seq":41,"cursor":"3f9a1c2.41",...}}

    event: complete
    data:

The stream ends after ``complete``; the client ends a subscription by closing it. A request
that cannot run (parse, validation, cost, a persisted query, scopes) is answered in the
stream, as the protocol asks: a ``next`` event with ``errors``, then ``complete``. Only a
missing or invalid API key (401), an unreadable body (400/413) and the connection limit
(503) are answered with a status.

**Single connection mode**, for browsers on HTTP/1 (six connections per origin):

* ``PUT`` reserves a stream: ``201`` with a token (text/plain). The API key is checked here.
* ``GET`` with ``Accept: text/event-stream`` and the token (header
  ``X-GraphQL-Event-Stream-Token``, or ``?token=`` for ``EventSource``) opens it, within
  ``WS_CONNECTION_INIT_TIMEOUT`` of the reservation; once only (409 after).
* ``POST`` with the token and ``extensions.operationId`` starts an operation: ``202``; its
  events come through the stream as ``{"id": <operationId>, "payload": {...}}`` (``next``)
  and ``{"id": <operationId>}`` (``complete``). ``DELETE ?operationId=`` stops one: ``200``.
* The reservation, and every operation on it, ends with its stream.

Keep-alive: a comment line (``:``) every ``HTTP_STREAM_HEARTBEAT_S``. When the server ends
a stream early (shutdown, a revoked key, a hopeless reader), the body ends with a comment
saying why and without ``complete``, so graphql-sse clients (and ``EventSource``) reconnect,
as graphql-ws clients do after a 1001 close.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from fullon_cache_api.errors import ErrorCode, error_dict
from fullon_cache_api.server.execution import RequestError, dumps
from fullon_cache_api.server.http import (
    authenticate,
    error_response,
    json_response,
    read_params,
)
from fullon_cache_api.server.httpstream import HttpStream, StreamResponse, client_of

if TYPE_CHECKING:
    from fullon_cache_api.server.services import Services

NAME = "sse"
EVENT_STREAM = "text/event-stream"
TOKEN_HEADER = "x-graphql-event-stream-token"
TOKEN_PARAM = "token"
MAX_OPERATION_ID = 128


@dataclass(frozen=True, slots=True)
class SseFraming:
    """graphql-sse events; ``single``: with the operation id (single connection mode)."""

    single: bool
    name: str = NAME
    media_type: str = "text/event-stream; charset=utf-8"

    def next_message(self, id_json: str, payload_json: str) -> str:
        if self.single:
            return f'event: next\ndata: {{"id":{id_json},"payload":{payload_json}}}\n\n'
        return f"event: next\ndata: {payload_json}\n\n"

    def error_message(self, id_json: str, errors: list[dict[str, Any]]) -> str:
        """The protocol has no error event: the errors as a result, then ``complete``."""
        payload = dumps({"errors": errors}).decode()
        return self.next_message(id_json, payload) + self.complete_message(id_json)

    def complete_message(self, id_json: str) -> str:
        if self.single:
            return f'event: complete\ndata: {{"id":{id_json}}}\n\n'
        return "event: complete\ndata:\n\n"

    def opening(self) -> str:
        return ""

    def heartbeat(self) -> str:
        return ":\n\n"

    def ending(self, errors: list[dict[str, Any]] | None) -> str:
        if not errors:
            return ""
        return "".join(f": {' '.join(str(error['message']).split())}\n" for error in errors) + "\n"


DISTINCT = SseFraming(single=False)
SINGLE = SseFraming(single=True)


def accepts_event_stream(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip().lower() == EVENT_STREAM for part in accept.split(","))


def stream_token(request: Request) -> str | None:
    token = request.headers.get(TOKEN_HEADER) or request.query_params.get(TOKEN_PARAM)
    return token or None


def handles(request: Request) -> bool:
    """Whether a request to the GraphQL path is for this transport."""
    return (
        request.method in ("PUT", "DELETE")
        or accepts_event_stream(request)
        or stream_token(request) is not None
    )


async def endpoint(request: Request, services: Services) -> Response:
    token = stream_token(request)
    if request.method == "PUT":
        return reserve(request, services)
    if token is None:
        if request.method == "DELETE":
            return _refused("DELETE needs the token of an event stream reservation", 404)
        return await distinct(request, services)
    session = services.reservations.get(token)
    if session is None:
        return _refused("no event stream is reserved under this token", 404)
    if request.method == "DELETE":
        op_id = request.query_params.get("operationId")
        if not op_id:
            return _refused("DELETE needs ?operationId=", 400)
        session.stop(op_id)
        return Response(status_code=200)
    if request.method == "GET":
        if not session.claim():
            return _refused("the event stream of this token is already open", 409)
        return StreamResponse(session)
    return await operation(request, services, session)


async def distinct(request: Request, services: Services) -> Response:
    """One operation, streamed in the response."""
    principal = authenticate(request, services)
    if isinstance(principal, Response):
        return principal
    try:
        params = await read_params(request, services.settings)
    except RequestError as error:
        return error_response(error)
    assert isinstance(params, dict)
    address, peer = client_of(request.scope)
    refused = services.limiter.acquire(address)
    if refused is not None:
        return _refused(refused, 503, ErrorCode.RATE_LIMITED)
    stream = HttpStream(
        services, DISTINCT, principal, address=address, peer=peer, origin=_origin(request)
    )
    stream.open()
    stream.start("", params)
    return StreamResponse(stream)


def reserve(request: Request, services: Services) -> Response:
    """``PUT``: a stream reserved for this client, under a new token."""
    principal = authenticate(request, services)
    if isinstance(principal, Response):
        return principal
    address, peer = client_of(request.scope)
    refused = services.limiter.acquire(address)
    if refused is not None:
        return _refused(refused, 503, ErrorCode.RATE_LIMITED)
    token = secrets.token_urlsafe(24)
    session = HttpStream(
        services,
        SINGLE,
        principal,
        address=address,
        peer=peer,
        origin=_origin(request),
        single=True,
    )
    reservations = services.reservations
    reservations[token] = session
    session.on_release = lambda: _forget(reservations, token, session)
    session.open()
    session.deadline(services.settings.ws_connection_init_timeout)
    return PlainTextResponse(token, status_code=201)


async def operation(request: Request, services: Services, session: HttpStream) -> Response:
    """``POST`` with a token: start an operation on the reserved stream."""
    try:
        params = await read_params(request, services.settings)
    except RequestError as error:
        return error_response(error)
    assert isinstance(params, dict)
    extensions = params.get("extensions")
    op_id = extensions.get("operationId") if isinstance(extensions, dict) else None
    if not isinstance(op_id, str) or not op_id or len(op_id) > MAX_OPERATION_ID:
        message = f"extensions.operationId must be a string of 1-{MAX_OPERATION_ID} characters"
        return _refused(message, 400)
    if op_id in session.operations:
        return _refused(f"operation {op_id[:64]!r} is already running on this stream", 409)
    if session.closing:
        return _refused("the event stream of this token is closing", 404)
    session.start(op_id, params)
    return Response(status_code=202)


def _forget(reservations: dict[str, HttpStream], token: str, session: HttpStream) -> None:
    if reservations.get(token) is session:
        del reservations[token]


def _origin(request: Request) -> str | None:
    return request.headers.get("origin")


def _refused(message: str, status: int, code: ErrorCode = ErrorCode.BAD_REQUEST) -> Response:
    return json_response({"errors": [error_dict(message, code)]}, status=status)
