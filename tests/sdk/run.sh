#!/usr/bin/env bash
# Real-client suite: the official Python (anthropic, openai + pytest) and Node (@anthropic-ai/sdk,
# openai + node's test runner) SDKs against the live gateway with the scripted test channel, then
# the grok lane: the same SDKs against a second gateway whose grok channel is backed by the
# simulator (`orchids-server simulate grok --port 0`, its try-it line merged into the config).
#
# Installs into $CACHE/sdk (default .cache/sdk) once and reuses it; starts the server on a free
# port with a temp config (test_channel: true, one api key); runs both suites; prints
#   sdk: N passed, M failed
# as its last line and exits non-zero when anything failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
CACHE="${ORCHIDS_TEST_CACHE:-$ROOT/.cache}"
SDK="$CACHE/sdk"
mkdir -p "$SDK/node"

say() { printf '[sdk] %s\n' "$*"; }

# --- Python venv (idempotent: reinstalls only when requirements changed) ---
REQ="$ROOT/tests/sdk/requirements.txt"
if [ ! -x "$SDK/venv/bin/python" ]; then
  say "creating venv in $SDK/venv"
  python3 -m venv "$SDK/venv"
fi
if ! cmp -s "$REQ" "$SDK/venv/.installed-requirements" 2>/dev/null; then
  say "installing Python SDKs"
  "$SDK/venv/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$SDK/venv/.installed-requirements"
fi

# --- Node packages (idempotent) ---
PKG="$ROOT/tests/sdk/package.json"
if ! cmp -s "$PKG" "$SDK/node/package.json" 2>/dev/null || [ ! -d "$SDK/node/node_modules/@anthropic-ai/sdk" ] \
   || [ ! -d "$SDK/node/node_modules/openai" ]; then
  say "installing Node SDKs"
  cp "$PKG" "$SDK/node/package.json"
  (cd "$SDK/node" && npm install --no-audit --no-fund --silent)
fi

# --- The server ---
cargo build --quiet --bin orchids-server
BIN="$ROOT/target/debug/orchids-server"
TMP="$(mktemp -d)"
KEY="sk-sdk-suite-$(date +%s)-$$"
cat > "$TMP/config.json" <<JSON
{"host":"127.0.0.1","port":0,"workers":2,"api_keys":["$KEY"],"test_channel":true,
 "data_dir":"$TMP/data","log_level":"info"}
JSON
"$BIN" --config "$TMP/config.json" > /dev/null 2> "$TMP/server.log" &
PID=$!
GROK_PID=""; SIM_PID=""
stop_pid() {
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  stop_pid "$PID"; stop_pid "$GROK_PID"; stop_pid "$SIM_PID"
  rm -rf "$TMP"
}
trap cleanup EXIT
ADDR=""
for _ in $(seq 1 300); do
  ADDR="$(grep -o 'listening on [0-9.]*:[0-9]*' "$TMP/server.log" | head -1 | awk '{print $3}')" || true
  [ -n "$ADDR" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$TMP/server.log" >&2; echo "sdk: 0 passed, 1 failed"; exit 1; }
  sleep 0.1
done
if [ -z "$ADDR" ]; then cat "$TMP/server.log" >&2; echo "sdk: 0 passed, 1 failed"; exit 1; fi
say "gateway on $ADDR"
export ORCHIDS_BASE_URL="http://$ADDR" ORCHIDS_API_KEY="$KEY" ORCHIDS_NODE_MODULES="$SDK/node/node_modules"

# --- Python suite ---
set +e
"$SDK/venv/bin/python" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning \
  "$ROOT/tests/sdk/test_sdk.py" 2>&1 | tee "$TMP/py.log"
py_status=${PIPESTATUS[0]}
# --- Node suite ---
node --test --test-reporter=tap "$ROOT/tests/sdk/sdk.test.mjs" > "$TMP/node.log" 2>&1
node_status=$?
set -e
grep -E '^(not ok|# (tests|pass|fail))' "$TMP/node.log" || true

# --- Grok lane: simulator + a second gateway with its try-it line merged in ---
"$BIN" simulate grok --port 0 > "$TMP/sim.out" 2> "$TMP/sim.log" &
SIM_PID=$!
for _ in $(seq 1 300); do [ -s "$TMP/sim.out" ] && break; sleep 0.1; done
head -n1 "$TMP/sim.out" > "$TMP/tryit.json"
jq -s '.[0] * .[1]' "$TMP/config.json" "$TMP/tryit.json" | jq --arg d "$TMP/grokdata" '.test_channel = false | .data_dir = $d' \
  > "$TMP/grok.json"
"$BIN" --config "$TMP/grok.json" > /dev/null 2> "$TMP/grok-server.log" &
GROK_PID=$!
GROK_ADDR=""
for _ in $(seq 1 300); do
  GROK_ADDR="$(grep -o 'listening on [0-9.]*:[0-9]*' "$TMP/grok-server.log" | head -1 | awk '{print $3}')" || true
  [ -n "$GROK_ADDR" ] && break
  kill -0 "$GROK_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$GROK_ADDR" ]; then cat "$TMP/sim.log" "$TMP/grok-server.log" >&2; echo "sdk: 0 passed, 1 failed"; exit 1; fi
say "grok gateway on $GROK_ADDR (simulator: $(jq -r '.channels.grok.web_base_url' "$TMP/tryit.json"))"
export ORCHIDS_GROK_BASE_URL="http://$GROK_ADDR"
set +e
"$SDK/venv/bin/python" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning \
  "$ROOT/tests/sdk/test_grok.py" 2>&1 | tee -a "$TMP/py.log"
py_grok_status=${PIPESTATUS[0]}
node --test --test-reporter=tap "$ROOT/tests/sdk/grok.test.mjs" > "$TMP/node-grok.log" 2>&1
node_grok_status=$?
set -e
grep -E '^(not ok|# (tests|pass|fail))' "$TMP/node-grok.log" || true
cat "$TMP/node-grok.log" >> "$TMP/node.log"
[ "$py_grok_status" -ne 0 ] && py_status=$py_grok_status
[ "$node_grok_status" -ne 0 ] && node_status=$node_grok_status

count() { { grep -Eo "$1" "$2" || true; } | awk -v f="$3" '{s+=$f} END {print s+0}'; }
py_pass=$(count '[0-9]+ passed' "$TMP/py.log" 1)
py_fail=$(count '[0-9]+ (failed|errors?)' "$TMP/py.log" 1)
node_pass=$(count '^# pass [0-9]+' "$TMP/node.log" 3)
node_fail=$(count '^# fail [0-9]+' "$TMP/node.log" 3)
if [ "$py_status" -ne 0 ] && [ "$py_fail" -eq 0 ]; then py_fail=1; fi
if [ "$node_status" -ne 0 ] && [ "$node_fail" -eq 0 ]; then node_fail=1; fi
if [ "$node_fail" -ne 0 ]; then grep -A30 '^not ok' "$TMP/node.log" | head -80 >&2 || true; fi
passed=$((py_pass + node_pass)); failed=$((py_fail + node_fail))
say "python: $py_pass passed, $py_fail failed; node: $node_pass passed, $node_fail failed"
echo "sdk: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
