"""fullon_cache 0.5.11 key and channel names (layout document §2 and §5).

Keys whose last part is a symbol are split with a bounded split: the symbol is *the rest*,
because ccxt futures symbols contain ``:`` (``BTC/USDT:USDT``).
"""

from __future__ import annotations

# Hashes and strings.
TICKERS_PREFIX = "tickers:"
TICKER_TIME_PREFIX = "ticker_time:"
ACCOUNTS = "accounts"
ACCOUNT_POSITIONS = "account_positions"
OPEN_ORDERS_PREFIX = "new_orders:"
ORDER_STATUS_PREFIX = "order_status:"
TRADES_PREFIX = "trades:"
TRADE_STATUS_PREFIX = "TRADE:STATUS:"
USER_TRADES_PREFIX = "user_trades:"
USER_TRADE_STATUS_PREFIX = "USER_TRADE:STATUS:"
BLOCK_EXCHANGE = "block_exchange"
OPENING_POSITION = "opening_position"
BOT_STATUS = "bot_status"
OHLCV_PREFIX = "ohlcv:"
PROCESS_DATA_PREFIX = "process:data:"
PROCESS_ACTIVE_PREFIX = "process:active:"
PROCESS_COMPONENTS = "process:components"

# Pub/sub channels (never prefixed).
TICKER_CHANNEL_PREFIX = "ticker_updates:"
PROCESS_BROADCAST_PREFIX = "process:broadcast:"


def tickers(exchange: str) -> str:
    return f"{TICKERS_PREFIX}{exchange}"


def ticker_time(exchange: str, symbol: str) -> str:
    return f"{TICKER_TIME_PREFIX}{exchange}:{symbol}"


def ticker_channel(exchange: str, symbol: str) -> str:
    return f"{TICKER_CHANNEL_PREFIX}{exchange}:{symbol}"


def ticker_channel_pattern(exchange: str | None = None) -> str:
    return f"{TICKER_CHANNEL_PREFIX}{exchange}:*" if exchange else f"{TICKER_CHANNEL_PREFIX}*"


def open_orders(local_oid: str) -> str:
    return f"{OPEN_ORDERS_PREFIX}{local_oid}"


def order_status(exchange_or_ex_id: str) -> str:
    return f"{ORDER_STATUS_PREFIX}{exchange_or_ex_id}"


def trades(exchange: str, symbol: str) -> str:
    # fullon_cache strips "/" and nothing else, so BTC/USDT and BTCUSDT share a key.
    return f"{TRADES_PREFIX}{exchange}:{symbol.replace('/', '')}"


def trades_pattern(exchange: str) -> str:
    """Every symbol's trades list of ``exchange`` (a SCAN/PSUBSCRIBE pattern)."""
    return f"{TRADES_PREFIX}{exchange}:*"


def trade_status(exchange: str) -> str:
    return f"{TRADE_STATUS_PREFIX}{exchange}"


def user_trades(uid: str, exchange: str) -> str:
    return f"{USER_TRADES_PREFIX}{uid}:{exchange}"


def user_trade_status(key: str) -> str:
    return f"{USER_TRADE_STATUS_PREFIX}{key}"


def ohlcv(symbol: str, timeframe: str) -> str:
    return f"{OHLCV_PREFIX}{symbol}:{timeframe}"


def process_data(process_id: str) -> str:
    return f"{PROCESS_DATA_PREFIX}{process_id}"


def process_active(process_type: str) -> str:
    return f"{PROCESS_ACTIVE_PREFIX}{process_type}"


def process_broadcast(process_type: str) -> str:
    return f"{PROCESS_BROADCAST_PREFIX}{process_type}"


def pair_field(ex_id: str, symbol: str) -> str:
    """The ``{ex_id}:{symbol}`` field of ``block_exchange`` and ``opening_position``."""
    return f"{ex_id}:{symbol}"


def split_pair_field(field: str) -> tuple[str, str] | None:
    """``"7:BTC/USDT:USDT"`` → ``("7", "BTC/USDT:USDT")``: split on the first ``:`` only."""
    ex_id, sep, symbol = field.partition(":")
    return (ex_id, symbol) if sep and ex_id and symbol else None


def split_ticker_channel(channel: str) -> tuple[str, str] | None:
    """``ticker_updates:{exchange}:{symbol}`` → ``(exchange, symbol)``."""
    if not channel.startswith(TICKER_CHANNEL_PREFIX):
        return None
    return split_pair_field(channel[len(TICKER_CHANNEL_PREFIX) :])


def split_ohlcv(key: str) -> tuple[str, str] | None:
    """``ohlcv:{symbol}:{timeframe}`` → ``(symbol, timeframe)``: the timeframe is the last part."""
    if not key.startswith(OHLCV_PREFIX):
        return None
    symbol, sep, timeframe = key[len(OHLCV_PREFIX) :].rpartition(":")
    return (symbol, timeframe) if sep and symbol and timeframe else None


def split_process_id(process_id: str) -> tuple[str, str, str] | None:
    """``{type}:{component}:{epoch}`` → parts; the component may itself contain ``:``."""
    process_type, sep, rest = process_id.partition(":")
    component, sep2, epoch = rest.rpartition(":")
    if not (sep and sep2 and process_type and component):
        return None
    return process_type, component, epoch
