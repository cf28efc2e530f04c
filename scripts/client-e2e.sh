#!/usr/bin/env bash
# End-to-end test of the generated Swift client: starts a server on a fresh SQLite database with the
# demo catalog (scripts/test-server.sh; build it first: `swift build`), then runs the Swift Testing
# suite of Clients/OpplyClient against it with OPPLY_BASE_URL set.
#
#   scripts/client-e2e.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/test-server.sh
source scripts/test-server.sh
WORK=$(mktemp -d)
SERVER_LOG=$WORK/server.log
trap 'stop_test_server; rm -rf "$WORK"' EXIT
start_test_server "sqlite://$WORK/e2e.sqlite"

echo "==> Client end-to-end tests: OPPLY_BASE_URL=$BASE swift test --package-path Clients/OpplyClient"
if ! OPPLY_BASE_URL=$BASE swift test --package-path Clients/OpplyClient; then
  echo "==> Server log (last 50 lines)" >&2
  tail -n 50 "$SERVER_LOG" >&2
  exit 1
fi
