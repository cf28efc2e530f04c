#!/usr/bin/env bash
# The back office in a real browser: starts a server on a fresh SQLite database with APP_ENV=development (so it
# creates the demo catalog and the 'admin' staff account, printing its password once), then drives /admin/ with
# headless Chromium through Tests/browser/backoffice.py: catalog, dashboard, order desk, customers, audit trail, and a
# webhook endpoint delivering to a receiver the test runs on loopback (so the server may deliver to http on a private
# address here: WEBHOOK_ALLOW_HTTP, WEBHOOK_ALLOW_PRIVATE). Builds nothing: run `swift build` first, or point
# OPPLY_BIN (default .build/debug/opply) at a built server.
#
#   scripts/browser-test.sh                             # screenshots in a temporary directory (printed)
#   SCREENSHOT_DIR=/tmp/opply-shots scripts/browser-test.sh
#
# Needs Debian's chromium and chromium-driver and selenium 4.51.0 (.ci/run installs them); downloads nothing.
# Prints the server's output when anything fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OPPLY_BIN=${OPPLY_BIN:-.build/debug/opply}
[[ -x $OPPLY_BIN ]] || { echo "$OPPLY_BIN is missing: run swift build first" >&2; exit 1; }

WORK=$(mktemp -d)
SCREENSHOT_DIR=${SCREENSHOT_DIR:-$WORK/screenshots}
SERVER_OUT=$WORK/server.out  # standard output: the admin account's password
SERVER_LOG=$WORK/server.log  # standard error: the log
SERVER_PID=""

cleanup() {
  local rc=$?
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if ((rc != 0)); then
    echo "==> Server output ($OPPLY_BIN serve)" >&2
    sed "s/with password: .*/with password: (hidden)/" "$SERVER_OUT" >&2 || true
    cat "$SERVER_LOG" >&2 || true
  fi
  if [[ -d $SCREENSHOT_DIR ]]; then echo "==> Screenshots in $SCREENSHOT_DIR"; fi
  # The screenshots stay; so do the server's output files when they sit beside them.
  if [[ $SCREENSHOT_DIR == "$WORK"/* ]]; then
    rm -f "$WORK"/browser.sqlite*
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$port
jwt_secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(36))')  # 48 characters
echo "==> Starting $OPPLY_BIN serve on $BASE (sqlite, fresh database in $WORK)"
# BCRYPT_COST=4 as in scripts/test-server.sh: a throwaway database, fast sign-ins. WEBHOOK_ALLOW_HTTP and
# WEBHOOK_ALLOW_PRIVATE: the webhook receiver is the test's own, on loopback over plain http. (The delivery worker
# polls every second; no setting shortens it.)
APP_ENV=development DATABASE_URL="sqlite://$WORK/browser.sqlite" HOST=127.0.0.1 PORT=$port \
  JWT_SECRET=$jwt_secret LOG_LEVEL=warning BCRYPT_COST=4 WEBHOOK_ALLOW_HTTP=true WEBHOOK_ALLOW_PRIVATE=true \
  "$OPPLY_BIN" serve >"$SERVER_OUT" 2>"$SERVER_LOG" &
SERVER_PID=$!

# The password line comes before the server listens; wait for both, at most 60 s.
admin_password=""
deadline=$((SECONDS + 60))
while :; do
  if [[ -z $admin_password ]]; then
    admin_password=$(sed -n "s/^Created the staff account 'admin' with password: //p" "$SERVER_OUT" | head -n 1)
  fi
  if [[ -n $admin_password ]] && curl -fsS -o /dev/null --max-time 2 "$BASE/health/live" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    wait "$SERVER_PID" && status=0 || status=$?
    SERVER_PID=""
    echo "the server exited (status $status) before it was ready" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    if [[ -z $admin_password ]]; then
      echo "no \"Created the staff account 'admin' with password:\" line from the server in 60 s" >&2
    else
      echo "$BASE/health/live did not answer in 60 s" >&2
    fi
    exit 1
  fi
  sleep 0.2
done

echo "==> Back office in headless Chromium: python3 Tests/browser/backoffice.py (BASE_URL=$BASE)"
BASE_URL=$BASE ADMIN_USERNAME=admin ADMIN_PASSWORD=$admin_password SCREENSHOT_DIR=$SCREENSHOT_DIR \
  python3 Tests/browser/backoffice.py
