-- The change log: every history row (a create, update or delete through the API) gets a
-- sequence number in the order its transaction commits, so that a reader following the log
-- never passes a number whose transaction is still in flight. History is the change log; no
-- second table. Runs unchanged on PostgreSQL 15 and 18.
--
-- Why not a bigserial: numbers from a sequence are handed out when a row is inserted, not
-- when it commits; a reader that has seen 11 skips 10 for good if 10 commits after it read.
-- Here the number comes from one counter row, updated by the history insert, the last
-- statement of a write: its row lock is held until commit, so the next writer gets its number
-- only once this one has committed (or rolled back, giving the number back). Writers
-- serialize for that last statement and the commit only.
create table change_log (
    only_row boolean primary key default true check (only_row),
    last_seq bigint not null,
    -- Changes numbered up to here are no longer served by /v1/changes (ACCORD_CHANGES_
    -- RETENTION_DAYS, advanced by a periodic job); a client behind it must re-list. The
    -- history of each record stays.
    horizon bigint not null default 0 check (horizon <= last_seq)
);

alter table history add column seq bigint;
-- History written before the change log is numbered in the order it was written (ids are
-- UUIDv7, ordered by time).
update history h set seq = numbered.seq
  from (select id, row_number() over (order by id) as seq from history) numbered
 where numbered.id = h.id;
alter table history alter column seq set not null;
create unique index history_seq on history (seq);
-- The retention job finds the horizon by time.
create index history_at on history (at);
insert into change_log (last_seq) select coalesce(max(seq), 0) from history;

-- Followers (Server-Sent Events streams, webhook deliveries) wait on this channel. The
-- notification carries nothing: it only wakes them; the log is the truth. PostgreSQL
-- delivers it at commit and folds repeats within one transaction into one.
create function accord_changes_notify() returns trigger
language plpgsql as $$
begin
    perform pg_notify('accord_changes', '');
    return null;
end
$$;
create trigger history_notify after insert on history
    for each statement execute function accord_changes_notify();
