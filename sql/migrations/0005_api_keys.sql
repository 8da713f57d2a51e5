-- API keys: who may write. A key is shown once when made; only a SHA-256 digest of its secret
-- is kept. Runs unchanged on PostgreSQL 15 and 18.
create table api_keys (
    id uuid primary key default accord_uuid7(),
    name text not null check (name <> ''),
    scopes text[] not null check (cardinality(scopes) > 0 and scopes <@ array['write', 'admin']),
    secret_digest bytea not null check (length(secret_digest) = 32),
    created_at timestamptz not null default now(),
    expires_at timestamptz,
    revoked_at timestamptz
);
