#!/bin/sh
# The compose standby's entrypoint, as the postgres user of the postgres image. On the first
# start, copy the primary with pg_basebackup: --write-recovery-conf (-R) leaves standby.signal
# and primary_conninfo behind, so the server then streams the primary's WAL and answers
# read-only queries (hot standby). Later starts find the copy and just follow.
set -eu
PGDATA="${PGDATA:-/var/lib/postgresql/18/docker}"
mkdir -p "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_basebackup --host="${PRIMARY_HOST:-postgres}" --port="${PRIMARY_PORT:-5432}" \
        --username=replicator \
        --pgdata="$PGDATA" --write-recovery-conf --wal-method=stream --checkpoint=fast; do
        echo "standby: no base backup from the primary yet; retrying in 2 s" >&2
        find "$PGDATA" -mindepth 1 -delete       # what the failed copy left
        sleep 2
    done
fi
# The image makes the data directory world-writable for its own entrypoint to fix; PostgreSQL
# refuses to start on one.
chmod 0700 "$PGDATA"
# PGPASSWORD (from compose) stays in the environment for the WAL receiver's connections; the
# arguments (compose's `command:`) go to the server.
exec postgres -D "$PGDATA" "$@"
