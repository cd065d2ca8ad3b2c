#!/usr/bin/env bash
# API fuzzing: Schemathesis (from PyPI, into a local virtual environment) against
# /api/openapi.json of a demo server, as a district role (commander) and a narrow role
# (building leader), each bounded in time. Fails on any server error (5xx).
#   scripts/schemathesis.sh [SECONDS_PER_ROLE]   (default 120)
set -euo pipefail
cd "$(dirname "$0")/.."
budget="${1:-120}"
venv="$PWD/.venv-schemathesis"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  # hypothesis 6.120+ removed an internal schemathesis 3 uses ("many" has no "more").
  "$venv/bin/pip" install --quiet "schemathesis>=3.39,<4" "hypothesis<6.120"
fi
bin="${CORDON_BIN:-$PWD/target/debug/cordon}"
[ -x "$bin" ] || cargo build -p cordon --locked
work="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
db="$work/fuzz.db"
"$bin" --db "$db" demo --no-serve --population 3000 >/dev/null 2>&1
commander=$("$bin" --db "$db" token add --username commander --label schemathesis)
leader=$("$bin" --db "$db" token add --username building_leader --label schemathesis)
RUST_LOG=info "$bin" --db "$db" serve --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/api/ping" >/dev/null && break; sleep 0.1; done
status=0
for who in commander leader; do
  token="${!who}"
  echo "== schemathesis as $who (${budget}s)"
  timeout --signal=INT --kill-after=15 "$budget" "$venv/bin/schemathesis" run "http://127.0.0.1:$port/api/openapi.json" \
    --header "Authorization: Bearer $token" --checks not_a_server_error --experimental=openapi-3.1 \
    --hypothesis-max-examples 200 --hypothesis-deadline 5000 --workers 2 \
    --no-color --junit-xml="$work/$who.xml" 2>&1 | tail -25 || true
  if grep -q '<failure' "$work/$who.xml" 2>/dev/null; then status=1; fi
  # The server's own log: every answer's status (colour codes stripped).
  sed 's/\x1b\[[0-9;]*m//g' "$work/serve.log" | grep -o 'handled status=[0-9]*' | sort | uniq -c
  if sed 's/\x1b\[[0-9;]*m//g' "$work/serve.log" | grep -q 'handled status=5'; then status=1; fi
done
exit $status
