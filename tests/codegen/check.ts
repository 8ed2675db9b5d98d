// Type-checked with the generated files by tests/test_codegen.py (tsc --strict): the
// scalars have real types, ChangeKind is usable, and both generated files agree.
import type {
  BotsSubscription,
  ChangeKind,
  DashboardQuery,
  TickersSubscription,
} from "./gql/operations";
import type { Scalars, Ticker } from "./gql/schema-types";

type IsUnknown<T> = unknown extends T ? true : false;
type Item<L> = NonNullable<L> extends ReadonlyArray<infer T> ? T : never;

// Root Query fields are nullable (a failed field is null next to the others).
export function tickerCount(query: DashboardQuery): number {
  return query.tickers?.length ?? 0;
}

// DateTime is a string and JSON a JSON value: neither is `unknown`.
export const timeIsTyped: IsUnknown<Item<DashboardQuery["tickers"]>["time"]> = false;
export const dataIsTyped: IsUnknown<BotsSubscription["bots"]["items"][number]["data"]> = false;
export const schemaDateIsTyped: IsUnknown<Scalars["DateTime"]["output"]> = false;

export const kinds: ChangeKind[] = ["SNAPSHOT", "UPSERT", "REMOVE"];

export function latest(event: TickersSubscription): Map<string, number | null> {
  const prices = new Map<string, number | null>();
  if (event.tickers.kind === "SNAPSHOT") prices.clear();
  for (const item of event.tickers.items) prices.set(item.symbol, item.price);
  return prices;
}

export function updatedAt(query: DashboardQuery): Date | null {
  const text: string | null = query.account?.date ?? null;
  return text === null ? null : new Date(text);
}

export const document: BotsSubscription["bots"]["items"][number]["data"] = {
  status: "running",
  feeds: [{ symbol: "BTC/USDT", roi: 1.5 }],
};

export function symbolOf(ticker: Ticker): string {
  return ticker.symbol;
}
