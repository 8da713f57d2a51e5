-- API keys are checked from a cache in each server process (service/core/auth.py, KeyCache):
-- every change to a key (a revocation, an expiry moved, scopes changed, a key deleted) wakes
-- every process at commit on the channel `accord_keys`, and each drops the keys it holds. A
-- new key needs no notification: no process holds it yet. Like the change log's, the
-- notification carries nothing and repeats within a transaction fold into one. One trigger
-- function now serves both channels (named by the trigger's argument). Runs unchanged on
-- PostgreSQL 15 and 18.
create function accord_notify() returns trigger
language plpgsql as $$
begin
    perform pg_notify(tg_argv[0], '');
    return null;
end
$$;
create trigger api_keys_notify after update or delete or truncate on api_keys
    for each statement execute function accord_notify('accord_keys');

drop trigger history_notify on history;
create trigger history_notify after insert on history
    for each statement execute function accord_notify('accord_changes');
drop function accord_changes_notify();
