-- Idempotent POSTs: the first response to a key, stored in the transaction of the write it
-- answers, so a retry replays it instead of writing twice. Keys belong to the API key that
-- sent them and are forgotten after 24 hours. Runs unchanged on PostgreSQL 15 and 18.
create table idempotency_keys (
    api_key_id uuid not null references api_keys (id) on delete cascade,
    key text not null check (key <> ''),
    request_digest bytea not null,
    created_at timestamptz not null default now(),
    status integer,
    headers jsonb,
    body bytea,
    constraint idempotency_key primary key (api_key_id, key)
);
create index idempotency_keys_age on idempotency_keys (created_at);
