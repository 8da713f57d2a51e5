# Runs once, when the compose primary's volume is first initialised (mounted into
# /docker-entrypoint-initdb.d, where the image's entrypoint sources it): the role
# postgres-replica streams as, and the pg_hba.conf line that lets it connect for replication
# (the image's own line, `host all all all`, does not cover replication connections).
# On a volume initialised before this file existed, run the two by hand once.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=password="$ACCORD_REPLICATION_PASSWORD" <<'SQL'
create role replicator with replication login password :'password';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
