#!/bin/bash
# Streaming read replica for the compose stack.
#
# On first start (empty data directory), it waits for the primary, then clones it with
# `pg_basebackup -R`. -R writes standby.signal plus primary_conninfo/primary_slot_name
# into postgresql.auto.conf, so the server starts as a hot standby that streams WAL
# through the slot made by 10-primary-replication.sh. Later starts reuse the data directory.
#
# Environment (set in docker-compose.yml):
#   PRIMARY_HOST, PRIMARY_PORT (default 5432)
#   REPLICATION_USER (default replicator), REPLICATION_PASSWORD (required)
#   REPLICATION_SLOT (default opply_replica)
set -euo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
: "${PRIMARY_HOST:?PRIMARY_HOST must be set}"
: "${PRIMARY_PORT:=5432}"
: "${REPLICATION_USER:=replicator}"
: "${REPLICATION_SLOT:=opply_replica}"
: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD must be set}"

# The container starts as root (the image default) so it can fix the ownership of a
# fresh volume. PostgreSQL itself always runs as `postgres` (via gosu, shipped in the image).
mkdir -p "$PGDATA"
chown postgres:postgres "$PGDATA"
chmod 0700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "replica: waiting for primary ${PRIMARY_HOST}:${PRIMARY_PORT}..."
    until gosu postgres pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$REPLICATION_USER"; do
        sleep 1
    done

    echo "replica: cloning primary with pg_basebackup (slot ${REPLICATION_SLOT})..."
    # Retry: the primary can answer pg_isready a moment before it accepts
    # replication connections. A half-written clone is removed before each retry.
    attempt=1
    until PGPASSWORD="$REPLICATION_PASSWORD" gosu postgres pg_basebackup \
            --host="$PRIMARY_HOST" --port="$PRIMARY_PORT" \
            --username="$REPLICATION_USER" --no-password \
            --pgdata="$PGDATA" \
            --wal-method=stream --slot="$REPLICATION_SLOT" \
            --checkpoint=fast --write-recovery-conf --progress; do
        if [ "$attempt" -ge 10 ]; then
            echo "replica: pg_basebackup failed ${attempt} times, giving up" >&2
            exit 1
        fi
        attempt=$((attempt + 1))
        echo "replica: pg_basebackup failed, retrying in 3s (attempt ${attempt})" >&2
        find "$PGDATA" -mindepth 1 -delete
        sleep 3
    done
    chmod 0700 "$PGDATA"
    echo "replica: base backup complete"
fi

# Any extra arguments (compose `command:`) are passed to postgres, e.g. `-c max_connections=200`.
exec gosu postgres postgres -D "$PGDATA" -c hot_standby=on "$@"
