#!/usr/bin/env bash
# The whole suite: on SQLite (browser and multi-process tests included), and, when TEST_DATABASE_URL is set, again on
# PostgreSQL at the same time (the two passes share no database, port or temporary directory).
# Usage: scripts/run_tests.sh PYTHON [pytest arguments...]; PG_ONLY_ARGS holds what the PostgreSQL pass leaves out.
set -uo pipefail
python=$1
shift

pg_pid=
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  pg_dir=$(mktemp -d)
  # shellcheck disable=SC2086  # PG_ONLY_ARGS is a list of arguments
  "$python" -m pytest -p no:cacheprovider --basetemp="$pg_dir/tmp" -m "not browser and not self_check" ${PG_ONLY_ARGS:-} "$@" \
    > "$pg_dir/output" 2>&1 &
  pg_pid=$!
fi

# Tests marked postgres need the server: they run in the PostgreSQL pass.
env -u TEST_DATABASE_URL "$python" -m pytest -m "not postgres" "$@"
sqlite_status=$?

pg_status=0
if [ -n "$pg_pid" ]; then
  wait "$pg_pid"
  pg_status=$?
  echo "== the same suite against PostgreSQL ($TEST_DATABASE_URL) =="
  cat "$pg_dir/output"
  rm -rf "$pg_dir"
fi
[ "$sqlite_status" -eq 0 ] && [ "$pg_status" -eq 0 ]
