-- Derived rows made cheaper: no foreign keys on them, one GiST index less. A tenure and a
-- timeline item are written only by the statement-level triggers of migration 0012, from the
-- rows they derive from, in the same statement; their foreign keys repeated what that
-- construction guarantees, and checked it once per derived row (a lookup and a row lock in the
-- referenced table each: a million role changes derive about 1.6 million such rows, and their
-- checks were a large part of an import's writes). Runs unchanged on PostgreSQL 15 and 18, on
-- a database that holds data (it drops constraints, replaces a function and an index; no
-- derived row changes).
--
-- What each dropped key guaranteed, and what guarantees it now:
-- - tenures.start_change_id, end_change_id → role_changes, on delete cascade: a tenure's start
--   and end are effective role changes of its (official, post) pair, and deleting, or taking
--   out of effect, any such change rebuilds that pair's tenures from the changes that remain
--   (role_change_tenures_delete, role_change_tenures_update), so no tenure outlives them;
-- - tenures.official_id → officials, post_id → posts: they are the official and the post of
--   the tenure's start change, which role_changes' own keys keep (an official or a post with
--   role changes cannot be deleted; one with none has no tenures);
-- - timeline.record_id → accord_records, on delete cascade: items are made for records just
--   registered, and a record's deletion now deletes its items in the statement that
--   unregisters it (below) rather than by a cascade per row.
-- tests/test_set_based.py compares these tables, after inserts, updates and deletes of many
-- rows, with a database whose per-row triggers and keys derive them.

do $$
declare
    fk record;
begin
    for fk in
        select conrelid::regclass as tab, conname from pg_constraint
         where contype = 'f' and conrelid in ('tenures'::regclass, 'timeline'::regclass)
    loop
        execute format('alter table %s drop constraint %I', fk.tab, fk.conname);
    end loop;
end
$$;

create or replace function accord_register_deleted() returns trigger
language plpgsql as $$
begin
    delete from timeline t using old_rows o where t.record_id = o.id;
    delete from accord_records r using old_rows o where r.id = o.id;
    return null;
end
$$;

-- A post's holders are listed by start (keyset pages on lower(period), start_change_id), as an
-- official's tenures are: a b-tree on (post_id, lower(period), start_change_id) serves the list
-- and its `at` filter (a post has a handful of tenures) better than the GiST index on (post_id,
-- period) did, and costs a few microseconds a tenure to maintain where the GiST index cost
-- ~25 (btree_gist's uuid keys). The exclusion constraint keeps its own GiST index.
drop index tenures_post_period;
create index tenures_post on tenures (post_id, (lower(period)), start_change_id);
