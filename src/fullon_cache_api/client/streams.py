"""Live streams that survive reconnects.

A :class:`Stream` is an async iterator over one GraphQL subscription. Behind it, a pump task
subscribes on the client's current session and moves each event into the stream's buffer.
When the connection drops, the pump waits for the reconnected session and subscribes again:
the server then sends the current state first, so **the next item after a reconnect is a
fresh snapshot** (``ChangeKind.SNAPSHOT`` for collection streams, the current value for
latest-value streams). The reader does nothing special; ``Stream.reconnects`` counts the
resumptions.

Buffering: each stream holds at most ``buffer_size`` unread events.

* ``conflate=False`` (default): when the buffer is full, the stream is **ended**: the
  subscription is cancelled on the server, the events already buffered are still yielded,
  then iteration raises :class:`SlowConsumerError`. Nothing is dropped silently.
* ``conflate=True``: only the newest unread event is kept (a newer one replaces it); the
  reader always gets the latest value and never falls behind. Meant for latest-value
  streams (ticker, account, system health, order queue); on collection streams it can skip
  ``UPSERT``/``REMOVE`` events (``Stream.conflated`` counts the events replaced).

A server shutting down completes every subscription before closing the socket; a
``complete`` followed within a second by the close is therefore treated as a dropped
connection (the stream resumes), not as the end of the stream.

A stream ends (``StopAsyncIteration``) when the server completes it, when it is closed
(``aclose()``, leaving ``async with``, closing the client), and raises when the server
reports an error for it or the connection cannot be re-established
(:class:`ConnectionLostError`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from gql import GraphQLRequest
from gql.transport.exceptions import TransportError, TransportQueryError

from fullon_cache_api.client.connection import Connection, Session
from fullon_cache_api.client.errors import (
    FullonCacheApiError,
    SlowConsumerError,
    checked_data,
    exception_for,
)

log = logging.getLogger("fullon_cache_api.client")

T = TypeVar("T")
JSONDict = dict[str, Any]


#: After a server ``complete``, how long to wait for the connection to close: a server
#: shutting down completes every subscription, then closes the socket.
COMPLETE_GRACE_S = 1.0


class _Overflow(Exception):
    pass


async def _going_away(session: Session) -> bool:
    """Whether ``session`` closes right after a ``complete`` (a server shutdown, not the
    end of the stream)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(COMPLETE_GRACE_S):
            await session.wait_closed()
    return session.closed


class StreamCore:
    """The running part of a stream: the pump task and the buffer. It holds no reference
    to its :class:`Stream`, so an abandoned stream can be garbage-collected (which stops
    the pump)."""

    def __init__(
        self,
        connection: Connection,
        request: GraphQLRequest,
        field: str | None,
        *,
        buffer_size: int,
        conflate: bool,
        on_done: Callable[[StreamCore], None] | None = None,
    ) -> None:
        self._connection = connection
        self._request = request
        self._field = field
        self._buffer_size = buffer_size
        self._conflate = conflate
        self._on_done = on_done
        self._items: deque[JSONDict] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._finished = False
        self._error: BaseException | None = None
        self.reconnects = 0
        self.events = 0
        self.conflated = 0

    @property
    def started(self) -> bool:
        return self._task is not None

    @property
    def finished(self) -> bool:
        return self._finished

    def start(self) -> None:
        if self._task is None and not self._finished:
            self._task = asyncio.create_task(self._run(), name="fullon-cache-api-stream")

    async def get(self) -> JSONDict:
        """The next event's data; ``StopAsyncIteration`` or the stream's error at the end."""
        while True:
            if self._items:
                return self._items.popleft()
            if self._finished:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()

    def cancel(self) -> None:
        """Stop the pump (synchronous; used when a stream is garbage-collected)."""
        task = self._task
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                task.cancel()
        self._finish(None)

    async def close(self) -> None:
        task = self._task
        self.cancel()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- the pump ----------------------------------------------------------------------

    def _finish(self, error: BaseException | None) -> None:
        if self._finished:
            return
        self._finished = True
        self._error = error
        self._wake.set()
        if self._on_done is not None:
            self._on_done(self)

    def _push(self, data: JSONDict) -> None:
        self.events += 1
        if self._conflate:
            if self._items:
                self.conflated += len(self._items)
                self._items.clear()
        elif len(self._items) >= self._buffer_size:
            raise _Overflow
        self._items.append(data)
        self._wake.set()

    async def _run(self) -> None:
        try:
            failed = None
            while True:
                session = await self._connection.session(not_this=failed)
                if failed is not None:
                    self.reconnects += 1
                    log.info("stream resumed on the new connection")
                generator = session.transport.subscribe(self._request)
                try:
                    async for result in generator:
                        self._push(checked_data(result.data, result.errors, self._field))
                except TransportQueryError as exc:
                    raise exception_for(exc.errors or [{"message": str(exc)}], exc.data) from None
                except TransportError:
                    failed = session  # dropped: subscribe again on the next session
                    continue
                finally:
                    with contextlib.suppress(Exception):
                        await generator.aclose()
                if await _going_away(session):
                    failed = session  # completed because the server is shutting down
                    continue
                self._finish(None)  # completed by the server
                return
        except _Overflow:
            self._finish(
                SlowConsumerError(
                    f"stream ended: the reader fell more than {self._buffer_size} events "
                    "behind (raise buffer_size, read faster, or use conflate=True)"
                )
            )
        except FullonCacheApiError as exc:
            self._finish(exc)
        except asyncio.CancelledError:
            self._finish(None)
            raise
        except Exception as exc:  # a bug: surface it to the reader rather than hang
            log.exception("stream pump failed")
            self._finish(exc)


class Stream(Generic[T]):
    """An async iterator over one subscription's events, resumed across reconnects.

    ::

        async with api.stream_ticker("binance", "BTC/USDT") as ticks:
            async for tick in ticks:
                ...

    Iterating without ``async with`` is fine too: the subscription starts with the first
    ``__anext__`` and stops on ``aclose()``, when the stream is garbage-collected (e.g.
    after ``break``), or when the client closes.
    """

    def __init__(self, core: StreamCore, decode: Callable[[JSONDict], T]) -> None:
        self._core = core
        self._decode = decode
        self._finalizer = weakref.finalize(self, core.cancel)

    @property
    def reconnects(self) -> int:
        """How many times the stream resumed after a dropped connection."""
        return self._core.reconnects

    @property
    def conflated(self) -> int:
        """Events replaced by a newer one before being read (``conflate=True``)."""
        return self._core.conflated

    @property
    def closed(self) -> bool:
        return self._core.finished

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        self._core.start()
        data = await self._core.get()
        return self._decode(data)

    async def aclose(self) -> None:
        """Cancel the subscription; iteration then ends."""
        await self._core.close()

    async def __aenter__(self) -> Self:
        self._core.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
