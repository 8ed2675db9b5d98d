"""The client: ``async with fullon_cache_api(url) as api: ...``.

One WebSocket per client (graphql-transport-ws, through gql's ``WebsocketsTransport``);
every query and any number of streams share it. Query methods are named like
fullon_cache's own readers (``get_ticker``, ``get_trades(symbol, exchange)``, ...), stream
methods ``stream_*``; results are the dataclasses of :mod:`~fullon_cache_api.client.models`.
See :mod:`~fullon_cache_api.client.errors` for the exceptions and
:mod:`~fullon_cache_api.client.streams` for reconnects and buffering.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from gql import GraphQLRequest
from gql.transport.exceptions import TransportError, TransportQueryError
from graphql import DocumentNode, GraphQLError, parse

from fullon_cache_api.client import documents as docs
from fullon_cache_api.client.connection import Connection, Session
from fullon_cache_api.client.decode import (
    decode_as,
    decode_event,
    decode_list,
    decode_optional,
    parse_datetime,
)
from fullon_cache_api.client.errors import (
    ConnectionLostError,
    GraphQLRequestError,
    RequestTimeoutError,
    checked_data,
    exception_for,
)
from fullon_cache_api.client.models import (
    Account,
    Balance,
    Bot,
    CacheHealth,
    ChangeEvent,
    ComponentStatus,
    ExchangeBlock,
    OhlcvBar,
    OhlcvSeries,
    OpeningPosition,
    Order,
    Position,
    Process,
    ProcessBroadcast,
    SystemHealth,
    Ticker,
    Trade,
    TradeStatus,
)
from fullon_cache_api.client.options import (
    Backoff,
    ClientOptions,
    default_token,
    default_url,
    websocket_url,
)
from fullon_cache_api.client.streams import Stream, StreamCore

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


def _root_field(document: str) -> str | None:
    """The single root field of a typed document (for the CORRUPT_DATA check)."""
    operation = _parsed(document).definitions[0]
    selections: Sequence[Any] = getattr(getattr(operation, "selection_set", None), "selections", ())
    if len(selections) != 1:
        return None
    name: str = selections[0].name.value
    return name


class FullonCacheApi:
    """A connected client. Create it with :func:`fullon_cache_api`."""

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
        """Stream a subscription's ``data`` dicts (resumed across reconnects)."""
        return self._stream(document, variables, dict, buffer_size, conflate, field=None)

    async def ping(self) -> float:
        """Round-trip time of a trivial query (``{ __typename }``), in seconds."""
        started = time.perf_counter()
        await self._execute(docs.PING, None, None)
        return time.perf_counter() - started

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

    async def _field(self, document: str, variables: Mapping[str, Any] | None = None) -> Any:
        field = _root_field(document)
        assert field is not None
        data = await self._execute(document, variables, field)
        return data.get(field)

    def _stream(
        self,
        document: str,
        variables: Mapping[str, Any] | None,
        decode: Callable[[Any], T],
        buffer_size: int | None = None,
        conflate: bool | None = None,
        *,
        field: str | None = "",
    ) -> Stream[T]:
        root = _root_field(document) if field == "" else field
        core = StreamCore(
            self._connection,
            _request(document, variables),
            root,
            buffer_size=buffer_size or self.options.buffer_size,
            conflate=self.options.conflate if conflate is None else conflate,
            on_done=self._streams.discard,
        )
        self._streams.add(core)
        if root is None:
            return Stream(core, decode)
        return Stream(core, lambda data: decode(data.get(root)))

    # -- tickers -----------------------------------------------------------------------

    async def get_ticker(self, exchange: str, symbol: str) -> Ticker | None:
        """The latest ticker of ``symbol`` on ``exchange``, or None."""
        value = await self._field(docs.TICKER, {"exchange": exchange, "symbol": symbol})
        return decode_optional(Ticker, value)

    async def get_all_tickers(self, exchange: str | None = None) -> list[Ticker]:
        """Every ticker of ``exchange``, or of every exchange."""
        return decode_list(Ticker, await self._field(docs.TICKERS, {"exchange": exchange}))

    async def get_any_ticker(self, symbol: str) -> Ticker | None:
        """The freshest ticker of ``symbol`` on any exchange, or None."""
        return decode_optional(Ticker, await self._field(docs.ANY_TICKER, {"symbol": symbol}))

    async def get_exchanges(self) -> list[str]:
        """Exchanges that have tickers."""
        return list(await self._field(docs.EXCHANGES))

    async def get_ticker_time(self, exchange: str, symbol: str) -> datetime | None:
        """When the ticker was last written, or None."""
        value = await self._field(docs.TICKER_TIME, {"exchange": exchange, "symbol": symbol})
        return parse_datetime(value)

    # -- accounts ----------------------------------------------------------------------

    async def get_account(self, ex_id: Id) -> Account | None:
        """An account and its balances, or None."""
        return decode_optional(Account, await self._field(docs.ACCOUNT, {"exId": str(ex_id)}))

    async def get_accounts(self) -> list[Account]:
        """Every account."""
        return decode_list(Account, await self._field(docs.ACCOUNTS))

    async def get_balance(self, ex_id: Id, currency: str) -> Balance | None:
        """One currency of an account, or None."""
        value = await self._field(docs.BALANCE, {"exId": str(ex_id), "currency": currency})
        return decode_optional(Balance, value)

    async def get_positions(self, ex_id: Id) -> list[Position]:
        """The positions of one account."""
        return decode_list(Position, await self._field(docs.POSITIONS, {"exId": str(ex_id)}))

    async def get_position(self, ex_id: Id, symbol: str) -> Position | None:
        """One position of an account, or None."""
        value = await self._field(docs.POSITION, {"exId": str(ex_id), "symbol": symbol})
        return decode_optional(Position, value)

    async def get_all_positions(self) -> list[Position]:
        """Every account's positions."""
        return decode_list(Position, await self._field(docs.ALL_POSITIONS))

    # -- orders ------------------------------------------------------------------------

    async def get_order_status(self, exchange: str, order_id: Id) -> Order | None:
        """One order by its exchange order id (``exchange``: the ``order_status`` key
        suffix, an exchange name or an ex_id), or None."""
        value = await self._field(docs.ORDER, {"exchange": exchange, "orderId": str(order_id)})
        return decode_optional(Order, value)

    async def get_orders(self, exchange: str) -> list[Order]:
        """Every order under an ``order_status`` key."""
        return decode_list(Order, await self._field(docs.ORDERS, {"exchange": exchange}))

    async def get_order_keys(self) -> list[str]:
        """Every ``order_status`` key suffix."""
        return list(await self._field(docs.ORDER_KEYS))

    async def get_open_order_queue(
        self,
        local_oid: Id,
        *,
        first: int | None = None,
        last: int | None = None,
        offset: int = 0,
    ) -> list[str]:
        """A page of the order ids waiting in a local open-order queue, next first (default:
        the first ``LIST_PAGE_DEFAULT``; see :meth:`get_trades` for ``first``/``last``)."""
        variables = {"localOid": str(local_oid), "first": first, "last": last, "offset": offset}
        return list(await self._field(docs.OPEN_ORDER_QUEUE, variables) or ())

    async def get_queue_length(self, local_oid: Id) -> int:
        """Length of a local open-order queue."""
        return int(await self._field(docs.QUEUE_LENGTH, {"localOid": str(local_oid)}))

    # -- trades ------------------------------------------------------------------------

    async def get_trades(
        self,
        symbol: str,
        exchange: str,
        last: int | None = None,
        *,
        first: int | None = None,
        offset: int = 0,
    ) -> list[Trade]:
        """A page of the trades of ``symbol`` on ``exchange`` not yet drained by fullon's
        batcher, oldest first: the newest ``last`` or the oldest ``first`` (after skipping
        ``offset`` from that end); neither: the newest ``LIST_PAGE_DEFAULT`` (100). Argument
        order as in fullon_cache."""
        variables = {
            "exchange": exchange,
            "symbol": symbol,
            "first": first,
            "last": last,
            "offset": offset,
        }
        return decode_list(Trade, await self._field(docs.TRADES, variables))

    async def get_trade_count(self, symbol: str, exchange: str) -> int:
        """How many trades of ``symbol`` on ``exchange`` wait to be drained."""
        variables = {"exchange": exchange, "symbol": symbol}
        return int(await self._field(docs.TRADE_COUNT, variables) or 0)

    async def get_trade_status(self, exchange: str) -> TradeStatus | None:
        """When a trade was last pushed for ``exchange``, or None."""
        value = await self._field(docs.TRADE_STATUS, {"exchange": exchange})
        return decode_optional(TradeStatus, value)

    async def get_trade_statuses(self) -> list[TradeStatus]:
        """Every trade marker."""
        return decode_list(TradeStatus, await self._field(docs.TRADE_STATUSES))

    async def get_user_trades(
        self,
        uid: Id,
        exchange: str,
        last: int | None = None,
        *,
        first: int | None = None,
        offset: int = 0,
    ) -> list[Trade]:
        """A page of a user's unconsumed trades on ``exchange`` (paged as
        :meth:`get_trades`)."""
        variables = {
            "uid": str(uid),
            "exchange": exchange,
            "first": first,
            "last": last,
            "offset": offset,
        }
        return decode_list(Trade, await self._field(docs.USER_TRADES, variables))

    async def get_user_trade_count(self, uid: Id, exchange: str) -> int:
        """How many unconsumed trades a user has on ``exchange``."""
        variables = {"uid": str(uid), "exchange": exchange}
        return int(await self._field(docs.USER_TRADE_COUNT, variables) or 0)

    async def get_user_trade_status(self, key: str) -> TradeStatus | None:
        """A user-trade marker (key e.g. ``binance:1``), or None."""
        value = await self._field(docs.USER_TRADE_STATUS, {"key": key})
        return decode_optional(TradeStatus, value)

    async def get_user_trade_statuses(self) -> list[TradeStatus]:
        """Every user-trade marker."""
        return decode_list(TradeStatus, await self._field(docs.USER_TRADE_STATUSES))

    # -- bots --------------------------------------------------------------------------

    async def get_bots(self) -> list[Bot]:
        """Every bot's status document."""
        return decode_list(Bot, await self._field(docs.BOTS))

    async def get_bot(self, bot_id: Id) -> Bot | None:
        """One bot's status document, or None."""
        return decode_optional(Bot, await self._field(docs.BOT, {"botId": str(bot_id)}))

    async def get_blocks(self) -> list[ExchangeBlock]:
        """Symbols blocked by bots."""
        return decode_list(ExchangeBlock, await self._field(docs.BLOCKS))

    async def is_blocked(self, ex_id: Id, symbol: str) -> str | None:
        """The id of the bot blocking ``symbol`` on account ``ex_id``, or None."""
        value = await self._field(docs.IS_BLOCKED, {"exId": str(ex_id), "symbol": symbol})
        return None if value is None else str(value)

    async def get_opening_positions(self) -> list[OpeningPosition]:
        """Positions bots are opening."""
        return decode_list(OpeningPosition, await self._field(docs.OPENING_POSITIONS))

    async def is_opening_position(self, ex_id: Id, symbol: str) -> bool:
        """Whether a bot is opening a position on ``symbol`` of account ``ex_id``."""
        variables = {"exId": str(ex_id), "symbol": symbol}
        return bool(await self._field(docs.IS_OPENING_POSITION, variables))

    # -- OHLCV -------------------------------------------------------------------------

    async def get_latest_ohlcv_bars(
        self, symbol: str, timeframe: str, count: int = 100
    ) -> list[OhlcvBar]:
        """The newest ``count`` bars of a series, oldest first (``symbol`` exactly as
        stored: ``BTC/USDT`` and ``BTCUSDT`` are different series)."""
        variables = {"symbol": symbol, "timeframe": timeframe, "count": count}
        return decode_list(OhlcvBar, await self._field(docs.OHLCV, variables))

    async def get_ohlcv_series(self) -> list[OhlcvSeries]:
        """Every stored OHLCV series."""
        return decode_list(OhlcvSeries, await self._field(docs.OHLCV_SERIES))

    # -- processes and health ----------------------------------------------------------

    async def get_process(self, process_id: str) -> Process | None:
        """One process by id, or None."""
        value = await self._field(docs.PROCESS, {"processId": process_id})
        return decode_optional(Process, value)

    async def get_active_processes(
        self,
        type: str | None = None,
        component: str | None = None,
        since_minutes: float = 5,
    ) -> list[Process]:
        """Processes active within ``since_minutes``, newest first."""
        variables = {"type": type, "component": component, "sinceMinutes": since_minutes}
        return decode_list(Process, await self._field(docs.ACTIVE_PROCESSES, variables))

    async def get_component_status(self, component: str) -> ComponentStatus | None:
        """The latest process registered for ``component``, or None."""
        value = await self._field(docs.COMPONENT_STATUS, {"component": component})
        return decode_optional(ComponentStatus, value)

    async def get_system_health(self) -> SystemHealth:
        """Health of the fullon processes."""
        return decode_as(SystemHealth, await self._field(docs.SYSTEM_HEALTH))

    async def get_cache_health(self) -> CacheHealth:
        """Health of the Redis cache behind the API (never fails while the API is up)."""
        return decode_as(CacheHealth, await self._field(docs.HEALTH))

    # -- streams -----------------------------------------------------------------------

    def stream_ticker(
        self, exchange: str, symbol: str, min_interval_ms: int | None = None
    ) -> Stream[Ticker | None]:
        """One ticker: its value now (None if absent), then every update (at most one per
        ``min_interval_ms``, the latest, when given)."""
        variables = {"exchange": exchange, "symbol": symbol, "minIntervalMs": min_interval_ms}
        return self._stream(
            docs.STREAM_TICKER, variables, functools.partial(decode_optional, Ticker)
        )

    def stream_tickers(
        self,
        exchange: str | None = None,
        symbols: Sequence[str] | None = None,
        min_interval_ms: int | None = None,
    ) -> Stream[ChangeEvent[Ticker]]:
        """Tickers of one or every exchange (only ``symbols``, when given): a snapshot,
        then the tickers that changed."""
        variables = {
            "exchange": exchange,
            "symbols": list(symbols) if symbols is not None else None,
            "minIntervalMs": min_interval_ms,
        }
        return self._stream(docs.STREAM_TICKERS, variables, functools.partial(decode_event, Ticker))

    def stream_account(self, ex_id: Id) -> Stream[Account | None]:
        """An account and its balances: now, then on every change."""
        return self._stream(
            docs.STREAM_ACCOUNT, {"exId": str(ex_id)}, functools.partial(decode_optional, Account)
        )

    def stream_positions(self, ex_id: Id) -> Stream[ChangeEvent[Position]]:
        """The positions of one account: a snapshot, then changes."""
        return self._stream(
            docs.STREAM_POSITIONS, {"exId": str(ex_id)}, functools.partial(decode_event, Position)
        )

    def stream_orders(self, exchange: str) -> Stream[ChangeEvent[Order]]:
        """Orders under an ``order_status`` key: a snapshot, then changes."""
        return self._stream(
            docs.STREAM_ORDERS, {"exchange": exchange}, functools.partial(decode_event, Order)
        )

    def stream_order_queue(self, local_oid: Id) -> Stream[list[str]]:
        """The order ids of a local open-order queue: now, then on every change."""
        return self._stream(docs.STREAM_ORDER_QUEUE, {"localOid": str(local_oid)}, list)

    def stream_trade_updates(
        self, symbol: str, exchange: str, last: int | None = None
    ) -> Stream[ChangeEvent[Trade]]:
        """Trades of ``symbol`` on ``exchange``: a snapshot of the newest ``last`` (default
        ``LIST_PAGE_DEFAULT``), then trades pushed (UPSERT) or drained (REMOVE). Argument
        order as :meth:`get_trades`."""
        variables = {"exchange": exchange, "symbol": symbol, "last": last}
        return self._stream(docs.STREAM_TRADES, variables, functools.partial(decode_event, Trade))

    def stream_user_trades(
        self, uid: Id, exchange: str, last: int | None = None
    ) -> Stream[ChangeEvent[Trade]]:
        """A user's trades on ``exchange``: a snapshot of the newest ``last``, then changes."""
        variables = {"uid": str(uid), "exchange": exchange, "last": last}
        return self._stream(
            docs.STREAM_USER_TRADES, variables, functools.partial(decode_event, Trade)
        )

    def stream_bot_status(self) -> Stream[ChangeEvent[Bot]]:
        """Bot status documents: a snapshot, then the bots that changed."""
        return self._stream(docs.STREAM_BOTS, None, functools.partial(decode_event, Bot))

    def stream_blocks(self) -> Stream[ChangeEvent[ExchangeBlock]]:
        """Exchange blocks: a snapshot, then blocks set (UPSERT) or lifted (REMOVE)."""
        return self._stream(
            docs.STREAM_BLOCKS, None, functools.partial(decode_event, ExchangeBlock)
        )

    def stream_opening_positions(self) -> Stream[ChangeEvent[OpeningPosition]]:
        """Positions bots are opening: a snapshot, then changes."""
        return self._stream(
            docs.STREAM_OPENING_POSITIONS, None, functools.partial(decode_event, OpeningPosition)
        )

    def stream_ohlcv(
        self, symbol: str, timeframe: str, count: int = 100
    ) -> Stream[ChangeEvent[OhlcvBar]]:
        """The newest ``count`` bars of a series: a snapshot, then bars added or revised."""
        variables = {"symbol": symbol, "timeframe": timeframe, "count": count}
        return self._stream(docs.STREAM_OHLCV, variables, functools.partial(decode_event, OhlcvBar))

    def stream_process_health(
        self,
        type: str | None = None,
        component: str | None = None,
        since_minutes: float = 60,
    ) -> Stream[ChangeEvent[Process]]:
        """Processes active within ``since_minutes``: a snapshot, then processes
        registered, updated (UPSERT) or gone from the window (REMOVE)."""
        variables = {"type": type, "component": component, "sinceMinutes": since_minutes}
        return self._stream(
            docs.STREAM_PROCESSES, variables, functools.partial(decode_event, Process)
        )

    def stream_system_health(self) -> Stream[SystemHealth]:
        """Health of the fullon processes: now, then whenever it changes."""
        return self._stream(
            docs.STREAM_SYSTEM_HEALTH, None, functools.partial(decode_as, SystemHealth)
        )

    def stream_health(self) -> Stream[CacheHealth]:
        """Health of the cache and of the live feed: now, then within seconds of any change
        (feed down or back, a stream failing or recovering, the change detection mode)."""
        return self._stream(docs.STREAM_HEALTH, None, functools.partial(decode_as, CacheHealth))

    def stream_process_broadcasts(self, type: str) -> Stream[ProcessBroadcast]:
        """Messages published for processes of ``type`` (no snapshot: only new ones)."""
        return self._stream(
            docs.STREAM_PROCESS_BROADCASTS,
            {"type": type},
            functools.partial(decode_as, ProcessBroadcast),
        )


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
