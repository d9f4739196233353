#!/usr/bin/env bash
# HTTP load benchmark: bare axum vs tower-jwt-session variants vs jwt-authorizer.
#
#   scripts/load.sh [REPS] [SECONDS]      (defaults: 5 reps of 5 s)
#   ONLY=layer-cache,layer-redis scripts/load.sh 20 3   (some variants only)
#
# Builds benches/load (a separate package), then for each rep runs every
# variant in turn: the server pinned to core 0, wrk pinned to core 1, over
# loopback; every other rep runs the variants in reverse order, so that a
# drift of the machine's speed during a rep favours no variant. Prints each
# rep's requests/s and, per variant, the median of the ratios to bare axum
# (and between related variants) taken within the same rep. Needs wrk, redis-server,
# redis-cli and taskset (apt-get install wrk redis-server util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-5}
SECS=${2:-5}
CONNS=${CONNS:-32}
for tool in wrk redis-server redis-cli taskset; do
  command -v "$tool" >/dev/null || { echo "error: $tool is required" >&2; exit 1; }
done

CARGO_TARGET_DIR="$PWD/target" cargo build --quiet --release --manifest-path benches/load/Cargo.toml
BIN="$PWD/target/release/tower-jwt-session-load"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Our own redis-server on a free loopback port.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
REDIS_URL="redis://127.0.0.1:$PORT/0"

redis_calls() {
  redis-cli -p "$PORT" info commandstats | sed -n 's/.*calls=\([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s+0}'
}

# name: server variant + which token
CASES=(bare:bare:token layer:layer:token layer-cache:layer-cache:token layer-redis:layer-redis:token jwt-authorizer:jwt-authorizer:token layer-401:layer:forged jwt-authorizer-401:jwt-authorizer:forged)
if [ -n "${ONLY:-}" ]; then
  KEPT=()
  for case in "${CASES[@]}"; do
    [[ ",$ONLY," == *",${case%%:*},"* ]] && KEPT+=("$case")
  done
  CASES=("${KEPT[@]}")
fi

run_case() { # variant token-kind -> prints requests/s
  local variant=$1 kind=$2 out="$WORK/server.out"
  taskset -c 0 "$BIN" "$variant" 127.0.0.1:0 "$REDIS_URL" >"$out" 2>"$WORK/server.err" &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 200); do [ "$(wc -l <"$out")" -ge 3 ] && break; sleep 0.02; done
  local addr token
  addr=$(sed -n 's/^listening on //p' "$out")
  token=$(sed -n "s/^$kind: //p" "$out")
  # Warm up (caches, connections), then measure.
  taskset -c 1 wrk -t1 -c"$CONNS" -d1s -H "Authorization: Bearer $token" "$addr/" >/dev/null
  local before after rps
  before=$(redis_calls)
  rps=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" -H "Authorization: Bearer $token" "$addr/" \
    | awk '/Requests\/sec/ {print $2}')
  after=$(redis_calls)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$rps $((after - before))"
}

declare -A RPS RATIOS
echo "wrk: 1 thread, $CONNS connections, ${SECS}s per run, $REPS reps; server on core 0, wrk on core 1"
for rep in $(seq "$REPS"); do
  declare -A THIS=()
  ORDER=("${CASES[@]}")
  if [ $((rep % 2)) -eq 0 ]; then
    ORDER=()
    for ((i = ${#CASES[@]} - 1; i >= 0; i--)); do ORDER+=("${CASES[$i]}"); done
  fi
  for case in "${ORDER[@]}"; do
    IFS=: read -r name variant kind <<<"$case"
    read -r rps calls <<<"$(run_case "$variant" "$kind")"
    THIS[$name]=$rps
    RPS[$name]="${RPS[$name]:-} $rps"
    [ "$name" = layer-redis ] && echo "rep $rep: layer-redis sent $calls Redis commands during the measured run"
  done
  ratio() { # name numerator denominator: records THIS[num] / THIS[den] when both ran
    [ -n "${THIS[$2]:-}" ] && [ -n "${THIS[$3]:-}" ] || return 0
    RATIOS[$1]="${RATIOS[$1]:-} $(python3 -c "print(${THIS[$2]} / ${THIS[$3]})")"
  }
  for case in "${CASES[@]}"; do
    IFS=: read -r name _ _ <<<"$case"
    ratio "$name" "$name" bare
  done
  ratio redis-vs-memory layer-redis layer-cache
  ratio layer-vs-jwt-authorizer layer jwt-authorizer
  ratio layer-cache-vs-jwt-authorizer layer-cache jwt-authorizer
  echo "rep $rep: $(for c in "${CASES[@]}"; do n=${c%%:*}; printf '%s=%s ' "$n" "${THIS[$n]}"; done)"
done

median() { python3 -c "import statistics,sys; print(f'{statistics.median(float(x) for x in sys.argv[1:]):.3f}')" "$@"; }
echo
echo "| variant | median requests/s | median same-rep ratio |"
echo "| --- | --- | --- |"
for case in "${CASES[@]}"; do
  IFS=: read -r name _ _ <<<"$case"
  # shellcheck disable=SC2086
  if [ -n "${RATIOS[$name]:-}" ]; then
    # shellcheck disable=SC2086
    echo "| $name | $(median ${RPS[$name]}) | $(median ${RATIOS[$name]})x bare |"
  else
    # shellcheck disable=SC2086
    echo "| $name | $(median ${RPS[$name]}) | |"
  fi
done
for k in redis-vs-memory layer-vs-jwt-authorizer layer-cache-vs-jwt-authorizer; do
  [ -n "${RATIOS[$k]:-}" ] || continue
  # shellcheck disable=SC2086
  echo "| $k | | $(median ${RATIOS[$k]})x (per rep:${RATIOS[$k]}) |"
done
