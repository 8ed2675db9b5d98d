// The fullon_cache_api dashboard: a client of the public GraphQL API like any other.
//
// One graphql-transport-ws socket (graphql-ws) carries a query for the initial state
// (exchanges, OHLCV series, accounts, order keys; it also tells which scopes the API key
// has) and one subscription per panel. What is chosen (exchange, symbol, timeframe,
// account, order key, queue) lives in the URL, so a view can be bookmarked and shared.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import * as fmt from "./format.js";
import { Connection, KEY_STORAGE, Latest, errorCode } from "./live.js";
import {
  AccountPanel,
  BotsPanel,
  ChartPanel,
  OrdersPanel,
  ProcessesPanel,
  TickersPanel,
  TradesPanel,
  chooseSeries,
  html,
  loadChart,
  useSource,
} from "./panels.js";

const config = JSON.parse(document.getElementById("dashboard-config").textContent);

function socketUrl(path) {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

function storedKey() {
  try {
    return window.sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

function storeKey(key) {
  try {
    if (key) window.sessionStorage.setItem(KEY_STORAGE, key);
    else window.sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage refused (private mode): the key lasts as long as the page.
  }
}

const connection = new Connection(socketUrl(config.endpoint));

// --------------------------------------------------------------------------- the URL

const PARAMS = ["exchange", "symbol", "tf", "account", "orders", "queue"];

function readUrl() {
  const query = new URLSearchParams(window.location.search);
  return Object.fromEntries(PARAMS.map((name) => [name, query.get(name) || null]));
}

const selection = new Latest(readUrl());

function writeUrl(values, push) {
  const query = new URLSearchParams(window.location.search);
  for (const name of PARAMS) {
    if (values[name]) query.set(name, values[name]);
    else query.delete(name);
  }
  const text = query.toString();
  const url = `${window.location.pathname}${text ? `?${text}` : ""}${window.location.hash}`;
  if (url === `${window.location.pathname}${window.location.search}${window.location.hash}`) return;
  if (push) window.history.pushState(null, "", url);
  else window.history.replaceState(null, "", url);
}

/** A choice by the user: a new history entry. */
function choose(changes) {
  const next = { ...selection.value, ...changes };
  writeUrl(next, true);
  selection.set(next);
}

window.addEventListener("popstate", () => selection.set(readUrl()));

/** Fill what the URL leaves open with defaults from the initial state (no history entry). */
function withDefaults(current, boot) {
  const next = { ...current };
  const exchanges = boot.exchanges || [];
  if (!next.exchange && exchanges.length) next.exchange = exchanges[0];
  const series = boot.ohlcvSeries || [];
  if (!next.symbol && series.length) {
    // A series the chosen exchange has a ticker for would be best, but tickers come later:
    // the first series of the shortest timeframe is a good start.
    next.symbol = series[0].symbol;
  }
  if (next.symbol && !next.tf) {
    const chosen = chooseSeries(series, next.symbol, null);
    if (chosen) next.tf = chosen.timeframe;
  }
  const accounts = boot.accounts || [];
  if (!next.account && accounts.length) next.account = accounts[0];
  const keys = boot.orderKeys || [];
  if (!next.orders && keys.length) {
    next.orders = keys.includes(next.exchange) ? next.exchange : keys[0];
  }
  return next;
}

// --------------------------------------------------------------------------- initial state

const BOOT = `query DashboardBoot {
  exchanges
  ohlcvSeries { symbol timeframe bars }
  accounts { exId }
  orderKeys
  systemHealth { healthy }
}`;
const FIELD_SCOPES = {
  exchanges: "market",
  ohlcvSeries: "market",
  accounts: "account",
  orderKeys: "account",
  systemHealth: "ops",
};
const SCOPES = ["market", "account", "ops"];

const boot = new Latest(null);
let bootTimer = null;

async function loadBoot() {
  clearTimeout(bootTimer);
  const { data, errors } = await connection.query(BOOT);
  const scopes = Object.fromEntries(SCOPES.map((scope) => [scope, true]));
  const problems = [];
  for (const error of errors || []) {
    if (errorCode(error) === "FORBIDDEN") {
      const field = error.path && error.path[0];
      const scope = (error.extensions && error.extensions.scope) || FIELD_SCOPES[field];
      if (scope) scopes[scope] = false;
    } else {
      problems.push(error.message);
    }
  }
  const value = {
    exchanges: (data && data.exchanges) || [],
    ohlcvSeries: ((data && data.ohlcvSeries) || []).slice(0, 500),
    accounts: ((data && data.accounts) || []).map((a) => a.exId),
    orderKeys: (data && data.orderKeys) || [],
    scopes,
    problems,
  };
  boot.set(value);
  const filled = withDefaults(selection.value, value);
  if (PARAMS.some((name) => filled[name] !== selection.value[name])) {
    writeUrl(filled, false);
    selection.set(filled);
  }
  // The lists change rarely; refresh them now and then (sooner after a failure).
  bootTimer = setTimeout(loadBoot, problems.length ? 5000 : 60000);
}

connection.onConnected = () => loadBoot();

// A refused (or revoked) key is forgotten: a reload asks again.
connection.status.listen(() => {
  const { state, reason } = connection.status.value;
  if (state === "auth" && reason) storeKey(null);
});

// --------------------------------------------------------------------------- chrome

const STATE_TEXT = {
  connecting: "Connecting\u2026",
  live: "Live",
  reconnecting: "Reconnecting\u2026",
  stale: "Stale",
  auth: "API key required",
  refused: "Refused",
};

function ConnectionIndicator() {
  const status = useSource(connection.status).value;
  const staleSince = status.since ? `stale since ${fmt.clockTime(status.since)}` : null;
  let detail = null;
  if (status.state === "reconnecting" || status.state === "stale") detail = staleSince;
  else if (status.state === "refused") detail = status.reason;
  return html`<div
    class=${`connection ${status.state}`}
    data-testid="connection"
    data-state=${status.state}
    role="status"
    aria-live="polite"
  >
    <span class="dot" aria-hidden="true"></span>
    <span class="state">${STATE_TEXT[status.state] || status.state}</span>
    ${detail ? html`<span class="since">${detail}</span>` : null}
  </div>`;
}

function KeyPrompt({ reason }) {
  const [key, setKey] = useState("");
  const submit = (event) => {
    event.preventDefault();
    const value = key.trim();
    if (!value) return;
    storeKey(value);
    connection.start(value);
  };
  return html`<div class="overlay">
    <form class="key-form" onSubmit=${submit} data-testid="key-form">
      <h2>This server needs an API key</h2>
      <p>
        The dashboard reads the API like any other client. Enter a key; it is kept in this
        tab only (sessionStorage) and sent in the WebSocket's <code>connection_init</code>.
      </p>
      ${reason ? html`<p class="note error" role="alert">The server refused the key: ${reason}.</p>` : null}
      <input
        type="password"
        name="api-key"
        autocomplete="off"
        placeholder="API key"
        aria-label="API key"
        value=${key}
        onInput=${(event) => setKey(event.currentTarget.value)}
        autofocus
      />
      <button type="submit">Connect</button>
    </form>
  </div>`;
}

function Panel({ title, scope, scopes, testid, wide, children }) {
  const allowed = !scopes || scopes[scope] !== false;
  return html`<section
    class=${`panel ${wide || ""}`}
    data-testid=${testid}
    data-scope=${scope}
    aria-label=${title}
  >
    <h2>${title}</h2>
    ${allowed
      ? children
      : html`<p class="note scope" data-testid="scope-note">
          Not in your key's scope: this panel needs the <code>${scope}</code> scope, and the
          API key in use does not have it.
        </p>`}
  </section>`;
}

function App() {
  const status = useSource(connection.status).value;
  const initial = useSource(boot).value;
  const chosen = useSource(selection).value;
  useEffect(() => {
    document.title = chosen.symbol
      ? `${chosen.symbol} \u00b7 fullon dashboard`
      : "fullon dashboard";
  }, [chosen.symbol]);
  const scopes = initial && initial.scopes;
  const props = { connection, boot: initial, selection: chosen, choose };
  const forget = () => {
    storeKey(null);
    connection.start(null);
  };
  const panel = (title, scope, testid, wide, Body) =>
    html`<${Panel} title=${title} scope=${scope} scopes=${scopes} testid=${testid} wide=${wide}>
      ${initial ? html`<${Body} ...${props} />` : html`<p class="note">Loading\u2026</p>`}
    <//>`;
  return html`
    <header class="top">
      <h1>fullon <span>cache dashboard</span></h1>
      <${ConnectionIndicator} />
      <nav>
        ${connection.key
          ? html`<button type="button" class="link" onClick=${forget}>Forget API key</button>`
          : null}
        <a href=${config.endpoint}>GraphiQL</a>
      </nav>
    </header>
    ${initial && initial.problems.length
      ? html`<p class="note error banner">${initial.problems[0]}</p>`
      : null}
    <main class="grid">
      ${panel("Tickers", "market", "panel-tickers", "w5", TickersPanel)}
      ${panel("Candles", "market", "panel-candles", "w7 tall", ChartPanel)}
      ${panel("Trades", "market", "panel-trades", "w5", TradesPanel)}
      ${panel("Balances and positions", "account", "panel-account", "w4", AccountPanel)}
      ${panel("Orders and open-order queue", "account", "panel-orders", "w8", OrdersPanel)}
      ${panel("Bots, blocks and opening positions", "ops", "panel-bots", "w5", BotsPanel)}
      ${panel("Process health", "ops", "panel-processes", "w7", ProcessesPanel)}
    </main>
    <footer>
      fullon_cache_api ${config.version} \u00b7 read-only \u00b7 Charts: TradingView Lightweight
      Charts\u2122, Copyright (c) 2023 TradingView, Inc.${" "}
      <a href="https://www.tradingview.com/" rel="noopener noreferrer" target="_blank"
        >https://www.tradingview.com/</a
      >
    </footer>
    ${status.state === "auth" ? html`<${KeyPrompt} reason=${status.reason} />` : null}
  `;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
connection.start(storedKey());
loadChart();
