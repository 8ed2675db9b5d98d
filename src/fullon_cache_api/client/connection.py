"""The one WebSocket of a client, kept open: connect, watch, reconnect with backoff.

A :class:`Connection` owns the current :class:`Session` (a connected gql
``WebsocketsTransport`` speaking graphql-transport-ws). A supervisor task waits for the
session to close; unless the client is closing, it reconnects with exponential backoff and
installs the new session. Queries and streams ask :meth:`Connection.session` for the current
session, waiting while a reconnect is under way; after ``reconnect_attempts`` consecutive
failures (or a 4401/4403 close: bad credentials) every waiter gets the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from gql.transport.exceptions import TransportError
from gql.transport.websockets import WebsocketsTransport
from websockets.exceptions import ConnectionClosed, InvalidStatus

from fullon_cache_api.client.errors import (
    ApiConnectionError,
    AuthenticationError,
    ConnectionLostError,
    FullonCacheApiError,
    GraphQLRequestError,
)
from fullon_cache_api.client.options import ClientOptions

log = logging.getLogger("fullon_cache_api.client")

GRAPHQL_TRANSPORT_WS: str = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL

#: Close codes that end the client instead of a reconnect.
UNAUTHORIZED = 4401
FORBIDDEN = 4403
AUTH_CLOSE_CODES = frozenset({UNAUTHORIZED, FORBIDDEN})
#: Retrying cannot help: the server refuses what this client sends.
REFUSED_CLOSE_CODES = frozenset({4400, 4406})
#: A session that lived this long resets the "flapping" count.
STABLE_AFTER_S = 5.0
#: Largest message accepted from the server (big snapshots).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def close_of(exc: BaseException | None) -> tuple[int | None, str]:
    """The WebSocket close code and reason behind an exception (its cause chain)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ConnectionClosed):
            frame = exc.rcvd
            return (frame.code, frame.reason) if frame is not None else (1006, "")
        exc = exc.__cause__ or exc.__context__
    return None, ""


def describe(exc: BaseException) -> str:
    """A short, readable reason for a connection failure."""
    code, reason = close_of(exc)
    if code is not None:
        return f"closed with code {code}" + (f" ({reason})" if reason else "")
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, InvalidStatus):
            return f"HTTP {current.response.status_code}"
        if isinstance(current, OSError | TimeoutError) and not isinstance(current, TransportError):
            return f"{type(current).__name__}: {current}".rstrip(": ")
        current = current.__cause__ or current.__context__
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


class Session:
    """One connected WebSocket."""

    def __init__(self, transport: WebsocketsTransport, number: int) -> None:
        self.transport = transport
        self.number = number
        self.connected_at = time.monotonic()
        self._closed = False

    @property
    def closed(self) -> bool:
        if self._closed:
            return True
        task = self.transport.receive_data_task
        return task is None or bool(task.done())

    async def wait_closed(self) -> None:
        """Return once the WebSocket is closed (by either side, or dropped)."""
        task = self.transport.receive_data_task
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(task)
        await self.transport.wait_closed()
        self._closed = True

    def close_code(self) -> tuple[int | None, str]:
        return close_of(self.transport.close_exception)

    async def close(self) -> None:
        self._closed = True
        with contextlib.suppress(Exception):
            await self.transport.close()


class Connection:
    def __init__(self, url: str, token: str | None, options: ClientOptions) -> None:
        self.url = url
        self.options = options
        self._init_payload: dict[str, Any] = (
            {"authorization": f"Bearer {token}"} if token is not None else {}
        )
        self._current: Session | None = None
        self._sessions = 0
        self._failure: FullonCacheApiError | None = None
        self._closed = False
        self._changed = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._opening = asyncio.Lock()
        self._flaps = 0
        #: Successful reconnects since the client opened.
        self.reconnects = 0

    # -- public ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._current is not None and not self._current.closed

    async def open(self) -> None:
        """Connect (one attempt, no retry); then keep the connection up in the background.
        Does nothing when already open; concurrent callers share one attempt."""
        async with self._opening:
            if self._closed:
                raise ConnectionLostError("the client is closed")
            if self._supervisor is not None:
                return
            self._install(await self._connect_once())
            self._supervisor = asyncio.create_task(self._supervise(), name="fullon-cache-api-conn")

    async def session(self, *, not_this: Session | None = None) -> Session:
        """The current open session (never ``not_this``), waiting while reconnecting.

        Raises the terminal error once reconnecting gave up, or ``ConnectionLostError``
        when the client is closed.
        """
        if self._supervisor is None:
            await self.open()  # first use without ``async with``/``connect()``
        while True:
            if self._closed:
                raise ConnectionLostError("the client is closed")
            if self._failure is not None:
                raise self._failure
            current = self._current
            if current is not None and current is not not_this and not current.closed:
                return current
            # Closed or not there yet: the supervisor notifies once it has a new session
            # (or has given up).
            await self._changed.wait()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._notify()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        current, self._current = self._current, None
        if current is not None:
            await current.close()

    # -- internals ---------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _install(self, session: Session) -> None:
        self._current = session
        self._notify()

    def _transport(self) -> WebsocketsTransport:
        options = self.options
        return WebsocketsTransport(
            url=self.url,
            init_payload=self._init_payload,
            subprotocols=[GRAPHQL_TRANSPORT_WS],
            connect_timeout=options.connect_timeout,
            ack_timeout=options.connect_timeout,
            close_timeout=2,
            ping_interval=options.ping_interval,
            answer_pings=True,
            connect_args={"max_size": MAX_MESSAGE_BYTES},
        )

    async def _connect_once(self) -> Session:
        transport = self._transport()
        try:
            await transport.connect()
        except Exception as exc:
            with contextlib.suppress(Exception):
                await transport.close()
            raise self._connect_error(exc) from exc
        if transport.subprotocol != GRAPHQL_TRANSPORT_WS:
            with contextlib.suppress(Exception):
                await transport.close()
            raise GraphQLRequestError(
                f"{self.url} did not accept the {GRAPHQL_TRANSPORT_WS} subprotocol",
                "BAD_REQUEST",
            )
        self._sessions += 1
        return Session(transport, self._sessions)

    def _connect_error(self, exc: BaseException) -> FullonCacheApiError:
        code, reason = close_of(exc)
        if code in AUTH_CLOSE_CODES:
            return AuthenticationError(
                f"the server refused the connection: {code} {reason}".rstrip(),
                "UNAUTHENTICATED" if code == UNAUTHORIZED else "FORBIDDEN",
            )
        if code in REFUSED_CLOSE_CODES:
            return GraphQLRequestError(
                f"the server refused the connection: {code} {reason}".rstrip(), "BAD_REQUEST"
            )
        return ApiConnectionError(f"cannot connect to {self.url}: {describe(exc)}")

    async def _supervise(self) -> None:
        try:
            while True:
                session = self._current
                assert session is not None
                await session.wait_closed()
                self._current = None
                self._notify()
                if self._closed:
                    return
                code, reason = session.close_code()
                if code in AUTH_CLOSE_CODES:
                    raise AuthenticationError(
                        f"the server closed the connection: {code} {reason}".rstrip(),
                        "UNAUTHENTICATED" if code == UNAUTHORIZED else "FORBIDDEN",
                    )
                lived = time.monotonic() - session.connected_at
                self._flaps = 0 if lived >= STABLE_AFTER_S else self._flaps + 1
                cause = session.transport.close_exception
                log.warning(
                    "connection to %s lost (%s); reconnecting",
                    self.url,
                    describe(cause) if cause is not None else "closed",
                )
                self._install(await self._reconnect())
                self.reconnects += 1
                log.info("reconnected to %s", self.url)
        except FullonCacheApiError as exc:
            self._failure = exc
            log.error("fullon_cache_api client gave up: %s", exc)
            self._notify()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: fail loudly rather than hang the waiters
            log.exception("connection supervisor failed")
            self._failure = ConnectionLostError(f"connection supervisor failed: {exc!r}")
            self._notify()

    async def _reconnect(self) -> Session:
        """Connect again, with backoff. ``reconnect_attempts`` bounds the consecutive
        failed attempts; a connection that keeps dropping right after it was made
        (``_flaps``) starts further along the backoff, and each drop after the first one
        uses up an attempt too."""
        limit = self.options.reconnect_attempts
        used = max(0, self._flaps - 1)
        tries = 0
        last: FullonCacheApiError | None = None
        while limit is None or used < limit:
            await asyncio.sleep(self.options.backoff.delay(self._flaps + tries))
            used += 1
            tries += 1
            try:
                return await self._connect_once()
            except ApiConnectionError as exc:
                last = exc
                log.info("reconnect attempt %d to %s failed: %s", tries, self.url, exc.message)
        detail = f": {last.message}" if last is not None else ""
        raise ConnectionLostError(
            f"the connection to {self.url} was lost and {tries} reconnect attempts failed{detail}"
        )
