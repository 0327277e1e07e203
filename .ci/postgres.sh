#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the test suite and export TOKENBOOKS_TEST_POSTGRES_URL.
# Sourced by .ci/run. Installs Debian's postgresql when it is missing; runs the server from a temporary
# directory as the `postgres` user when we are root (PostgreSQL refuses to run as root), as ourselves
# otherwise. The server is stopped and its directory removed when the sourcing shell exits.

pg_bin_dir() {
  local initdb
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
  [ -n "$initdb" ] && dirname "$initdb"
}

if [ -z "$(pg_bin_dir)" ]; then
  echo "ci: installing PostgreSQL from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN=$(pg_bin_dir)
PG_PORT=${PG_PORT:-55432}
PG_DIR=$(mktemp -d /tmp/tokenbooks-pg.XXXXXX)
chmod 755 "$PG_DIR"

as_pg() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

[ "$(id -u)" = "0" ] && chown postgres "$PG_DIR"
as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
  -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" start >/dev/null

stop_postgres() {
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
trap stop_postgres EXIT

# A random password: tokenbooks redacts the database password from everything it prints, so a password
# that is an ordinary word ("tokenbooks") would be redacted from the messages the tests read.
PG_PASSWORD="ci$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')"
psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE ROLE tokenbooks LOGIN PASSWORD '$PG_PASSWORD';
CREATE DATABASE tokenbooks_test OWNER tokenbooks;
SQL
export TOKENBOOKS_TEST_POSTGRES_URL="postgresql://tokenbooks:$PG_PASSWORD@127.0.0.1:$PG_PORT/tokenbooks_test"
echo "ci: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') at 127.0.0.1:$PG_PORT" >&2
