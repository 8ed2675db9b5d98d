"""Client settings: where to connect, how to reconnect, how streams buffer."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

__all__ = ["Backoff", "ClientOptions"]

URL_ENV = "FULLON_CACHE_API_URL"
TOKEN_ENV = "FULLON_CACHE_API_TOKEN"
DEFAULT_URL = "ws://127.0.0.1:8000/graphql"


def default_url() -> str:
    """``$FULLON_CACHE_API_URL``, else ``ws://127.0.0.1:8000/graphql``."""
    return os.environ.get(URL_ENV) or DEFAULT_URL


def default_token() -> str | None:
    """``$FULLON_CACHE_API_TOKEN`` (the API key), else None (no key: anonymous)."""
    return os.environ.get(TOKEN_ENV) or None


def websocket_url(url: str) -> str:
    """``http(s)://`` URLs are accepted and turned into ``ws(s)://``."""
    if url.startswith("http://"):
        return "ws://" + url[len("http://") :]
    if url.startswith("https://"):
        return "wss://" + url[len("https://") :]
    return url


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: ``initial * factor**n`` capped at ``maximum``, each
    delay randomised by ±``jitter`` (a fraction)."""

    initial: float = 0.25
    maximum: float = 5.0
    factor: float = 2.0
    jitter: float = 0.1

    def delay(self, attempt: int) -> float:
        """The delay before reconnect attempt ``attempt`` (0-based)."""
        base: float = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        if self.jitter:
            base *= 1 + random.uniform(-self.jitter, self.jitter)
        return max(0.0, base)


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Everything :func:`fullon_cache_api` accepts besides the URL and token.

    Attributes:
        reconnect_attempts: consecutive failed reconnects before giving up (streams then
            raise ``ConnectionLostError``); None retries forever.
        backoff: delays between reconnect attempts.
        buffer_size: events a stream keeps for a slow reader (see ``Stream``).
        conflate: keep only the newest unread event of each stream (latest-value
            semantics) instead of buffering.
        connect_timeout: seconds to open the WebSocket and get ``connection_ack``.
        request_timeout: seconds to wait for a query's answer (None: no limit).
        ping_interval: seconds between client pings (graphql-transport-ws ``ping``); a
            missing ``pong`` drops the connection, which then reconnects. None: no pings
            (server pings are always answered).
    """

    reconnect_attempts: int | None = 10
    backoff: Backoff = Backoff()
    buffer_size: int = 1000
    conflate: bool = False
    connect_timeout: float = 10.0
    request_timeout: float | None = 30.0
    ping_interval: float | None = 20.0

    def __post_init__(self) -> None:
        if self.buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        if self.reconnect_attempts is not None and self.reconnect_attempts < 0:
            raise ValueError("reconnect_attempts must be >= 0 or None")
