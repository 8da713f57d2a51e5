-- Set-based triggers: what a statement derives (the registry of records, tenures, timeline
-- items) is derived once per statement from its transition tables, not once per row, so an
-- `insert … select` of a million role changes costs a few set-based statements instead of
-- a million PL/pgSQL calls each planning and running its own queries. Runs unchanged on
-- PostgreSQL 15 and 18, and on a database that holds data: it only swaps the triggers and the
-- functions they call, and leaves every derived row as it is (what they derive is the same).
--
-- PostgreSQL allows transition tables only on triggers with one event and no column list, so
-- each former `after insert or update or delete` trigger becomes one trigger per event, and a
-- former `when (old.x is distinct from new.x)` or `update of x` is a join of the old rows with
-- the new ones by id inside the function. Triggers of one event fire in name order; the
-- timeline's `<table>_timeline` triggers still come after `<table>_registered`, which makes
-- the record the timeline item refers to. Statement-level AFTER triggers fire after the
-- statement's row-level ones, foreign-key checks and cascades included.
--
-- The BEFORE row triggers stay per row: they check or fill the row being written and cost one
-- or two index lookups each (organization_no_cycle walks the few ancestors of a new parent;
-- round_status_transition compares two values; round_delegation_same_negotiation,
-- round_agenda_same_negotiation and claim_object_fits_predicate look up one or two rows;
-- delegation_member_period fills the row's own `period`, which only a BEFORE trigger can;
-- memorandum_version_append_only refuses the row). None is on the role changes' path.

-- Registry -------------------------------------------------------------------------------

create function accord_register_inserted() returns trigger
language plpgsql as $$
begin
    insert into accord_records (id, kind) select id, tg_argv[0] from new_rows;
    return null;
end
$$;

create function accord_register_deleted() returns trigger
language plpgsql as $$
begin
    delete from accord_records r using old_rows o where r.id = o.id;
    return null;
end
$$;

do $$
declare
    registered text[][] := array[
        ['organizations', 'organization'], ['officials', 'official'], ['posts', 'post'],
        ['role_changes', 'role_change'], ['negotiations', 'negotiation'],
        ['delegations', 'delegation'], ['rounds', 'round'], ['memoranda', 'memorandum'],
        ['agreements', 'agreement'], ['sources', 'source'], ['statements', 'statement'],
        ['exchanges', 'exchange'], ['claims', 'claim']];
    pair text[];
begin
    foreach pair slice 1 in array registered loop
        execute format('drop trigger %I on %I', pair[1] || '_registered', pair[1]);
        execute format('create trigger %I after insert on %I referencing new table as new_rows '
                       'for each statement execute function accord_register_inserted(%L)',
                       pair[1] || '_registered', pair[1], pair[2]);
        execute format('create trigger %I after delete on %I referencing old table as old_rows '
                       'for each statement execute function accord_register_deleted()',
                       pair[1] || '_registered_delete', pair[1]);
    end loop;
end
$$;
drop function accord_register();

-- Tenures --------------------------------------------------------------------------------

-- The tenures of the given (official, post) pairs (the i-th official with the i-th post), from
-- their effective role changes, all pairs in one pass. The rule, per pair, with its changes in
-- order (by effective date, a dismissal or resignation before an appointment of the same day,
-- then by id): an appointment opens a tenure, a dismissal or resignation closes the open one
-- (the end date is the first day not held), a full appointment after an acting one turns it
-- into a full tenure (the acting tenure ends that day), and any other appointment while a
-- tenure is open changes nothing; nominations and changes that are not effective never make
-- anyone a holder.
--
-- Set-based, that is: a closing change ends a segment (segment = the closings before a
-- change). In each segment, the first appointment opens a tenure: acting when it is acting,
-- until the segment's first full appointment, else until the closing; the first full
-- appointment opens a full tenure until the closing (open when there is none). An appointment
-- always sorts before the closing of its segment, strictly earlier, so only an acting tenure
-- turned full the day it began is empty, and it is left out.
create function accord_tenures_of(p_officials uuid[], p_posts uuid[]) returns setof tenures
language sql stable as $$
    with changes as (
        select rc.id, rc.official_id, rc.post_id, rc.kind, rc.effective_date as day,
               count(*) filter (where rc.kind in ('dismissal', 'resignation')) over (
                   partition by rc.official_id, rc.post_id
                   order by rc.effective_date, rc.kind in ('dismissal', 'resignation') desc, rc.id
                   rows between unbounded preceding and 1 preceding) as segment
          from (select distinct official_id, post_id
                  from unnest(p_officials, p_posts) pair(official_id, post_id)) pair
          join role_changes rc on rc.official_id = pair.official_id and rc.post_id = pair.post_id
         where rc.status = 'effective' and rc.kind <> 'nomination'
    ),
    segments as (
        select official_id, post_id,
               (array_agg(kind order by day, id)
                    filter (where kind <> all('{dismissal,resignation}')))[1] as first_kind,
               (array_agg(id order by day, id)
                    filter (where kind <> all('{dismissal,resignation}')))[1] as first_id,
               min(day) filter (where kind <> all('{dismissal,resignation}')) as first_day,
               (array_agg(id order by day, id) filter (where kind = 'appointment'))[1] as full_id,
               min(day) filter (where kind = 'appointment') as full_day,
               (array_agg(id) filter (where kind in ('dismissal', 'resignation')))[1] as end_id,
               min(day) filter (where kind in ('dismissal', 'resignation')) as end_day
          from changes
         group by official_id, post_id, segment
    ),
    opened as (
        select official_id, post_id, first_id as start_id, coalesce(full_id, end_id) as end_id,
               true as acting, daterange(first_day, coalesce(full_day, end_day)) as period
          from segments
         where first_kind = 'acting_appointment'
        union all
        select official_id, post_id, full_id, end_id, false, daterange(full_day, end_day)
          from segments
         where full_id is not null
    )
    select o.start_id, o.end_id, o.official_id, o.post_id, p.single_holder, o.acting, o.period
      from opened o join posts p on p.id = o.post_id
     where not isempty(o.period)
$$;

-- Plans: a statement's trigger queries are planned once per session for the few rows an API
-- write brings (a generic plan: planning these for each write cost 2–3 ms, as much as the
-- write), and afresh, for the rows at hand, when a statement brings many (an import: its
-- hash joins then replace a million index lookups).
create function accord_refresh_tenures(p_officials uuid[], p_posts uuid[]) returns void
language plpgsql set plan_cache_mode = force_generic_plan as $$
begin
    if cardinality(p_officials) > 1000 then
        execute 'delete from tenures t using unnest($1, $2) pair(official_id, post_id) '
                'where t.official_id = pair.official_id and t.post_id = pair.post_id'
          using p_officials, p_posts;
        execute 'insert into tenures select * from accord_tenures_of($1, $2)'
          using p_officials, p_posts;
    else
        delete from tenures t
         using unnest(p_officials, p_posts) pair(official_id, post_id)
         where t.official_id = pair.official_id and t.post_id = pair.post_id;
        insert into tenures select * from accord_tenures_of(p_officials, p_posts);
    end if;
end
$$;

-- Only a change that is effective and not a nomination makes a holder, so only the pairs of
-- such changes are rebuilt (a change taken out of effect counts through its old row).
create function accord_role_changes_inserted() returns trigger
language plpgsql as $$
begin
    perform accord_refresh_tenures(array_agg(official_id), array_agg(post_id))
       from (select distinct official_id, post_id from new_rows
              where status = 'effective' and kind <> 'nomination') pair
     having count(*) > 0;
    return null;
end
$$;

create function accord_role_changes_changed() returns trigger
language plpgsql as $$
begin
    perform accord_refresh_tenures(array_agg(official_id), array_agg(post_id))
       from (select official_id, post_id from old_rows
              where status = 'effective' and kind <> 'nomination'
             union
             select official_id, post_id from new_rows
              where status = 'effective' and kind <> 'nomination') pair
     having count(*) > 0;
    return null;
end
$$;

create function accord_role_changes_deleted() returns trigger
language plpgsql as $$
begin
    perform accord_refresh_tenures(array_agg(official_id), array_agg(post_id))
       from (select distinct official_id, post_id from old_rows
              where status = 'effective' and kind <> 'nomination') pair
     having count(*) > 0;
    return null;
end
$$;

drop trigger role_change_tenures on role_changes;
drop function accord_role_change_tenures();
drop function accord_refresh_tenures(uuid, uuid);
create trigger role_change_tenures after insert on role_changes
    referencing new table as new_rows
    for each statement execute function accord_role_changes_inserted();
create trigger role_change_tenures_update after update on role_changes
    referencing old table as old_rows new table as new_rows
    for each statement execute function accord_role_changes_changed();
create trigger role_change_tenures_delete after delete on role_changes
    referencing old table as old_rows
    for each statement execute function accord_role_changes_deleted();

-- A post's tenures carry its `single_holder`, so the exclusion constraint sees it.
create or replace function accord_post_single_holder() returns trigger
language plpgsql as $$
begin
    update tenures t set single_holder = n.single_holder
      from new_rows n join old_rows o on o.id = n.id
     where t.post_id = n.id and o.single_holder is distinct from n.single_holder;
    return null;
end
$$;
drop trigger post_single_holder on posts;
create trigger post_single_holder after update on posts
    referencing old table as old_rows new table as new_rows
    for each statement execute function accord_post_single_holder();

-- Timeline -------------------------------------------------------------------------------

-- The items of role changes, as `timeline_source` gives them, for many at once (the records
-- that are not role changes give none): the view computes each row's negotiations and parties
-- with a function call per row (planned queries each); here they are joins, and the parties
-- are computed once per organization. For a role
-- change, `accord_negotiations_of` reaches only its own ties (no claim or statement has a role
-- change's id): the negotiations of the delegations its official sits on, and those of the
-- agreements that claims about it say it falls under. tests/test_set_based.py checks the two
-- agree.
create function accord_role_change_items(records uuid[]) returns setof timeline
language sql stable as $$
    with changes as materialized (
        select rc.id, rc.official_id, rc.event_date,
               case when rc.effective_date is not null then rc.effective_precision
                    else rc.announced_precision end as precision,
               p.organization_id
          from unnest(records) r(id)
          join role_changes rc on rc.id = r.id
          join posts p on p.id = rc.post_id
         where rc.event_date is not null
    ),
    parties as materialized (
        select organization_id, accord_with_ancestors(array[organization_id]) as ids
          from (select distinct organization_id from changes) organization
    ),
    tied as (
        select n.id, array_agg(distinct n.negotiation_id) as ids
          from (select c.id, d.negotiation_id
                  from changes c
                  join delegation_members m on m.official_id = c.official_id
                  join delegations d on d.id = m.delegation_id
                union all
                select c.id, r.negotiation_id
                  from changes c
                  join claims cl on cl.subject_id = c.id and cl.predicate = 'falls_under_agreement'
                  join agreements a on a.id = cl.object_id
                  join rounds r on r.id = a.round_id) n
         group by n.id
    )
    select c.id, 0, 'role_change', c.event_date, c.precision, coalesce(t.ids, '{}'), p.ids,
           array[c.official_id]
      from changes c
      join parties p on p.organization_id = c.organization_id
      left join tied t on t.id = c.id
$$;

-- Plans as for tenures, above. (The items' query is kept planned inside these functions, the
-- SQL function inlined into it: called with a subquery as argument, it would not be inlined
-- and would be planned again on every call.)
create function accord_timeline_refresh_role_changes(records uuid[], fresh boolean)
returns void
language plpgsql set plan_cache_mode = force_generic_plan as $$
begin
    if cardinality(records) > 1000 then
        if not fresh then
            execute 'delete from timeline where record_id = any($1)' using records;
        end if;
        execute 'insert into timeline select * from accord_role_change_items($1)' using records;
    else
        if not fresh then
            delete from timeline where record_id = any(records);
        end if;
        insert into timeline select * from accord_role_change_items(records);
    end if;
end
$$;

-- The items of several records at once: role changes by the function above, the rest from
-- the view (whose role-change branch the `kind` condition prunes at planning).
create or replace function accord_timeline_refresh(records uuid[]) returns void
language plpgsql set plan_cache_mode = force_generic_plan as $$
begin
    perform accord_timeline_refresh_role_changes(records, false);
    insert into timeline
    select * from timeline_source where record_id = any(records) and kind <> 'role_change';
end
$$;

-- Refresh triggers: `tg_argv[0]` names the column holding the record whose item changes (the
-- row's own id, or what a link row belongs to); a record named by old rows is refreshed while
-- it still exists. Role changes inserted have no item yet (their records were just made), so
-- theirs are only added.
create or replace function accord_timeline_touch() returns trigger
language plpgsql as $$
declare
    records uuid[];
begin
    if tg_table_name = 'role_changes' and tg_op = 'INSERT' then
        perform accord_timeline_refresh_role_changes(array(select id from new_rows), true);
        return null;
    elsif tg_table_name = 'role_changes' then
        perform accord_timeline_refresh_role_changes(array(
            select id from new_rows
            union select id from old_rows o
                   where exists (select from accord_records r where r.id = o.id)), false);
        return null;
    elsif tg_op = 'INSERT' then
        execute format('select array(select distinct %I from new_rows)', tg_argv[0])
           into records;
    elsif tg_op = 'UPDATE' then
        execute format('select array(select %1$I from new_rows union select %1$I from old_rows o '
                       'where exists (select from accord_records r where r.id = o.%1$I))',
                       tg_argv[0])
           into records;
    else
        execute format('select array(select distinct %1$I from old_rows o '
                       'where exists (select from accord_records r where r.id = o.%1$I))',
                       tg_argv[0])
           into records;
    end if;
    if cardinality(records) > 0 then
        perform accord_timeline_refresh(records);
    end if;
    return null;
end
$$;

-- Follow triggers: `tg_argv[0]` lists (space-separated) the columns holding records whose ties
-- a change may move; on an update, `tg_argv[1]` lists the columns whose change moves them, and
-- the old and the new values of rows where one did are followed.
create or replace function accord_timeline_follow() returns trigger
language plpgsql as $$
declare
    followed text[] := string_to_array(tg_argv[0], ' ');
    records uuid[];
begin
    if tg_op = 'UPDATE' then
        execute format(
            'select array(select distinct x from old_rows o full join new_rows n on n.id = o.id, '
            'unnest(array[%s, %s]) x where x is not null and (%s) is distinct from (%s))',
            (select string_agg(format('o.%I', c), ', ') from unnest(followed) c),
            (select string_agg(format('n.%I', c), ', ') from unnest(followed) c),
            (select string_agg(format('o.%I', c), ', ')
               from unnest(string_to_array(tg_argv[1], ' ')) c),
            (select string_agg(format('n.%I', c), ', ')
               from unnest(string_to_array(tg_argv[1], ' ')) c))
           into records;
    else
        execute format(
            'select array(select distinct x from %I, unnest(array[%s]) x where x is not null)',
            case tg_op when 'INSERT' then 'new_rows' else 'old_rows' end,
            (select string_agg(format('%I', c), ', ') from unnest(followed) c))
           into records;
    end if;
    if cardinality(records) > 0 then
        perform accord_timeline_refresh_tied(records);
    end if;
    return null;
end
$$;

-- Changes that reach many items: a negotiation's parties (its rounds); a delegation's members
-- (the members' role changes, with what follows them, and the rounds the delegation attends);
-- an organization's parent (every item it or an organization under it is a party to: all of
-- them list it); a post's organization (the role changes to the post).
create or replace function accord_timeline_fan_out() returns trigger
language plpgsql as $$
declare
    changed uuid[];
begin
    if tg_table_name = 'negotiation_parties' then
        execute format('select array(select distinct negotiation_id from %I)',
                       case tg_op when 'INSERT' then 'new_rows' else 'old_rows' end)
           into changed;
        perform accord_timeline_refresh(array(
            select id from rounds where negotiation_id = any(changed)));
    elsif tg_table_name = 'delegation_members' then
        execute format('select array(select distinct official_id from %I)',
                       case tg_op when 'INSERT' then 'new_rows' else 'old_rows' end)
           into changed;
        perform accord_timeline_refresh_tied(array(
            select id from role_changes where official_id = any(changed)));
        execute format('select array(select distinct delegation_id from %I)',
                       case tg_op when 'INSERT' then 'new_rows' else 'old_rows' end)
           into changed;
        perform accord_timeline_refresh(array(
            select round_id from round_delegations where delegation_id = any(changed)));
    elsif tg_table_name = 'organizations' then
        changed := array(select n.id from new_rows n join old_rows o on o.id = n.id
                          where o.parent_id is distinct from n.parent_id);
        if cardinality(changed) > 0 then
            perform accord_timeline_refresh(array(
                select record_id from timeline where party_ids && changed));
        end if;
    elsif tg_table_name = 'posts' then
        changed := array(select n.id from new_rows n join old_rows o on o.id = n.id
                          where o.organization_id is distinct from n.organization_id);
        if cardinality(changed) > 0 then
            perform accord_timeline_refresh(array(
                select id from role_changes where post_id = any(changed)));
        end if;
    end if;
    return null;
end
$$;

-- The triggers, one per event: (table, column, events) for the refresh triggers.
do $$
declare
    touched text[][] := array[
        ['role_changes', 'id', 'insert update'], ['rounds', 'id', 'insert update'],
        ['memoranda', 'id', 'update'], ['memorandum_versions', 'memorandum_id', 'insert'],
        ['agreements', 'id', 'insert update'], ['exchanges', 'id', 'insert update'],
        ['statements', 'id', 'insert update'],
        ['statement_subjects', 'statement_id', 'insert delete'],
        ['agreement_signatories', 'agreement_id', 'insert delete'],
        ['round_delegations', 'round_id', 'insert delete']];
    entry text[];
    event text;
begin
    foreach entry slice 1 in array touched loop
        execute format('drop trigger %I on %I', entry[1] || '_timeline', entry[1]);
        foreach event in array string_to_array(entry[3], ' ') loop
            execute format(
                'create trigger %I after %s on %I referencing %s for each statement '
                'execute function accord_timeline_touch(%L)',
                entry[1] || '_timeline' || case event when 'insert' then '' else '_' || event end,
                event, entry[1],
                case event when 'insert' then 'new table as new_rows'
                           when 'update' then 'old table as old_rows new table as new_rows'
                           else 'old table as old_rows' end,
                entry[2]);
        end loop;
    end loop;
end
$$;

drop trigger claims_timeline on claims;
drop trigger claims_timeline_update on claims;
create trigger claims_timeline after insert on claims
    referencing new table as new_rows
    for each statement execute function accord_timeline_follow('subject_id statement_id');
create trigger claims_timeline_delete after delete on claims
    referencing old table as old_rows
    for each statement execute function accord_timeline_follow('subject_id statement_id');
create trigger claims_timeline_update after update on claims
    referencing old table as old_rows new table as new_rows
    for each statement execute function accord_timeline_follow(
        'subject_id statement_id', 'subject_id predicate object_id statement_id');

-- A record's own tie moving: (table, the column that ties it).
do $$
declare
    ties text[][] := array[
        ['agreements', 'round_id'], ['exchanges', 'agreement_id'], ['rounds', 'negotiation_id'],
        ['memoranda', 'negotiation_id'], ['delegations', 'negotiation_id'],
        ['role_changes', 'official_id']];
    entry text[];
begin
    foreach entry slice 1 in array ties loop
        execute format('drop trigger %I on %I', entry[1] || '_timeline_ties', entry[1]);
        execute format(
            'create trigger %I after update on %I '
            'referencing old table as old_rows new table as new_rows for each statement '
            'execute function accord_timeline_follow(%L, %L)',
            entry[1] || '_timeline_ties', entry[1], 'id', entry[2]);
    end loop;
end
$$;

drop trigger negotiation_party_timeline on negotiation_parties;
create trigger negotiation_party_timeline after insert on negotiation_parties
    referencing new table as new_rows
    for each statement execute function accord_timeline_fan_out();
create trigger negotiation_party_timeline_delete after delete on negotiation_parties
    referencing old table as old_rows
    for each statement execute function accord_timeline_fan_out();
drop trigger delegation_member_timeline on delegation_members;
create trigger delegation_member_timeline after insert on delegation_members
    referencing new table as new_rows
    for each statement execute function accord_timeline_fan_out();
create trigger delegation_member_timeline_delete after delete on delegation_members
    referencing old table as old_rows
    for each statement execute function accord_timeline_fan_out();
drop trigger organizations_timeline on organizations;
create trigger organizations_timeline after update on organizations
    referencing old table as old_rows new table as new_rows
    for each statement execute function accord_timeline_fan_out();
drop trigger posts_timeline on posts;
create trigger posts_timeline after update on posts
    referencing old table as old_rows new table as new_rows
    for each statement execute function accord_timeline_fan_out();

-- When a round's dates change, the periods of memberships counted from or to it follow.
create or replace function accord_round_dates_changed() returns trigger
language plpgsql as $$
declare
    moved uuid[] := array(
        select n.id from new_rows n join old_rows o on o.id = n.id
         where (o.start_date, o.start_precision, o.end_date, o.end_precision)
               is distinct from (n.start_date, n.start_precision, n.end_date, n.end_precision));
begin
    if cardinality(moved) > 0 then
        update delegation_members set period = period
         where from_round_id = any(moved) or to_round_id = any(moved);
    end if;
    return null;
end
$$;
drop trigger round_dates_changed on rounds;
create trigger round_dates_changed after update on rounds
    referencing old table as old_rows new table as new_rows
    for each statement execute function accord_round_dates_changed();
