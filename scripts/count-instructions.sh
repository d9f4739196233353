#!/usr/bin/env bash
# Instructions per request on `GET /me`, counted with callgrind: the demo
# server (release build, one tokio worker, in-memory blocklist) and, given
# a command for it, a reference server started the same way. Counts do not
# depend on the machine's load, so they compare runs of different days.
#
# Usage:  scripts/count-instructions.sh TOKEN SECRET [BAD_TOKEN] [NAME=CMD ...]
#   TOKEN/SECRET  a valid HS256 token for issuer atomic-crm, audience
#                 atomic-crm-api, and its secret
#   BAD_TOKEN     also count the 401 path with it
#   NAME=CMD      more servers to count: CMD honours BIND_ADDR/SESSION_SECRET
#                 and prints `listening on [http://]ADDR` (the reference
#                 servers of ../shared/bench print it without the scheme)
# Env: SECS (4) seconds of counted load per path, OUT (/tmp/callgrind) for the
# callgrind files (read them with callgrind_annotate --inclusive=yes).
# Needs valgrind, wrk, curl. Traffic goes to 127.0.0.1 only; each server is
# stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
token=$1 secret=$2
shift 2
bad=""
if [ $# -gt 0 ] && [[ $1 != *=* ]]; then bad=$1; shift; fi
SECS=${SECS:-4}
OUT=${OUT:-/tmp/callgrind}
mkdir -p "$OUT"
# CRATE_BIN: another build of the demo server (e.g. with line tables, for
# callgrind_annotate by line); without it the release build is made here.
if [ -z "${CRATE_BIN:-}" ]; then cargo build --release -q --example server; fi

count() { # name cmd...
  local name=$1; shift
  local log="$OUT/$name.log" pid addr
  env -u REDIS_URL SESSION_SECRET="$secret" SESSION_ALGORITHM=HS256 SESSION_ISSUER=atomic-crm \
    SESSION_AUDIENCE=atomic-crm-api BIND_ADDR=127.0.0.1:0 TOKIO_WORKER_THREADS=1 \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/$name.%p.out" \
    "$@" >"$log" 2>"$OUT/$name.err" &
  pid=$!
  for _ in $(seq 600); do
    addr=$(grep -oE 'listening on (http://)?[0-9.:]+' "$log" | head -1 | sed -E 's%listening on (http://)?%%') || true
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "$name: no listening line" >&2; kill "$pid"; exit 1; }
  for path in 200 401; do
    local t=$token
    if [ $path = 401 ]; then [ -n "$bad" ] || continue; t=$bad; fi
    wrk -t1 -c1 -d2s -H "Authorization: Bearer $t" "http://$addr/me" >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    callgrind_control -i on "$pid" >/dev/null 2>&1
    local n
    n=$(wrk -t1 -c1 -d"${SECS}s" -H "Authorization: Bearer $t" "http://$addr/me" |
      awk '/requests in/ {print $1}')
    callgrind_control -i off "$pid" >/dev/null 2>&1
    callgrind_control -d "$name-$path" "$pid" >/dev/null 2>&1
    sleep 0.5
    local file total
    file=$(ls -t "$OUT/$name.$pid.out"* | head -1)
    total=$(grep -m1 '^totals:' "$file" | awk '{print $2}')
    echo "$name $path: $((total / n)) instructions per request ($n requests, $file)"
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

count crate "${CRATE_BIN:-target/release/examples/server}"
for spec in "$@"; do
  name=${spec%%=*}
  # shellcheck disable=SC2086
  count "$name" ${spec#*=}
done
