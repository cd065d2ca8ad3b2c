#!/usr/bin/env bash
# Runs every test of Cordon: unit, conformance (SQLite and PostgreSQL), the HTTP
# integration tests on SQLite and again on PostgreSQL, and the browser tests in Debian's
# Chromium (on SQLite). Installs what is missing (Chromium, the e2e npm packages) and starts
# PostgreSQL if it is down. Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CORDON_TEST_PG="${CORDON_TEST_PG:-postgres://postgres@127.0.0.1/test}"

started=$SECONDS
step() { printf '\n== %s (at %ss)\n' "$*" "$((SECONDS - started))"; }

step "PostgreSQL"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break; sleep 1; done
fi
pg_up=yes
pg_isready -h 127.0.0.1 -p 5432 || { pg_up=no; echo "PostgreSQL is not reachable: its tests will fail under CI=true, skip otherwise"; }

step "Chromium and npm packages for the browser tests"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
(cd e2e && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi)

step "lint wall (cargo fmt --check, cargo clippy -D warnings)"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, conformance on SQLite and PostgreSQL, HTTP on SQLite)"
CORDON_TEST_BACKEND=sqlite cargo test --workspace --locked

# The same HTTP tests against a server on PostgreSQL (a fresh schema per test app); only
# the web:: tests, not the conformance suites again.
step "HTTP integration tests on PostgreSQL (CORDON_TEST_BACKEND=postgres)"
if [ "$pg_up" = yes ] || [ "${CI:-}" = true ]; then
  CORDON_TEST_BACKEND=postgres cargo test -p cordon --test it --locked -- web::
else
  echo "!!! SKIPPED: PostgreSQL unreachable (CI is not true)"
fi

step "browser tests (Playwright in Chromium)"
cargo build -p cordon --locked
CORDON_BIN="$PWD/target/debug/cordon" npm --prefix e2e test

step "all tests passed"
