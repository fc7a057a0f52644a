#!/usr/bin/env bash
# Load benchmarks of the API (not part of the test suite), on loopback: starts the app in Release on a fresh demo
# database (5,000 customers, 1,000 products), trains an ALS champion, then drives it with the app's own load generator
# (`bench --parts http`: keep-alive connections, open loop: request k leaves at start + k/rate whatever the earlier ones
# do, and its latency counts from that planned moment, so a stall is not hidden by a client that waits):
#   1. recommendations for one user (C0000042) at a steady 500/s: after the first, every read is an in-memory hit
#   2. the same, peak (closed loop, 32 requests in flight)
#   3. recommendations for users drawn at random from all demo customers plus 5 % unknown ids, at 500/s, with the
#      answer cache's hit rate over the phase: a shop's traffic, every first read of a customer (answered from memory
#      once the cache is warm: the app reads every customer's list in bulk at start)
#   4. the same, peak
#   5. the event tracker at 100 events/s for one user, then 6. at 100/s and 7. at 500/s for random users: each request
#      stores the event and refreshes that user's cached recommendations by ALS fold-in before it answers, so its
#      latency is the event -> refreshed-recommendations time
# Each phase first runs 10 s unmeasured at the same rate (WARMUP=seconds to change it): the runtime compiles a newly
# used path twice over its first seconds (tiered compilation with dynamic PGO), and on 2 cores that shows in the p99
# of the first seconds after a start (one user's events: p99 36-65 ms measured from the 3rd second, 14-18 ms from the
# 10th). The figures are the steady state a running server gives.
# Every line carries the 1-minute load average at its end: on a shared machine, figures taken under load are not
# comparable. A summary of all phases is printed last.
# usage: scripts/load-test.sh [seconds per phase, default 30]
#        scripts/load-test.sh soak [seconds, default 300]: 500 req/s on recommendations for that long while a training
#        run (user-personalization, from the command line) and an Online Retail import run; errors, p99 and memory growth
# environment: CACHE_SECONDS=0 turns the answer cache off; EVENTS_WAIT_FOR_DISK=false answers events before their
#        write is flushed (Api:EventsWaitForDisk, see README); APP_DLL=path/Dashboard.dll serves (and seeds) with another
#        build, e.g. an older commit's for a before/after comparison, while this tree's build generates the load;
#        PHASES="3 5" runs only those phases (numbered as above); PHASES_JSON=file keeps every phase's full figures
#        (one JSON object a line, with the 20 slowest requests and when they were planned).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=load
if [ "${1:-}" = soak ]; then mode=soak; shift; fi
seconds=${1:-30}
[ "$mode" = soak ] && seconds=${1:-300}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
command -v hey >/dev/null || { as_root apt-get update -qq; DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq hey >/dev/null; }
base=$(mktemp -d /tmp/recs-load-XXXX)
chmod 755 "$base" # the embedded server runs as postgres when this runs as root
data=$base/pg
port=5087
dotnet build -c Release Dashboard -v quiet -nologo >/dev/null
dll=Dashboard/bin/Release/net10.0/Dashboard.dll
app_dll=${APP_DLL:-$dll}
db=(--Database:DataDirectory="$data")
dotnet "$app_dll" seed "${db[@]}" >/dev/null 2>&1
dotnet "$app_dll" train --recipe user-personalization "${db[@]}" >/dev/null 2>&1
key=$(dotnet "$app_dll" api-keys create load-test --scope write "${db[@]}" 2>/dev/null | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
[ -n "$key" ] || { echo "could not create an API key" >&2; exit 1; }
auth=(-H "X-Api-Key: $key")
# CACHE_SECONDS=0 measures every read against the database (the in-memory answer cache off). The events' rate limit is
# raised above the 500/s phase (its default is 500/s per client, and one client sends everything here).
ASPNETCORE_ENVIRONMENT=Production dotnet "$app_dll" --urls "http://127.0.0.1:$port" "${db[@]}" --DemoData:Enabled=false \
  --Api:EventsPerSecond=5000 --Api:EventsBurst=5000 ${CACHE_SECONDS:+--Api:CacheSeconds=$CACHE_SECONDS} \
  ${EVENTS_WAIT_FOR_DISK:+--Api:EventsWaitForDisk=$EVENTS_WAIT_FOR_DISK} >"$base/app.log" 2>&1 &
app=$!
trap 'kill -TERM $app 2>/dev/null; wait $app 2>/dev/null || true; rm -rf "$base"' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.5; done
url="http://127.0.0.1:$port/api/v1/users/C0000042/recommendations?count=10"

summary() { # hey's report -> one line: rps, percentiles (ms), status codes, errors
  awk -v name="$1" '
    /Requests\/sec:/ { rps = $2 }
    /% in / { p[$1] = $3 * 1000 }
    /^ *\[[0-9][0-9][0-9]\][ \t]+[0-9]+ responses/ { codes = codes " " $1 $2 }
    /Error distribution:/ { errors = 1 }
    END { printf "%-34s %8.1f req/s  p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms  statuses%s%s\n", name, rps, p["50%"], p["90%"], p["99%"], codes, (errors ? "  ERRORS (see above)" : "") }'
}

hey "${auth[@]}" -z 5s -c 32 "$url" >/dev/null # every pooled connection warm (prepared statements, catalog caches)
if [ "$mode" = soak ]; then
  memory() { curl -s "${auth[@]}" "http://127.0.0.1:$port/diagnostics/memory"; }
  echo "memory before: $(memory)"
  hey "${auth[@]}" -z "${seconds}s" -c 5 -q 100 "$url" > "$base/soak.txt" &
  load=$!
  sleep 20
  ( time dotnet "$dll" train --recipe user-personalization "${db[@]}" >/dev/null 2>"$base/train.log" ) 2>&1 | grep real | sed 's/^/training run: /' &
  train=$!
  ( time dotnet "$dll" import --online-retail ../shared/datasets/online-retail/online_retail.csv.gz "${db[@]}" >/dev/null 2>"$base/import.log" ) 2>&1 | grep real | sed 's/^/online retail import: /' &
  import=$!
  wait $load $train $import
  grep -E "warn|fail" -A1 "$base/app.log" | grep -v StaticFile | head -20 || true
  summary "soak: recommendations at 500/s" < "$base/soak.txt"
  grep -A20 "Error distribution" "$base/soak.txt" || echo "errors: none"
  echo "memory after: $(memory)"
  exit 0
fi
load_average() { cut -d' ' -f1 /proc/loadavg; }
# One phase with the app's load generator: its summary line, with the load average at the end of the phase.
phase_number=0
phase() {
  local line
  phase_number=$((phase_number + 1))
  if [ -n "${PHASES:-}" ] && [[ " $PHASES " != *" $phase_number "* ]]; then return; fi
  line=$(dotnet "$dll" bench --parts http --url "http://127.0.0.1:$port" --key "$key" --seconds "$seconds" --warmup "${WARMUP:-10}" "$@" 2>&1 >>"$base/phases.json" \
    | sed -n 's/^summary: //p; s/^  error /    error /p')
  printf '%s  load %s\n' "$line" "$(load_average)" | tee -a "$base/summary.txt"
}
echo "load average before the phases: $(load_average) (1 min; $(nproc) cores)"
phase --target recommendations --user C0000042 --rate 500 --label "recommendations, one user, 500/s"
phase --target recommendations --user C0000042 --rate 0 --concurrency 32 --label "recommendations, one user, peak"
phase --target recommendations --rate 500 --label "recommendations, random users, 500/s"
phase --target recommendations --rate 0 --concurrency 32 --label "recommendations, random users, peak"
phase --target events --user C0000042 --rate 100 --label "events, one user, 100/s"
phase --target events --rate 100 --label "events, random users, 100/s"
phase --target events --rate 500 --label "events, random users, 500/s"
curl -s "${auth[@]}" "http://127.0.0.1:$port/api/v1/users/C0000042/recommendations?count=3"; echo
curl -s "${auth[@]}" "http://127.0.0.1:$port/diagnostics/memory"; echo
grep -E "warn|fail" -A1 "$base/app.log" | grep -v StaticFile | head -10 || true
[ -n "${PHASES_JSON:-}" ] && cp "$base/phases.json" "$PHASES_JSON"
echo
echo "summary ($(date -u +%FT%TZ), ${seconds} s per phase; latency from each request's planned departure; load = 1-min load average at the phase's end):"
cat "$base/summary.txt"
