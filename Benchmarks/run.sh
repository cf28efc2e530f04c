#!/usr/bin/env bash
# Load benchmarks against a release build on SQLite, on 127.0.0.1 only, bounded in time.
#
#   Benchmarks/run.sh orders    # 10,000 products, 32 clients placing orders for 30 s; then `opply check`
#   Benchmarks/run.sh catalog   # seeds 100,000 products (timed); the big list query uncached vs cached
#   Benchmarks/run.sh catalog-1m  # BENCH_DATABASE_URL (PostgreSQL) only: seeds 1,000,000 products, then p50/p99
#                               # uncached for the first page, each filter, three combined, searches, cursor
#                               # pages 1 / 1,000 / 50,000 deep and offset 9,990
#   Benchmarks/run.sh crash     # ROUNDS (default 3) of: order load, SIGKILL the server, restart, check that
#                               # every acknowledged order/cancel survived and in-flight retries made one order
#                               # (SIGNAL=TERM for a graceful stop instead)
#
# Machines here are shared and noisy: compare the figures printed side by side in one run (ratios),
# not across runs. Environment: DURATION (default 30s), CLIENTS (default 32), PRODUCTS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:-orders}
duration=${DURATION:-30s}
clients=${CLIENTS:-32}
port=${PORT:-18080}
base="http://127.0.0.1:$port"
work=$(mktemp -d)
server_pid=""

cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
swift build -c release --product opply >&2
bin=.build/release/opply

export APP_ENV=production LOG_LEVEL=warning BCRYPT_COST=4 HOST=127.0.0.1 PORT=$port
export JWT_SECRET=benchmark-secret-benchmark-secret-0123456789
export DATABASE_URL="${BENCH_DATABASE_URL:-sqlite://$work/bench.sqlite}"  # a postgres:// URL works too

start_server() {
  "$bin" serve >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "$base/health/ready" >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "server did not start:"; cat "$work/server.log"; exit 1
}

stop_server() {
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# Seeds PRODUCTS products, starts the server, and writes one access token per client to $work/tokens and the
# orderable product ids to $work/products.
prepare_shop() {
  "$bin" seed --products "$1"
  start_server
  : >"$work/tokens"
  for i in $(seq 1 "$clients"); do
    curl -fsS "$base/api/identity/register/" -H 'Content-Type: application/json' \
      -d "{\"username\":\"bench$i\",\"email\":\"bench$i@example.com\",\"password\":\"bench-pass-$i\",\"password2\":\"bench-pass-$i\"}" >/dev/null
    curl -fsS "$base/api/identity/token/" -H 'Content-Type: application/json' \
      -d "{\"username\":\"bench$i\",\"password\":\"bench-pass-$i\"}" | json '["access"]' >>"$work/tokens"
  done
  : >"$work/products"
  for offset in $(seq 0 100 $(( $1 - 1 ))); do
    curl -fsS "$base/api/catalog/products/?limit=100&offset=$offset" | python3 -c \
      "import json,sys; [print(p['id']) for p in json.load(sys.stdin)['results']]" >>"$work/products"
  done
  echo "== $(wc -l <"$work/products") orderable products, $clients clients"
}

case $mode in
orders)
  prepare_shop "${PRODUCTS:-10000}"
  echo "== baseline: GET /health/live, $clients connections, 10s"
  wrk -t2 -c"$clients" -d10s --latency "$base/health/live" | grep -E "Requests/sec|99%"
  echo "== orders: POST /api/orders/orders/, $clients connections, $duration"
  TOKENS="$work/tokens" PRODUCTS="$work/products" wrk -t2 -c"$clients" -d"$duration" -s Benchmarks/orders.lua "$base"
  stop_server
  echo "== opply check"
  "$bin" check
  ;;
catalog)
  products=${PRODUCTS:-100000}
  echo "== seeding $products products"
  /usr/bin/time -f "seed_seconds=%e max_rss_kb=%M" "$bin" seed --products "$products"
  query="/api/catalog/products/?limit=100&offset=50000&category=coffee&ordering=-price"
  deep="/api/catalog/products/?limit=100&offset=50000&ordering=-price"
  for ttl in 0 60; do
    export CATALOG_CACHE_TTL=$ttl
    start_server
    echo "== CATALOG_CACHE_TTL=$ttl"
    for path in "$query" "$deep"; do
      curl -fsS "$base$path" | python3 -c "import json,sys; d=json.load(sys.stdin); print('  count', d['count'], 'results', len(d['results']))"
      echo "  $path"
      CATALOG_PATH="$path" wrk -t1 -c4 -d10s -s Benchmarks/catalog.lua "$base" | sed 's/^/  /' | grep -E "requests_per_second"
    done
    stop_server
  done
  ;;
catalog-1m)
  [[ ${BENCH_DATABASE_URL:-} == postgres* ]] || { echo "catalog-1m needs BENCH_DATABASE_URL=postgres://…" >&2; exit 2; }
  command -v psql >/dev/null || { echo "catalog-1m needs psql" >&2; exit 2; }
  products=${PRODUCTS:-1000000}
  "$bin" migrate
  have=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM products")
  if (( have < products )); then
    echo "== seeding $(( products - have )) products (have $have)"
    /usr/bin/time -f "seed_seconds=%e max_rss_kb=%M" "$bin" seed --products "$(( products - have ))"
  fi
  psql "$DATABASE_URL" -qc "VACUUM ANALYZE products"
  export CATALOG_CACHE_TTL=0
  start_server
  # A cursor N products deep, signed as the server signs them (the JWT secret is the benchmark's own): the id and
  # name of the row at that depth in the default list (in stock, by name), read straight from the database.
  cursor_at() {
    local row
    row=$(psql "$DATABASE_URL" -AtF $'\t' -c "SELECT id, name FROM products WHERE archived_at IS NULL AND on_hand - reserved > 0 ORDER BY name, id OFFSET $(( $1 - 1 )) LIMIT 1")
    ROW="$row" python3 - <<'PY'
import base64, hashlib, hmac, json, os
id, name = os.environ["ROW"].split("\t", 1)
secret = os.environ["JWT_SECRET"].encode()
key = hmac.new(secret, b"opply catalog cursor v1", hashlib.sha256).digest()
scope = hashlib.sha256("\x01\x01\x01\x01true\x01name".encode()).digest()[:12].hex()
payload = json.dumps({"d": "a", "i": id, "n": name, "s": scope}, separators=(",", ":")).encode()
b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
print(b64(payload) + "." + b64(hmac.new(key, payload, hashlib.sha256).digest()))
PY
  }
  c1000=$(cursor_at 10000)
  c50000=$(cursor_at 500000)
  echo "== uncached (CATALOG_CACHE_TTL=0), one connection, ${BENCH_SECONDS:-5}s each; targets p50 <= 20 ms, cursor page 50,000 within 1.5x of page 1"
  for path in \
    "/api/catalog/products/?limit=10" \
    "/api/catalog/products/?category=coffee" \
    "/api/catalog/products/?min_price=5.00&max_price=6.00&ordering=price" \
    "/api/catalog/products/?in_stock=false&ordering=-created_at" \
    "/api/catalog/products/?category=coffee&min_price=5.00&max_price=15.00&search=bean&ordering=-price" \
    "/api/catalog/products/?search=oat" \
    "/api/catalog/products/?search=harvest%20oa" \
    "/api/catalog/products/?cursor=" \
    "/api/catalog/products/?cursor=$c1000" \
    "/api/catalog/products/?cursor=$c50000" \
    "/api/catalog/products/?offset=9990"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' "$base$path")
    printf '  %-100.100s %s ' "$path" "$status"
    CATALOG_PATH="$path" wrk -t1 -c1 -d"${BENCH_SECONDS:-5}s" -s Benchmarks/catalog.lua "$base" | grep -E "requests_per_second"
  done
  stop_server
  ;;
crash)
  export ACCESS_TOKEN_TTL=3600
  prepare_shop "${PRODUCTS:-200}"
  failed=0
  for round in $(seq 1 "${ROUNDS:-3}"); do
    echo "== round $round: order load, SIG${SIGNAL:-KILL} after a random 2-6 s, restart, verify"
    python3 Benchmarks/crash.py load "$base" "$work/tokens" "$work/products" "$work/state.json" &
    load_pid=$!
    sleep "$(( RANDOM % 5 + 2 ))"
    kill -s "${SIGNAL:-KILL}" "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
    wait "$load_pid"
    start_server
    python3 Benchmarks/crash.py verify "$base" "$work/tokens" "$work/state.json" || failed=1
  done
  stop_server
  echo "== opply check"
  "$bin" check || failed=1
  exit $failed
  ;;
*)
  echo "usage: $0 orders|catalog|catalog-1m|crash" >&2; exit 2 ;;
esac
