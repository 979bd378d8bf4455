#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the server tests.
#
#   scripts/postgres.sh start   initdb a cluster in a temp dir, listen on 127.0.0.1:$PORT,
#                               create database tekcify_test, print its URL
#   scripts/postgres.sh stop    stop the cluster and delete its directory
#   scripts/postgres.sh url     print the URL (the cluster must be running)
#   scripts/postgres.sh bin     print the folder of the server binaries it uses (exit 1: none)
#
# The server binaries are looked for in $PG_BIN when it is set (and only there), else
# beside `pg_ctl` on PATH, else in Debian's /usr/lib/postgresql/<newest>/bin.
#
# Typical use:  export TEKCIFY_TEST_POSTGRES_URL="$(scripts/postgres.sh start)"
# Run as root, the server runs as the `postgres` OS user (PostgreSQL refuses root).
# Durability is off (fsync, synchronous_commit): this cluster only ever holds test data.
set -euo pipefail

PORT="${TEKCIFY_PG_PORT:-55432}"
DIR="${TMPDIR:-/tmp}/tekcify-pg-${PORT}"
DB="tekcify_test"
URL="postgresql://postgres@127.0.0.1:${PORT}/${DB}"

find_bin() {
    if [ -n "${PG_BIN+set}" ]; then
        echo "${PG_BIN}"
    elif command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
    else
        ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
    fi
}
BIN="$(find_bin)"

if [ -z "${BIN}" ] || [ ! -x "${BIN}/pg_ctl" ] || [ ! -x "${BIN}/initdb" ]; then
    echo "postgres.sh: no PostgreSQL server binaries (looked in ${PG_BIN+\$PG_BIN=}${BIN:-PATH" \
         "and /usr/lib/postgresql/*/bin}): apt-get install -y postgresql, or set PG_BIN" >&2
    exit 1
fi

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() {
    [ -f "${DIR}/data/postmaster.pid" ] && as_pg "${BIN}/pg_ctl" -D "${DIR}/data" status >/dev/null 2>&1
}

start() {
    if running; then
        echo "${URL}"
        return 0
    fi
    rm -rf "${DIR}"
    mkdir -p "${DIR}"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "${DIR}"
    fi
    as_pg "${BIN}/initdb" -D "${DIR}/data" -U postgres --auth=trust -E UTF8 --no-locale \
        >"${DIR}/initdb.log" 2>&1 || { cat "${DIR}/initdb.log" >&2; exit 1; }
    as_pg "${BIN}/pg_ctl" -D "${DIR}/data" -l "${DIR}/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p ${PORT} -k ${DIR} -c max_connections=300 \
            -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null || { cat "${DIR}/server.log" >&2; exit 1; }
    as_pg "${BIN}/createdb" -h 127.0.0.1 -p "${PORT}" -U postgres "${DB}"
    echo "${URL}"
}

stop() {
    if running; then
        as_pg "${BIN}/pg_ctl" -D "${DIR}/data" -m fast -w stop >/dev/null
    fi
    rm -rf "${DIR}"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) running && echo "${URL}" ;;
    bin) echo "${BIN}" ;;
    *) echo "usage: $0 start|stop|url|bin" >&2; exit 2 ;;
esac
