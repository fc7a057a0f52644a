#!/usr/bin/env bash
# Load benchmarks of the API (not part of the test suite): starts the app in Release on a fresh demo database,
# trains an ALS champion, and drives it with autocannon (npm) on loopback. Prints the figures as JSON.
# usage: scripts/load-test.sh [seconds per phase, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
data=$(mktemp -d /tmp/recs-load-XXXX)/pg
port=5087
[ -d bench/load/node_modules/autocannon ] || (cd bench/load && npm ci --no-audit --no-fund --loglevel=error)
dotnet build -c Release Dashboard -v quiet -nologo >/dev/null
dll=Dashboard/bin/Release/net10.0/Dashboard.dll
db=(--Database:DataDirectory="$data")
dotnet "$dll" seed "${db[@]}" >/dev/null
dotnet "$dll" train --recipe user-personalization "${db[@]}" >/dev/null
ASPNETCORE_ENVIRONMENT=Production dotnet "$dll" --urls "http://127.0.0.1:$port" "${db[@]}" --DemoData:Enabled=false >/tmp/recs-load-app.log 2>&1 &
app=$!
trap 'kill -TERM $app 2>/dev/null; wait $app 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.5; done
node bench/load/run.mjs "http://127.0.0.1:$port" 5000 1000 "$seconds"
curl -s "http://127.0.0.1:$port/diagnostics/memory"; echo
