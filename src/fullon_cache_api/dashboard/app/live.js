// Live data for the dashboard: one graphql-ws connection (graphql-transport-ws), the
// connection indicator, and the page-side state that subscriptions merge into.
//
// Nothing here touches the DOM. Every change marks its source dirty; the sources are
// flushed once per animation frame (FrameScheduler), so a burst of messages costs one
// render. Latest-value streams keep only the newest value (conflated); keyed streams merge
// SNAPSHOT / UPSERT / REMOVE into a Map bounded by `limit` entries.

import { createClient } from "graphql-ws";

export const KEY_STORAGE = "fullon_cache_api.dashboard.key";

/** Client keep-alive ping period (ms); the server answers each with a pong. */
const KEEP_ALIVE_MS = 5000;
/** No message at all for this long on an open socket: the data is stale; reconnect. */
const SILENCE_MS = 12000;
/** Reconnect back-off: 250 ms doubling to 4 s, plus up to 250 ms of jitter. */
const RETRY_BASE_MS = 250;
const RETRY_MAX_MS = 4000;
/** graphql-ws gives up on some close codes (1008, 1011, 4429, ...): start over after this. */
const RESTART_MS = 2000;
/** Delay before re-subscribing after a subscription error (doubling, bounded). */
const RESUBSCRIBE_MS = 1000;
const RESUBSCRIBE_MAX_MS = 15000;
/** Errors that the same operation would get again: not retried. */
const FINAL_CODES = new Set([
  "FORBIDDEN",
  "INVALID_ARGUMENT",
  "BAD_REQUEST",
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "QUERY_TOO_COMPLEX",
]);

// --------------------------------------------------------------------------- batching

/** Runs the callbacks marked since the last frame, once each, in the next frame. */
export class FrameScheduler {
  constructor() {
    this.dirty = new Set();
    this.pending = false;
    this.flush = this.flush.bind(this);
  }

  mark(callback) {
    this.dirty.add(callback);
    if (!this.pending) {
      this.pending = true;
      requestAnimationFrame(this.flush);
    }
  }

  flush() {
    this.pending = false;
    const callbacks = this.dirty;
    this.dirty = new Set();
    for (const callback of callbacks) {
      try {
        callback();
      } catch (error) {
        console.error(error);
      }
    }
  }
}

export const frames = new FrameScheduler();

/** Something the page renders; listeners are told at most once per frame. */
export class Source {
  constructor() {
    this.version = 0;
    this.error = null;
    this.listeners = new Set();
    this.notify = () => {
      for (const listener of this.listeners) listener(this.version);
    };
  }

  changed() {
    this.version += 1;
    frames.mark(this.notify);
  }

  listen(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setError(error) {
    this.error = error;
    this.changed();
  }
}

/** A latest-value stream: only the newest value is kept (conflated). */
export class Latest extends Source {
  constructor(value = null) {
    super();
    this.value = value;
    this.received = false;
  }

  set(value) {
    this.value = value;
    this.received = true;
    this.error = null;
    this.changed();
  }
}

/** A keyed stream ({kind, items}) merged into a Map of at most `limit` items.
 *
 * The Map is kept in order of last change, so when it is full the item changed least
 * recently is dropped first. `onUpsert(item, previous)` may annotate an item. */
export class Keyed extends Source {
  constructor(keyOf, { limit = 1000, onUpsert = null } = {}) {
    super();
    this.keyOf = keyOf;
    this.limit = limit;
    this.onUpsert = onUpsert;
    this.items = new Map();
    this.received = false;
  }

  apply(event) {
    if (!event) return;
    const items = event.items || [];
    if (event.kind === "SNAPSHOT") {
      const previous = this.items;
      this.items = new Map();
      for (const item of items) this.put(item, previous.get(this.keyOf(item)));
    } else if (event.kind === "UPSERT") {
      for (const item of items) {
        const key = this.keyOf(item);
        const previous = this.items.get(key);
        this.items.delete(key);
        this.put(item, previous);
      }
    } else if (event.kind === "REMOVE") {
      for (const item of items) this.items.delete(this.keyOf(item));
    }
    while (this.items.size > this.limit) {
      this.items.delete(this.items.keys().next().value);
    }
    this.received = true;
    this.error = null;
    this.changed();
  }

  put(item, previous) {
    if (this.onUpsert) this.onUpsert(item, previous);
    this.items.set(this.keyOf(item), item);
  }

  values() {
    return Array.from(this.items.values());
  }
}

/** Ticks once a second (ages of ticks and heartbeats). */
export const clock = new Latest(Date.now());
setInterval(() => clock.set(Date.now()), 1000);

// --------------------------------------------------------------------------- errors

/** The GraphQL errors of a failed operation, or null if it was not a GraphQL error. */
function graphqlErrors(error) {
  if (Array.isArray(error)) return error;
  if (error && Array.isArray(error.errors)) return error.errors;
  return null;
}

export function errorCode(error) {
  return (error && error.extensions && error.extensions.code) || null;
}

// --------------------------------------------------------------------------- connection

/**
 * One graphql-ws client (replaced when the API key changes) and every subscription the
 * page holds, re-attached to the client in use. graphql-ws itself re-subscribes after a
 * reconnect; the server then starts each stream with a snapshot.
 */
export class Connection {
  constructor(url) {
    this.url = url;
    this.client = null;
    this.subscriptions = new Set();
    this.key = null;
    this.generation = 0;
    this.status = new Latest({ state: "connecting", since: null, reason: null });
    this.onConnected = null; // called on every connection_ack
    this.lastMessageAt = 0;
    this.lastLiveAt = 0;
    this.watchdog = setInterval(() => this.checkSilence(), 1000);
  }

  /** (Re)connect, with `key` (or none) sent in connection_init. */
  start(key) {
    this.key = key || null;
    const generation = ++this.generation;
    if (this.client) {
      const old = this.client;
      this.client = null;
      old.dispose().catch(() => {});
    }
    this.setStatus(this.lastLiveAt ? "reconnecting" : "connecting");
    const mine = () => generation === this.generation;
    const client = createClient({
      url: this.url,
      lazy: false,
      keepAlive: KEEP_ALIVE_MS,
      retryAttempts: Infinity,
      shouldRetry: () => true,
      retryWait: async (retries) => {
        const wait = Math.min(RETRY_BASE_MS * 2 ** retries, RETRY_MAX_MS);
        await new Promise((resolve) => setTimeout(resolve, wait + Math.random() * 250));
      },
      connectionParams: () => (this.key ? { authorization: `Bearer ${this.key}` } : undefined),
      onNonLazyError: () => {
        // graphql-ws stopped retrying (a close code it deems fatal): a dashboard keeps trying.
        if (!mine()) return;
        if (this.lastLiveAt) this.setStatus("reconnecting");
        setTimeout(() => {
          if (mine()) this.start(this.key);
        }, RESTART_MS);
      },
      on: {
        connecting: () => {
          if (!mine()) return;
          if (this.lastLiveAt) this.setStatus("reconnecting");
        },
        connected: () => {
          if (!mine()) return;
          this.lastMessageAt = Date.now();
          this.lastLiveAt = Date.now();
          this.setStatus("live");
          if (this.onConnected) this.onConnected();
        },
        message: () => {
          if (!mine()) return;
          this.lastMessageAt = Date.now();
          if (this.status.value.state === "live") this.lastLiveAt = this.lastMessageAt;
          else if (this.status.value.state === "stale") this.setStatus("live");
        },
        closed: (event) => {
          if (!mine()) return;
          const code = event && event.code;
          if (code === 4403) {
            const reason = (event && event.reason) || "forbidden";
            this.generation += 1; // ignore whatever this client does next
            this.client = null;
            client.dispose().catch(() => {});
            if (/origin/i.test(reason)) {
              this.setStatus("refused", reason);
            } else {
              this.setStatus("auth", this.key ? reason : null);
            }
            return;
          }
          if (this.status.value.state !== "connecting" || this.lastLiveAt) {
            this.setStatus("reconnecting");
          }
        },
      },
    });
    this.client = client;
    for (const sub of this.subscriptions) this.attach(sub);
  }

  setStatus(state, reason = null) {
    const previous = this.status.value;
    // "since": when the data on screen was last known to be current.
    const since = state === "live" ? null : previous.since || this.lastLiveAt || null;
    if (previous.state === state && previous.reason === reason && previous.since === since) return;
    this.status.set({ state, since, reason });
  }

  /** An open socket that has said nothing (not even a pong) for too long is dead. */
  checkSilence() {
    if (!this.client || this.status.value.state !== "live") return;
    if (Date.now() - this.lastMessageAt > SILENCE_MS) {
      this.setStatus("stale");
      this.client.terminate(); // graphql-ws reconnects and re-subscribes
    }
  }

  /**
   * Subscribe (or query) `query` with `variables`. `handlers.next(data, errors)` gets every
   * result; `handlers.error(errors)` a failed operation (then, unless the error would come
   * again, e.g. FORBIDDEN, the operation is retried with back-off). Returns a function that
   * ends it.
   */
  subscribe(query, variables, handlers) {
    const sub = { query, variables, handlers, dispose: null, timer: null, delay: RESUBSCRIBE_MS };
    this.subscriptions.add(sub);
    if (this.client) this.attach(sub);
    return () => {
      this.subscriptions.delete(sub);
      clearTimeout(sub.timer);
      if (sub.dispose) sub.dispose();
      sub.dispose = null;
    };
  }

  attach(sub) {
    const client = this.client;
    let done = false;
    sub.dispose = client.subscribe(
      { query: sub.query, variables: sub.variables },
      {
        next: (result) => {
          if (done || client !== this.client) return;
          sub.delay = RESUBSCRIBE_MS;
          sub.handlers.next(result.data || null, result.errors || null);
        },
        error: (error) => {
          done = true;
          if (client !== this.client || !this.subscriptions.has(sub)) return;
          const errors = graphqlErrors(error);
          if (!errors) return; // the connection failed: the status shows it
          if (sub.handlers.error) sub.handlers.error(errors);
          if (errors.some((e) => FINAL_CODES.has(errorCode(e)))) return;
          // SLOW_CONSUMER, CACHE_UNAVAILABLE, ...: subscribe again for a fresh snapshot.
          sub.timer = setTimeout(() => {
            if (this.subscriptions.has(sub) && this.client) this.attach(sub);
          }, sub.delay);
          sub.delay = Math.min(sub.delay * 2, RESUBSCRIBE_MAX_MS);
        },
        complete: () => {
          done = true;
        },
      },
    );
  }

  /** Run a query over the socket once; resolves with {data, errors}. */
  query(query, variables = {}) {
    return new Promise((resolve) => {
      let result = { data: null, errors: null };
      const client = this.client;
      if (!client) {
        resolve(result);
        return;
      }
      client.subscribe(
        { query, variables },
        {
          next: (value) => {
            result = { data: value.data || null, errors: value.errors || null };
          },
          error: (error) => resolve({ data: null, errors: graphqlErrors(error) || [] }),
          complete: () => resolve(result),
        },
      );
    });
  }
}
