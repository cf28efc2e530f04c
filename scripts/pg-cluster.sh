#!/usr/bin/env bash
# Throwaway PostgreSQL primary + streaming replica for tests (Linux, run as root).
#
#   eval "$(scripts/pg-cluster.sh start DIR)"   # prints PRIMARY_PORT=, REPLICA_PORT=
#                                               # and `export TEST_...=` lines
#   scripts/pg-cluster.sh stop DIR              # stops both servers; then rm -rf DIR
#
# The servers run as the `postgres` OS user, listen on 127.0.0.1 only (no Unix
# socket), trust every connection and run with fsync=off: tests only
# (FSYNC=on for runs that must survive a stop like production, e.g. Benchmarks/run.sh outage).
# Logs: DIR/primary.log and DIR/replica.log.
#
# To restart the replica from a test, pass -l: without it the server keeps
# pg_ctl's stdout/stderr open, and a caller reading them to EOF hangs.
#   runuser -u "$TEST_PG_RUNAS" -- "$TEST_PG_CTL" -D "$TEST_POSTGRES_REPLICA_DATADIR" stop -m fast
#   runuser -u "$TEST_PG_RUNAS" -- "$TEST_PG_CTL" -D "$TEST_POSTGRES_REPLICA_DATADIR" \
#     -l "$TEST_POSTGRES_REPLICA_LOG" -w start
set -euo pipefail

RUNAS=postgres
PG_BIN=""
PRIMARY_PORT=""
REPLICA_PORT=""

log() { echo "pg-cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}

# Newest installed server, e.g. /usr/lib/postgresql/15/bin.
find_pg_bin() {
  local ctl
  ctl=$(printf '%s\n' /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n1)
  [[ -x $ctl ]] || die "no PostgreSQL server found (apt-get install postgresql)"
  dirname "$ctl"
}

# Runs a command as the postgres user, from a folder it can read.
as_pg() { (cd / && runuser -u "$RUNAS" -- "$@"); }

# A free 127.0.0.1 port below the kernel's ephemeral range (32768+), so that
# client sockets cannot take it while a test has the server stopped.
# Ports given as arguments are skipped.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 10000))
    [[ " $* " == *" $port "* ]] && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

# DIR must belong to postgres, and every folder above it must be traversable.
prepare_dir() {
  local dir=$1
  mkdir -p "$dir"
  chown "$RUNAS:" "$dir"
  while [[ $dir != / ]]; do
    dir=$(dirname "$dir")
    runuser -u "$RUNAS" -- test -x "$dir" || chmod a+x "$dir"
  done
}

init_primary() {
  local data=$1 port=$2
  as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 --no-sync
  [[ ${FSYNC:-off} == on || ${FSYNC:-off} == off ]] || die "FSYNC must be on or off"
  cat >>"$data/postgresql.conf" <<CONF

# --- scripts/pg-cluster.sh (the replica inherits these) ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 500
wal_level = replica
max_wal_senders = 10
hot_standby = on
fsync = ${FSYNC:-off}
CONF
  echo "host replication postgres 127.0.0.1/32 trust" >>"$data/pg_hba.conf"
}

make_replica() {
  local data=$1 primary_port=$2 port=$3
  # -C -S: a replication slot keeps the WAL a stopped replica still needs.
  as_pg "$PG_BIN/pg_basebackup" -R -D "$data" -h 127.0.0.1 -p "$primary_port" \
    -U postgres --checkpoint=fast -C -S replica
  echo "port = $port" >>"$data/postgresql.conf"
}

start_server() {
  local data=$1
  as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$data.log" -w -t 120 start
}

sql() { "$PG_BIN/psql" "postgres://postgres@127.0.0.1:$1/postgres" -XAtqc "$2" 2>/dev/null; }
is_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1"; }
in_recovery() { [[ $(sql "$1" 'select pg_is_in_recovery()') == t ]]; }
is_streaming() { [[ $(sql "$1" "select count(*) from pg_stat_replication where state = 'streaming'") -ge 1 ]]; }

# wait_for DESCRIPTION COMMAND...: retries for up to 60 s.
wait_for() {
  local what=$1 i
  shift
  for ((i = 0; i < 120; i++)); do
    "$@" && return 0
    sleep 0.5
  done
  die "timed out waiting for $what"
}

# Sets PRIMARY_PORT and REPLICA_PORT.
launch() {
  local dir=$1
  prepare_dir "$dir"
  PRIMARY_PORT=$(free_port)
  REPLICA_PORT=$(free_port "$PRIMARY_PORT")

  init_primary "$dir/primary" "$PRIMARY_PORT"
  start_server "$dir/primary"
  wait_for "primary on port $PRIMARY_PORT" is_ready "$PRIMARY_PORT"

  make_replica "$dir/replica" "$PRIMARY_PORT" "$REPLICA_PORT"
  start_server "$dir/replica"
  wait_for "replica on port $REPLICA_PORT" is_ready "$REPLICA_PORT"
  wait_for "replica to be in recovery" in_recovery "$REPLICA_PORT"
  wait_for "replica to stream from primary" is_streaming "$PRIMARY_PORT"
  log "primary on 127.0.0.1:$PRIMARY_PORT, replica on 127.0.0.1:$REPLICA_PORT"
}

cmd_start() {
  local dir=$1
  [[ ! -e $dir/primary && ! -e $dir/replica ]] ||
    die "$dir already holds a cluster: run '$0 stop $dir' and remove $dir first"
  launch "$dir" >&2 # progress to stderr; stdout carries only the lines to eval

  echo "PRIMARY_PORT=$PRIMARY_PORT"
  echo "REPLICA_PORT=$REPLICA_PORT"
  printf 'export %s=%q\n' \
    TEST_POSTGRES_URL "postgres://postgres@127.0.0.1:$PRIMARY_PORT/postgres" \
    TEST_POSTGRES_REPLICA_URL "postgres://postgres@127.0.0.1:$REPLICA_PORT/postgres" \
    TEST_POSTGRES_REPLICA_DATADIR "$dir/replica" \
    TEST_POSTGRES_REPLICA_LOG "$dir/replica.log" \
    TEST_PG_CTL "$PG_BIN/pg_ctl" \
    TEST_PG_RUNAS "$RUNAS"
}

# Immediate shutdown: the data is thrown away anyway.
cmd_stop() {
  local data
  for data in "$1/replica" "$1/primary"; do
    [[ -f $data/postmaster.pid ]] || continue
    as_pg "$PG_BIN/pg_ctl" -D "$data" -m immediate -w stop || log "could not stop $data"
  done
}

main() {
  [[ $# -eq 2 && ($1 == start || $1 == stop) ]] || usage
  [[ $(id -u) -eq 0 ]] || die "run as root (the servers run as '$RUNAS' via runuser)"
  id "$RUNAS" >/dev/null 2>&1 || die "no '$RUNAS' OS user (apt-get install postgresql)"
  PG_BIN=$(find_pg_bin)
  "cmd_$1" "$(realpath -m "$2")"
}

main "$@"
