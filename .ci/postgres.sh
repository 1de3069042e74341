#!/usr/bin/env bash
# Start a local PostgreSQL server for the `postgres`-marked tests (tests/studies/).
#
# Idempotent: installs PostgreSQL with apt-get when it is missing, creates and
# starts a cluster on 127.0.0.1:${PGPORT:-5432} when none is running, creates
# the role and database when they are missing, and prints the URL.
#
#   eval "$(.ci/postgres.sh)"       # exports DCSOMRL_TEST_POSTGRES (it prints `export ...`;
#                                   # everything else goes to stderr)
#
# Needs root (or sudo) for apt-get and to run commands as the `postgres` user.
set -euo pipefail

PGPORT="${PGPORT:-5432}"
PGUSER_NAME="${DCSOMRL_PG_USER:-dcsomrl}"
PGPASS="${DCSOMRL_PG_PASSWORD:-dcsomrl}"
PGDB="${DCSOMRL_PG_DB:-dcsomrl_test}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else as_root su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi; }

# 1. Install (Debian/Ubuntu packages: server, client, pg_ctlcluster wrappers).
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    as_root apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi

# 2. A cluster on $PGPORT: reuse the one there is, or create one.
VERSION="$(ls /usr/lib/postgresql | sort -V | tail -1)"
CLUSTER="$(pg_lsclusters -h 2>/dev/null | awk -v p="$PGPORT" '$3 == p {print $1 " " $2; exit}')"
if [ -z "$CLUSTER" ]; then
    as_root pg_createcluster --port "$PGPORT" "$VERSION" dcsomrl >&2
    CLUSTER="$VERSION dcsomrl"
fi
set -- $CLUSTER
if ! pg_lsclusters -h | awk -v v="$1" -v c="$2" '$1 == v && $2 == c {print $4}' | grep -q online; then
    as_root pg_ctlcluster "$1" "$2" start >&2
fi
for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$PGPORT" && break
    sleep 1
done
pg_isready -q -h 127.0.0.1 -p "$PGPORT" || { echo "postgres.sh: server on 127.0.0.1:$PGPORT did not start" >&2; exit 1; }

# 3. Role (password login over TCP) and database.
PSQL=(psql -v ON_ERROR_STOP=1 -q -p "$PGPORT" -d postgres)
if [ -z "$(as_postgres "${PSQL[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$PGUSER_NAME'")" ]; then
    as_postgres "${PSQL[@]}" -c "CREATE ROLE $PGUSER_NAME LOGIN PASSWORD '$PGPASS'" >&2
fi
if [ -z "$(as_postgres "${PSQL[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$PGDB'")" ]; then
    as_postgres "${PSQL[@]}" -c "CREATE DATABASE $PGDB OWNER $PGUSER_NAME" >&2
fi

URL="postgresql://$PGUSER_NAME:$PGPASS@127.0.0.1:$PGPORT/$PGDB"
export DCSOMRL_TEST_POSTGRES="$URL"
echo "export DCSOMRL_TEST_POSTGRES=$URL"
