#!/usr/bin/env bash
# Run a command with the services the test suite needs, then stop them.
#
#   scripts/with-services.sh .venv/bin/python -m pytest
#
# PostgreSQL: when TEKCIFY_TEST_POSTGRES_URL is already set, it is used as it is.
# Otherwise, when PostgreSQL's server binaries are installed (Debian: `apt-get install
# postgresql`), a throwaway cluster is started with scripts/postgres.sh and stopped at the
# end. Without them the server tests run on SQLite only, and this script says so loudly
# (CI installs PostgreSQL, so there every PostgreSQL test runs). The same for Redis below.
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

if [ -z "${TEKCIFY_TEST_POSTGRES_URL:-}" ] && [ "${TEKCIFY_TEST_SKIP_POSTGRES:-}" != 1 ]; then
    if running_url="$("$here/postgres.sh" url 2>/dev/null)"; then
        # Someone's cluster is already up (a developer's): use it, leave it running.
        export TEKCIFY_TEST_POSTGRES_URL="$running_url"
        echo "==> using the running test PostgreSQL: $TEKCIFY_TEST_POSTGRES_URL"
    elif ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || [ -n "${PG_BIN:-}" ]; then
        echo "==> starting a throwaway PostgreSQL for the tests"
        TEKCIFY_TEST_POSTGRES_URL="$("$here/postgres.sh" start)"
        export TEKCIFY_TEST_POSTGRES_URL
        started_pg=1
        echo "    $TEKCIFY_TEST_POSTGRES_URL"
    else
        echo "!!! PostgreSQL is not installed: the server tests run on SQLite only." >&2
        echo "!!! Install it (Debian: apt-get install -y postgresql) to run them on both." >&2
        echo "!!! The PostgreSQL fault tests (tests/faults) are left out too." >&2
        export TEKCIFY_TEST_SKIP_POSTGRES=1
        export TEKCIFY_TEST_SKIP_FAULTS=1
    fi
fi

# Redis: the rate-limit tests start their own redis-server on a free port (or use
# TEKCIFY_TEST_REDIS_URL). Without the binary they would fail; say so and run memory only.
if [ -z "${TEKCIFY_TEST_REDIS_URL:-}" ] && [ "${TEKCIFY_TEST_SKIP_REDIS:-}" != 1 ] \
        && ! command -v redis-server >/dev/null 2>&1; then
    echo "!!! redis-server is not installed: the Redis rate-limit tests are left out." >&2
    echo "!!! Install it (Debian: apt-get install -y redis-server) to run them." >&2
    export TEKCIFY_TEST_SKIP_REDIS=1
fi

# The fleet suite needs both PostgreSQL and Redis.
if [ "${TEKCIFY_TEST_SKIP_POSTGRES:-}" = 1 ] || [ "${TEKCIFY_TEST_SKIP_REDIS:-}" = 1 ]; then
    if [ "${TEKCIFY_TEST_SKIP_FLEET:-}" != 1 ]; then
        echo "!!! The fleet tests (tests/fleet) need PostgreSQL and Redis: left out." >&2
        export TEKCIFY_TEST_SKIP_FLEET=1
    fi
fi

# Chromium: the OAuth pages are tested in Debian's headless Chromium.
if [ -z "${TEKCIFY_CHROMIUM:-}" ] && [ "${TEKCIFY_TEST_SKIP_BROWSER:-}" != 1 ] \
        && [ ! -x /usr/bin/chromium ]; then
    echo "!!! Chromium is not installed: the browser tests (tests/browser) are left out." >&2
    echo "!!! Install it (scripts/install-browser.sh, or apt-get install -y chromium)." >&2
    export TEKCIFY_TEST_SKIP_BROWSER=1
fi

"$@"
