#!/usr/bin/env bash
# Two demo servers sharing one Redis, for trying "Several servers" by hand.
#
#   scripts/two-servers.sh
#
# Starts redis-server on a free loopback port and two demo servers on it
# (same secret), prints their addresses, and stops all three (by PID) on
# Ctrl-C. Log in on one, log out on the other, and watch the token die on both.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null || { echo "error: redis-server is required (apt-get install redis-server)" >&2; exit 1; }
cargo build --quiet --release --example server
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WORK=$(mktemp -d)
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$WORK" --appendonly yes --daemonize no >"$WORK/redis.log" &
PIDS=($!)
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT INT TERM
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
export SESSION_SECRET=${SESSION_SECRET:-two-servers-demo-secret-at-least-32-bytes}
export REDIS_URL="redis://127.0.0.1:$PORT/0"
for name in a b; do
  BIND_ADDR=127.0.0.1:0 target/release/examples/server >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=($!)
done
for name in a b; do
  for _ in $(seq 100); do [ -s "$WORK/$name.out" ] && break; sleep 0.05; done
  echo "server $name: $(cat "$WORK/$name.out")"
done
echo "redis: $REDIS_URL (Ctrl-C stops everything)"
wait
