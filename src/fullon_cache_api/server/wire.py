"""The two GraphQL-over-WebSocket wire protocols, as data: message names, envelopes, codes.

* ``graphql-transport-ws`` (the graphql-ws library's protocol, current).
* ``graphql-ws`` (subscriptions-transport-ws, legacy), kept for old clients and hardened:
  ``start`` before ``connection_init``, a second ``connection_init`` and a duplicate id are
  refused with close codes like the modern protocol's.

Everything that differs between them is a field of :class:`WireProtocol`; the connection
handler (:mod:`fullon_cache_api.server.websocket`) never asks which protocol it speaks.

Besides the protocol's own codes: 4403 also refuses a missing, invalid or revoked API key,
4429 also ends a connection sending more messages than its rate allows, and 1013 (try
again later) refuses a handshake over the connection limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"

# Close codes (graphql-transport-ws, reused for the legacy protocol).
BAD_REQUEST = 4400
UNAUTHORIZED = 4401
FORBIDDEN = 4403
SUBPROTOCOL_NOT_ACCEPTABLE = 4406
INIT_TIMEOUT = 4408
DUPLICATE_ID = 4409
TOO_MANY_INITIALISATIONS = 4429
TOO_MANY_MESSAGES = 4429
TRY_AGAIN_LATER = 1013
MESSAGE_TOO_BIG = 1009
GOING_AWAY = 1001
KEEPALIVE_TIMEOUT = 1011
INTERNAL_ERROR = 1011
POLICY_VIOLATION = 1008


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True, slots=True)
class WireProtocol:
    """What differs between the two protocols."""

    name: str
    init: str
    ack: str
    subscribe: str
    complete_from_client: str
    next: str
    error: str
    complete: str
    keepalive: str  # server → client keep-alive message type
    ping: str | None  # client → server ping the server answers with ``pong``
    pong: str | None  # client → server answer to the server's keep-alive
    terminate: str | None  # client → server: close the connection
    error_as_list: bool  # ``error`` payload: the errors (modern), or one error object

    def next_message(self, id_json: str, payload_json: str) -> str:
        """A result envelope. ``id_json`` is the JSON-encoded id; the payload is reused as
        it is, so a result serialised once can be sent to many subscribers."""
        return f'{{"id":{id_json},"type":"{self.next}","payload":{payload_json}}}'

    def error_message(self, id_json: str, errors: list[dict[str, Any]]) -> str:
        payload: Any = (
            errors if self.error_as_list else {"message": errors[0]["message"], "errors": errors}
        )
        return f'{{"id":{id_json},"type":"{self.error}","payload":{_json(payload)}}}'

    def complete_message(self, id_json: str) -> str:
        return f'{{"id":{id_json},"type":"{self.complete}"}}'

    def ack_message(self) -> str:
        return f'{{"type":"{self.ack}"}}'

    def keepalive_message(self) -> str:
        return f'{{"type":"{self.keepalive}"}}'

    def pong_message(self) -> str:
        return '{"type":"pong"}'


TRANSPORT = WireProtocol(
    name=TRANSPORT_WS,
    init="connection_init",
    ack="connection_ack",
    subscribe="subscribe",
    complete_from_client="complete",
    next="next",
    error="error",
    complete="complete",
    keepalive="ping",
    ping="ping",
    pong="pong",
    terminate=None,
    error_as_list=True,
)

LEGACY = WireProtocol(
    name=LEGACY_WS,
    init="connection_init",
    ack="connection_ack",
    subscribe="start",
    complete_from_client="stop",
    next="data",
    error="error",
    complete="complete",
    keepalive="ka",
    ping=None,
    pong=None,
    terminate="connection_terminate",
    error_as_list=False,
)

PROTOCOLS = (TRANSPORT, LEGACY)


def choose(offered: list[str]) -> WireProtocol | None:
    """The modern protocol whenever the client offers it, whatever its order."""
    for protocol in PROTOCOLS:
        if protocol.name in offered:
            return protocol
    return None


def encode_id(op_id: str) -> str:
    return _json(op_id)
