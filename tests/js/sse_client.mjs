// graphql-sse's own client (the reference implementation of the GraphQL over Server-Sent
// Events protocol) against fullon_cache_api.
//
//   node sse_client.mjs <url> <distinct|single> '<plan json>'
//
// The plan: {"requests": [{"query": ..., "variables": ...}, ...], "events": N, "apiKey": ...}.
// Every request is subscribed at once (in "single" mode over one reserved event stream, in
// "distinct" mode one stream each); each prints `RESULT {"op": i, "result": ...}` per event
// received, and stops after N events (the client ends the subscription). Prints `COMPLETE i`
// when the server completes operation i, `DONE` when all are over, and exits 0; any failure
// prints `ERROR ...` and exits 1.

import { createClient } from "graphql-sse";

const [url, mode, planText] = process.argv.slice(2);
if (!url || !["distinct", "single"].includes(mode) || !planText) {
  console.error("usage: node sse_client.mjs <url> <distinct|single> '<plan json>'");
  process.exit(2);
}
const plan = JSON.parse(planText);
const TIMEOUT_MS = Number(process.env.SSE_CLIENT_TIMEOUT_MS || 20000);

const client = createClient({
  url,
  singleConnection: mode === "single",
  retryAttempts: 0,
  headers: plan.apiKey ? { authorization: `Bearer ${plan.apiKey}` } : {},
});

async function run(request, op) {
  let received = 0;
  const iterator = client.iterate(request);
  for await (const result of iterator) {
    process.stdout.write(`RESULT ${JSON.stringify({ op, result })}\n`);
    received += 1;
    if (received >= plan.events) return; // ends the subscription (the iterator's return)
  }
  process.stdout.write(`COMPLETE ${op}\n`);
}

const timer = setTimeout(() => {
  process.stdout.write(`ERROR timed out after ${TIMEOUT_MS} ms\n`);
  process.exit(1);
}, TIMEOUT_MS);

try {
  await Promise.all(plan.requests.map((request, op) => run(request, op)));
  client.dispose();
  clearTimeout(timer);
  process.stdout.write("DONE\n");
} catch (error) {
  process.stdout.write(`ERROR ${error && error.stack ? error.stack : String(error)}\n`);
  process.exit(1);
}
