"""Connection and message-rate limits for WebSockets.

* :class:`ConnectionLimiter`: open WebSockets per client address and in total
  (``WS_MAX_CONNECTIONS_PER_IP``, ``WS_MAX_CONNECTIONS``). A handshake over either limit
  is accepted and closed at once with 1013 (try again later), before anything is read.
* :class:`TokenBucket`: messages per second on one connection (``WS_MESSAGES_PER_SECOND``
  with bursts of ``WS_MESSAGE_BURST``); the connection that exceeds it is closed with 4429.
"""

from __future__ import annotations

import time

from fullon_cache_api.settings import Settings


class ConnectionLimiter:
    """Counts open WebSockets; ``acquire`` and ``release`` never await, so a burst of
    handshakes cannot overshoot the limits."""

    def __init__(self, settings: Settings) -> None:
        self.max_total = settings.ws_max_connections
        self.max_per_address = settings.ws_max_connections_per_ip
        self.total = 0
        self.by_address: dict[str, int] = {}

    def acquire(self, address: str) -> str | None:
        """Count one more connection from ``address``; a refusal reason when over a limit."""
        if self.total >= self.max_total:
            return "server connection limit reached, try again later"
        count = self.by_address.get(address, 0)
        if self.max_per_address and count >= self.max_per_address:
            return "too many connections from this address, try again later"
        self.total += 1
        self.by_address[address] = count + 1
        return None

    def release(self, address: str) -> None:
        self.total -= 1
        count = self.by_address.get(address, 0) - 1
        if count > 0:
            self.by_address[address] = count
        else:
            self.by_address.pop(address, None)


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; each message takes one."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last = time.monotonic()

    def take(self) -> bool:
        """One token if there is one; ``False`` means over the rate."""
        now = time.monotonic()
        tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if tokens < 1.0:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1.0
        return True
