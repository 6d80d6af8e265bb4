#!/usr/bin/env bash
# The REST conformance suite (run.sh) against `basalt rest` on a Postgres that accepts TLS only
# (ssl=on with a self-signed certificate, `hostssl` in pg_hba.conf, plain TCP rejected), basalt
# connecting with sslmode=require. Builds nothing: `cargo build -p basalt` first. Extra arguments
# go to run.py. PGPORT (default 55499).
set -euo pipefail
port="${PGPORT:-55499}"
S=/tmp/basalt-rest-conformance-$port
bin=/usr/lib/postgresql/15/bin
as_pg() { runuser -u postgres -- "$@"; }
as_pg "$bin/pg_ctl" -D "$S/pg" -m fast stop >/dev/null 2>&1 || true
rm -rf "$S"; mkdir -p "$S/pg" "$S/pgsock" "$S/pglog" "$S/certs"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$S/certs/server.key" -out "$S/certs/server.crt" 2>/dev/null
chmod 600 "$S/certs/server.key"
chown -R postgres "$S"
as_pg "$bin/initdb" -D "$S/pg" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
cat > "$S/pg/pg_hba.conf" <<H
local all all trust
hostssl all all 127.0.0.1/32 trust
host all all 127.0.0.1/32 reject
H
as_pg "$bin/pg_ctl" -D "$S/pg" -l "$S/pglog/pg.log" -w \
  -o "-p $port -k $S/pgsock -c listen_addresses=127.0.0.1 -c max_connections=200 -c ssl=on -c ssl_cert_file=$S/certs/server.crt -c ssl_key_file=$S/certs/server.key" start >/dev/null
cd "$(dirname "$0")/../../.."
PGSSLMODE=require KEEP_CLUSTER=1 NO_BUILD=1 PGPORT=$port crates/rest/conformance/run.sh \
  --db-url "postgresql://postgres@127.0.0.1:$port/pgrst_conformance?sslmode=require" "$@" || rc=$?
# Plain TCP is refused, so every session above was TLS.
if psql "postgresql://postgres@127.0.0.1:$port/postgres?sslmode=disable" -c 'select 1' >/dev/null 2>&1; then
  echo "the server accepted a plain connection: the run proves nothing about TLS"; rc=1
else
  echo "plain TCP refused: every session of the run was TLS"
fi
as_pg "$bin/pg_ctl" -D "$S/pg" -m fast stop >/dev/null 2>&1 || true
rm -rf "$S"
exit ${rc:-0}
