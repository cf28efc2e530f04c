# Sourced by scripts that need a throwaway server (conformance.sh, client-e2e.sh):
#   start_test_server DATABASE_URL   # sets BASE and SERVER_PID, logs to $SERVER_LOG
#   stop_test_server                 # safe to call twice, or when none started
# Runs ${OPPLY_BIN:-.build/debug/opply} (build it first: swift build) on a free loopback port with
# APP_ENV=development, so an empty database gets the admin account and the demo catalog.

OPPLY_BIN=${OPPLY_BIN:-.build/debug/opply}
SERVER_PID=""
BASE=""

start_test_server() {
  local port
  [[ -x $OPPLY_BIN ]] || { echo "$OPPLY_BIN is missing: run swift build first" >&2; return 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  BASE=http://127.0.0.1:$port
  SERVER_LOG=${SERVER_LOG:-$(mktemp)}
  export DATABASE_URL=$1 APP_ENV=development BCRYPT_COST=4 LOG_LEVEL=${LOG_LEVEL:-warning}
  # The fuzzer and the client's tests register and sign in many users from this one address.
  export LOGIN_ADDRESS_ATTEMPTS=1000000 PASSWORD_QUEUE=10000
  export JWT_SECRET=${JWT_SECRET:-test-server-secret-0123456789abcdef0123}
  echo "==> Starting $OPPLY_BIN serve on $BASE (${DATABASE_URL%%:*})"
  "$OPPLY_BIN" serve --port "$port" >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$BASE/health/ready" 2>/dev/null && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.2
  done
  echo "the server did not become ready; its log:" >&2
  cat "$SERVER_LOG" >&2
  return 1
}

stop_test_server() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
