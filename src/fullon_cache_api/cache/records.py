"""Decoded records: what the data layer hands to the rest of the product.

Each record is declared once, here: its fields, their types and their documentation (the
class docstring and each field's ``doc``). The GraphQL object types are derived from these
declarations (:mod:`fullon_cache_api.schema.types`), so resolvers return records as they
are, and the codecs' sets of known stored keys are derived from them too. Every optional
value may be ``None``: fullon_cache's shapes are open.

Times are aware UTC datetimes. Ids are strings: fullon_cache stores them as strings or ints,
and some (Kraken's ``OQCLML-BW3P3-BUCMWZ``) are not numbers at all.
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field
from datetime import datetime
from typing import Any


def doc(text: str, *, stored: str | bool = True, **options: Any) -> Any:
    """A dataclass field with its documentation (``options``: ``default``, ...).

    ``stored`` says where the codecs read it in a stored JSON object: under the field's own
    name (``True``), under another key (a string), or nowhere (``False``: the key name, the
    hash field or a computation gives it)."""
    return field(metadata={"doc": text, "stored": stored}, **options)


def stored_key(item: Field[Any]) -> str | None:
    """The key a field is read from in a stored JSON object, or ``None``."""
    where = item.metadata.get("stored", True)
    if where is True:
        return item.name
    return where or None


EXTRA_DOC = "Stored keys not listed above, as they are."


@dataclass(slots=True)
class TickerRecord:
    """The latest ticker of one symbol on one exchange (`tickers:{exchange}`)."""

    exchange: str = doc("Exchange name, as in `tickers:{exchange}`.", stored=False)
    symbol: str = doc(
        "Unified symbol; may contain `:` (futures, e.g. `BTC/USDT:USDT`).", stored=False
    )
    price: float | None = doc("Last price.")
    volume: float | None = doc("Traded volume, as the exchange reports it.")
    time: datetime | None = doc("Exchange time of the tick.")
    bid: float | None = doc("Best bid.")
    ask: float | None = doc("Best ask.")
    last: float | None = doc("Last trade price.")


@dataclass(slots=True)
class BalanceRecord:
    """One currency of an account. ccxt-style accounts fill free/used/total; others fill
    balance/available. Unknown keys are in `extra`."""

    currency: str = doc("Currency code, as stored (e.g. `USDT`).", stored=False)
    free: float | None = doc("Available to trade (ccxt style).", default=None)
    used: float | None = doc("Held in open orders (ccxt style).", default=None)
    total: float | None = doc("free + used (ccxt style); a bare stored number.", default=None)
    balance: float | None = doc("Balance (balance/available style).", default=None)
    available: float | None = doc("Available (balance/available style).", default=None)
    extra: dict[str, Any] | None = doc(EXTRA_DOC, default=None, stored=False)


@dataclass(slots=True)
class AccountRecord:
    """An exchange account (`accounts` hash, keyed by ex_id) and its balances."""

    ex_id: str = doc("User-exchange id: the `accounts` hash field.")
    date: datetime | None = doc("When fullon last wrote the account.")
    balances: list[BalanceRecord] = doc(
        "One entry per currency, by currency code.", default_factory=list
    )


@dataclass(slots=True)
class PositionRecord:
    """An open position (`account_positions`, per ex_id and symbol)."""

    ex_id: str = doc("User-exchange id: the `account_positions` hash field.", stored=False)
    symbol: str = doc("Unified symbol.", stored=False)
    cost: float | None = doc("Cost of the position.")
    volume: float | None = doc("Position size; negative for shorts.")
    fee: float | None = doc("Fees paid.")
    count: float | None = doc("Count as stored by fullon (probably trades).")
    price: float | None = doc("Average entry price.")
    timestamp: datetime | None = doc(
        "The symbol's own time, else the account entry's root `timestamp`.", stored=False
    )


@dataclass(slots=True)
class OrderRecord:
    """An order in `order_status:{key}`."""

    key: str = doc("The `order_status` key suffix: an exchange name or an ex_id.", stored=False)
    order_id: str = doc("The hash field: the authoritative exchange order id.", stored=False)
    stored_order_id: str | None = doc(
        "`order_id` as stored: the same id, or a numeric DB id after update_order.",
        stored="order_id",
    )
    ex_order_id: str | None = doc("Exchange order id as stored (may be null).")
    exchange: str | None = doc("Exchange name.")
    symbol: str | None = doc("Unified symbol.")
    order_type: str | None = doc("e.g. `limit`, `market`.")
    side: str | None = doc("`buy` or `sell`.")
    status: str | None = doc(
        "e.g. `open`, `filled`, `canceled` (which puts a 1 h TTL on the whole hash)."
    )
    command: str | None = doc("The bot command that placed it.")
    reason: str | None = doc("Why the bot placed it.")
    volume: float | None = doc("Requested volume.")
    final_volume: float | None = doc("Filled volume.")
    price: float | None = doc("Limit price.")
    plimit: float | None = doc("Price limit.")
    leverage: float | None = doc("Leverage.")
    tick: float | None = doc("Tick size.")
    futures: bool | None = doc("Whether it is a futures order.")
    bot_id: str | None = doc("Bot that owns the order.")
    uid: str | None = doc("User id.")
    ex_id: str | None = doc("User-exchange id.")
    cat_ex_id: str | None = doc("Catalog exchange id.")
    timestamp: datetime | None = doc(
        "When the cache last wrote the order (fullon_cache overwrites the order's own time)."
    )
    extra: dict[str, Any] | None = doc(EXTRA_DOC, stored=False)


@dataclass(slots=True)
class TradeRecord:
    """A trade in `trades:*` or `user_trades:*`."""

    trade_id: str | None = doc("fullon's trade id.")
    ex_trade_id: str | None = doc("Exchange trade id.")
    ex_order_id: str | None = doc("Exchange order id of the trade.")
    uid: str | None = doc("User id.")
    ex_id: str | None = doc("User-exchange id.")
    symbol: str | None = doc("Unified symbol, with `/` (the list key strips it).")
    order_type: str | None = doc("e.g. `limit`, `market`.")
    side: str | None = doc("`buy` or `sell`.")
    volume: float | None = doc("Traded volume.")
    price: float | None = doc("Trade price.")
    cost: float | None = doc("volume times price.")
    fee: float | None = doc("Fee paid.")
    cur_volume: float | None = doc("Position volume after the trade.")
    cur_avg_price: float | None = doc("Average position price after the trade.")
    cur_avg_cost: float | None = doc("Average position cost after the trade.")
    cur_fee: float | None = doc("Position fees after the trade.")
    roi: float | None = doc("Return on investment of a closing trade.")
    roi_pct: float | None = doc("roi as a percentage.")
    total_fee: float | None = doc("Total fees of the position.")
    leverage: float | None = doc("Leverage.")
    time: datetime | None = doc("Trade time (stored as epoch seconds or ISO).")
    extra: dict[str, Any] | None = doc(EXTRA_DOC, stored=False)


@dataclass(slots=True)
class TradeStatusRecord:
    """A last-trade marker (`TRADE:STATUS:*` or `USER_TRADE:STATUS:*`)."""

    key: str = doc("The exchange (or user key) the marker is for.")
    timestamp: datetime | None = doc("When a trade was last pushed.")


@dataclass(slots=True)
class BotRecord:
    """A bot's status document (`bot_status`), free-form."""

    bot_id: str = doc("Bot id: the `bot_status` hash field.")
    data: dict[str, Any] = doc("The stored document as it is.")
    status: str | None = doc("Top-level `status`, else the first feed's status.")
    updated_at: datetime | None = doc("Top-level `timestamp`, else the newest feed timestamp.")


@dataclass(slots=True)
class ExchangeBlockRecord:
    """A symbol blocked by a bot (`block_exchange`)."""

    ex_id: str = doc("User-exchange id (or exchange name, as the bot wrote it).")
    symbol: str = doc("Unified symbol.")
    bot_id: str = doc("The bot holding the block.")


@dataclass(slots=True)
class OpeningPositionRecord:
    """A position a bot is opening (`opening_position`)."""

    ex_id: str = doc("User-exchange id (or exchange name, as the bot wrote it).")
    symbol: str = doc("Unified symbol.")
    bot_id: str | None = doc("The bot opening the position.")
    since: datetime | None = doc("When the bot marked it.")


@dataclass(slots=True)
class OhlcvBarRecord:
    """One OHLCV bar."""

    timestamp: datetime = doc("Start of the bar (stored as epoch ms or s).")
    open: float | None = doc("Open price.")
    high: float | None = doc("High price.")
    low: float | None = doc("Low price.")
    close: float | None = doc("Close price (the latest price while the bar forms).")
    volume: float | None = doc("Volume.")


@dataclass(slots=True)
class OhlcvSeriesRecord:
    """A stored OHLCV series (`ohlcv:{symbol}:{timeframe}`)."""

    symbol: str = doc("Symbol exactly as stored: `BTC/USDT` and `BTCUSDT` are different series.")
    timeframe: str = doc("e.g. `1m`, `1h`.")
    bars: int = doc("Stored items, duplicates (revised bars) included.")


@dataclass(slots=True)
class ProcessRecord:
    """A registered fullon process (`process:data:{id}`)."""

    process_id: str = doc("`{type}:{component}:{epoch}`.")
    process_type: str | None = doc("e.g. `tick`, `ohlcv`, `bot`.")
    component: str | None = doc("What the process works on, e.g. `kraken:BTC/USD`.")
    params: dict[str, Any] | None = doc("Parameters, as stored.")
    status: str | None = doc("e.g. `running`, `idle`, `error`, `stopped`.")
    message: str | None = doc("Last status message.")
    created_at: datetime | None = doc("When the process registered.")
    updated_at: datetime | None = doc("When it last updated.")
    heartbeat: datetime | None = doc("Its last heartbeat.")
    last_active: datetime | None = doc("Time recorded in `process:active:{type}`.", stored=False)
    heartbeat_stale: bool = doc(
        "No heartbeat (else update) within PROCESS_STALE_SECONDS; computed, not stored.",
        stored=False,
    )


@dataclass(slots=True)
class ComponentStatusRecord:
    """The latest process registered for a component (`process:components`)."""

    component: str = doc("The component.")
    process_id: str | None = doc("Its latest process id.")
    process: ProcessRecord | None = doc("That process, unless its data expired.")


@dataclass(slots=True)
class CountRecord:
    """A count per key."""

    key: str = doc("What is counted.")
    count: int = doc("How many.")


@dataclass(slots=True)
class SystemHealthRecord:
    """Health of the fullon processes active in the last hour."""

    healthy: bool = doc("No process in error and none with a stale heartbeat.")
    total_processes: int = doc("Processes active in the last hour.")
    by_type: list[CountRecord] = doc("Processes per type.")
    by_status: list[CountRecord] = doc("Processes per status.")
    stale_processes: list[ProcessRecord] = doc("Processes whose heartbeat is stale.")
    error_processes: list[ProcessRecord] = doc("Processes in error.")
    checked_at: datetime = doc("When this was computed.", compare=False)


@dataclass(slots=True)
class ProcessMetricsRecord:
    """How many processes the cache holds: fullon_cache's `ProcessCache.get_metrics()`."""

    active_processes: int = doc(
        "Ids in the `process:active:{type}` hashes, dangling ones included "
        "(fullon_cache's `active_processes`)."
    )
    by_type: list[CountRecord] = doc(
        "Ids per process type, for each `process:active:{type}` hash "
        "(fullon_cache's `active_{type}`)."
    )
    components: int | None = doc(
        "Components with a latest process (`process:components`); null, with a "
        "`CORRUPT_DATA` error, when that key holds the wrong Redis type."
    )
    total_processes: int = doc(
        "Process records (`process:data:*` keys, counted by SCAN); each expires 24 h after "
        "its last update."
    )


@dataclass(slots=True)
class CacheHealthRecord:
    """Health of the Redis cache this API reads."""

    reachable: bool = doc("Redis answered a PING.")
    latency_ms: float | None = doc("PING round trip in milliseconds.")
    redis_version: str | None = doc("Redis server version.")
    role: str | None = doc("`master` or `slave` (a replica).")
    used_memory_bytes: float | None = doc("Redis `used_memory`.")
    connected_clients: int | None = doc("Redis `connected_clients`.")
    keyspace_events: str | None = doc(
        "`notify-keyspace-events`, when the API's Redis user may read it."
    )
    error: str | None = doc("Why Redis is unreachable.")
    server_version: str = doc("The version of the fullon_cache_api server answering.")
    change_detection: str | None = doc(
        "How changes that Redis does not publish are noticed now: `keyspace` (notifications) "
        "or `poll`.",
        default=None,
        stored=False,
    )
    feed_connected: bool | None = doc(
        "Whether the pub/sub feed that carries live changes is connected.",
        default=None,
        stored=False,
    )
    failing_topics: list[str] = doc(
        "Live streams that cannot read the cache now (their subscribers got an error).",
        default_factory=list,
        stored=False,
    )
    last_message_at: datetime | None = doc(
        "When the last pub/sub message arrived.", default=None, stored=False
    )
