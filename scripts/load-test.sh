#!/usr/bin/env bash
# Load benchmarks of the API (not part of the test suite), with hey (Debian's package) on loopback: starts the app in
# Release on a fresh demo database, trains an ALS champion, then
#   1. cached recommendations at a steady 500 requests/s (5 workers × 100/s, each evenly spaced): latency percentiles
#   2. cached recommendations unthrottled (32 connections): peak throughput
#   3. the event tracker at a steady 100 events/s: each request stores the event and refreshes the user's cached
#      recommendations by ALS fold-in before it answers, so its latency is the event -> refreshed-recommendations time
# usage: scripts/load-test.sh [seconds per phase, default 30]
#        scripts/load-test.sh soak [seconds, default 300]: 500 req/s on recommendations for that long while a training
#        run (user-personalization, from the command line) and an Online Retail import run; errors, p99 and memory growth
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
db=(--Database:DataDirectory="$data")
dotnet "$dll" seed "${db[@]}" >/dev/null 2>&1
dotnet "$dll" train --recipe user-personalization "${db[@]}" >/dev/null 2>&1
key=$(dotnet "$dll" api-keys create load-test --scope write "${db[@]}" 2>/dev/null | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
[ -n "$key" ] || { echo "could not create an API key" >&2; exit 1; }
auth=(-H "X-Api-Key: $key")
# CACHE_SECONDS=0 measures every read against the database (the in-memory answer cache off).
ASPNETCORE_ENVIRONMENT=Production dotnet "$dll" --urls "http://127.0.0.1:$port" "${db[@]}" --DemoData:Enabled=false \
  ${CACHE_SECONDS:+--Api:CacheSeconds=$CACHE_SECONDS} >"$base/app.log" 2>&1 &
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
hey "${auth[@]}" -z "${seconds}s" -c 5 -q 100 "$url" | tee "$base/steady.txt" | summary "recommendations at 500 req/s"
hey "${auth[@]}" -z "${seconds}s" -c 32 "$url" | tee "$base/peak.txt" | summary "recommendations, peak"
hey "${auth[@]}" -z "${seconds}s" -c 4 -q 25 -m POST -T application/json \
  -d '{"user_id": "C0000042", "session_id": "load", "events": [{"item_id": "P000042", "event_type": "purchase"}]}' \
  "http://127.0.0.1:$port/api/v1/events" | tee "$base/events.txt" | summary "events (store + fold-in) at 100/s"
curl -s "${auth[@]}" "http://127.0.0.1:$port/api/v1/users/C0000042/recommendations?count=3"; echo
curl -s "${auth[@]}" "http://127.0.0.1:$port/diagnostics/memory"; echo
