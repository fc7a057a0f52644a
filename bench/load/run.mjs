// Load benchmarks of a running Recs with autocannon, on loopback. Prints one JSON object.
// usage: node run.mjs BASE_URL USERS ITEMS [SECONDS]
//   USERS: demo customers C0000001..C<USERS>; ITEMS: products P000001..P<ITEMS>
// 1. cached recommendations at a fixed 500 requests/s (the cloud service's default per-campaign limit): latency
// 2. cached recommendations, unthrottled: peak throughput and its latency
// 3. the event tracker at a fixed 100 events/s: each request stores the event and refreshes the user's cached
//    recommendations by fold-in before it answers, so its latency is the event -> refreshed-recommendations time
import autocannon from "autocannon";

const [base, users, items, seconds = "30"] = process.argv.slice(2);
const duration = Number(seconds);
const pick = (n) => 1 + Math.floor(Math.random() * Number(n));
const user = () => `C${String(pick(users)).padStart(7, "0")}`;
const item = () => `P${String(pick(items)).padStart(6, "0")}`;

function run(options) {
  return new Promise((resolve, reject) => {
    autocannon({ url: base, duration, ...options }, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

function summary(result) {
  const l = result.latency;
  return {
    requests: result.requests.total,
    requests_per_second: result.requests.average,
    latency_ms: { p50: l.p50, p90: l.p90, p99: l.p99, p99_9: l.p99_9, max: l.max, mean: Number(l.average.toFixed(3)) },
    non_2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

// Warm-up: JIT, connection pools, the serving model.
await run({ duration: 5, connections: 10, requests: [{ setupRequest: (r) => ({ ...r, path: `/api/v1/users/${user()}/recommendations?count=10` }) }] });

const recommendations = [{ setupRequest: (r) => ({ ...r, path: `/api/v1/users/${user()}/recommendations?count=10` }) }];
const at500 = await run({ connections: 20, overallRate: 500, requests: recommendations });
const peak = await run({ connections: 32, requests: recommendations });
const events = await run({
  connections: 10,
  overallRate: 100,
  requests: [{
    method: "POST",
    setupRequest: (r) => ({
      ...r,
      path: "/api/v1/events",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user_id: user(), session_id: "load", events: [{ item_id: item(), event_type: "purchase", sent_at: new Date().toISOString() }] }),
    }),
  }],
});

console.log(JSON.stringify({
  duration_seconds: duration,
  recommendations_at_500_rps: summary(at500),
  recommendations_peak: summary(peak),
  events_at_100_rps: summary(events),
}, null, 2));
