"""The two GraphQL-over-WebSocket wire protocols: message names, envelopes, close codes.

* ``graphql-transport-ws`` (the graphql-ws library's protocol, current).
* ``graphql-ws`` (subscriptions-transport-ws, legacy), kept for old clients and hardened:
  ``start`` before ``connection_init``, a second ``connection_init`` and a duplicate id are
  refused with close codes like the modern protocol's.

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
    keepalive: str | None  # server → client keep-alive message type

    def next_message(self, id_json: str, payload_json: str) -> str:
        """A result envelope. ``id_json`` is the JSON-encoded id; the payload is reused as
        it is, so a result serialised once can be sent to many subscribers."""
        return f'{{"id":{id_json},"type":"{self.next}","payload":{payload_json}}}'

    def error_message(self, id_json: str, errors: list[dict[str, Any]]) -> str:
        payload: Any = (
            errors if self is TRANSPORT else {"message": errors[0]["message"], "errors": errors}
        )
        return f'{{"id":{id_json},"type":"{self.error}","payload":{_json(payload)}}}'

    def complete_message(self, id_json: str) -> str:
        return f'{{"id":{id_json},"type":"{self.complete}"}}'

    def ack_message(self) -> str:
        return f'{{"type":"{self.ack}"}}'


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
)


def choose(offered: list[str]) -> WireProtocol | None:
    """The modern protocol whenever the client offers it, whatever its order."""
    if TRANSPORT_WS in offered:
        return TRANSPORT
    if LEGACY_WS in offered:
        return LEGACY
    return None


def encode_id(op_id: str) -> str:
    return _json(op_id)
