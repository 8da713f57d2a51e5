-- The change log numbers a change when its transaction commits, not in its last statement.
-- Runs unchanged on PostgreSQL 15 and 18.
--
-- Until now a write's last statement took the next number from the counter row (0010), whose
-- lock was then held through the round trip to the client and back with COMMIT: writers went
-- one after another for that statement, the network and the client's own delay in sending
-- COMMIT (a busy server process answers other requests first). Now a history row is written
-- with a placeholder (a negative number, unique) and a deferred trigger numbers it at commit:
-- the counter row's lock is taken as the transaction commits and released with the commit,
-- so writers go one after another for the commit alone. The guarantee is the one 0010 gave:
-- numbers follow commit order (the next writer's number waits for this one's commit or
-- rollback), and a snapshot that sees the counter at n sees every change numbered up to n.
-- The lock is still the last a write takes: deferred triggers fire in the order their
-- events were queued, after the deferred foreign keys of the write's earlier statements.
--
-- The price: numbering updates the row just written (one more tuple and its index entries).
-- Rows written with their number (the bulk import numbers its rows itself in its last
-- statement, as before) are not touched: the trigger fires only for placeholders.
create sequence history_pending_seq;
alter table history alter column seq set default -nextval('history_pending_seq');

create function accord_number_change() returns trigger
language plpgsql as $$
declare
    numbered bigint;
begin
    update change_log set last_seq = last_seq + 1 returning last_seq into numbered;
    if numbered is null then
        -- Without its counter row the change would go unrecorded: refuse the commit instead.
        raise exception 'the change log has no counter row (change_log); was it emptied?';
    end if;
    update history set seq = numbered where id = new.id;
    return null;
end
$$;
create constraint trigger history_numbered after insert on history
    deferrable initially deferred
    for each row when (new.seq < 0) execute function accord_number_change();
