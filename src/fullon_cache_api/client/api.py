"""The client: ``async with fullon_cache_api(url) as api: ...``.

One WebSocket per client (graphql-transport-ws, through gql's ``WebsocketsTransport``);
every query and any number of streams share it. The typed methods, one per root field, are
generated into :mod:`~fullon_cache_api.client.methods` from the root-field declarations:
query methods are named like fullon_cache's own readers (``get_ticker``,
``get_trades(symbol, exchange)``, ...), stream methods ``stream_*``; results are the
dataclasses of :mod:`~fullon_cache_api.client.models`. This module adds the connection, the
generic ``execute``/``subscribe``, and the calls that are not one root field each:
:meth:`FullonCacheApi.ping`, :meth:`FullonCacheApi.get_order_status` and
:meth:`FullonCacheApi.get_bot_status`. See :mod:`~fullon_cache_api.client.errors` for the
exceptions and :mod:`~fullon_cache_api.client.streams` for what streams yield, reconnects
and buffering.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from gql import GraphQLRequest
from gql.transport.exceptions import TransportError, TransportQueryError
from graphql import DocumentNode, GraphQLError, parse

from fullon_cache_api.client.connection import Connection, Session
from fullon_cache_api.client.decode import decode_event, decode_list
from fullon_cache_api.client.errors import (
    AmbiguousOrderError,
    ConnectionLostError,
    GraphQLRequestError,
    RequestTimeoutError,
    checked_data,
    exception_for,
)
from fullon_cache_api.client.methods import ApiMethods, Variables
from fullon_cache_api.client.models import Bot, ChangeKind, Order
from fullon_cache_api.client.options import (
    Backoff,
    ClientOptions,
    default_token,
    default_url,
    websocket_url,
)
from fullon_cache_api.client.results import ChangeEvent, StreamInfo, with_info
from fullon_cache_api.client.streams import Decoder, Stream, StreamCore

__all__ = ["FullonCacheApi", "fullon_cache_api"]

T = TypeVar("T")
JSONDict = dict[str, Any]
Id = str | int


@functools.lru_cache(maxsize=256)
def _parsed(document: str) -> DocumentNode:
    try:
        return parse(document)
    except GraphQLError as exc:
        raise GraphQLRequestError(exc.message, "GRAPHQL_PARSE_FAILED") from None


def _request(document: str, variables: Mapping[str, Any] | None) -> GraphQLRequest:
    values = dict(variables) if variables else None
    return GraphQLRequest(_parsed(document), variable_values=values)


def _values(field: str, decode: Callable[[Any], T]) -> Decoder[T]:
    """A latest-value or push stream: one decoded value per event."""

    def decoded(data: JSONDict, info: StreamInfo) -> list[T]:
        return [with_info(decode(data.get(field)), info)]

    return decoded


def _items(field: str, event: type[ChangeEvent[Any]]) -> Decoder[Any]:
    """A keyed stream, item by item: each item carries its event's change kind."""
    item_type: type[Any] = event.item_type  # type: ignore[attr-defined]

    def decoded(data: JSONDict, info: StreamInfo) -> list[Any]:
        value = data.get(field) or {}
        marked = dataclasses.replace(info, change=ChangeKind(value["kind"]))
        return [with_info(item, marked) for item in decode_list(item_type, value.get("items"))]

    return decoded


def _events(field: str, event: type[ChangeEvent[Any]]) -> Decoder[Any]:
    """A keyed stream, event by event (``changes=True``)."""

    def decoded(data: JSONDict, info: StreamInfo) -> list[Any]:
        return [decode_event(event, data.get(field) or {}, info)]

    return decoded


def _whole(data: JSONDict, _info: StreamInfo) -> list[JSONDict]:
    return [data]


class FullonCacheApi(ApiMethods):
    """A connected client. Create it with :func:`fullon_cache_api`.

    Every Query field has a typed method and every Subscription field a ``stream_*``
    method (:class:`~fullon_cache_api.client.methods.ApiMethods`, the README's field
    tables list them).
    """

    def __init__(self, url: str, token: str | None, options: ClientOptions) -> None:
        self.url = url
        self.options = options
        self._connection = Connection(url, token, options)
        self._streams: set[StreamCore] = set()

    # -- lifecycle ---------------------------------------------------------------------

    async def connect(self) -> Self:
        """Open the WebSocket (one attempt: ``ApiConnectionError`` if the server cannot
        be reached). Done by ``async with``; without it, the first request connects."""
        await self._connection.open()
        return self

    async def close(self) -> None:
        """Stop every stream and close the WebSocket. Done by ``async with``."""
        streams = list(self._streams)
        self._streams.clear()
        await asyncio.gather(*(core.close() for core in streams), return_exceptions=True)
        await self._connection.close()

    async def __aenter__(self) -> Self:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """Whether the WebSocket is open right now (False while reconnecting)."""
        return self._connection.connected

    @property
    def reconnects(self) -> int:
        """Successful reconnects since the client opened."""
        return self._connection.reconnects

    # -- generic operations ------------------------------------------------------------

    async def execute(self, document: str, variables: Mapping[str, Any] | None = None) -> JSONDict:
        """Run a query; return its ``data``.

        Errors raise the matching :class:`FullonCacheApiError`; ``CORRUPT_DATA`` errors
        next to data are logged as warnings and the data is returned. A query in flight
        when the connection drops is sent again once after the reconnect; if that fails too
        it raises :class:`ConnectionLostError`.
        """
        return await self._execute(document, variables, None)

    def subscribe(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        *,
        buffer_size: int | None = None,
        conflate: bool | None = None,
    ) -> Stream[JSONDict]:
        """Stream a subscription's ``data`` dicts (resumed across reconnects;
        ``stream.seq``/``stream.cursor`` give each event's stream information)."""
        return self._open(document, variables, None, _whole, buffer_size, conflate)

    # -- calls that are not one root field ---------------------------------------------

    async def ping(self) -> dict[str, Any]:
        """Check the server and its cache with one ``health`` query::

            {"status": "ok", "latency_ms": 1.2, "server_version": "0.3.0", "redis": "ok"}

        ``status`` is ``"ok"``, or ``"degraded"`` when the server answers but its Redis
        does not (``redis`` is then ``"unavailable"``); ``latency_ms`` is the round trip of
        the query. A server that cannot be reached raises, as every call does.
        """
        started = time.perf_counter()
        health = await self.get_cache_health()
        latency_ms = (time.perf_counter() - started) * 1000.0
        return {
            "status": "ok" if health.reachable else "degraded",
            "latency_ms": round(latency_ms, 3),
            "server_version": health.server_version,
            "redis": "ok" if health.reachable else "unavailable",
        }

    async def get_order_status(self, order_id: Id, *, exchange: str | None = None) -> Order | None:
        """An order by its exchange order id, under whichever ``order_status`` key holds it
        (``ordersById``), or None; with ``exchange`` (the key suffix: an exchange name or
        an ex_id), under that key only (``order``).

        Raises :class:`AmbiguousOrderError` (its ``keys`` lists them) when more than one
        key holds the id.
        """
        if exchange is not None:
            return await self.get_order(exchange, order_id)
        found = await self.get_orders_by_id(order_id)
        if len(found) > 1:
            keys = [order.key for order in found]
            raise AmbiguousOrderError(
                f"order {order_id} is under {len(keys)} order_status keys: "
                f"{', '.join(keys)}; pass exchange= to pick one",
                keys,
            )
        return found[0] if found else None

    async def get_bot_status(self, bot_id: Id) -> Bot | None:
        """One bot's status document, or None: an alias of :meth:`get_bot` (the design's
        name)."""
        return await self.get_bot(bot_id)

    # -- what the generated methods call -----------------------------------------------

    async def _query(self, field: str, document: str, variables: Variables) -> Any:
        data = await self._execute(document, variables, field)
        return data.get(field)

    def _value_stream(
        self,
        field: str,
        document: str,
        variables: Variables,
        decode: Callable[[Any], T],
    ) -> Stream[T]:
        return self._open(document, variables, field, _values(field, decode))

    def _keyed_stream(
        self,
        field: str,
        document: str,
        variables: Variables,
        event: type[ChangeEvent[Any]],
        changes: bool,
    ) -> Stream[Any]:
        decode = _events(field, event) if changes else _items(field, event)
        return self._open(document, variables, field, decode)

    # -- internals ---------------------------------------------------------------------

    async def _execute(
        self, document: str, variables: Mapping[str, Any] | None, field: str | None
    ) -> JSONDict:
        request = _request(document, variables)
        timeout = self.options.request_timeout
        try:
            async with asyncio.timeout(timeout):
                return await self._send(request, field)
        except TimeoutError:
            raise RequestTimeoutError(f"no answer within {timeout} s") from None

    async def _send(self, request: GraphQLRequest, field: str | None) -> JSONDict:
        failed: Session | None = None
        for attempt in range(2):
            session = await self._connection.session(not_this=failed)
            try:
                result = await session.transport.execute(request)
            except TransportQueryError as exc:
                raise exception_for(exc.errors or [{"message": str(exc)}], exc.data) from None
            except TransportError as exc:
                if attempt:
                    raise ConnectionLostError(
                        f"the connection dropped during the request (twice): {exc}"
                    ) from exc
                failed = session
                continue
            return checked_data(result.data, result.errors, field)
        raise AssertionError("unreachable")  # pragma: no cover

    def _open(
        self,
        document: str,
        variables: Mapping[str, Any] | None,
        field: str | None,
        decode: Decoder[T],
        buffer_size: int | None = None,
        conflate: bool | None = None,
    ) -> Stream[T]:
        core = StreamCore(
            self._connection,
            _request(document, variables),
            field,
            buffer_size=buffer_size or self.options.buffer_size,
            conflate=self.options.conflate if conflate is None else conflate,
            on_done=self._streams.discard,
        )
        self._streams.add(core)
        return Stream(core, decode)


def fullon_cache_api(
    url: str | None = None,
    token: str | None = None,
    *,
    reconnect_attempts: int | None = 10,
    backoff: Backoff | None = None,
    buffer_size: int = 1000,
    conflate: bool = False,
    connect_timeout: float = 10.0,
    request_timeout: float | None = 30.0,
    ping_interval: float | None = 20.0,
) -> FullonCacheApi:
    """A client for a fullon_cache_api server; use it with ``async with``::

        async with fullon_cache_api() as api:
            ticker = await api.get_ticker("binance", "BTC/USDT")
            async for event in api.stream_tickers("binance"):
                ...

    Args:
        url: the GraphQL WebSocket URL (``ws://`` or ``wss://``; ``http(s)://`` is
            converted). Default: ``$FULLON_CACHE_API_URL``, else
            ``ws://127.0.0.1:8000/graphql``.
        token: the API key, sent as ``{"authorization": "Bearer <token>"}`` in
            ``connection_init``. Default: ``$FULLON_CACHE_API_TOKEN``, else none.
        reconnect_attempts: consecutive failed reconnects before streams and queries give
            up with ``ConnectionLostError`` (None: retry forever). The first connection
            is tried once.
        backoff: delays between reconnect attempts (default 0.25 s doubling to 5 s).
        buffer_size: unread events kept per stream (see ``streams``).
        conflate: keep only the newest unread event per stream.
        connect_timeout: seconds to connect and get ``connection_ack``.
        request_timeout: seconds to wait for a query (None: no limit).
        ping_interval: seconds between client keep-alive pings (None: none).
    """
    options = ClientOptions(
        reconnect_attempts=reconnect_attempts,
        backoff=backoff or Backoff(),
        buffer_size=buffer_size,
        conflate=conflate,
        connect_timeout=connect_timeout,
        request_timeout=request_timeout,
        ping_interval=ping_interval,
    )
    if token is None:
        token = default_token()
    return FullonCacheApi(websocket_url(url or default_url()), token, options)
