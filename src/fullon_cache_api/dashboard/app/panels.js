// The dashboard's panels. Each one is a subscription of the public GraphQL API, merged
// into a Source (live.js) and rendered at most once per animation frame.

import { h } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import htm from "htm";
import * as fmt from "./format.js";
import { Keyed, Latest, clock, errorCode } from "./live.js";

export const html = htm.bind(h);

/** Rows a table renders at most (the lists behind them are bounded too). */
const MAX_ROWS = 200;
const RECENT_ROWS = 50;

// --------------------------------------------------------------------------- documents

const TICKERS = `subscription DashboardTickers($exchange: String!) {
  tickers(exchange: $exchange) { kind items { exchange symbol price bid ask spreadPercentage time } }
}`;
const OHLCV = `subscription DashboardOhlcv($symbol: String!, $timeframe: String!) {
  ohlcv(symbol: $symbol, timeframe: $timeframe, count: 300) {
    kind items { timestamp open high low close volume }
  }
}`;
const TRADES = `subscription DashboardTrades($exchange: String!, $symbol: String!) {
  trades(exchange: $exchange, symbol: $symbol) {
    kind items { tradeId exTradeId side volume price cost time }
  }
}`;
const ACCOUNT = `subscription DashboardAccount($exId: String!) {
  account(exId: $exId) { exId date balances { currency free used total balance available } }
}`;
const POSITIONS = `subscription DashboardPositions($exId: String!) {
  positions(exId: $exId) { kind items { symbol volume price cost fee timestamp } }
}`;
const ORDERS = `subscription DashboardOrders($exchange: String!) {
  orders(exchange: $exchange) {
    kind items { orderId symbol side orderType status volume finalVolume price timestamp }
  }
}`;
const QUEUE = `subscription DashboardQueue($localOid: String!) { openOrderQueue(localOid: $localOid) }`;
const BOTS = `subscription DashboardBots { bots { kind items { botId status updatedAt data } } }`;
const BLOCKS = `subscription DashboardBlocks { blocks { kind items { exId symbol botId } } }`;
const OPENING = `subscription DashboardOpening {
  openingPositions { kind items { exId symbol botId since } }
}`;
const PROCESSES = `subscription DashboardProcesses {
  processes(sinceMinutes: 60) {
    kind items { processId processType component status message heartbeat updatedAt heartbeatStale }
  }
}`;
const HEALTH = `subscription DashboardHealth {
  systemHealth { healthy totalProcesses byStatus { key count } checkedAt }
}`;

// --------------------------------------------------------------------------- hooks

/** Re-render when `source` changes (at most once per animation frame). */
export function useSource(source) {
  const [, setVersion] = useState(0);
  useEffect(() => (source ? source.listen((v) => setVersion(v)) : undefined), [source]);
  return source;
}

function errorText(errors) {
  if (!errors || !errors.length) return null;
  const error = errors[0];
  const code = errorCode(error);
  return code ? `${error.message} (${code})` : error.message;
}

/**
 * Subscribe `document` with `variables` (null: nothing to subscribe to) into a new source
 * made by `make()`; `apply(source, data)` merges each result. A new source per variables.
 */
function useLive(connection, document, variables, make, apply) {
  const key = variables ? JSON.stringify(variables) : "";
  const source = useMemo(() => {
    const made = make();
    made.received = !variables; // nothing to wait for: show the "empty" note
    return made;
  }, [key]);
  // A layout effect: the subscription goes out in the same task as the render, not a
  // frame later.
  useLayoutEffect(() => {
    if (!variables) return undefined;
    return connection.subscribe(document, variables, {
      next: (data, errors) => {
        if (data) apply(source, data);
        if (errors) source.setError(errorText(errors));
      },
      error: (errors) => source.setError(errorText(errors)),
    });
  }, [source]);
  return useSource(source);
}

// --------------------------------------------------------------------------- pieces

function ErrorNote({ source }) {
  return source.error ? html`<p class="note error" role="status">${source.error}</p>` : null;
}

function Waiting({ source, empty }) {
  if (!source.received) return html`<p class="note">Waiting for data\u2026</p>`;
  return html`<p class="note">${empty}</p>`;
}

function Tabs({ label, items, current, onSelect, render = (item) => item }) {
  if (!items || !items.length) return null;
  return html`<div class="tabs" role="tablist" aria-label=${label}>
    ${items.map(
      (item) => html`<button
        type="button"
        role="tab"
        aria-selected=${item === current ? "true" : "false"}
        class=${item === current ? "tab active" : "tab"}
        onClick=${() => onSelect(item)}
      >${render(item)}</button>`,
    )}
  </div>`;
}

function Side({ side }) {
  if (!side) return fmt.DASH;
  return html`<span class=${`side ${side.toLowerCase()}`}>${side}</span>`;
}

function Status({ status }) {
  if (!status) return fmt.DASH;
  return html`<span class=${`status status-${status.toLowerCase().replace(/[^a-z]+/g, "-")}`}
    >${status}</span
  >`;
}

function newestFirst(items, field, limit) {
  return items
    .slice()
    .sort((a, b) => (Date.parse(b[field]) || 0) - (Date.parse(a[field]) || 0))
    .slice(0, limit);
}

function Truncated({ shown, total }) {
  return total > shown ? html`<p class="note">Showing ${shown} of ${total}.</p>` : null;
}

// --------------------------------------------------------------------------- tickers

let flashes = 0;

/** Remember whether the price went up or down, for the flash. */
function markMove(item, previous) {
  if (!previous) return;
  if (item.price != null && previous.price != null && item.price !== previous.price) {
    item.move = item.price > previous.price ? "up" : "down";
    item.flash = ++flashes;
  } else {
    item.move = previous.move;
    item.flash = previous.flash;
  }
}

export function TickersPanel({ connection, boot, selection, choose }) {
  const exchange = selection.exchange;
  const source = useLive(
    connection,
    TICKERS,
    exchange ? { exchange } : null,
    () => new Keyed((t) => t.symbol, { limit: 5000, onUpsert: markMove }),
    (s, data) => s.apply(data.tickers),
  );
  useSource(clock);
  const now = clock.value;
  const all = source.values().sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
  const rows = all.slice(0, MAX_ROWS);
  return html`
    <${Tabs}
      label="Exchange"
      items=${boot.exchanges}
      current=${exchange}
      onSelect=${(ex) => choose({ exchange: ex })}
    />
    <${ErrorNote} source=${source} />
    ${rows.length === 0
      ? html`<${Waiting} source=${source} empty="No tickers on this exchange." />`
      : html`<table class="data tickers" data-testid="tickers">
          <thead>
            <tr>
              <th>Symbol</th><th class="num">Price</th><th class="num">Bid</th>
              <th class="num">Ask</th><th class="num">Spread</th><th class="num">Age</th>
            </tr>
          </thead>
          <tbody>
            ${rows.map((t) => {
              const ageMs = fmt.since(t.time, now);
              return html`<tr
                key=${t.symbol}
                data-symbol=${t.symbol}
                class=${t.symbol === selection.symbol ? "selected clickable" : "clickable"}
                onClick=${() => choose({ symbol: t.symbol })}
                title="Show this symbol's candles and trades"
              >
                <td class="sym">${t.symbol}</td>
                <td class=${`num price ${t.move || ""}`} data-field="price">
                  <span key=${t.flash || 0} class=${t.flash ? `flash-${t.move}` : ""}
                    >${fmt.price(t.price)}</span
                  >
                </td>
                <td class="num" data-field="bid">${fmt.price(t.bid)}</td>
                <td class="num" data-field="ask">${fmt.price(t.ask)}</td>
                <td class="num" data-field="spread">${fmt.percent(t.spreadPercentage)}</td>
                <td class=${ageMs != null && ageMs > 60000 ? "num age old" : "num age"} data-field="age"
                  >${fmt.age(ageMs)}</td
                >
              </tr>`;
            })}
          </tbody>
        </table>`}
    <${Truncated} shown=${rows.length} total=${all.length} />
  `;
}

// --------------------------------------------------------------------------- candles

const TIMEFRAME_UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, M: 2592000 };

function timeframeSeconds(tf) {
  const match = /^(\d+)([smhdwM])$/.exec(tf || "");
  return match ? Number(match[1]) * TIMEFRAME_UNITS[match[2]] : Number.MAX_SAFE_INTEGER;
}

/** The series to chart: the chosen one, else the symbol's shortest timeframe. */
export function chooseSeries(series, symbol, tf) {
  const list = (series || []).filter((s) => s.symbol === symbol);
  list.sort((a, b) => timeframeSeconds(a.timeframe) - timeframeSeconds(b.timeframe));
  return list.find((s) => s.timeframe === tf) || list[0] || null;
}

/** A bar of the ohlcv subscription as lightweight-charts wants it (time in UTC seconds). */
function toBar(bar) {
  return {
    time: Math.floor(Date.parse(bar.timestamp) / 1000),
    open: bar.open,
    high: bar.high,
    low: bar.low,
    close: bar.close,
    volume: bar.volume,
  };
}

// The chart library is the largest module by far. It is imported after the socket is
// opened (main.js), so it is evaluated while the connection and the first query are on
// the wire, rather than before them.
let chartModule = null;
export function loadChart() {
  if (!chartModule) chartModule = import("./chart.js");
  return chartModule;
}

function makeBars() {
  const source = new Keyed((bar) => bar.timestamp, { limit: 2000 });
  source.pending = [];
  source.full = true;
  return source;
}

function applyBars(source, data) {
  const event = data.ohlcv;
  if (!event) return;
  if (event.kind === "UPSERT" && !source.full) source.pending.push(...event.items);
  else source.full = true;
  // Not drawn for a while (a hidden tab has no animation frames): redraw it all instead.
  if (source.pending.length > 500) {
    source.pending = [];
    source.full = true;
  }
  source.apply(event);
}

function lastBar(source) {
  let last = null;
  for (const bar of source.items.values()) {
    if (!last || bar.timestamp > last.timestamp) last = bar;
  }
  return last;
}

export function ChartPanel({ connection, boot, selection, choose }) {
  const series = chooseSeries(boot.ohlcvSeries, selection.symbol, selection.tf);
  const variables = series ? { symbol: series.symbol, timeframe: series.timeframe } : null;
  const source = useLive(connection, OHLCV, variables, makeBars, applyBars);
  const box = useRef(null);
  const chart = useRef(null);
  const [hover, setHover] = useState(null);
  const [chartReady, setChartReady] = useState(false);

  useEffect(() => {
    let made = null;
    let gone = false;
    loadChart().then(({ CandleChart }) => {
      if (gone || !box.current) return;
      made = new CandleChart(box.current);
      made.onCrosshair((bar) => setHover(bar));
      chart.current = made;
      setChartReady(true);
    });
    return () => {
      gone = true;
      chart.current = null;
      if (made) made.dispose();
    };
  }, []);

  // Feed the chart once per frame: the forming bar with update(), anything else with setData().
  useEffect(() => {
    const draw = () => {
      const target = chart.current;
      if (!target) return;
      if (source.full) {
        source.pending = [];
      } else {
        const pending = source.pending.map(toBar).sort((a, b) => a.time - b.time);
        for (const bar of pending) {
          if (!target.update(bar)) {
            source.full = true;
            break;
          }
        }
      }
      if (source.full) {
        const bars = source.values().map(toBar).sort((a, b) => a.time - b.time);
        target.setBars(bars);
        source.full = false;
      }
      source.pending = [];
    };
    source.full = true;
    draw();
    return source.listen(draw);
  }, [source, chartReady]);

  const options = (boot.ohlcvSeries || [])
    .slice()
    .sort((a, b) => (a.symbol === b.symbol ? timeframeSeconds(a.timeframe) - timeframeSeconds(b.timeframe) : a.symbol < b.symbol ? -1 : 1));
  const last = lastBar(source);
  const shown = hover || (last ? toBar(last) : null);
  return html`
    <div class="toolbar">
      <label
        >Series
        <select
          data-testid="series"
          value=${series ? `${series.symbol}\u0000${series.timeframe}` : ""}
          onChange=${(event) => {
            const [symbol, tf] = event.currentTarget.value.split("\u0000");
            choose({ symbol, tf });
          }}
        >
          ${series ? null : html`<option value="">${selection.symbol || "choose"}: no series</option>`}
          ${options.map(
            (s) => html`<option value=${`${s.symbol}\u0000${s.timeframe}`}>
              ${s.symbol} \u00b7 ${s.timeframe} (${s.bars} bars)
            </option>`,
          )}
        </select>
      </label>
      ${shown
        ? html`<span class="legend" data-testid="candle-legend">
            ${hover ? "" : html`<span class="forming">${series ? series.timeframe : ""} last</span>`}
            O <b>${fmt.price(shown.open)}</b> H <b>${fmt.price(shown.high)}</b>
            L <b>${fmt.price(shown.low)}</b>
            C <b data-testid="candle-close" class=${shown.close >= shown.open ? "up" : "down"}
              >${fmt.price(shown.close)}</b
            >
            ${shown.volume != null ? html` V <b>${fmt.amount(shown.volume)}</b>` : null}
          </span>`
        : null}
    </div>
    <${ErrorNote} source=${source} />
    ${series
      ? null
      : html`<p class="note">
          No OHLCV series is stored for ${selection.symbol || "this symbol"}; choose one above.
        </p>`}
    <div class="chart" ref=${box} data-testid="chart"></div>
  `;
}

// --------------------------------------------------------------------------- trades

export function TradesPanel({ connection, selection }) {
  const { exchange, symbol } = selection;
  const source = useLive(
    connection,
    TRADES,
    exchange && symbol ? { exchange, symbol } : null,
    () => new Keyed((t) => t.tradeId || t.exTradeId, { limit: 200 }),
    (s, data) => s.apply(data.trades),
  );
  const all = source.values();
  const rows = newestFirst(all, "time", RECENT_ROWS);
  return html`
    <p class="caption">${exchange || fmt.DASH} \u00b7 ${symbol || fmt.DASH}, not yet drained by fullon's batcher</p>
    <${ErrorNote} source=${source} />
    ${rows.length === 0
      ? html`<${Waiting} source=${source} empty="No trades waiting for this symbol." />`
      : html`<table class="data" data-testid="trades">
          <thead>
            <tr><th>Time</th><th>Side</th><th class="num">Volume</th><th class="num">Price</th></tr>
          </thead>
          <tbody>
            ${rows.map(
              (t) => html`<tr key=${t.tradeId || t.exTradeId}>
                <td>${fmt.clockTime(t.time)}</td>
                <td><${Side} side=${t.side} /></td>
                <td class="num">${fmt.amount(t.volume)}</td>
                <td class="num">${fmt.price(t.price)}</td>
              </tr>`,
            )}
          </tbody>
        </table>`}
    <${Truncated} shown=${rows.length} total=${all.length} />
  `;
}

// --------------------------------------------------------------------------- account

export function AccountPanel({ connection, boot, selection, choose }) {
  const exId = selection.account;
  const variables = exId ? { exId } : null;
  const account = useLive(connection, ACCOUNT, variables, () => new Latest(), (s, data) =>
    s.set(data.account),
  );
  const positions = useLive(
    connection,
    POSITIONS,
    variables,
    () => new Keyed((p) => p.symbol, { limit: 1000 }),
    (s, data) => s.apply(data.positions),
  );
  useSource(clock);
  const balances = (account.value && account.value.balances) || [];
  const ccxt = balances.some((b) => b.total != null || b.free != null);
  const held = positions.values().sort((a, b) => (a.symbol < b.symbol ? -1 : 1));
  return html`
    <${Tabs}
      label="Account"
      items=${boot.accounts}
      current=${exId}
      onSelect=${(id) => choose({ account: id })}
      render=${(id) => `ex_id ${id}`}
    />
    <${ErrorNote} source=${account} />
    <h3>Balances ${account.value && account.value.date
      ? html`<small>written ${fmt.age(fmt.since(account.value.date, clock.value))} ago</small>`
      : null}</h3>
    ${balances.length === 0
      ? html`<${Waiting} source=${account} empty="No balances for this account." />`
      : html`<table class="data" data-testid="balances">
          <thead>
            <tr>
              <th>Currency</th>
              ${ccxt
                ? html`<th class="num">Free</th><th class="num">Used</th><th class="num">Total</th>`
                : html`<th class="num">Balance</th><th class="num">Available</th>`}
            </tr>
          </thead>
          <tbody>
            ${balances.slice(0, MAX_ROWS).map(
              (b) => html`<tr key=${b.currency}>
                <td class="sym">${b.currency}</td>
                ${ccxt
                  ? html`<td class="num">${fmt.amount(b.free)}</td>
                      <td class="num">${fmt.amount(b.used)}</td>
                      <td class="num" data-field="total">${fmt.amount(b.total)}</td>`
                  : html`<td class="num">${fmt.amount(b.balance)}</td>
                      <td class="num">${fmt.amount(b.available)}</td>`}
              </tr>`,
            )}
          </tbody>
        </table>`}
    <h3>Positions</h3>
    <${ErrorNote} source=${positions} />
    ${held.length === 0
      ? html`<${Waiting} source=${positions} empty="No open positions." />`
      : html`<table class="data" data-testid="positions">
          <thead>
            <tr>
              <th>Symbol</th><th class="num">Volume</th><th class="num">Price</th>
              <th class="num">Cost</th><th class="num">Updated</th>
            </tr>
          </thead>
          <tbody>
            ${held.slice(0, MAX_ROWS).map(
              (p) => html`<tr key=${p.symbol}>
                <td class="sym">${p.symbol}</td>
                <td class=${p.volume < 0 ? "num down" : "num"}>${fmt.amount(p.volume)}</td>
                <td class="num">${fmt.price(p.price)}</td>
                <td class="num">${fmt.amount(p.cost)}</td>
                <td class="num">${fmt.age(fmt.since(p.timestamp, clock.value))}</td>
              </tr>`,
            )}
          </tbody>
        </table>`}
  `;
}

// --------------------------------------------------------------------------- orders

function QueueInput({ value, choose }) {
  const [text, setText] = useState(value || "");
  useEffect(() => setText(value || ""), [value]);
  const submit = (event) => {
    event.preventDefault();
    choose({ queue: text.trim() || null });
  };
  return html`<form class="inline" onSubmit=${submit}>
    <label
      >Open-order queue
      <input
        name="queue"
        data-testid="queue-input"
        placeholder="local order id"
        value=${text}
        onInput=${(event) => setText(event.currentTarget.value)}
        onBlur=${submit}
      />
    </label>
  </form>`;
}

export function OrdersPanel({ connection, boot, selection, choose }) {
  const key = selection.orders;
  const orders = useLive(
    connection,
    ORDERS,
    key ? { exchange: key } : null,
    () => new Keyed((o) => o.orderId, { limit: 200 }),
    (s, data) => s.apply(data.orders),
  );
  const localOid = selection.queue;
  const queue = useLive(
    connection,
    QUEUE,
    localOid ? { localOid } : null,
    () => new Latest([]),
    (s, data) => s.set(data.openOrderQueue || []),
  );
  const all = orders.values();
  const rows = newestFirst(all, "timestamp", RECENT_ROWS);
  const waiting = queue.value || [];
  return html`
    <${Tabs}
      label="Order key"
      items=${boot.orderKeys}
      current=${key}
      onSelect=${(k) => choose({ orders: k })}
    />
    <${ErrorNote} source=${orders} />
    ${rows.length === 0
      ? html`<${Waiting} source=${orders} empty="No orders under this key." />`
      : html`<table class="data" data-testid="orders">
          <thead>
            <tr>
              <th>Time</th><th>Order</th><th>Symbol</th><th>Side</th><th>Status</th>
              <th class="num">Filled / volume</th><th class="num">Price</th>
            </tr>
          </thead>
          <tbody>
            ${rows.map(
              (o) => html`<tr key=${o.orderId}>
                <td>${fmt.clockTime(o.timestamp)}</td>
                <td class="id" title=${o.orderId}>${o.orderId}</td>
                <td class="sym">${o.symbol || fmt.DASH}</td>
                <td><${Side} side=${o.side} /></td>
                <td><${Status} status=${o.status} /></td>
                <td class="num">${fmt.amount(o.finalVolume)} / ${fmt.amount(o.volume)}</td>
                <td class="num">${fmt.price(o.price)}</td>
              </tr>`,
            )}
          </tbody>
        </table>`}
    <${Truncated} shown=${rows.length} total=${all.length} />
    <${QueueInput} value=${localOid} choose=${choose} />
    <${ErrorNote} source=${queue} />
    ${!localOid
      ? html`<p class="note">Enter the local order id of a queue to watch it.</p>`
      : !queue.received
        ? html`<p class="note">Waiting for data\u2026</p>`
        : html`<p class="queue" data-testid="queue">
            <b data-testid="queue-length">${waiting.length}</b> waiting in${" "}
            <code>new_orders:${localOid}</code>${waiting.length ? ": " : "."}
            ${waiting.slice(0, RECENT_ROWS).map((id) => html`<code class="chip">${id}</code> `)}
            ${waiting.length > RECENT_ROWS ? `\u2026 ${waiting.length - RECENT_ROWS} more` : null}
          </p>`}
  `;
}

// --------------------------------------------------------------------------- bots

function botSummary(data) {
  if (!data || typeof data !== "object") return "";
  if (data.name || data.strategy) return [data.name, data.strategy].filter(Boolean).join(" \u00b7 ");
  const feed = Object.values(data).find((v) => v && typeof v === "object" && v.bot_name);
  return feed ? [feed.bot_name, feed.symbol].filter(Boolean).join(" \u00b7 ") : "";
}

export function BotsPanel({ connection }) {
  const none = {};
  const bots = useLive(
    connection,
    BOTS,
    none,
    () => new Keyed((b) => b.botId, { limit: 500 }),
    (s, data) => s.apply(data.bots),
  );
  const blocks = useLive(
    connection,
    BLOCKS,
    none,
    () => new Keyed((b) => `${b.exId}\u0000${b.symbol}`, { limit: 1000 }),
    (s, data) => s.apply(data.blocks),
  );
  const opening = useLive(
    connection,
    OPENING,
    none,
    () => new Keyed((o) => `${o.exId}\u0000${o.symbol}`, { limit: 1000 }),
    (s, data) => s.apply(data.openingPositions),
  );
  useSource(clock);
  const botRows = bots.values().sort((a, b) => a.botId.localeCompare(b.botId, "en", { numeric: true }));
  const blockRows = blocks.values().sort((a, b) => `${a.exId}${a.symbol}`.localeCompare(`${b.exId}${b.symbol}`));
  const openRows = opening.values().sort((a, b) => `${a.exId}${a.symbol}`.localeCompare(`${b.exId}${b.symbol}`));
  return html`
    <${ErrorNote} source=${bots} />
    ${botRows.length === 0
      ? html`<${Waiting} source=${bots} empty="No bots." />`
      : html`<table class="data" data-testid="bots">
          <thead><tr><th>Bot</th><th>Status</th><th>Name</th><th class="num">Updated</th></tr></thead>
          <tbody>
            ${botRows.slice(0, MAX_ROWS).map(
              (b) => html`<tr key=${b.botId}>
                <td class="id">${b.botId}</td>
                <td><${Status} status=${b.status} /></td>
                <td>${botSummary(b.data)}</td>
                <td class="num">${b.updatedAt ? fmt.age(fmt.since(b.updatedAt, clock.value)) : fmt.DASH}</td>
              </tr>`,
            )}
          </tbody>
        </table>`}
    <div class="split">
      <div>
        <h3>Exchange blocks</h3>
        <${ErrorNote} source=${blocks} />
        ${blockRows.length === 0
          ? html`<${Waiting} source=${blocks} empty="No symbol is blocked." />`
          : html`<table class="data" data-testid="blocks">
              <thead><tr><th>ex_id</th><th>Symbol</th><th>Bot</th></tr></thead>
              <tbody>
                ${blockRows.slice(0, MAX_ROWS).map(
                  (b) => html`<tr key=${`${b.exId}:${b.symbol}`}>
                    <td>${b.exId}</td><td class="sym">${b.symbol}</td><td class="id">${b.botId}</td>
                  </tr>`,
                )}
              </tbody>
            </table>`}
      </div>
      <div>
        <h3>Opening positions</h3>
        <${ErrorNote} source=${opening} />
        ${openRows.length === 0
          ? html`<${Waiting} source=${opening} empty="No position is being opened." />`
          : html`<table class="data" data-testid="opening">
              <thead><tr><th>ex_id</th><th>Symbol</th><th>Bot</th><th class="num">For</th></tr></thead>
              <tbody>
                ${openRows.slice(0, MAX_ROWS).map(
                  (o) => html`<tr key=${`${o.exId}:${o.symbol}`}>
                    <td>${o.exId}</td><td class="sym">${o.symbol}</td>
                    <td class="id">${o.botId || fmt.DASH}</td>
                    <td class="num">${fmt.age(fmt.since(o.since, clock.value))}</td>
                  </tr>`,
                )}
              </tbody>
            </table>`}
      </div>
    </div>
  `;
}

// --------------------------------------------------------------------------- processes

function processRank(p) {
  if (p.heartbeatStale) return 0;
  if ((p.status || "").toLowerCase() === "error") return 1;
  return 2;
}

export function ProcessesPanel({ connection }) {
  const none = {};
  const processes = useLive(
    connection,
    PROCESSES,
    none,
    () => new Keyed((p) => p.processId, { limit: 1000 }),
    (s, data) => s.apply(data.processes),
  );
  const health = useLive(connection, HEALTH, none, () => new Latest(), (s, data) =>
    s.set(data.systemHealth),
  );
  useSource(clock);
  const all = processes.values().sort(
    (a, b) =>
      processRank(a) - processRank(b) ||
      (a.processType || "").localeCompare(b.processType || "") ||
      (a.component || "").localeCompare(b.component || ""),
  );
  const rows = all.slice(0, MAX_ROWS);
  const stale = all.filter((p) => p.heartbeatStale).length;
  const summary = health.value;
  return html`
    <${ErrorNote} source=${health} />
    ${summary
      ? html`<p class="health" data-testid="health">
          <span class=${summary.healthy ? "badge ok" : "badge bad"}
            >${summary.healthy ? "Healthy" : "Unhealthy"}</span
          >
          ${summary.totalProcesses} processes in the last hour
          ${(summary.byStatus || []).map((c) => html` \u00b7 ${c.count} ${c.key}`)}
          ${stale ? html` \u00b7 <b class="down">${stale} stale</b>` : null}
        </p>`
      : null}
    <${ErrorNote} source=${processes} />
    ${rows.length === 0
      ? html`<${Waiting} source=${processes} empty="No process was active in the last hour." />`
      : html`<table class="data" data-testid="processes">
          <thead>
            <tr>
              <th>Type</th><th>Component</th><th>Status</th>
              <th class="num">Last heartbeat</th><th>Message</th>
            </tr>
          </thead>
          <tbody>
            ${rows.map((p) => {
              const beat = p.heartbeat || p.updatedAt;
              return html`<tr
                key=${p.processId}
                class=${p.heartbeatStale ? "stale" : ""}
                data-stale=${p.heartbeatStale ? "true" : "false"}
                title=${p.processId}
              >
                <td>${p.processType || fmt.DASH}</td>
                <td class="sym">${p.component || fmt.DASH}</td>
                <td>
                  ${p.heartbeatStale ? html`<span class="badge bad">stale</span> ` : null}
                  <${Status} status=${p.status} />
                </td>
                <td class="num" data-field="heartbeat-age">
                  ${beat ? `${fmt.age(fmt.since(beat, clock.value))} ago` : fmt.DASH}
                </td>
                <td class="message">${p.message || ""}</td>
              </tr>`;
            })}
          </tbody>
        </table>`}
    <${Truncated} shown=${rows.length} total=${all.length} />
  `;
}
