"""Apollo's multipart HTTP subscription protocol (``subscriptionSpec=1.0``), what Apollo
Client's ``HttpLink`` speaks for a subscription.

A ``POST`` (or ``GET``) of a subscription whose ``Accept`` offers
``multipart/mixed;subscriptionSpec=1.0`` is answered ``200`` with
``Content-Type: multipart/mixed;boundary="graphql";subscriptionSpec="1.0"``, and one part per
event::

    --graphql
    Content-Type: application/json

    {"payload":{"data":{...},"extensions":{"seq":41,"cursor":"3f9a1c2.41",...}}}
    --graphql
    Content-Type: application/json

    {}
    --graphql--

* ``{"payload": <result>}``: an event, as a WebSocket ``next`` carries it (a stream's own
  trouble, ``data: null`` with a coded error, is an event too: the stream goes on);
* ``{}``: a heartbeat, every ``HTTP_STREAM_HEARTBEAT_S``; clients ignore it;
* ``{"payload": null, "errors": [...]}``: the subscription ended with these errors (a
  transport-level error: ``SLOW_CONSUMER``, the key's scopes, the server shutting down
  (``SHUTTING_DOWN``: subscribe again), ...); the body ends after it;
* ``--graphql--``: the end.

Each part is followed at once by the next delimiter, so a client parses it as soon as it
arrives. A request that cannot run at all (parse, validation, cost, scopes, persisted
queries) is answered like a query, with JSON and its status; so is anything that is not a
subscription (Apollo asks for ``multipart/mixed`` for ``@defer`` queries too, and takes JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import OperationType
from starlette.requests import Request
from starlette.responses import Response

from fullon_cache_api.errors import ErrorCode
from fullon_cache_api.server.execution import dumps, request_error
from fullon_cache_api.server.httpstream import HttpStream, StreamResponse, client_of
from fullon_cache_api.server.keyring import Principal

if TYPE_CHECKING:
    from fullon_cache_api.server.services import Services

NAME = "multipart"
BOUNDARY = "graphql"
_DELIMITER = f"\r\n--{BOUNDARY}"
_PART_HEAD = "\r\nContent-Type: application/json\r\n\r\n"


@dataclass(frozen=True, slots=True)
class MultipartFraming:
    name: str = NAME
    media_type: str = f'multipart/mixed;boundary="{BOUNDARY}";subscriptionSpec="1.0"'

    def _part(self, body: str) -> str:
        return f"{_PART_HEAD}{body}{_DELIMITER}"

    def next_message(self, id_json: str, payload_json: str) -> str:
        return self._part(f'{{"payload":{payload_json}}}')

    def error_message(self, id_json: str, errors: list[dict[str, Any]]) -> str:
        return self._part(dumps({"payload": None, "errors": errors}).decode())

    def complete_message(self, id_json: str) -> str:
        return ""  # the body's end says it

    def opening(self) -> str:
        return _DELIMITER

    def heartbeat(self) -> str:
        return self._part("{}")

    def ending(self, errors: list[dict[str, Any]] | None) -> str:
        close = "--\r\n"
        return self.error_message("", errors) + close if errors else close


FRAMING = MultipartFraming()


def accepts(request: Request) -> bool:
    """The ``Accept`` header offers ``multipart/mixed`` with ``subscriptionSpec=1.0``."""
    for media_range in request.headers.get("accept", "").split(","):
        media_type, *params = media_range.split(";")
        if media_type.strip().lower() != "multipart/mixed":
            continue
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "subscriptionspec" and value.strip().strip('"') == "1.0":
                return True
    return False


def subscribe(
    request: Request, services: Services, principal: Principal, params: dict[str, Any]
) -> Response | None:
    """The streamed response of a subscription; ``None`` when the operation is not one.
    Raises ``RequestError`` when it cannot run."""
    executor = services.executor
    prepared = executor.prepare(
        params.get("query"),
        params.get("operationName"),
        params.get("variables"),
        params.get("extensions"),
    )
    if prepared.kind is not OperationType.SUBSCRIPTION:
        return None
    executor.authorize(prepared, principal.scopes)
    address, peer = client_of(request.scope)
    refused = services.limiter.acquire(address)
    if refused is not None:
        raise request_error(refused, ErrorCode.RATE_LIMITED, status=503)
    stream = HttpStream(
        services,
        FRAMING,
        principal,
        address=address,
        peer=peer,
        origin=request.headers.get("origin"),
    )
    stream.open()
    stream.start("", params)
    return StreamResponse(stream)
