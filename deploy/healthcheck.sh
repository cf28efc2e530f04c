#!/bin/bash
# HTTP health probe for images without curl/wget. It uses only bash (/dev/tcp).
#
#   opply-healthcheck [PATH] [PORT]
#     PATH  default /health/live   (use /health/ready to also require the database)
#     PORT  default $PORT, else 8080
#
# Exits 0 on an HTTP 200 status line, 1 otherwise (Docker/ECS health semantics).
set -euo pipefail

path="${1:-/health/live}"
port="${2:-${PORT:-8080}}"
host="${HEALTHCHECK_HOST:-127.0.0.1}"
read_timeout="${HEALTHCHECK_TIMEOUT:-3}"

if ! exec 3<>"/dev/tcp/${host}/${port}"; then
    echo "unhealthy: cannot connect to ${host}:${port}" >&2
    exit 1
fi

printf 'GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: opply-healthcheck\r\nConnection: close\r\n\r\n' \
    "$path" "$host" "$port" >&3

status=""
if ! IFS= read -r -t "$read_timeout" status <&3; then
    echo "unhealthy: no response from ${host}:${port}${path}" >&2
    exit 1
fi
# Drain the rest of the response (the server closes it: Connection: close) so the app does not
# see a reset connection on every probe.
while IFS= read -r -t 1 _ <&3; do :; done || true
exec 3<&- 3>&-
status="${status%$'\r'}"

case "$status" in
    "HTTP/1."[01]" 200"*) exit 0 ;;
    *) echo "unhealthy: ${path} answered '${status}'" >&2; exit 1 ;;
esac
