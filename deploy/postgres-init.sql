-- Runs once, when the compose postgres volume is first initialised
-- (mounted into /docker-entrypoint-initdb.d), as POSTGRES_USER in POSTGRES_DB.

-- The first migration creates these too; creating them here keeps the migration working if
-- the application role is later reduced to a non-superuser.
create extension if not exists pg_trgm;
create extension if not exists unaccent;
create extension if not exists btree_gist;

-- The service sends statement_timeout and idle_in_transaction_session_timeout as connection
-- startup parameters. PgBouncer in transaction mode cannot carry those per client, so it is
-- told to ignore them (IGNORE_STARTUP_PARAMETERS in compose.yaml); the role defaults below
-- put the same limits back on every server connection. Keep statement_timeout equal to
-- ACCORD_STATEMENT_TIMEOUT_MS. The migrate and seed services lift it for their own session
-- (statement_timeout=0 in their URL).
alter role current_user set statement_timeout = '15s';
alter role current_user set idle_in_transaction_session_timeout = '60s';
