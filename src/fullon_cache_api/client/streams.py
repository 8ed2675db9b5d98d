"""Live streams that survive reconnects.

A :class:`Stream` is an async iterator over one GraphQL subscription. Behind it, a pump task
subscribes on the client's current session and moves each event into the stream's buffer.

**What a stream yields.** The typed ``stream_*`` methods yield records:

* keyed streams (``stream_tickers``, ``stream_positions``, ``stream_orders``, ...) yield one
  item per record: the SNAPSHOT's items first, then each item upserted or removed. Each
  item carries its change kind (``item.change``: ``SNAPSHOT``/``UPSERT``/``REMOVE``), the
  stream's sequence number of its event (``item.seq``), the cursor (``item.cursor``) and
  when the server observed it (``item.observed_at``); items of one event share them. A
  SNAPSHOT replaces everything received before; an empty one yields nothing, so code that
  keeps state should ask for whole events: ``changes=True`` yields one ``...Event``
  (:class:`~fullon_cache_api.client.results.ChangeEvent`: ``kind``, ``items``, ``seq``,
  ``cursor``, ``observed_at``) per event;
* latest-value streams (``stream_ticker``, ``stream_account``, ``stream_order_queue``,
  ``stream_system_health``) yield the whole value each time (``None`` when it is absent);
* push streams (``stream_process_broadcasts``) yield each message.

``Stream.seq``, ``Stream.cursor`` and ``Stream.observed_at`` give the same information for
the last event read, whatever its type (``None`` or a plain list carry no attributes).

**Reconnects.** When the connection drops, the pump waits for the reconnected session and
subscribes again, sending the cursor of the last event it received as
``extensions: {"resumeAfter": cursor}``. The server then replays the events missed, when it
still can, or sends the current state: a SNAPSHOT (keyed streams) or the current value. The
reader does nothing special; ``Stream.reconnects`` counts the resumptions.

**Errors inside a stream.** A server may report a problem on a stream and keep it open: a
``next`` with ``data: null`` and a coded error, e.g. ``CACHE_UNAVAILABLE`` while its Redis is
down (it sends a SNAPSHOT when it recovers), or ``REPLAY_UNAVAILABLE`` when a push stream's
gap cannot be replayed. Such an error is **raised** from ``__anext__`` as its exception
(:class:`CacheUnavailableError`, :class:`ReplayUnavailableError`, ...), and the stream
**stays open**: iterate again to go on (the error is also kept in ``Stream.error`` until the
next item arrives)::

    async with api.stream_tickers("binance") as stream:
        while True:
            try:
                async for ticker in stream:
                    ...
            except CacheUnavailableError:   # prices paused; a fresh snapshot follows
                ...

A reader never misses that a stream went stale, and no callback is involved. A stream ends
(``StopAsyncIteration``) when the server completes it, when it is closed (``aclose()``,
leaving ``async with``, closing the client), and raises for good when the server ends it with
an error (a graphql-transport-ws ``error``) or the connection cannot be re-established
(:class:`ConnectionLostError`); ``Stream.closed`` tells the two cases apart.

**Buffering**: each stream holds at most ``buffer_size`` unread events.

* ``conflate=False`` (default): when the buffer is full, the stream is **ended**: the
  subscription is cancelled on the server, the events already buffered are still yielded,
  then iteration raises :class:`SlowConsumerError`. Nothing is dropped silently.
* ``conflate=True``: only the newest unread event is kept (a newer one replaces it); the
  reader always gets the latest value and never falls behind. Meant for latest-value
  streams (ticker, account, system health, order queue); on keyed streams it can skip
  ``UPSERT``/``REMOVE`` events (``Stream.conflated`` counts the events replaced).

A server shutting down closes the socket with 1001, and the stream resumes elsewhere. An
older server completed every subscription first: a ``complete`` followed within a second by
the close is therefore treated as a dropped connection (the stream resumes), not as the end
of the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
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
from fullon_cache_api.client.results import NO_INFO, StreamInfo

log = logging.getLogger("fullon_cache_api.client")

T = TypeVar("T")
JSONDict = dict[str, Any]
#: Turns one event's ``data`` and stream information into what the stream yields for it.
Decoder = Callable[[JSONDict, StreamInfo], Iterable[T]]

__all__ = ["Stream"]

#: After a server ``complete``, how long to wait for the connection to close: an older
#: server shutting down completed every subscription, then closed the socket.
COMPLETE_GRACE_S = 1.0


class _Overflow(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Delivery:
    """One ``next`` of the subscription: its data, or the in-stream error it reported."""

    data: JSONDict | None
    info: StreamInfo = NO_INFO
    error: FullonCacheApiError | None = None


def stream_info(extensions: Any) -> StreamInfo:
    """The stream information in a ``next`` payload's ``extensions`` (tolerant: a missing
    or malformed value is None)."""
    if not isinstance(extensions, Mapping):
        return NO_INFO
    seq = extensions.get("seq")
    cursor = extensions.get("cursor")
    observed = extensions.get("observedAt")
    observed_at: datetime | None = None
    if isinstance(observed, str):
        from fullon_cache_api.client.decode import parse_datetime

        with contextlib.suppress(ValueError):
            observed_at = parse_datetime(observed)
    return StreamInfo(
        change=None,
        seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        cursor=cursor if isinstance(cursor, str) else None,
        observed_at=observed_at,
    )


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
        self._items: deque[Any] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._finished = False
        self._error: BaseException | None = None
        self._cancelled = False
        self.reconnects = 0
        self.events = 0
        self.conflated = 0
        #: The cursor of the last event received: a resubscription resumes after it.
        self.cursor: str | None = None

    @property
    def started(self) -> bool:
        return self._task is not None

    @property
    def finished(self) -> bool:
        return self._finished

    def start(self) -> None:
        if self._task is None and not self._finished:
            self._task = asyncio.create_task(self._run(), name="fullon-cache-api-stream")

    async def get(self) -> Any:
        """The next delivery; ``StopAsyncIteration`` or the stream's error at the end."""
        while True:
            if self._items:
                return self._items.popleft()
            if self._finished:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()

    @property
    def cancelled(self) -> bool:
        """Whether the reader (or the client) closed the stream."""
        return self._cancelled

    def cancel(self) -> None:
        """Stop the pump and drop what is unread (synchronous; also used when a stream is
        garbage-collected)."""
        if not self._finished:
            self._cancelled = True
            self._items.clear()
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

    def _push(self, item: Any) -> None:
        self.events += 1
        if self._conflate:
            if self._items:
                self.conflated += len(self._items)
                self._items.clear()
        elif len(self._items) >= self._buffer_size:
            raise _Overflow
        self._items.append(item)
        self._wake.set()

    def _subscription(self) -> GraphQLRequest:
        """The request to (re)subscribe with: resuming after the last cursor, if any."""
        if self.cursor is None:
            return self._request
        extensions = dict(self._request.extensions or {})
        extensions["resumeAfter"] = self.cursor
        return GraphQLRequest(self._request, extensions=extensions)

    def _receive(self, data: Any, errors: Any, extensions: Any) -> None:
        info = stream_info(extensions)
        if info.cursor is not None:
            self.cursor = info.cursor
        try:
            checked = checked_data(data, errors, self._field)
        except FullonCacheApiError as exc:  # reported inside the stream, which goes on
            log.warning("stream reported %s", exc)
            self._push(Delivery(None, info, exc))
            return
        self._push(Delivery(checked, info))

    async def _run(self) -> None:
        try:
            failed = None
            while True:
                session = await self._connection.session(not_this=failed)
                if failed is not None:
                    self.reconnects += 1
                    log.info("stream resumed on the new connection (after %s)", self.cursor)
                generator = session.transport.subscribe(self._subscription())
                try:
                    async for result in generator:
                        self._receive(result.data, result.errors, result.extensions)
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
    """An async iterator over one subscription, resumed across reconnects (see the module
    documentation for what it yields and how errors surface).

    ::

        async with api.stream_ticker("binance", "BTC/USDT") as ticks:
            async for tick in ticks:
                ...

    Iterating without ``async with`` is fine too: the subscription starts with the first
    ``__anext__`` and stops on ``aclose()``, when the stream is garbage-collected (e.g.
    after ``break``), or when the client closes.
    """

    def __init__(self, core: StreamCore, decode: Decoder[T]) -> None:
        self._core = core
        self._decode = decode
        self._pending: deque[T] = deque()
        self._info = NO_INFO
        self._error: FullonCacheApiError | None = None
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
        """Whether the stream has ended (nothing more will arrive)."""
        return self._core.finished

    @property
    def error(self) -> FullonCacheApiError | None:
        """The in-stream error raised last, until the next item arrives (then None)."""
        return self._error

    @property
    def seq(self) -> int | None:
        """The sequence number of the last event read (``extensions.seq``)."""
        return self._info.seq

    @property
    def cursor(self) -> str | None:
        """The cursor of the last event read (``extensions.cursor``)."""
        return self._info.cursor

    @property
    def observed_at(self) -> datetime | None:
        """When the server observed the last event read (``extensions.observedAt``)."""
        return self._info.observed_at

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        self._core.start()
        if self._core.cancelled:
            self._pending.clear()
        while not self._pending:
            delivery: Delivery = await self._core.get()
            self._info = delivery.info
            if delivery.error is not None:
                self._error = delivery.error
                raise delivery.error
            assert delivery.data is not None
            self._pending.extend(self._decode(delivery.data, delivery.info))
        self._error = None
        return self._pending.popleft()

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
