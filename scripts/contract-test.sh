#!/usr/bin/env bash
# Contract test: starts the built app on the embedded store and runs schemathesis against its own
# OpenAPI document (/api/docs-json), once as a normal user and once as an admin. Every check is on;
# a response, status, content type or validation decision that disagrees with the document fails.
#
#   scripts/contract-test.sh            builds first (npm run build + the embedded store)
#   CONTRACT_SKIP_BUILD=1 scripts/contract-test.sh       uses the existing build
#
# Needs the schemathesis virtualenv (.ci/run creates it):
#   python3 -m venv .venv-schemathesis && .venv-schemathesis/bin/pip install schemathesis
# Knobs: CONTRACT_MAX_EXAMPLES (20), CONTRACT_RUN_TIMEOUT seconds per identity (200),
# CONTRACT_SEED (fixed, so a failure reproduces), CONTRACT_APP_ENTRY (dist/src/main.js).
set -euo pipefail
cd "$(dirname "$0")/.."

schemathesis=.venv-schemathesis/bin/schemathesis
if [ ! -x "$schemathesis" ]; then
  echo "[contract] $schemathesis is missing: python3 -m venv .venv-schemathesis && .venv-schemathesis/bin/pip install schemathesis" >&2
  exit 2
fi

if [ "${CONTRACT_SKIP_BUILD:-0}" != "1" ]; then
  npm run build --silent
  node scripts/build-embedded-store.js
fi

entry=${CONTRACT_APP_ENTRY:-dist/src/main.js}
max_examples=${CONTRACT_MAX_EXAMPLES:-20}
run_timeout=${CONTRACT_RUN_TIMEOUT:-200}
seed=${CONTRACT_SEED:-20261202}

work=$(mktemp -d)
app_pid=
cleanup() {
  if [ -n "$app_pid" ] && kill -0 "$app_pid" 2>/dev/null; then
    kill "$app_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$app_pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$app_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
export NODE_ENV=test
export LOG_LEVEL=error
export HOST=127.0.0.1
export PORT=$port
export DATA_DIR=$work/data
export JWT_SECRET=contract-test-only-secret-0123456789abcdef
# The send budget is a per-user rate limit, not part of the request contract: keep it out of the way.
export CHAT_RATE_LIMIT_PER_MINUTE=100000
unset MONGODB_URI
mkdir -p "$DATA_DIR"

echo "[contract] starting the app on 127.0.0.1:$port (log: app.log in the run's temp dir, printed on failure)"
node "$entry" >"$work/app.log" 2>&1 &
app_pid=$!
base=http://127.0.0.1:$port
ready() { node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$base/api/v1/health/ready"; }
for _ in $(seq 1 180); do
  if ready; then break; fi
  if ! kill -0 "$app_pid" 2>/dev/null; then
    echo "[contract] the app exited before it was ready:" >&2
    tail -n 40 "$work/app.log" >&2
    exit 1
  fi
  sleep 0.5
done
if ! ready; then
  echo "[contract] the app was not ready within 90 s" >&2
  tail -n 40 "$work/app.log" >&2
  exit 1
fi

user_token=$(node scripts/token.js --sub contract-user --roles warehouse_operator,supervisor --expires-in 1h)
admin_token=$(node scripts/token.js --sub contract-admin --roles admin,supervisor --expires-in 1h)

# One worker: hypothesis parses source in threads, and CPython 3.11 can fail that with a
# SystemError ("AST constructor recursion depth mismatch") when two workers do it at once.
# --generation-allow-x00 false / --generation-codec utf-8: every string the API takes must be valid
# Unicode without NUL (a rule of the JSON guard, stated in the README; JSON Schema cannot say it
# for every string at once), so generating such strings would only test that one rule, everywhere.
run() {
  local who=$1 token=$2
  echo
  echo "[contract] schemathesis as $who"
  local status=0
  SCHEMATHESIS_HOOKS=scripts/schemathesis_hooks.py timeout --kill-after=10 "$run_timeout" "$schemathesis" --config-file scripts/schemathesis.toml run "$base/api/docs-json" \
    --checks all \
    --header "Authorization: Bearer $token" \
    --max-examples "$max_examples" \
    --seed "$seed" \
    --continue-on-failure \
    --generation-allow-x00 false \
    --generation-codec utf-8 \
    --request-timeout 20 \
    --no-color \
    --output-truncate true \
    --generation-database none \
    --workers 1 || status=$?
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "[contract] schemathesis as $who did not finish within ${run_timeout}s" >&2
  fi
  return "$status"
}

failed=0
run user "$user_token" || failed=1
run admin "$admin_token" || failed=1

if [ "$failed" -ne 0 ]; then
  echo
  echo "[contract] FAILED; the app's last log lines:"
  tail -n 20 "$work/app.log"
  exit 1
fi
echo
echo "[contract] passed as user and as admin"
