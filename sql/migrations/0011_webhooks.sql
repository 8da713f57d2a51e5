-- Webhooks: endpoints that receive the change log as signed HTTP POSTs (Standard Webhooks 1.0),
-- and the deliveries made to them. Runs unchanged on PostgreSQL 15 and 18.
--
-- A write costs nothing more than it did: it already numbers its history rows in commit order
-- (0010_changes), and that log is the queue. Each endpoint keeps a cursor into it
-- (`queued_through`); the delivery worker turns the changes past the cursor that the endpoint
-- wants into delivery rows, a bounded batch at a time, and moves the cursor in the same
-- transaction. So no change is lost (the log is written with the change, the cursor moves with
-- the rows it makes), an endpoint that is down for days holds back a bounded number of rows,
-- not one per write, and its deliveries go out in log order.
create table webhooks (
    id uuid primary key default accord_uuid7(),
    url text not null check (url ~ '^https?://' and length(url) <= 2000),
    -- The collections (path names) and actions wanted; null: all of them.
    resources text[] check (cardinality(resources) > 0),
    actions text[] check (
        cardinality(actions) > 0 and actions <@ array['created', 'updated', 'deleted']),
    description text,
    -- The HMAC-SHA256 key deliveries are signed with, shown once (as `whsec_…`) when made.
    secret bytea not null check (length(secret) between 24 and 64),
    enabled boolean not null default true,
    -- Why it stopped: it answered 410, a delivery ran out of retries, its URL failed the
    -- address check, or an administrator turned it off.
    disabled_reason text,
    -- Every change up to this number is queued as a delivery or not wanted here. A new
    -- endpoint starts at the end of the log: it gets the changes made after it.
    queued_through bigint not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    check (enabled = (disabled_reason is null))
);

create table webhook_deliveries (
    -- Also the `webhook-id` header, the same on every attempt.
    id uuid primary key default accord_uuid7(),
    webhook_id uuid not null references webhooks (id) on delete cascade,
    seq bigint not null,
    resource text not null,
    record_id uuid not null,
    action text not null,
    -- The exact bytes sent and signed: the change item as it was when queued.
    body bytea not null,
    state text not null default 'pending'
        check (state in ('pending', 'succeeded', 'failed')),
    attempts integer not null default 0,
    -- Attempts since the retry schedule began (a manual retry starts it again).
    step integer not null default 0,
    next_attempt_at timestamptz,
    -- A worker sending it holds a lease until `leased_until`; no other worker takes it then.
    lease uuid,
    leased_until timestamptz,
    last_attempt_at timestamptz,
    response_status integer,
    latency_ms integer,
    error text,
    created_at timestamptz not null default now(),
    delivered_at timestamptz,
    constraint webhook_delivery_once unique (webhook_id, seq),
    check ((state = 'pending') = (next_attempt_at is not null))
);
-- What the worker claims: pending deliveries by due time, each the first pending one of its
-- endpoint (in order per endpoint).
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at)
    where state = 'pending';
create index webhook_deliveries_pending on webhook_deliveries (webhook_id, seq)
    where state = 'pending';
-- Finished deliveries are forgotten after the change log's retention window.
create index webhook_deliveries_finished on webhook_deliveries (created_at)
    where state <> 'pending';
