"""Every GraphQL document the client sends. Each selects all fields of its result type
(through the fragments below), so the typed results are complete.

The documents are plain strings: copy them into GraphiQL, or pass them (or your own) to
``api.execute`` / ``api.subscribe``.
"""

from __future__ import annotations

import re

# --------------------------------------------------------------------------- fragments

FRAGMENTS: dict[str, str] = {
    "TickerFields": """fragment TickerFields on Ticker {
  exchange symbol price volume time bid ask last spread spreadPercentage
}""",
    "BalanceFields": """fragment BalanceFields on Balance {
  currency free used total balance available extra
}""",
    "AccountFields": """fragment AccountFields on Account {
  exId date balances { ...BalanceFields }
}""",
    "PositionFields": """fragment PositionFields on Position {
  exId symbol cost volume fee count price timestamp
}""",
    "OrderFields": """fragment OrderFields on Order {
  key orderId storedOrderId exOrderId exchange symbol orderType side status command reason
  volume finalVolume price plimit leverage tick futures botId uid exId catExId timestamp extra
}""",
    "TradeFields": """fragment TradeFields on Trade {
  tradeId exTradeId exOrderId uid exId symbol orderType side volume price cost fee
  curVolume curAvgPrice curAvgCost curFee roi roiPct totalFee leverage time extra
}""",
    "TradeStatusFields": """fragment TradeStatusFields on TradeStatus { key timestamp }""",
    "BotFields": """fragment BotFields on Bot { botId data status updatedAt }""",
    "ExchangeBlockFields": """fragment ExchangeBlockFields on ExchangeBlock {
  exId symbol botId
}""",
    "OpeningPositionFields": """fragment OpeningPositionFields on OpeningPosition {
  exId symbol botId since
}""",
    "OhlcvBarFields": """fragment OhlcvBarFields on OhlcvBar {
  timestamp open high low close volume
}""",
    "OhlcvSeriesFields": """fragment OhlcvSeriesFields on OhlcvSeries { symbol timeframe bars }""",
    "ProcessFields": """fragment ProcessFields on Process {
  processId processType component params status message createdAt updatedAt heartbeat
  lastActive heartbeatStale
}""",
    "ComponentStatusFields": """fragment ComponentStatusFields on ComponentStatus {
  component processId process { ...ProcessFields }
}""",
    "SystemHealthFields": """fragment SystemHealthFields on SystemHealth {
  healthy totalProcesses checkedAt
  byType { key count }
  byStatus { key count }
  staleProcesses { ...ProcessFields }
  errorProcesses { ...ProcessFields }
}""",
    "CacheHealthFields": """fragment CacheHealthFields on CacheHealth {
  reachable latencyMs redisVersion role usedMemoryBytes connectedClients keyspaceEvents error
  changeDetection feedConnected failingTopics lastMessageAt
}""",
    "ProcessBroadcastFields": """fragment ProcessBroadcastFields on ProcessBroadcast {
  processType message data timestamp
}""",
}

_SPREAD = re.compile(r"\.\.\.(\w+)")


def document(operation: str) -> str:
    """``operation`` followed by every fragment it uses, directly or not."""
    needed: list[str] = []
    pending = _SPREAD.findall(operation)
    while pending:
        name = pending.pop(0)
        if name in needed:
            continue
        needed.append(name)
        pending.extend(_SPREAD.findall(FRAGMENTS[name]))
    return "\n".join([operation.strip(), *(FRAGMENTS[name] for name in needed)])


# --------------------------------------------------------------------------- queries

PING = "query Ping { __typename }"

TICKER = document("""
query Ticker($exchange: String!, $symbol: String!) {
  ticker(exchange: $exchange, symbol: $symbol) { ...TickerFields }
}""")
TICKERS = document("""
query Tickers($exchange: String) { tickers(exchange: $exchange) { ...TickerFields } }""")
ANY_TICKER = document("""
query AnyTicker($symbol: String!) { anyTicker(symbol: $symbol) { ...TickerFields } }""")
EXCHANGES = "query Exchanges { exchanges }"
TICKER_TIME = """
query TickerTime($exchange: String!, $symbol: String!) {
  tickerTime(exchange: $exchange, symbol: $symbol)
}""".strip()

ACCOUNT = document("""
query Account($exId: String!) { account(exId: $exId) { ...AccountFields } }""")
ACCOUNTS = document("query Accounts { accounts { ...AccountFields } }")
BALANCE = document("""
query Balance($exId: String!, $currency: String!) {
  balance(exId: $exId, currency: $currency) { ...BalanceFields }
}""")
POSITIONS = document("""
query Positions($exId: String!) { positions(exId: $exId) { ...PositionFields } }""")
POSITION = document("""
query Position($exId: String!, $symbol: String!) {
  position(exId: $exId, symbol: $symbol) { ...PositionFields }
}""")
ALL_POSITIONS = document("query AllPositions { allPositions { ...PositionFields } }")

ORDER = document("""
query Order($exchange: String!, $orderId: String!) {
  order(exchange: $exchange, orderId: $orderId) { ...OrderFields }
}""")
ORDERS = document("""
query Orders($exchange: String!) { orders(exchange: $exchange) { ...OrderFields } }""")
ORDER_KEYS = "query OrderKeys { orderKeys }"
OPEN_ORDER_QUEUE = """
query OpenOrderQueue($localOid: String!, $first: Int, $last: Int, $offset: Int = 0) {
  openOrderQueue(localOid: $localOid, first: $first, last: $last, offset: $offset)
}""".strip()
QUEUE_LENGTH = """
query QueueLength($localOid: String!) { queueLength(localOid: $localOid) }""".strip()

TRADES = document("""
query Trades($exchange: String!, $symbol: String!, $first: Int, $last: Int, $offset: Int = 0) {
  trades(exchange: $exchange, symbol: $symbol, first: $first, last: $last, offset: $offset) {
    ...TradeFields
  }
}""")
TRADE_COUNT = """
query TradeCount($exchange: String!, $symbol: String!) {
  tradeCount(exchange: $exchange, symbol: $symbol)
}""".strip()
TRADE_STATUS = document("""
query TradeStatus($exchange: String!) {
  tradeStatus(exchange: $exchange) { ...TradeStatusFields }
}""")
TRADE_STATUSES = document("query TradeStatuses { tradeStatuses { ...TradeStatusFields } }")
USER_TRADES = document("""
query UserTrades($uid: String!, $exchange: String!, $first: Int, $last: Int, $offset: Int = 0) {
  userTrades(uid: $uid, exchange: $exchange, first: $first, last: $last, offset: $offset) {
    ...TradeFields
  }
}""")
USER_TRADE_COUNT = """
query UserTradeCount($uid: String!, $exchange: String!) {
  userTradeCount(uid: $uid, exchange: $exchange)
}""".strip()
USER_TRADE_STATUS = document("""
query UserTradeStatus($key: String!) { userTradeStatus(key: $key) { ...TradeStatusFields } }""")
USER_TRADE_STATUSES = document(
    "query UserTradeStatuses { userTradeStatuses { ...TradeStatusFields } }"
)

BOTS = document("query Bots { bots { ...BotFields } }")
BOT = document("query Bot($botId: String!) { bot(botId: $botId) { ...BotFields } }")
BLOCKS = document("query Blocks { blocks { ...ExchangeBlockFields } }")
IS_BLOCKED = """
query IsBlocked($exId: String!, $symbol: String!) { isBlocked(exId: $exId, symbol: $symbol) }
""".strip()
OPENING_POSITIONS = document(
    "query OpeningPositions { openingPositions { ...OpeningPositionFields } }"
)
IS_OPENING_POSITION = """
query IsOpeningPosition($exId: String!, $symbol: String!) {
  isOpeningPosition(exId: $exId, symbol: $symbol)
}""".strip()

OHLCV = document("""
query Ohlcv($symbol: String!, $timeframe: String!, $count: Int!) {
  ohlcv(symbol: $symbol, timeframe: $timeframe, count: $count) { ...OhlcvBarFields }
}""")
OHLCV_SERIES = document("query OhlcvSeries { ohlcvSeries { ...OhlcvSeriesFields } }")

PROCESS = document("""
query Process($processId: String!) { process(processId: $processId) { ...ProcessFields } }""")
ACTIVE_PROCESSES = document("""
query ActiveProcesses($type: String, $component: String, $sinceMinutes: Float!) {
  activeProcesses(type: $type, component: $component, sinceMinutes: $sinceMinutes) {
    ...ProcessFields
  }
}""")
COMPONENT_STATUS = document("""
query ComponentStatus($component: String!) {
  componentStatus(component: $component) { ...ComponentStatusFields }
}""")
SYSTEM_HEALTH = document("query SystemHealth { systemHealth { ...SystemHealthFields } }")
HEALTH = document("query Health { health { ...CacheHealthFields } }")

# --------------------------------------------------------------------------- subscriptions

STREAM_TICKER = document("""
subscription TickerStream($exchange: String!, $symbol: String!, $minIntervalMs: Int) {
  ticker(exchange: $exchange, symbol: $symbol, minIntervalMs: $minIntervalMs) {
    ...TickerFields
  }
}""")
STREAM_TICKERS = document("""
subscription TickersStream($exchange: String, $symbols: [String!], $minIntervalMs: Int) {
  tickers(exchange: $exchange, symbols: $symbols, minIntervalMs: $minIntervalMs) {
    kind items { ...TickerFields }
  }
}""")
STREAM_ACCOUNT = document("""
subscription AccountStream($exId: String!) { account(exId: $exId) { ...AccountFields } }""")
STREAM_POSITIONS = document("""
subscription PositionsStream($exId: String!) {
  positions(exId: $exId) { kind items { ...PositionFields } }
}""")
STREAM_ORDERS = document("""
subscription OrdersStream($exchange: String!) {
  orders(exchange: $exchange) { kind items { ...OrderFields } }
}""")
STREAM_ORDER_QUEUE = """
subscription OrderQueueStream($localOid: String!) { openOrderQueue(localOid: $localOid) }
""".strip()
STREAM_TRADES = document("""
subscription TradesStream($exchange: String!, $symbol: String!, $last: Int) {
  trades(exchange: $exchange, symbol: $symbol, last: $last) { kind items { ...TradeFields } }
}""")
STREAM_USER_TRADES = document("""
subscription UserTradesStream($uid: String!, $exchange: String!, $last: Int) {
  userTrades(uid: $uid, exchange: $exchange, last: $last) { kind items { ...TradeFields } }
}""")
STREAM_BOTS = document("subscription BotsStream { bots { kind items { ...BotFields } } }")
STREAM_BLOCKS = document(
    "subscription BlocksStream { blocks { kind items { ...ExchangeBlockFields } } }"
)
STREAM_OPENING_POSITIONS = document("""
subscription OpeningPositionsStream {
  openingPositions { kind items { ...OpeningPositionFields } }
}""")
STREAM_OHLCV = document("""
subscription OhlcvStream($symbol: String!, $timeframe: String!, $count: Int!) {
  ohlcv(symbol: $symbol, timeframe: $timeframe, count: $count) {
    kind items { ...OhlcvBarFields }
  }
}""")
STREAM_PROCESSES = document("""
subscription ProcessesStream($type: String, $component: String, $sinceMinutes: Float!) {
  processes(type: $type, component: $component, sinceMinutes: $sinceMinutes) {
    kind items { ...ProcessFields }
  }
}""")
STREAM_SYSTEM_HEALTH = document(
    "subscription SystemHealthStream { systemHealth { ...SystemHealthFields } }"
)
STREAM_HEALTH = document("subscription HealthStream { health { ...CacheHealthFields } }")
STREAM_PROCESS_BROADCASTS = document("""
subscription ProcessBroadcastsStream($type: String!) {
  processBroadcasts(type: $type) { ...ProcessBroadcastFields }
}""")
