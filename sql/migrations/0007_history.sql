-- History: every change to every record made through the API — who (the API key), when, what
-- (create, update, delete) and the fields it changed, before and after — written in the
-- transaction of the change. A deleted record's history stays. Runs unchanged on PostgreSQL
-- 15 and 18.
create table history (
    id uuid primary key default accord_uuid7(),
    record_id uuid not null,
    kind text not null,
    operation text not null check (operation in ('create', 'update', 'delete')),
    api_key_id uuid references api_keys (id) on delete set null,
    at timestamptz not null default now(),
    version integer not null,
    changes jsonb not null check (jsonb_typeof(changes) = 'object')
);
create index history_record on history (record_id, id);
