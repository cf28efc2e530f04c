#!/usr/bin/env bash
# Load benchmarks against a release build on SQLite, on 127.0.0.1 only, bounded in time.
#
#   Benchmarks/run.sh orders    # 10,000 products, 32 clients placing orders for 30 s; then `opply check`
#   Benchmarks/run.sh orders-webhook  # the orders run without and with a webhook endpoint (a local receiver checking
#                               # signatures, counting deliveries), alternating ROUNDS (default 2) times on one
#                               # server; the ratio, lost deliveries, oldest-pending age
#   Benchmarks/run.sh catalog   # seeds 100,000 products (timed); the big list query uncached vs cached
#   Benchmarks/run.sh catalog-1m  # BENCH_DATABASE_URL (PostgreSQL) only: seeds 1,000,000 products, then p50/p99
#                               # uncached for the first page, each filter, three combined, searches, cursor
#                               # pages 1 / 1,000 / 50,000 deep and offset 9,990; BASELINE=path/to/opply first
#                               # gives the same rows with that build (a before figure), then ours
#   Benchmarks/run.sh crash     # ROUNDS (default 3) of: order load, SIGKILL the server, restart, check that
#                               # every acknowledged order/cancel survived and in-flight retries made one order
#                               # (SIGNAL=TERM for a graceful stop instead)
#   Benchmarks/run.sh pg-orders # its own PostgreSQL (fsync=on), 1,000 products: our orders (random products, 32
#                               # connections; one hot product, 64) side by side with pgbench running the same SQL
#                               # transaction (Benchmarks/order.pgbench) and the stock UPDATE alone; RSS after each of
#                               # our rows and peak RSS;
#                               # BASELINE=path/to/opply repeats our two runs with that build (a before figure)
#   Benchmarks/run.sh flash-sale  # its own PostgreSQL (fsync=on): a product with 1,000 units, 5,000 signed-in customers
#                               # ordering one each from 256 connections: accepted (exactly 1,000), 409s, 5xx (none),
#                               # p50/p99, when the last unit sold, `opply check`; SIGNAL=KILL kills the server mid-sale,
#                               # restarts it and checks that no acknowledged order was lost and no unit sold twice
#   Benchmarks/run.sh login-storm  # BCRYPT_COST=12: catalog reads (32 connections) alone, then beside 32 connections
#                               # logging in as 200 customers; catalog p99 quiet vs under the storm, logins/s, peak RSS
#   Benchmarks/run.sh outage    # its own PostgreSQL primary + replica (fsync=on): 8 clients of catalog reads
#                               # (uncached) and one-line orders while the primary stops for 10 s and for 45 s,
#                               # then the replica for 10 s; per 5-second window the answers by status and the
#                               # longest wait; fails on a wait over 3 s, a 500, a lost order or `opply check`
#   Benchmarks/run.sh backoffice  # its own PostgreSQL (fsync=on): PRODUCTS products, then ORDERS orders (default
#                               # 100,000 each; both seeds timed), a staff member signed in through /admin/login/,
#                               # then wrk (2 threads, CONNECTIONS (default 8), DURATION (default 10s) each) on each
#                               # back-office page (dashboard, order desk with its filters, an order, products with
#                               # filters, a product, categories) and /health/live for reference: requests/s, p50,
#                               # p99, whether every page's p99 < 50 ms, peak RSS; fails on an error answer or
#                               # `opply check`; BASELINE=path/to/opply repeats the pages with that build (a before
#                               # figure) on the same database. Pages still being built (customers, webhooks, audit,
#                               # /docs/) are skipped while they answer 404. Then the full CSV export, streamed (seconds,
#                               # bytes, lines/s) and the server's RSS before it and peak after
#   Benchmarks/run.sh backoffice-1m  # the same with PRODUCTS and ORDERS defaulting to 1,000,000 (here a million
#                               # orders seed in under two minutes, a million products in five to seven)
#   Benchmarks/run.sh abuse     # the defences at their defaults (no LOGIN_ADDRESS_ATTEMPTS / PASSWORD_QUEUE), BCRYPT_COST=12,
#                               # a fresh SQLite database: a real user (from 127.0.0.2) signing in 5 times idle, then
#                               # beside 60 clients (from 127.0.0.1) signing in as random names with a wrong password
#                               # for FLOOD_SECONDS (default 20): median and max (retries after Retry-After included, up
#                               # to 30 s), the ratio, the flood's answers by status; then, on a fresh server, 300
#                               # uploads of a ~1 MiB body stalled for STALL_SECONDS (default 30): RSS idle and peak,
#                               # connections the server closed, 413s, /health/live every second; BASELINE=path/to/opply
#                               # repeats both with that build (its own database), side by side
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
helper_pid=""  # a load or client running beside the server, stopped by the cleanup if the run ends early

cleanup() {
  # `wait` answers 143 for the server it just stopped: not a failure here, where `set -e` would end the cleanup early.
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && { wait "$server_pid" 2>/dev/null || true; }
  [[ -n $helper_pid ]] && kill "$helper_pid" 2>/dev/null
  [[ -d $work/pg ]] && scripts/pg-cluster.sh stop "$work/pg" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
swift build -c release --product opply >&2
bin=.build/release/opply

export APP_ENV=production LOG_LEVEL=warning BCRYPT_COST=4 HOST=127.0.0.1 PORT=$port
# Every load here comes from 127.0.0.1 for many customers: lift the per-address sign-in limit and the hashing queue's
# bound, which exist to stop one client's flood (the abuse mode puts them back).
export LOGIN_ADDRESS_ATTEMPTS=1000000 PASSWORD_QUEUE=10000
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
  echo "== server peak RSS: $(grep VmHWM "/proc/$server_pid/status" | awk '{printf "%.1f MB", $2 / 1024}')"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

# CPU time (user + system, seconds) a process has used so far.
cpu_seconds() { awk -v tick="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / tick}' "/proc/$1/stat"; }

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
  # Cursor pages: offset mode stops at 10,000.
  python3 - "$base/api/catalog/products/?limit=100&cursor=" >"$work/products" <<'PY'
import json, sys, urllib.parse, urllib.request
url = sys.argv[1]
while url:
    page = json.load(urllib.request.urlopen(url))
    print("\n".join(product["id"] for product in page["results"]))
    # Links are relative unless PUBLIC_URL is set: resolved against the page they came from.
    url = page["next"] and urllib.parse.urljoin(url, page["next"])
PY
  sed -i '/^$/d' "$work/products"
  echo "== $(wc -l <"$work/products") orderable products, $clients clients"
}

case $mode in
orders)
  prepare_shop "${PRODUCTS:-10000}"
  echo "== baseline: GET /health/live, $clients connections, 10s"
  wrk -t2 -c"$clients" -d10s --latency "$base/health/live" | grep -E "Requests/sec|99%"
  orders_run() {
    TOKENS="$work/tokens" PRODUCTS="$work/products" wrk -t2 -c"$clients" -d"$duration" -s Benchmarks/orders.lua "$base" \
      | grep -E "orders_|server_5xx" | tr '\n' ' '
  }
  # Batched (ORDER_BATCH_SIZE, default 64) and every order its own transaction, alternating: A B B A.
  saved_batch=${ORDER_BATCH_SIZE-}
  rounds=()
  for size in "${saved_batch:-64}" 1 1 "${saved_batch:-64}"; do
    [[ -n $server_pid ]] && stop_server >/dev/null
    export ORDER_BATCH_SIZE=$size
    start_server
    line=$(orders_run)
    echo "== orders: POST /api/orders/orders/, $clients connections, $duration, ORDER_BATCH_SIZE=$size: $line"
    rounds+=("$size $(grep -oP 'orders_per_second=\K[0-9.]+' <<<"$line")")
  done
  stop_server
  if [[ -n $saved_batch ]]; then export ORDER_BATCH_SIZE=$saved_batch; else unset ORDER_BATCH_SIZE; fi
  printf '%s\n' "${rounds[@]}" | python3 -c '
import sys
rates = {}
for line in sys.stdin:
    size, rate = line.split()
    rates.setdefault(size, []).append(float(rate))
singles = rates["1"]
one = sum(singles) / len(singles)
for size, values in rates.items():
    if size != "1":
        print(f"== batched {values} orders/s against ORDER_BATCH_SIZE=1 {singles}: {sum(values) / len(values) / one:.2f}x")'
  echo "== opply check"
  "$bin" check
  ;;
orders-webhook)
  # One server throughout; the endpoint (registered through the staff API) is switched off and on between phases,
  # ROUNDS (default 2) of them, so noise on a shared machine falls on both sides alike.
  export WEBHOOK_ALLOW_HTTP=true WEBHOOK_ALLOW_PRIVATE=true
  prepare_shop "${PRODUCTS:-10000}"
  "$bin" create-user --username benchstaff --email benchstaff@example.com --password bench-staff-pass --staff >/dev/null
  staff=$(curl -fsS "$base/api/identity/token/" -H 'Content-Type: application/json' \
    -d '{"username":"benchstaff","password":"bench-staff-pass"}' | json '["access"]')
  receiver_port=$((port + 1))
  endpoint=$(curl -fsS "$base/api/admin/webhooks/" -H "Authorization: Bearer $staff" -H 'Content-Type: application/json' \
    -d "{\"url\":\"http://127.0.0.1:$receiver_port/hook\",\"events\":[\"*\"],\"description\":\"benchmark receiver\"}")
  endpoint_id=$(echo "$endpoint" | json '["id"]')
  # The receiver stands in for a system elsewhere: at nice 19 it takes only CPU the shop leaves idle.
  nice -n 19 python3 scripts/webhook-receiver.py --port "$receiver_port" --quiet --secret "$(echo "$endpoint" | json '["secret"]')" &
  receiver_pid=$!
  switch_endpoint() {
    curl -fsS -X PATCH "$base/api/admin/webhooks/$endpoint_id/" -H "Authorization: Bearer $staff" \
      -H 'Content-Type: application/json' -d "{\"enabled\":$1}" >/dev/null
  }
  drained() {  # until nothing waits in the outbox or for an enabled endpoint, at most 2 minutes
    # The gauge is refreshed once a second: a reading from before the last orders could say 0 while they still wait.
    sleep 2
    for _ in $(seq 1 120); do
      age=$(curl -fsS "$base/metrics" | grep '^opply_webhook_oldest_pending_seconds ' | cut -d' ' -f2)
      [[ $age == 0 || $age == 0.0 ]] && return
      sleep 1
    done
  }
  : >"$work/phases"
  : >"$work/ages"
  created=0
  for round in $(seq 1 "${ROUNDS:-2}"); do
    # without, with, then with, without: a steady drift (the database grows) weighs on both sides alike.
    phases="without with"
    (( round % 2 == 0 )) && phases="with without"
    for phase in $phases; do
      if [[ $phase == with ]]; then switch_endpoint true; else switch_endpoint false; fi
      echo "== round $round, orders $phase the webhook endpoint: $clients connections, $duration"
      if [[ $phase == with ]]; then
        ( while sleep 1; do curl -fsS "$base/metrics" | grep '^opply_webhook_oldest_pending_seconds ' | cut -d' ' -f2; done ) >>"$work/ages" &
        sampler_pid=$!
        receiver_cpu=$(cpu_seconds "$receiver_pid")
      fi
      TOKENS="$work/tokens" PRODUCTS="$work/products" wrk -t2 -c"$clients" -d"$duration" -s Benchmarks/orders.lua "$base" \
        >"$work/phase.txt"
      grep -E "orders_created|orders_per_second" "$work/phase.txt"
      echo "$phase $(grep -o 'orders_per_second=[0-9.]*' "$work/phase.txt" | cut -d= -f2)" >>"$work/phases"
      if [[ $phase == with ]]; then
        echo "== the receiver (on the same $(nproc) cores) used $(awk -v a="$receiver_cpu" -v b="$(cpu_seconds "$receiver_pid")" 'BEGIN { printf "%.1f", b - a }') CPU-seconds in this phase"
        created=$(( created + $(grep -o 'orders_created=[0-9]*' "$work/phase.txt" | cut -d= -f2) ))
      fi
      drained  # every event of this phase fanned out (and delivered) before the endpoint is switched
      [[ $phase == with ]] && kill "$sampler_pid" 2>/dev/null || true
    done
  done
  received=$(curl -fsS "http://127.0.0.1:$receiver_port/count")
  unique=$(echo "$received" | json '["unique"]')
  bad=$(echo "$received" | json '["bad_signatures"]')
  python3 - "$work/phases" "$work/ages" "$created" "$unique" "$received" <<'PY'
import sys
phases = [line.split() for line in open(sys.argv[1]) if line.strip()]
without = [float(rate) for phase, rate in phases if phase == "without"]
with_ = [float(rate) for phase, rate in phases if phase == "with"]
ages = [float(line) for line in open(sys.argv[2]) if line.strip()]
for n, (a, b) in enumerate(zip(without, with_), 1):
    print(f"== round {n}: orders/s without {a:.1f}, with the webhook {b:.1f}: {b / a:.1%}")
print(f"== all rounds: orders/s without {sum(without) / len(without):.1f}, with {sum(with_) / len(with_):.1f}: "
      f"{sum(with_) / sum(without):.1%} (target >= 90 %); oldest pending delivery: max {max(ages, default=0):.1f} s")
print(f"== orders placed while the endpoint was on {sys.argv[3]}, distinct events received {sys.argv[4]}: none lost when the "
      f"second is at least the first (it may exceed it by the orders in flight when wrk stopped, at most one per connection "
      f"per phase); receiver {sys.argv[5]}")
PY
  kill "$receiver_pid" 2>/dev/null || true
  stop_server
  echo "== opply check"
  "$bin" check
  # wrk stops with up to one request per connection in flight: those orders are placed but not counted by wrk.
  (( bad == 0 && unique >= created && unique <= created + clients * ${ROUNDS:-2} ))
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
  latest=$bin
  bin=${BASELINE:-$bin}  # BASELINE: that build's rows first, on its own schema, then ours after our migrations
  "$bin" migrate
  have=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM products")
  if (( have < products )); then
    echo "== seeding $(( products - have )) products (have $have)"
    /usr/bin/time -f "seed_seconds=%e max_rss_kb=%M" "$bin" seed --products "$(( products - have ))"
  fi
  export CATALOG_CACHE_TTL=0
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
  catalog_rows() {
    echo "== $bin: uncached (CATALOG_CACHE_TTL=0), one connection, ${BENCH_SECONDS:-5}s each; targets p50 <= 20 ms, cursor page 50,000 within 1.5x of page 1"
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
  }
  psql "$DATABASE_URL" -qc "VACUUM ANALYZE products"
  start_server
  catalog_rows
  if [[ $bin != "$latest" ]]; then
    bin=$latest
    "$bin" migrate
    psql "$DATABASE_URL" -qc "VACUUM ANALYZE products"
    start_server
    catalog_rows
  fi
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
login-storm)
  # Logins at production cost beside catalog reads: bcrypt runs on one core fewer than the machine has, so the reads
  # keep a core. 200 customers, so the login throttle (per username and address) never trips.
  export BCRYPT_COST=12
  customers=${CUSTOMERS:-200}
  "$bin" seed --products "${PRODUCTS:-1000}"
  start_server
  echo "== registering $customers customers at bcrypt cost 12"
  seq 1 "$customers" | xargs -P 4 -I{} curl -fsS -o /dev/null "$base/api/identity/register/" -H 'Content-Type: application/json' \
    -d '{"username":"storm{}","email":"storm{}@example.com","password":"storm-pass-{}","password2":"storm-pass-{}"}'
  catalog_path="/api/catalog/products/?limit=20&category=coffee"
  echo "== quiet: GET $catalog_path, $clients connections, $duration"
  CATALOG_PATH="$catalog_path" wrk -t1 -c"$clients" -d"$duration" -s Benchmarks/catalog.lua "$base" | tee "$work/quiet.txt" | grep p99
  echo "== storm: the same reads beside $clients connections logging in"
  CUSTOMERS=$customers wrk -t1 -c"$clients" -d"$(( ${duration%s} + 4 ))s" -s Benchmarks/login.lua "$base" >"$work/logins.txt" &
  storm_pid=$!
  sleep 2
  CATALOG_PATH="$catalog_path" wrk -t1 -c"$clients" -d"$duration" -s Benchmarks/catalog.lua "$base" | tee "$work/storm.txt" | grep p99
  wait "$storm_pid"
  cat "$work/logins.txt"
  python3 - "$work/quiet.txt" "$work/storm.txt" <<'PY'
import re, sys
p99 = lambda path: float(re.search(r"p99_ms=([0-9.]+)", open(path).read()).group(1))
quiet, storm = p99(sys.argv[1]), p99(sys.argv[2])
print(f"== catalog p99 quiet {quiet:.2f} ms, under the login storm {storm:.2f} ms: {storm / quiet:.2f}x (target <= 2x)")
PY
  stop_server
  ;;
outage)
  # Its own cluster, durable like production; the server reads the catalog from the replica, uncached.
  eval "$(FSYNC=on scripts/pg-cluster.sh start "$work/pg")"
  export DATABASE_URL=$TEST_POSTGRES_URL DATABASE_REPLICA_URL=$TEST_POSTGRES_REPLICA_URL CATALOG_CACHE_TTL=0
  export ACCESS_TOKEN_TTL=3600
  clients=${CLIENTS:-8}
  pg() { (cd / && runuser -u "$TEST_PG_RUNAS" -- "$TEST_PG_CTL" -D "$work/pg/$1" -l "$work/pg/$1.log" -w -m fast "$2" >/dev/null); }
  prepare_shop "${PRODUCTS:-200}"
  failed=0
  for round in primary:10 primary:45 replica:10; do
    server=${round%%:*} seconds=${round##*:}
    echo "== $server stopped for $seconds s under $clients clients (10 s before, 20 s after)"
    : >"$work/events"
    python3 Benchmarks/outage.py load "$base" "$work/tokens" "$work/products" $(( seconds + 30 )) "$work/answers.jsonl" &
    load_pid=$!
    sleep 10
    echo "$(date +%s.%N) $server stopped" >>"$work/events"; pg "$server" stop
    sleep "$seconds"
    pg "$server" start; echo "$(date +%s.%N) $server started" >>"$work/events"
    wait "$load_pid"
    python3 Benchmarks/outage.py report "$base" "$work/tokens" "$work/answers.jsonl" "$work/events" || failed=1
  done
  stop_server
  echo "== opply check"
  "$bin" check || failed=1
  exit $failed
  ;;
pg-orders)
  # Its own PostgreSQL, durable (fsync=on), primary only: our orders next to pgbench running the same SQL.
  command -v pgbench >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
  eval "$(FSYNC=on scripts/pg-cluster.sh start "$work/pg")"
  export DATABASE_URL=$TEST_POSTGRES_URL ACCESS_TOKEN_TTL=3600
  clients=${CLIENTS:-64}  # customers registered; the random run uses 32 connections, the hot one 64
  seconds=${duration%s}
  prepare_shop "${PRODUCTS:-1000}"
  staff_token=$( "$bin" create-user --username bench-staff --email staff@example.com --password bench-staff-pass --staff >/dev/null
    curl -fsS "$base/api/identity/token/" -H 'Content-Type: application/json' \
      -d '{"username":"bench-staff","password":"bench-staff-pass"}' | json '["access"]')
  # Enough stock that no order is short, added the way staff add it (audited, so `opply check` balances).
  while read -r id; do
    curl -fsS "$base/api/catalog/products/$id/inventory/" -H "Authorization: Bearer $staff_token" \
      -H 'Content-Type: application/json' -d '{"adjustment":10000000,"reason":"benchmark stock"}' >/dev/null
  done <"$work/products"
  head -1 "$work/products" >"$work/hot"
  hot=$(cat "$work/hot")
  psql "$DATABASE_URL" -q <<SQL
CREATE TABLE bench_products (n serial, id uuid NOT NULL);
\\copy bench_products (id) FROM '$work/products'
CREATE TABLE bench_customers AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM customers WHERE NOT is_staff;
CREATE TABLE bench_hot AS SELECT * FROM products WHERE id = '$hot';
ALTER TABLE bench_products ADD PRIMARY KEY (n); ALTER TABLE bench_customers ADD PRIMARY KEY (n); ALTER TABLE bench_hot ADD PRIMARY KEY (id);
VACUUM ANALYZE;
SQL
  customers=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM bench_customers")
  products=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM bench_products")
  pgb() {  # pgbench on the benchmark's database; prints tps and p99 latency (from its per-transaction log)
    local script=$1 conns=$2; shift 2
    rm -rf "$work/pgblog"; mkdir "$work/pgblog"
    pgbench -n -M "${PGBENCH_MODE:-prepared}" -c "$conns" -j 2 -T "$seconds" -f "$script" -D customers="$customers" "$@" \
      --log --log-prefix="$work/pgblog/tx" "$DATABASE_URL" >"$work/pgb.out" 2>&1 || { cat "$work/pgb.out"; exit 1; }
    local tps p99
    tps=$(grep -oP 'tps = \K[0-9.]+' "$work/pgb.out" | head -1)
    p99=$(cat "$work/pgblog"/tx* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int(NR*0.99)] / 1000}')
    echo "tps=$tps p99_ms=$p99"
  }
  ours() {  # our orders through HTTP: orders/s and p99
    TOKENS="$work/tokens" PRODUCTS="$1" wrk -t"$(( $2 < 2 ? 1 : 2 ))" -c"$2" -d"$duration" -s Benchmarks/orders.lua "$base" \
      | grep -E "orders_|server_5xx" \
      | tee -a "$work/ours.txt" | tr '\n' ' '
    echo "server_rss_mb=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$server_pid/status")"
  }
  rate() { grep -oP "${2:-orders_per_second}=\K[0-9.]+" <<<"$1" | head -1; }
  ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}x')" "$1" "$2"; }
  batch=${ORDER_BATCH_SIZE:-64}
  echo "== random products ($products), 32 connections, $duration each; ours with ORDER_BATCH_SIZE=$batch"
  random=$(ours "$work/products" 32); echo "   ours:    $random"
  random_pgb=$(pgb Benchmarks/order.pgbench 32 -D products="$products"); echo "   pgbench: $random_pgb"
  echo "   pgbench -M extended (each statement parsed and planned anew, as SQLKit sends them): $(
    PGBENCH_MODE=extended pgb Benchmarks/order.pgbench 32 -D products="$products")"
  echo "== one hot product, 64 connections"
  hot_ours=$(ours "$work/hot" 64); echo "   ours:    $hot_ours"
  echo "   pgbench: $(pgb Benchmarks/order.pgbench 64 -D products=1)"
  update=$(pgb Benchmarks/stock-update.pgbench 64 -D product="$hot")
  echo "   pgbench, the conditional UPDATE alone (autocommit): $update"
  echo "== a lone customer (1 connection, random products): each order's latency"
  lone=$(ours "$work/products" 1); echo "   ours:    $lone"
  stop_server
  if [[ $batch != 1 ]]; then  # the same server, every order its own transaction: what batching adds
    saved_batch=${ORDER_BATCH_SIZE-}
    export ORDER_BATCH_SIZE=1
    start_server
    echo "== the same three runs with ORDER_BATCH_SIZE=1"
    random_one=$(ours "$work/products" 32); echo "   random: $random_one"
    hot_one=$(ours "$work/hot" 64); echo "   hot:    $hot_one"
    lone_one=$(ours "$work/products" 1); echo "   lone:   $lone_one"
    stop_server
    if [[ -n $saved_batch ]]; then export ORDER_BATCH_SIZE=$saved_batch; else unset ORDER_BATCH_SIZE; fi
    echo "== ratios: random $(ratio "$(rate "$random")" "$(rate "$random_pgb" tps)") of pgbench's transaction," \
      "$(ratio "$(rate "$random")" "$(rate "$random_one")") of ORDER_BATCH_SIZE=1;" \
      "hot $(ratio "$(rate "$hot_ours")" "$(rate "$update" tps)") of the UPDATE alone," \
      "$(ratio "$(rate "$hot_ours")" "$(rate "$hot_one")") of ORDER_BATCH_SIZE=1;" \
      "lone p50 $(rate "$lone" p50_ms) ms against $(rate "$lone_one" p50_ms) ms"
  fi
  if [[ -n ${BASELINE:-} ]]; then  # another build of the server (the figure before a change), on the same database
    bin=$BASELINE start_server
    echo "== the same two runs with BASELINE=$BASELINE"
    echo "   random: $(ours "$work/products" 32)"
    echo "   hot:    $(ours "$work/hot" 64)"
    stop_server
  fi
  ! grep -q 'server_5xx=[1-9]' "$work/ours.txt" || { echo "5xx answers"; exit 1; }
  echo "== opply check"
  "$bin" check
  ;;
flash-sale)
  # Its own PostgreSQL (fsync=on): one product with UNITS (1,000) units, CUSTOMERS (5,000) customers already signed in
  # ordering one unit each from CONNECTIONS (256) connections as fast as they can, for DURATION (default 5s).
  # SIGNAL=KILL: the server is killed mid-sale, started again, and the sale runs on to its end.
  command -v psql >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
  eval "$(FSYNC=on scripts/pg-cluster.sh start "$work/pg")"
  export DATABASE_URL=$TEST_POSTGRES_URL ACCESS_TOKEN_TTL=3600
  customers=${CUSTOMERS:-5000} units=${UNITS:-1000} connections=${CONNECTIONS:-256} duration=${DURATION:-5s}
  start_server
  "$bin" create-user --username flash-staff --email flash@example.com --password flash-staff-pass --staff >/dev/null
  staff_token=$(curl -fsS "$base/api/identity/token/" -H 'Content-Type: application/json' \
    -d '{"username":"flash-staff","password":"flash-staff-pass"}' | json '["access"]')
  curl -fsS "$base/api/catalog/products/" -H "Authorization: Bearer $staff_token" -H 'Content-Type: application/json' \
    -d "{\"name\":\"Flash sale coffee\",\"price\":\"9.99\",\"quantity\":$units}" | json '["id"]' >"$work/hot"
  echo "== signing in $customers customers"
  python3 - "$base" "$customers" >"$work/tokens" <<'PY'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
base, count = sys.argv[1], int(sys.argv[2])
def post(path, body):
    request = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request))
def sign_in(n):
    name, password = f"flash{n}", f"flash-pass-{n}"
    post("/api/identity/register/", {"username": name, "email": f"{name}@example.com", "password": password, "password2": password})
    return post("/api/identity/token/", {"username": name, "password": password})["access"]
with ThreadPoolExecutor(16) as pool:
    print("\n".join(pool.map(sign_in, range(count))))
PY
  sale() {  # wrk ordering the product; prints its counts and latencies
    ACKS="$work/acks-$1-" QUANTITY=1 TOKENS="$work/tokens" PRODUCTS="$work/hot" \
      wrk -t2 -c"$connections" -d"$duration" --timeout 10s -s Benchmarks/orders.lua "$base" | grep -E "orders_|server_5xx"
  }
  started=$(date +%s.%N)
  if [[ ${SIGNAL:-} == KILL ]]; then
    sale first >"$work/first.txt" &
    helper_pid=$!
    until (( $(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM orders") >= units / 4 )); do sleep 0.02; done
    kill -KILL "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
    echo "== server killed after $(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM orders") orders"
    wait "$helper_pid" || true; helper_pid=""
    echo "   before the kill: $(tr '\n' ' ' <"$work/first.txt")"
    start_server
  fi
  sale last | tee "$work/sale.txt"
  sold=$(psql "$DATABASE_URL" -Atc "SELECT coalesce(sum(quantity), 0) FROM order_items")
  orders=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM orders")
  last=$(psql "$DATABASE_URL" -Atc "SELECT extract(epoch FROM max(created_at)) FROM orders")
  on_hand=$(psql "$DATABASE_URL" -Atc "SELECT on_hand FROM products WHERE id = '$(cat "$work/hot")'")
  cat "$work"/acks-* | sort -u >"$work/acked"
  psql "$DATABASE_URL" -Atc "SELECT id FROM orders" | sort -u >"$work/stored"
  lost=$(comm -23 "$work/acked" "$work/stored" | wc -l)
  echo "== units sold $sold of $units in $orders orders, on hand $on_hand; acknowledged $(wc -l <"$work/acked"), lost $lost"
  echo "== the last unit sold $(python3 -c "import sys; print(f'{float(sys.argv[1]) - float(sys.argv[2]):.2f}')" "$last" "$started") s after the sale opened"
  stop_server
  "$bin" check
  [[ $sold == "$units" && $lost == 0 && $on_hand == 0 ]] || { echo "the sale did not sell exactly $units units"; exit 1; }
  ! grep -q 'server_5xx=[1-9]' "$work/sale.txt" || { echo "5xx answers"; exit 1; }
  ;;
backoffice|backoffice-1m)
  # Its own PostgreSQL, durable (fsync=on), primary only: the back office's pages over a shop with an order history,
  # signed in as staff through the sign-in form, as a browser would be.
  size=100000
  [[ $mode == backoffice-1m ]] && size=1000000
  products=${PRODUCTS:-$size} orders=${ORDERS:-$size}
  if ! compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || ! command -v psql >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  eval "$(FSYNC=on scripts/pg-cluster.sh start "$work/pg")"
  export DATABASE_URL=$TEST_POSTGRES_URL
  duration=${DURATION:-10s}
  connections=${CONNECTIONS:-8}
  threads=$(( connections < 2 ? connections : 2 ))  # wrk wants at least one connection per thread
  "$bin" migrate
  echo "== seeding $products products"
  /usr/bin/time -o "$work/seed-products" -f "seed_seconds=%e max_rss_kb=%M" "$bin" seed --products "$products"
  cat "$work/seed-products"
  echo "== seeding $orders orders"
  /usr/bin/time -o "$work/seed-orders" -f "seed_seconds=%e max_rss_kb=%M" "$bin" seed --orders "$orders"
  cat "$work/seed-orders"
  psql "$DATABASE_URL" -qc "VACUUM ANALYZE"
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(15))')  # 20 characters
  "$bin" create-user --username bench-staff --email bench-staff@example.com --password "$password" --staff >/dev/null
  start_server

  # Signing in answers 303 with the session cookie: `__Host-opply_admin` (Secure) outside development. curl's cookie
  # jar would not send a Secure cookie over http, so the cookie goes in a header of its own.
  cookie_name=__Host-opply_admin
  [[ $APP_ENV == development ]] && cookie_name=opply_admin
  status=$(curl -sS -o "$work/login.html" -D "$work/login.headers" -w '%{http_code}' "$base/admin/login/" \
    -H "Origin: $base" -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-urlencode username=bench-staff --data-urlencode "password=$password" --data-urlencode next=/admin/) || true
  cookie=$(tr -d '\r' <"$work/login.headers" | sed -n "s/^set-cookie: *\\($cookie_name=[^;][^;]*\\);.*/\\1/Ip")
  if [[ $status != 303 || -z $cookie ]]; then
    echo "signing in as bench-staff failed: HTTP $status, and no $cookie_name cookie in:" >&2
    cat "$work/login.headers" >&2
    exit 1
  fi
  echo "== signed in as bench-staff ($cookie_name)"

  # GET PATH signed in, the page to $work/page.html; anything but a 200 ends the run.
  fetch() {
    local status
    status=$(curl -sS -o "$work/page.html" -D "$work/page.headers" -w '%{http_code}' -H "Cookie: $cookie" "$base$1") || true
    [[ $status == 200 ]] && return
    echo "GET $1 answered $status, not 200 $(tr -d '\r' <"$work/page.headers" | grep -i '^location:' || true)" >&2
    [[ $status == 303 ]] && echo "(a 303 to /admin/login/ means the session cookie was not accepted)" >&2
    exit 1
  }
  # The first id linked as PREFIX<uuid>/ on the page last fetched.
  first_id() {
    python3 -c 'import re, sys; m = re.search(re.escape(sys.argv[1]) + r"([0-9a-f-]{36})/", sys.stdin.read()); print(m[1] if m else "")' \
      "$1" <"$work/page.html"
  }
  product_id=$(curl -fsS "$base/api/catalog/products/?limit=1" | json '["results"][0]["id"]')
  fetch /admin/orders/
  order_id=$(first_id /admin/orders/)
  [[ -n $order_id ]] || { echo "no order linked on /admin/orders/: did \`opply seed --orders\` add any?" >&2; exit 1; }
  # The order seed takes its lines from a sample of the catalog: the product filter uses a product of the newest
  # order, so that it has orders to show (the catalog's first product may have none).
  fetch "/admin/orders/$order_id/"
  ordered_product=$(first_id /admin/products/)
  [[ -n $ordered_product ]] || { echo "no product linked on /admin/orders/$order_id/" >&2; exit 1; }
  pages=(
    /admin/
    /admin/orders/
    "/admin/orders/?status=confirmed"
    "/admin/orders/?customer=demo-customer-001"
    "/admin/orders/?product=$ordered_product"
    "/admin/orders/?from=$(date -u -d '30 days ago' +%F)&to=$(date -u +%F)"
    "/admin/orders/$order_id/"
    /admin/products/
    "/admin/products/?search=oat"
    "/admin/products/?category=coffee&in_stock=true"
    "/admin/products/$product_id/"
    /admin/categories/
  )
  # Pages still being built (issue 31): measured once they answer, skipped while they answer 404.
  status_of() { curl -sS -o "$work/page.html" -w '%{http_code}' -H "Cookie: $cookie" "$base$1" || true; }
  being_built_pages=(/admin/customers/ "/admin/customers/?search=demo-customer-00")
  customer_id=""  # demo-customer-001's, from its link on the customers list
  if [[ $(status_of "/admin/customers/?search=demo-customer-001") == 200 ]]; then
    customer_id=$(python3 -c '
import re, sys
m = re.search(r"/admin/customers/([0-9a-f-]{36})/\"[^>]*>\s*demo-customer-001\s*<", sys.stdin.read())
print(m[1] if m else "")' <"$work/page.html")
  fi
  if [[ -n $customer_id ]]; then
    being_built_pages+=("/admin/customers/$customer_id/")
  else
    printf '  %-60s skipped (not built yet)\n' "/admin/customers/<id of demo-customer-001>/"
  fi
  being_built_pages+=(/admin/webhooks/ /admin/audit/ /docs/)
  declare -A being_built=()
  for path in "${being_built_pages[@]}"; do
    pages+=("$path")
    being_built[$path]=1
  done
  pages+=(/health/live)
  # One row from wrk --latency's report (stdin): PATH, requests/s, p50 and p99 in ms, and errors (socket errors and
  # answers of 400 and above, which wrk counts as "Non-2xx or 3xx responses").
  wrk_row() {
    awk -v path="$1" '
      function ms(text,  n, unit) {  # 850.00us, 1.25ms, 1.02s, 1.50m
        n = text; sub(/[a-z]+$/, "", n); unit = substr(text, length(n) + 1)
        if (unit == "us") return n / 1000
        if (unit == "ms") return n + 0
        if (unit == "s") return n * 1000
        if (unit == "m") return n * 60000
        return n * 3600000
      }
      $1 == "50%" { p50 = ms($2) }
      $1 == "99%" { p99 = ms($2) }
      $1 == "Requests/sec:" { rps = $2 }
      /Non-2xx or 3xx responses:/ { errors += $NF }
      /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
      END {
        if (rps == "" || p50 == "" || p99 == "") exit 1
        printf "%s\t%.1f\t%.2f\t%.2f\t%d\n", path, rps, p50, p99, errors
      }'
  }
  # wrk on each page in turn, signed in; the rows to FILE.
  backoffice_rows() {
    : >"$1"
    for path in "${pages[@]}"; do
      if [[ -n ${being_built[$path]:-} && $(status_of "$path") == 404 ]]; then
        printf '  %-60s skipped (not built yet)\n' "$path"
        continue
      fi
      fetch "$path"
      if [[ $path == *customer=* ]] && grep -q 'No orders match' "$work/page.html"; then
        echo "$path lists no orders: are the seed's customers named demo-customer-001…?" >&2; exit 1
      fi
      wrk -t"$threads" -c"$connections" -d"$duration" --latency -H "Cookie: $cookie" "$base$path" >"$work/wrk.txt"
      wrk_row "$path" <"$work/wrk.txt" >>"$1" || { echo "no figures in wrk's report:" >&2; cat "$work/wrk.txt" >&2; exit 1; }
      tail -1 "$1" | awk -F'\t' -v matching="$(grep -o 'Matching [a-z]*: [0-9,+]*' "$work/page.html" || true)" \
        '{ printf "  %-60s %9.1f req/s  p50 %7.2f ms  p99 %7.2f ms%s%s\n", $1, $2, $3, $4,
           ($5 ? "  errors " $5 : ""), (matching == "" ? "" : "  (" matching ")") }'
    done
  }
  : >"$work/baseline-rows"
  echo "== back-office pages, signed in: $threads threads, $connections connections, $duration each"
  backoffice_rows "$work/rows"
  # The full CSV export (every order line, no filter), streamed once: seconds, bytes and lines per second, and the
  # server's RSS before it against its peak after (a stream at steady memory leaves the peak where the pages left it).
  rss() { awk -v key="$1:" '$1 == key { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status"; }
  rss_before=$(rss VmRSS) peak_before=$(rss VmHWM) export_status="" export_bytes="" export_seconds=""
  curl -sS -H "Cookie: $cookie" -w '%{stderr}%{http_code} %{size_download} %{time_total}\n' "$base/admin/orders/export.csv" \
    2>"$work/export.status" | wc -l >"$work/export.lines" || true
  read -r export_status export_bytes export_seconds < <(tail -1 "$work/export.status") || true
  case $export_status in
  200) export_line=$(awk -v s="$export_seconds" -v b="$export_bytes" -v n="$(cat "$work/export.lines")" \
         'BEGIN { printf "%.1f s, %d bytes (%.1f MB), %d lines, %.0f lines/s", s, b, b / 1e6, n, n / s }') ;;
  404) export_line="skipped (not built yet)" ;;
  *) export_line="FAILED: $(tail -1 "$work/export.status")" ;;
  esac
  peak_rss=$(rss VmHWM)
  echo "== CSV export: $export_line"
  echo "== server RSS before the export $rss_before MB (peak until then $peak_before MB), peak after $peak_rss MB"
  stop_server
  if [[ -n ${BASELINE:-} ]]; then  # another build of the server (the figure before a change), on the same database
    bin=$BASELINE start_server
    echo "== the same pages with BASELINE=$BASELINE"
    backoffice_rows "$work/baseline-rows"
    stop_server
  fi
  echo "== back office: $products products, $orders orders; $connections connections, $duration each"
  echo "== seeds: $products products $(cat "$work/seed-products"); $orders orders $(cat "$work/seed-orders")"
  python3 - "$work/rows" "$work/baseline-rows" <<'PY'
import sys
read = lambda path: [line.rstrip("\n").split("\t") for line in open(path)]
ours, baseline = read(sys.argv[1]), read(sys.argv[2])
head = f"{'URL':<60} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
print(head + (f"   BASELINE: {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}" if baseline else ""))
baseline = {row[0]: row for row in baseline}  # by path: either build may skip a page it has not got
for path, rps, p50, p99, errors in ours:
    line = f"{path:<60} {float(rps):>9.1f} {float(p50):>8.2f} {float(p99):>8.2f} {int(errors):>6}"
    if path in baseline:
        _, rps, p50, p99, errors = baseline[path]
        line += f"   {'':9} {float(rps):>9.1f} {float(p50):>8.2f} {float(p99):>8.2f} {int(errors):>6}"
    print(line)
pages = [(path, float(p99)) for path, _, _, p99, _ in ours if not path.startswith("/health/")]
slow = [f"{path} ({p99:.2f} ms)" for path, p99 in pages if p99 >= 50]
worst = max(pages, key=lambda page: page[1], default=("-", 0.0))
if slow:
    print(f"== every back-office page had p99 < 50 ms: NO, {len(slow)} of {len(pages)} did not: {', '.join(slow)}")
else:
    print(f"== every back-office page had p99 < 50 ms: yes ({len(pages)} pages; the slowest, {worst[0]}, {worst[1]:.2f} ms)")
PY
  echo "== CSV export: $export_line"
  echo "== server peak RSS, pages and export: $peak_rss MB ($(awk -v p="$peak_rss" 'BEGIN { print (p < 150 ? "under" : "NOT under") }') 150 MB)"
  failed=0
  if awk -F'\t' '$5 > 0 { found = 1 } END { exit !found }' "$work/rows" "$work/baseline-rows"; then
    echo "== error answers (see the errors column): these figures do not count"; failed=1
  fi
  [[ $export_line != FAILED* ]] || failed=1
  echo "== opply check"
  "$bin" check || failed=1
  exit $failed
  ;;
abuse)
  # The defences at the server's defaults and bcrypt at production cost; each build on a fresh SQLite database.
  unset LOGIN_ADDRESS_ATTEMPTS PASSWORD_QUEUE
  export BCRYPT_COST=12
  flood_seconds=${FLOOD_SECONDS:-20}
  stall_seconds=${STALL_SECONDS:-30}
  # Both attacks on $bin, each on a server of its own (so the peak RSS is that attack's); figures to $work/PREFIX-*.json.
  abuse_attacks() {
    local prefix=$1
    export DATABASE_URL="sqlite://$work/$prefix.sqlite"
    echo "== $bin: a login flood beside a real user"
    start_server
    # The real user comes from 127.0.0.2 (all of 127/8 is loopback on Linux), the flood from 127.0.0.1.
    curl -fsS --interface 127.0.0.2 -o /dev/null "$base/health/live" ||
      { echo "no connection from 127.0.0.2 (curl --interface 127.0.0.2): the real user needs an address of its own" >&2; exit 1; }
    curl -fsS --interface 127.0.0.2 -o /dev/null "$base/api/identity/register/" -H 'Content-Type: application/json' \
      -d '{"username":"real-user","email":"real-user@example.com","password":"real-user-pass-42","password2":"real-user-pass-42"}'
    echo "== the real user signs in 5 times in a row, idle"
    python3 Benchmarks/abuse.py real "$base" real-user real-user-pass-42 5 "$work/$prefix-idle.json"
    echo "== 60 clients flood sign-ins for $flood_seconds s (on while the real user still signs in); after 3 s the real user, 5 times"
    # The flood stands in for machines elsewhere: at nice 19 it takes only CPU the server leaves idle.
    touch "$work/flood.hold"
    nice -n 19 python3 Benchmarks/abuse.py flood "$base" "$flood_seconds" 60 "$work/flood.hold" "$work/$prefix-flood.json" &
    helper_pid=$!
    sleep 3
    python3 Benchmarks/abuse.py real "$base" real-user real-user-pass-42 5 "$work/$prefix-busy.json"
    rm "$work/flood.hold"
    wait "$helper_pid"; helper_pid=""
    stop_server
    echo "== $bin: 300 uploads of a ~1 MiB body to /api/identity/register/, stalled for $stall_seconds s, on a fresh server"
    start_server
    python3 Benchmarks/abuse.py stall "$base" 300 "$stall_seconds" "$server_pid" "$work/$prefix-stall.json"
    stop_server
  }
  abuse_attacks ours
  if [[ -n ${BASELINE:-} ]]; then  # another build of the server (the figure before a change); it ignores unknown variables
    bin=$BASELINE abuse_attacks baseline
  fi
  echo "== abuse: BCRYPT_COST=12, LOGIN_ADDRESS_ATTEMPTS, PASSWORD_QUEUE, HTTP_READ_TIMEOUT and MAX_CONNECTIONS at their defaults"
  python3 Benchmarks/abuse.py report "$work/ours" ${BASELINE:+"$work/baseline"}
  ;;
*)
  echo "usage: $0 orders|orders-webhook|catalog|catalog-1m|crash|login-storm|outage|pg-orders|backoffice|backoffice-1m|abuse" >&2
  exit 2 ;;
esac
