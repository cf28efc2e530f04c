#!/usr/bin/env bash
# Contract conformance: fuzz a running server against Sources/OpplyServer/Resources/openapi.yaml
# with schemathesis, once as a customer and once as staff.
#
#   scripts/conformance.sh DATABASE_URL     # e.g. sqlite:///tmp/x.sqlite or $TEST_POSTGRES_URL
#
# Starts a server with scripts/test-server.sh (build it first: `swift build`). The database should be
# empty or throwaway: the run creates products, carts and orders. Bounded: CONFORMANCE_MAX_EXAMPLES (default 10)
# cases per operation and phase, CONFORMANCE_MAX_TIME (default 40) seconds per role.
# Exits non-zero when any check fails. Installs schemathesis with pip when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DATABASE_URL=${1:?usage: scripts/conformance.sh DATABASE_URL}
SPEC=Sources/OpplyServer/Resources/openapi.yaml
MAX_EXAMPLES=${CONFORMANCE_MAX_EXAMPLES:-10}
MAX_TIME=${CONFORMANCE_MAX_TIME:-40}
CHECKS=not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance

if ! python3 -c 'import schemathesis' 2>/dev/null; then
  echo "==> Installing schemathesis"
  python3 -m pip install --quiet schemathesis
fi
# pip may put the script outside PATH; the module runs anyway.
schemathesis=(python3 -m schemathesis.cli)
command -v schemathesis >/dev/null && schemathesis=(schemathesis)

# shellcheck source=scripts/test-server.sh
source scripts/test-server.sh
WORK=$(mktemp -d)
SERVER_LOG=$WORK/server.log
trap 'stop_test_server; rm -rf "$WORK"' EXIT
export WEBHOOK_ALLOW_HTTP=true WEBHOOK_ALLOW_PRIVATE=true  # for the endpoint below
start_test_server "$DATABASE_URL"
# The server serves the contract it is checked against: the same bytes as the file.
curl -fsS "$BASE/openapi.yaml" | cmp -s - "$SPEC" || { echo "conformance: GET /openapi.yaml differs from $SPEC" >&2; exit 1; }

json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
token() {
  curl -fsS "$BASE/api/identity/token/" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" | json access
}
post() {  # post PATH TOKEN JSON: prints the answer's id
  curl -fsS "$BASE$1" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' -d "$3" | json id
}
# Unique names, so a rerun on the same database does not collide.
RUN=$(date +%s)$$
PASSWORD=conformance-pass-42
CONFORMANCE_CUSTOMER_ID=$(curl -fsS "$BASE/api/identity/register/" -H 'Content-Type: application/json' \
  -d "{\"username\":\"fuzz-customer-$RUN\",\"email\":\"fuzz-customer-$RUN@example.com\",\"password\":\"$PASSWORD\",\"password2\":\"$PASSWORD\"}" | json id)
"$OPPLY_BIN" create-user --username "fuzz-staff-$RUN" --email "fuzz-staff-$RUN@example.com" --password "$PASSWORD" --staff >/dev/null
# Both logins before any fuzzing: fuzzed logins may trip the throttle for this client address,
# and the access tokens must outlive the run (ACCESS_TOKEN_TTL defaults to 15 minutes).
CUSTOMER_TOKEN=$(token "fuzz-customer-$RUN" "$PASSWORD")
STAFF_TOKEN=$(token "fuzz-staff-$RUN" "$PASSWORD")
# Real resources for the path ids in scripts/conformance.toml. The webhook endpoint points at the
# discard port on loopback (nothing listens; WEBHOOK_ALLOW_* let it register): its deliveries fail
# and retry without leaving the machine.
CONFORMANCE_PRODUCT_ID=$(post /api/catalog/products/ "$STAFF_TOKEN" \
  '{"name":"Conformance oat milk","price":"2.49","quantity":1000,"category":"conformance"}')
CONFORMANCE_ORDER_ID=$(post /api/orders/orders/ "$CUSTOMER_TOKEN" \
  "{\"order_items\":[{\"product\":\"$CONFORMANCE_PRODUCT_ID\",\"quantity\":1}]}")
CONFORMANCE_WEBHOOK_ID=$(post /api/admin/webhooks/ "$STAFF_TOKEN" \
  '{"url":"http://127.0.0.1:9/conformance","events":["*"]}')
export CONFORMANCE_CUSTOMER_ID CONFORMANCE_PRODUCT_ID CONFORMANCE_ORDER_ID CONFORMANCE_WEBHOOK_ID

# Left out, for every role:
# - DELETE /api/identity/customers/{id}/ closes an account; with the caller's own id (the coverage
#   phase tries the ids it has seen) it revokes the token the rest of the run depends on.
# - POST /api/admin/webhooks/ and PATCH /api/admin/webhooks/{id}/ take a URL that the server
#   resolves and the delivery worker then POSTs every order event to: fuzzed URLs (a public IP
#   literal passes the private-address guard) would send traffic off this machine.
EXCLUDES=(
  --exclude-operation-id deleteCustomer
  --exclude-operation-id createWebhookEndpoint
  --exclude-operation-id updateWebhookEndpoint
)
status=0
for role in customer staff; do
  if [[ $role == customer ]]; then bearer=$CUSTOMER_TOKEN; else bearer=$STAFF_TOKEN; fi
  echo "==> schemathesis as $role: $CHECKS, at most $MAX_EXAMPLES examples per operation, ${MAX_TIME}s"
  "${schemathesis[@]}" --config-file scripts/conformance.toml run "$SPEC" --url "$BASE" \
    -H "Authorization: Bearer $bearer" \
    --checks "$CHECKS" \
    --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" \
    --workers 1 --seed 14 \
    "${EXCLUDES[@]}" \
    --report junit --report-junit-path "$WORK/junit-$role.xml" || status=1
done
if [[ $status -ne 0 ]]; then
  echo "==> Server log (last 50 lines)" >&2
  tail -n 50 "$SERVER_LOG" >&2
fi
exit "$status"
