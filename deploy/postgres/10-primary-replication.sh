#!/bin/bash
# Primary: create the streaming-replication role, a physical replication slot for the
# replica, and a pg_hba rule that lets that role connect for replication.
#
# The official postgres image runs this from /docker-entrypoint-initdb.d/ once, when the
# data directory is first initialised, against a temporary server that listens only on
# the unix socket. The pg_hba.conf change takes effect when the entrypoint restarts the
# server for real.
#
# Environment (set in docker-compose.yml):
#   REPLICATION_USER      role name                 (default: replicator)
#   REPLICATION_PASSWORD  role password             (required)
#   REPLICATION_SLOT      physical slot for replica (default: opply_replica)
set -euo pipefail

: "${REPLICATION_USER:=replicator}"
: "${REPLICATION_SLOT:=opply_replica}"
: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD must be set}"

# psql variables (:"ident" / :'literal') quote the values, so a password with quotes
# cannot break out of the statement.
psql -v ON_ERROR_STOP=1 \
     --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
     -v repl_user="$REPLICATION_USER" \
     -v repl_password="$REPLICATION_PASSWORD" \
     -v repl_slot="$REPLICATION_SLOT" <<'EOSQL'
CREATE ROLE :"repl_user" WITH REPLICATION LOGIN PASSWORD :'repl_password';
SELECT pg_create_physical_replication_slot(:'repl_slot');
EOSQL

# Replication connections match only rules whose database column is `replication`.
# The image's catch-all `host all all all scram-sha-256` does not cover them.
{
    echo "# streaming replica (added by 10-primary-replication.sh)"
    echo "host replication ${REPLICATION_USER} all scram-sha-256"
} >> "$PGDATA/pg_hba.conf"
