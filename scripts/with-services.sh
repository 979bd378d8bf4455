#!/usr/bin/env bash
# Run a command with the services the test suite needs, then stop them.
#
#   scripts/with-services.sh .venv/bin/python -m pytest
#
# PostgreSQL: when TEKCIFY_TEST_POSTGRES_URL is already set, it is used as it is.
# Otherwise, when PostgreSQL's server binaries are installed (scripts/postgres.sh bin finds
# them: $PG_BIN, pg_ctl on PATH, or Debian's `apt-get install postgresql`), a throwaway
# cluster is started with scripts/postgres.sh and stopped at the end.
# Redis and Chromium: the suites start their own redis-server, and drive chromium, when
# they are on PATH.
#
# Whatever is missing, the tests that need it are left out, loudly (tests/needs.py decides,
# the same way for a plain `pytest`); this script says so up front too. On CI (CI=true) a
# left-out test fails the run: CI installs everything.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
started_pg=0

cleanup() {
    if [ "$started_pg" = 1 ]; then
        echo "==> stopping the test PostgreSQL"
        "$here/postgres.sh" stop || true
    fi
}
trap cleanup EXIT INT TERM

missing() {
    echo "!!! $1 is not installed: the tests that need it are left out." >&2
    echo "!!! Install it ($2) to run them." >&2
}

if [ -z "${TEKCIFY_TEST_POSTGRES_URL:-}" ] && [ "${TEKCIFY_TEST_SKIP_POSTGRES:-}" != 1 ]; then
    if running_url="$("$here/postgres.sh" url 2>/dev/null)"; then
        # Someone's cluster is already up (a developer's): use it, leave it running.
        export TEKCIFY_TEST_POSTGRES_URL="$running_url"
        echo "==> using the running test PostgreSQL: $TEKCIFY_TEST_POSTGRES_URL"
    elif "$here/postgres.sh" bin >/dev/null 2>&1; then
        echo "==> starting a throwaway PostgreSQL for the tests"
        TEKCIFY_TEST_POSTGRES_URL="$("$here/postgres.sh" start)"
        export TEKCIFY_TEST_POSTGRES_URL
        started_pg=1
        echo "    $TEKCIFY_TEST_POSTGRES_URL"
    else
        missing PostgreSQL "Debian: apt-get install -y postgresql"
    fi
fi

if [ -z "${TEKCIFY_TEST_REDIS_URL:-}" ] && [ "${TEKCIFY_TEST_SKIP_REDIS:-}" != 1 ] \
        && ! command -v redis-server >/dev/null 2>&1; then
    missing redis-server "Debian: apt-get install -y redis-server"
fi

if [ -z "${TEKCIFY_CHROMIUM:-}" ] && [ "${TEKCIFY_TEST_SKIP_BROWSER:-}" != 1 ] \
        && ! command -v chromium >/dev/null 2>&1; then
    missing Chromium "scripts/install-browser.sh, or apt-get install -y chromium"
fi

"$@"
