#!/usr/bin/env bash
# Runs the shared PostgREST conformance suite against `basalt rest`.
#
# Starts a throw-away Postgres cluster under /tmp (as the `postgres` user), loads the
# conformance database, builds basalt, runs run.py with the skip file, and stops the cluster.
# It also runs basalt's own cases in spec/ (ported from PostgREST's spec suite, ids 2000+), with
# spec/skip.txt appended to skip.txt; spec/fixtures.sql adds the objects only those cases use.
# Extra arguments go to run.py (e.g. `--only select`).
# Environment: BASALT_PROFILE=release|debug (default debug), PGPORT (default 55432),
# KEEP_CLUSTER=1 to leave the cluster running (and reuse it on the next run), NO_BUILD=1 to run
# the binary already built.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
suite="${BASALT_SHARED:-$root/../shared}/conformance/postgrest"
profile="${BASALT_PROFILE:-debug}"
port="${PGPORT:-55432}"
S="/tmp/basalt-rest-conformance-$port"
bin=/usr/lib/postgresql/15/bin
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if ! as_pg "$bin/pg_ctl" -D "$S/pg" status >/dev/null 2>&1; then
  rm -rf "$S"
  mkdir -p "$S/pg" "$S/pgsock" "$S/pglog"
  if [ "$(id -u)" = 0 ]; then chown postgres "$S" "$S/pg" "$S/pgsock" "$S/pglog"; fi
  as_pg "$bin/initdb" -D "$S/pg" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  as_pg "$bin/pg_ctl" -D "$S/pg" -l "$S/pglog/pg.log" -w \
    -o "-p $port -k $S/pgsock -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
fi
stop() {
  if [ -z "${KEEP_CLUSTER:-}" ]; then
    as_pg "$bin/pg_ctl" -D "$S/pg" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$S"
  fi
}
trap stop EXIT

export PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres
"$suite/load.sh" >"$S/load.log" 2>&1 || { cat "$S/load.log"; exit 1; }
# Objects only the spec/ cases use.
psql -X -q -v ON_ERROR_STOP=1 -d "${PGDATABASE:-pgrst_conformance}" -f "$here/spec/fixtures.sql" \
  >>"$S/load.log" 2>&1 || { cat "$S/load.log"; exit 1; }

cd "$root"
if [ -n "${NO_BUILD:-}" ]; then
  :  # use the binary as it is
elif [ "$profile" = release ]; then
  cargo build -q -p basalt --release
else
  cargo build -q -p basalt
fi
exe="$root/target/$profile/basalt"

skips="$S/skip.txt"
cat "$here/skip.txt" "$here/spec/skip.txt" >"$skips"
python3 "$suite/run.py" --launch "$exe rest" --skip-file "$skips" --status-text --cli "$exe rest {args}" \
  "$suite/cases" "$here/spec" "$@"
