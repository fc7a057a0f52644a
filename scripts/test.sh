#!/usr/bin/env bash
# Runs every test: unit, component (bUnit), integration (real embedded PostgreSQL) and end-to-end
# (Playwright driving Debian's Chromium against the running app). Installs what the tests need when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ ! -x /usr/bin/chromium ]; then
  echo "Installing Debian's chromium for the end-to-end tests..."
  apt_install chromium
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  echo "Installing the PostgreSQL server binaries for the embedded database..."
  apt_install postgresql
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "Installing Node.js for the AWS SDK compatibility test..."
  apt_install nodejs npm
fi
# The official AWS SDK for JavaScript clients, pinned by package-lock.json.
if [ ! -d Dashboard.Tests/AwsSdk/node_modules/@aws-sdk/client-personalize-events ]; then
  echo "Installing the AWS SDK clients for the compatibility test (npm ci)..."
  (cd Dashboard.Tests/AwsSdk && npm ci --no-audit --no-fund --loglevel=error)
fi

# Test data directories a killed or failed run left behind (each holds a PostgreSQL cluster, ~90 MB; hundreds of them
# once filled the disk here). Older than six hours, so a run going on beside this one keeps its own.
find "${TMPDIR:-/tmp}" -maxdepth 1 -type d -regextype posix-extended -regex '.*/recs-(tests|life|e2e|foreign|external|cli|import)-.*' -mmin +360 \
  -exec rm -rf {} + 2>/dev/null || true

mkdir -p artifacts/test-results
rm -f artifacts/test-results/*.trx
status=0
dotnet test Recs.sln \
  --logger "trx;LogFileName=recs.trx" --results-directory artifacts/test-results \
  --blame-hang-timeout 10m || status=$?

# Safety net: a test host that was killed cannot stop its clusters; no test server may outlive the run.
pkill -f "postgres -D /tmp/recs-(tests|life|e2e|foreign)-" 2>/dev/null || true

# One plain closing line with the counts, whatever the runner printed above it.
trx=$(ls artifacts/test-results/*.trx 2>/dev/null | head -n 1 || true)
if [ -n "$trx" ]; then
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  passed=$(echo "$counters" | sed -E 's/.* passed="([0-9]+)".*/\1/')
  failed=$(echo "$counters" | sed -E 's/.* failed="([0-9]+)".*/\1/')
  total=$(echo "$counters" | sed -E 's/.* total="([0-9]+)".*/\1/')
  executed=$(echo "$counters" | sed -E 's/.* executed="([0-9]+)".*/\1/')
  echo "$passed passed, $failed failed, $((total - executed)) skipped"
fi
exit $status
