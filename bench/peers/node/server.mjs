#!/usr/bin/env node
// The Node.js reference peer of bench/: what a team would write instead of fullon_cache_api
// for the benchmarks' ticker reads. graphql-js schema (SDL + root resolvers), graphql-ws over
// ws for graphql-transport-ws, graphql-http for GraphQL over HTTP, ioredis for reads and
// graphql-redis-subscriptions (RedisPubSub) for the live updates. See README.md.
//
//   node server.mjs --redis-url redis://127.0.0.1:6379/0 --port 8000 [--document-cache]
//
// --document-cache: parsed and validated documents are kept by query text (graphql-ws's
// and graphql-http's `onSubscribe` return the ready ExecutionArgs), so a repeated query
// skips parse and validate. Without it, every operation is parsed and validated, which is
// what both libraries do by default.

import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

import { buildSchema, GraphQLError, parse, validate } from 'graphql';
import { createHandler } from 'graphql-http/lib/use/http';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { useServer } from 'graphql-ws/use/ws';
import { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';

const { values: options } = parseArgs({
  options: {
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379/0' },
    port: { type: 'string', default: '8000' },
    host: { type: 'string', default: '127.0.0.1' },
    path: { type: 'string', default: '/graphql' },
    'document-cache': { type: 'boolean', default: process.env.PEER_DOCUMENT_CACHE === '1' },
    'document-cache-size': { type: 'string', default: '1000' },
    'per-message-deflate': { type: 'boolean', default: false },
  },
});

// ---------------------------------------------------------------------------------------
// Schema: the fields the benchmarks use, with the product's types (schema.graphql).
// ---------------------------------------------------------------------------------------

const schema = buildSchema(/* GraphQL */ `
  scalar DateTime

  enum ChangeKind {
    REMOVE
    SNAPSHOT
    UPSERT
  }

  "The latest ticker of one symbol on one exchange."
  type Ticker {
    ask: Float
    bid: Float
    exchange: String!
    last: Float
    price: Float
    spread: Float
    spreadPercentage: Float
    symbol: String!
    time: DateTime
    volume: Float
  }

  "Tickers that changed."
  type TickersEvent {
    items: [Ticker!]!
    kind: ChangeKind!
  }

  type Query {
    ticker(exchange: String!, symbol: String!): Ticker
    tickers(exchange: String = null): [Ticker!]!
  }

  type Subscription {
    ticker(exchange: String!, symbol: String!): Ticker
    tickers(exchange: String = null, symbols: [String!] = null): TickersEvent!
  }
`);

// ---------------------------------------------------------------------------------------
// Decoding what fullon_cache stores (JSON in `tickers:{exchange}`, same JSON published on
// `ticker_updates:{exchange}:{symbol}`), as the product does: finite floats, times as UTC
// ISO-8601 with microseconds (Python's `datetime.isoformat()`).
// ---------------------------------------------------------------------------------------

const MS_THRESHOLD = 1e11; // epoch values this large are milliseconds
const MAX_EPOCH_S = 253402300799; // 9999-12-31T23:59:59Z
const MIN_EPOCH_S = -62135596800; // 0001-01-01T00:00:00Z

function toFloat(value) {
  let number;
  if (typeof value === 'number') number = value;
  else if (typeof value === 'string' && value.trim() !== '') number = Number(value);
  else return null;
  return Number.isFinite(number) ? number : null;
}

function roundHalfEven(value) {
  const rounded = Math.round(value);
  return Math.abs(value % 1) === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

function isoFromEpoch(value) {
  if (!Number.isFinite(value)) return null;
  const seconds = Math.abs(value) >= MS_THRESHOLD ? value / 1000 : value;
  if (seconds < MIN_EPOCH_S || seconds > MAX_EPOCH_S) return null;
  let whole = Math.floor(seconds);
  let micros = roundHalfEven((seconds - whole) * 1e6);
  if (micros >= 1e6) {
    whole += 1;
    micros -= 1e6;
  }
  const base = new Date(whole * 1000).toISOString().slice(0, 19);
  return micros ? `${base}.${String(micros).padStart(6, '0')}+00:00` : `${base}+00:00`;
}

function toTime(value) {
  if (typeof value === 'number') return isoFromEpoch(value);
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (text === '' || text === 'None') return null;
  const number = Number(text);
  if (Number.isFinite(number)) return isoFromEpoch(number);
  const parsed = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
  return Number.isNaN(parsed) ? null : isoFromEpoch(parsed / 1000);
}

class Ticker {
  constructor(exchange, symbol, tick) {
    this.exchange = exchange; // the key's names win over the JSON's own, as in fullon_cache
    this.symbol = symbol;
    this.price = toFloat(tick.price);
    this.volume = toFloat(tick.volume);
    this.time = toTime(tick.time);
    this.bid = toFloat(tick.bid);
    this.ask = toFloat(tick.ask);
    this.last = toFloat(tick.last);
  }

  spread() {
    return this.ask === null || this.bid === null ? null : this.ask - this.bid;
  }

  spreadPercentage() {
    if (this.ask === null || this.bid === null) return null;
    const mid = (this.ask + this.bid) / 2;
    return mid ? ((this.ask - this.bid) / mid) * 100 : null;
  }
}

/** A stored or published value (JSON text, or already parsed) as a Ticker; null if corrupt. */
function decodeTicker(exchange, symbol, value) {
  if (value === null || value === undefined) return null;
  let tick = value;
  if (typeof value === 'string') {
    try {
      tick = JSON.parse(value);
    } catch {
      return null;
    }
  }
  return tick !== null && typeof tick === 'object' && !Array.isArray(tick)
    ? new Ticker(exchange, symbol, tick)
    : null;
}

// ---------------------------------------------------------------------------------------
// Redis: one connection for reads, one for pub/sub (RedisPubSub needs a publisher too: the
// read connection, which never publishes).
// ---------------------------------------------------------------------------------------

const redis = new Redis(options['redis-url'], { lazyConnect: true });
const subscriber = new Redis(options['redis-url'], { lazyConnect: true });
await Promise.all([redis.connect(), subscriber.connect()]);
const pubsub = new RedisPubSub({ publisher: redis, subscriber });

const tickerChannel = (exchange, symbol) => `ticker_updates:${exchange}:${symbol}`;

async function scanExchanges() {
  const exchanges = new Set();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'tickers:*', 'COUNT', 1000, 'TYPE', 'hash');
    for (const key of keys) exchanges.add(key.slice('tickers:'.length));
    cursor = next;
  } while (cursor !== '0');
  return [...exchanges].sort();
}

async function readTickers(exchange, symbols) {
  const exchanges = exchange === null || exchange === undefined ? await scanExchanges() : [exchange];
  const wanted = symbols ? new Set(symbols) : null;
  const items = [];
  for (const name of exchanges) {
    const fields = await redis.hgetall(`tickers:${name}`);
    for (const symbol of Object.keys(fields).sort()) {
      if (wanted && !wanted.has(symbol)) continue;
      const ticker = decodeTicker(name, symbol, fields[symbol]);
      if (ticker) items.push(ticker);
    }
  }
  return items;
}

/**
 * The subscription's snapshot, then every published update. The Redis subscription is
 * started before the snapshot is read, so no update in between is lost.
 */
async function* withSnapshot(channel, pattern, snapshot, event) {
  const updates = pubsub.asyncIterableIterator(channel, pattern ? { pattern: true } : undefined);
  try {
    const first = updates.next();
    yield await snapshot();
    for (let step = await first; !step.done; step = await updates.next()) {
      const value = event(step.value);
      if (value !== null) yield value;
    }
  } finally {
    await updates.return();
  }
}

const roots = {
  query: {
    ticker: async ({ exchange, symbol }) =>
      decodeTicker(exchange, symbol, await redis.hget(`tickers:${exchange}`, symbol)),
    tickers: ({ exchange }) => readTickers(exchange),
  },
  subscription: {
    ticker: ({ exchange, symbol }) =>
      withSnapshot(
        tickerChannel(exchange, symbol),
        false,
        async () => ({
          ticker: decodeTicker(exchange, symbol, await redis.hget(`tickers:${exchange}`, symbol)),
        }),
        (tick) => ({ ticker: decodeTicker(exchange, symbol, tick) }),
      ),
    tickers: ({ exchange, symbols }) => {
      const wanted = symbols ? new Set(symbols) : null;
      return withSnapshot(
        tickerChannel(exchange ?? '*', '*'),
        true,
        async () => ({ tickers: { kind: 'SNAPSHOT', items: await readTickers(exchange, symbols) } }),
        (tick) => {
          // A pattern message carries no channel here: the stored JSON names its ticker.
          if (tick === null || typeof tick !== 'object') return null;
          if (wanted && !wanted.has(tick.symbol)) return null;
          const ticker = decodeTicker(tick.exchange, tick.symbol, tick);
          return ticker ? { tickers: { kind: 'UPSERT', items: [ticker] } } : null;
        },
      );
    },
  },
};

// ---------------------------------------------------------------------------------------
// The document cache: parse + validate once per query text.
// ---------------------------------------------------------------------------------------

const documentCacheSize = Number(options['document-cache-size']);
const documents = new Map(); // query text → { document } or { errors }, oldest first

function prepare(query) {
  let entry = documents.get(query);
  if (entry === undefined) {
    try {
      const document = parse(query);
      const errors = validate(schema, document);
      entry = errors.length ? { errors } : { document };
    } catch (error) {
      entry = { errors: [error instanceof GraphQLError ? error : new GraphQLError(String(error))] };
    }
    if (documents.size >= documentCacheSize) documents.delete(documents.keys().next().value);
    documents.set(query, entry);
  }
  return entry;
}

function executionArgs(payload) {
  const entry = prepare(payload.query);
  if (entry.errors) return entry.errors;
  return {
    schema,
    document: entry.document,
    operationName: payload.operationName,
    variableValues: payload.variables,
  };
}

const cache = options['document-cache'];

// ---------------------------------------------------------------------------------------
// HTTP (GraphQL over HTTP) and WebSocket (graphql-transport-ws) on one port and path.
// ---------------------------------------------------------------------------------------

const handleGraphQL = createHandler({
  schema,
  rootValue: roots.query,
  ...(cache ? { onSubscribe: (_request, params) => executionArgs(params) } : {}),
});

const server = http.createServer((request, response) => {
  if (request.url.split('?', 1)[0] === options.path) handleGraphQL(request, response);
  else response.writeHead(404).end();
});

const wsServer = new WebSocketServer({
  server,
  path: options.path,
  perMessageDeflate: options['per-message-deflate'],
});

// Timestamps for bench/round_trip_split.py, only when it asks for them (PEER_STAMPS_OUT, a
// file written at exit): per answered operation, when its client message was read and when
// its `next` and its `complete` were handed to the socket (process.hrtime: the same
// CLOCK_MONOTONIC as Python's time.perf_counter_ns on Linux). Registered before useServer's
// own listeners, so each message is stamped before graphql-ws handles it.
if (process.env.PEER_STAMPS_OUT) {
  const rows = [];
  wsServer.on('connection', (socket) => {
    let read = 0n;
    let next = 0n;
    socket.on('message', () => {
      read = process.hrtime.bigint();
    });
    const send = socket.send.bind(socket);
    socket.send = (data, ...rest) => {
      if (typeof data === 'string' && data.includes('"type":"next"')) {
        next = process.hrtime.bigint();
      } else if (typeof data === 'string' && data.includes('"type":"complete"')) {
        rows.push(`${read} ${next} ${process.hrtime.bigint()}`);
      }
      return send(data, ...rest);
    };
  });
  process.on('exit', () => writeFileSync(process.env.PEER_STAMPS_OUT, rows.join('\n') + '\n'));
}

const wsCleanup = useServer(
  {
    schema,
    roots,
    ...(cache ? { onSubscribe: (_context, _id, payload) => executionArgs(payload) } : {}),
  },
  wsServer,
);

server.listen(Number(options.port), options.host, () => {
  console.log(
    `node peer (${cache ? 'document cache' : 'plain'}) on http://${options.host}:${options.port}${options.path}`,
  );
});

async function shutdown() {
  setTimeout(() => process.exit(0), 3000).unref(); // whatever is still open
  server.close();
  await wsCleanup.dispose();
  await pubsub.close();
  process.exit(0);
}

process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
