// A real JavaScript client against fullon_cache_api: Apollo Client 3 over HTTP (HttpLink) for
// a query, and over graphql-transport-ws (GraphQLWsLink + graphql-ws + ws) for a subscription.
//
//   node apollo_e2e.mjs <http-url> <ws-url>
//
// Prints one line per result, `RESULT {json}`:
//   {"step": "query", "data": ...}                  the HTTP query
//   {"step": "connected", "protocol": "..."}       the WebSocket subprotocol chosen
//   {"step": "snapshot", "data": ...}              the subscription's first event
//   {"step": "update", "data": ...}                its next event (the caller makes a change)
// and exits 0; any failure prints `ERROR ...` and exits 1.

import { createRequire } from "node:module";

import { createClient } from "graphql-ws";
import WebSocket from "ws";

// Apollo Client 3 ships CommonJS entry points per directory; load them with require().
const require = createRequire(import.meta.url);
const { ApolloClient, HttpLink, InMemoryCache, gql } = require("@apollo/client/core");
const { GraphQLWsLink } = require("@apollo/client/link/subscriptions");

const [httpUrl, wsUrl] = process.argv.slice(2);
if (!httpUrl || !wsUrl) {
  console.error("usage: node apollo_e2e.mjs <http-url> <ws-url>");
  process.exit(2);
}

const TIMEOUT_MS = Number(process.env.APOLLO_E2E_TIMEOUT_MS || 20000);

function emit(result) {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const QUERY = gql`
  query E2E($exchange: String!, $symbol: String!) {
    ticker(exchange: $exchange, symbol: $symbol) {
      exchange
      symbol
      price
      bid
      ask
      time
    }
    exchanges
  }
`;

const SUBSCRIPTION = gql`
  subscription E2ETickers($exchange: String!, $symbols: [String!]) {
    tickers(exchange: $exchange, symbols: $symbols) {
      kind
      items {
        exchange
        symbol
        price
      }
    }
  }
`;

async function main() {
  // 1. A query over HTTP.
  const http = new ApolloClient({
    link: new HttpLink({ uri: httpUrl }),
    cache: new InMemoryCache(),
  });
  const queried = await withTimeout(
    http.query({
      query: QUERY,
      variables: { exchange: "binance", symbol: "BTC/USDT" },
      fetchPolicy: "no-cache",
    }),
    "the HTTP query",
  );
  emit({ step: "query", data: queried.data, errors: queried.errors ?? null });

  // 2. A subscription over graphql-transport-ws.
  const wsClient = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    lazy: true,
    retryAttempts: 0,
    on: {
      connected: (socket) => emit({ step: "connected", protocol: socket.protocol }),
    },
  });
  const live = new ApolloClient({
    link: new GraphQLWsLink(wsClient),
    cache: new InMemoryCache(),
  });

  const events = [];
  let wake = null;
  let failure = null;
  const subscription = live
    .subscribe({
      query: SUBSCRIPTION,
      variables: { exchange: "binance", symbols: ["BTC/USDT"] },
      fetchPolicy: "no-cache",
    })
    .subscribe({
      next: (result) => {
        events.push(result);
        if (wake) wake();
      },
      error: (error) => {
        failure = error;
        if (wake) wake();
      },
    });

  async function nextEvent(what) {
    const waitFor = new Promise((resolve, reject) => {
      const check = () => {
        if (failure) return reject(failure);
        if (events.length) return resolve(events.shift());
        wake = check;
      };
      check();
    });
    return withTimeout(waitFor, what);
  }

  const snapshot = await nextEvent("the subscription snapshot");
  emit({ step: "snapshot", data: snapshot.data, errors: snapshot.errors ?? null });
  const update = await nextEvent("a subscription update");
  emit({ step: "update", data: update.data, errors: update.errors ?? null });

  subscription.unsubscribe();
  await wsClient.dispose();
  live.stop();
  http.stop();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.log(`ERROR ${error && error.stack ? error.stack : error}`);
    process.exit(1);
  },
);
