"""Change signals of fullon_cache's keys (layout §5): pub/sub channels and keyspace channels.

Kept in the data-access package because it is the only code that knows key names.
"""

from __future__ import annotations

from fullon_cache_api.cache import keys

# notify-keyspace-events classes the live layer needs: K (keyspace channel), g (del, expire),
# $ (strings), h (hashes), l (lists), x (expired).
REQUIRED_KEYSPACE_CLASSES = "g$hlx"
KEYSPACE_ENABLE_FLAGS = "Kg$hlx"


def keyspace_supported(flags: str | None) -> bool:
    """Whether ``notify-keyspace-events`` publishes every event the live layer relies on."""
    if not flags or "K" not in flags:
        return False
    classes = flags.replace("A", "g$lshzxe")
    return all(flag in classes for flag in REQUIRED_KEYSPACE_CLASSES)


def merged_keyspace_flags(current: str | None) -> str:
    """``current`` plus what the live layer needs, for an operator-enabled CONFIG SET."""
    merged = dict.fromkeys(current or "")
    merged.update(dict.fromkeys(KEYSPACE_ENABLE_FLAGS))
    return "".join(merged)


def keyspace_channel(db: int, key: str) -> str:
    return f"__keyspace@{db}__:{key}"


# Pub/sub data feeds.
ticker_channel = keys.ticker_channel
ticker_pattern = keys.ticker_channel_pattern
process_broadcast_channel = keys.process_broadcast

# Keys (or key patterns) whose keyspace events mean "this domain changed".
ACCOUNTS = keys.ACCOUNTS
POSITIONS = keys.ACCOUNT_POSITIONS
BOTS = keys.BOT_STATUS
BLOCKS = keys.BLOCK_EXCHANGE
OPENING_POSITIONS = keys.OPENING_POSITION
PROCESSES = f"{keys.PROCESS_ACTIVE_PREFIX}*"
orders = keys.order_status
open_orders = keys.open_orders
trades = keys.trades
trades_pattern = keys.trades_pattern
user_trades = keys.user_trades
ohlcv = keys.ohlcv
tickers = keys.tickers
