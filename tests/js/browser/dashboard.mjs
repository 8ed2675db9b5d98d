// The test dashboard (tests/js/browser/index.html): Apollo Client 3 in a browser, from an
// origin other than the API's. Bundled into one file by esbuild (tests/test_browser_clients.py).
//
// Query parameters: api=<http url>, ws=<ws url>, steps=<comma list> of
//   query       HttpLink: a query (POST application/json, so the browser sends a preflight)
//   apq         createPersistedQueryLink (useGETForHashedQueries) + HttpLink, the same query twice
//   batch       BatchHttpLink: two queries batched into one POST (needs HTTP_BATCH_MAX > 0)
//   ws          GraphQLWsLink (graphql-ws): a tickers subscription, its snapshot and one update
//   multipart   HttpLink: the same subscription over HTTP multipart (subscriptionSpec=1.0)
// Each step writes JSON into its <pre> element and sets data-done="1": {"data": ...} or
// {"error": "<message>"}, plus what it sent where the test checks that.

import { ApolloClient, HttpLink, InMemoryCache, gql, split } from "@apollo/client/core";
import { BatchHttpLink } from "@apollo/client/link/batch-http";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";

const params = new URLSearchParams(location.search);
const API = params.get("api");
const WS = params.get("ws");
const STEPS = (params.get("steps") || "query,apq,batch,ws").split(",");

function show(id, value) {
  const element = document.getElementById(id);
  element.textContent = JSON.stringify(value);
  element.dataset.done = "1";
}

function failure(error) {
  if (error && typeof error === "object" && "code" in error && "reason" in error) {
    return { error: `closed ${error.code} ${error.reason}`, code: error.code };
  }
  return { error: String((error && error.message) || error) };
}

const TICKER = gql`
  query DashboardTicker($exchange: String!, $symbol: String!) {
    ticker(exchange: $exchange, symbol: $symbol) {
      exchange
      symbol
      price
    }
  }
`;

const EXCHANGES = gql`
  query DashboardExchanges {
    exchanges
  }
`;

const TICKERS = gql`
  subscription DashboardTickers($exchange: String!, $symbols: [String!]) {
    tickers(exchange: $exchange, symbols: $symbols) {
      kind
      items {
        symbol
        price
      }
    }
  }
`;

const BTC = { exchange: "binance", symbol: "BTC/USDT" };

// fetch that notes each request: method, and whether it carried the query text and a hash.
function recordingFetch(sent) {
  return (uri, options) => {
    const url = new URL(uri, location.href);
    const bodies = options.body ? [].concat(JSON.parse(options.body)) : [null];
    for (const body of bodies) {
      const query = body ? body.query : url.searchParams.get("query");
      const extensions = body ? body.extensions : JSON.parse(url.searchParams.get("extensions") || "null");
      sent.push({
        method: options.method || "GET",
        query: Boolean(query),
        hash: Boolean(extensions && extensions.persistedQuery),
        batch: Array.isArray(JSON.parse(options.body || "null")),
      });
    }
    return fetch(uri, options);
  };
}

// SHA-256 with the browser's WebCrypto (127.0.0.1 is a secure context).
async function sha256(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function isSubscription({ query }) {
  const definition = getMainDefinition(query);
  return definition.kind === "OperationDefinition" && definition.operation === "subscription";
}

async function queryStep() {
  const client = new ApolloClient({ link: new HttpLink({ uri: API }), cache: new InMemoryCache() });
  const result = await client.query({ query: TICKER, variables: BTC, fetchPolicy: "no-cache" });
  return { data: result.data };
}

async function apqStep() {
  const sent = [];
  const link = createPersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
    new HttpLink({ uri: API, fetch: recordingFetch(sent) }),
  );
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  const first = await client.query({ query: TICKER, variables: BTC, fetchPolicy: "no-cache" });
  const second = await client.query({ query: TICKER, variables: BTC, fetchPolicy: "no-cache" });
  return { data: [first.data, second.data], sent };
}

async function batchStep() {
  const sent = [];
  const link = new BatchHttpLink({ uri: API, batchMax: 5, batchInterval: 20, fetch: recordingFetch(sent) });
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  const results = await Promise.all([
    client.query({ query: TICKER, variables: BTC, fetchPolicy: "no-cache" }),
    client.query({ query: EXCHANGES, fetchPolicy: "no-cache" }),
  ]);
  return { data: results.map((result) => result.data), sent };
}

// A subscription through `link`: the first event goes to <pre id="{prefix}-snapshot">, the
// second to <pre id="{prefix}-update">.
function subscribe(link, prefix, showError = show) {
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  let events = 0;
  client.subscribe({ query: TICKERS, variables: { exchange: "binance", symbols: ["BTC/USDT"] } }).subscribe({
    next(result) {
      events += 1;
      if (events === 1) show(`${prefix}-snapshot`, { data: result.data, errors: result.errors });
      if (events === 2) show(`${prefix}-update`, { data: result.data, errors: result.errors });
    },
    error(error) {
      showError(`${prefix}-${events === 0 ? "snapshot" : "update"}`, failure(error));
    },
  });
}

function wsStep() {
  // An error is shown with the close code of the socket (a refused origin: 4403), which
  // graphql-ws reports after the error.
  let closed = null;
  let failed = null;
  const showClosed = () => failed && show(failed.id, { ...failed.value, closed });
  const wsClient = createClient({
    url: WS,
    retryAttempts: 0,
    on: {
      closed(event) {
        closed = { code: event.code, reason: event.reason };
        showClosed();
      },
    },
  });
  // As a dashboard would wire it: subscriptions over the WebSocket, queries over HTTP.
  const link = split(isSubscription, new GraphQLWsLink(wsClient), new HttpLink({ uri: API }));
  subscribe(link, "ws", (id, value) => {
    failed = { id, value };
    if (closed) showClosed();
  });
}

function multipartStep() {
  // Apollo's HttpLink runs a subscription over HTTP with
  // Accept: multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/json
  subscribe(new HttpLink({ uri: API }), "multipart");
}

const STEP_FUNCTIONS = { query: queryStep, apq: apqStep, batch: batchStep };

async function main() {
  for (const step of STEPS) {
    if (step === "ws") wsStep();
    else if (step === "multipart") multipartStep();
    else {
      try {
        show(step, await STEP_FUNCTIONS[step]());
      } catch (error) {
        show(step, failure(error));
      }
    }
  }
}

main();
