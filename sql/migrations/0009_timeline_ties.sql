-- The timeline follows every tie to a negotiation, and shortened titles end at a word. Runs
-- unchanged on PostgreSQL 15 and 18.
--
-- A record belongs to a negotiation when it is tied to it directly (a round, memorandum,
-- delegation), through its agreement (an agreement through its round, an exchange through its
-- agreement), through a delegation (an official's role change, while the official sits on
-- one), or through a claim naming one of the negotiation's agreements — affirming or denying
-- it, since the dispute is the negotiation's (the 1,000-body handover). A claim belongs where
-- its subject and object do; a statement where the records it is about and the claims made in
-- it do. The timeline table keeps each item's negotiations, so every change along those paths
-- refreshes, in its transaction, every item that reads it. Parties, too, now count an
-- organization above any party on every kind of item, as the `party_id` filter promises.

-- These three run for every item the timeline refreshes, so they are PL/pgSQL: it keeps each
-- query's plan for the session, where a SQL function called from another function is planned
-- again on every call (which made the timeline of 100k role changes take minutes to rebuild).

-- The negotiations a record is tied to by its own references (see above). Strict: no record,
-- no negotiations.
create function accord_tied_negotiations(record uuid) returns uuid[]
language plpgsql stable strict parallel safe as $$
begin
    return (
        select coalesce(array_agg(distinct n), '{}')
          from (
            select id from negotiations where id = record
            union all select negotiation_id from rounds where id = record
            union all select negotiation_id from memoranda where id = record
            union all select negotiation_id from delegations where id = record
            union all select r.negotiation_id from agreements a join rounds r on r.id = a.round_id
                       where a.id = record
            union all select r.negotiation_id from exchanges e
                        join agreements a on a.id = e.agreement_id
                        join rounds r on r.id = a.round_id where e.id = record
            union all select d.negotiation_id from role_changes rc
                        join delegation_members m on m.official_id = rc.official_id
                        join delegations d on d.id = m.delegation_id where rc.id = record
            union all select r.negotiation_id from claims c join agreements a on a.id = c.object_id
                        join rounds r on r.id = a.round_id
                       where c.subject_id = record and c.predicate = 'falls_under_agreement'
          ) tied(n));
end
$$;

-- The negotiations of any record: those it is tied to; for a claim, also those of its subject
-- and object; for a statement, also those of the records it is about and of the claims made in
-- it (a claim it is about or makes counting with its subject and object). One level only: a
-- statement about a statement does not inherit what that one is about.
create or replace function accord_negotiations_of(record uuid) returns uuid[]
language plpgsql stable parallel safe as $$
begin
    return (
        select coalesce(array_agg(distinct n), '{}')
          from (select record
                union select record_id from statement_subjects where statement_id = record
                union select id from claims where statement_id = record) reached(id)
          left join claims c on c.id = reached.id
          cross join unnest(array[reached.id, c.subject_id, c.object_id]) via(id)
          cross join unnest(accord_tied_negotiations(via.id)) n);
end
$$;

-- Organizations and every organization above them (Ministry of Defence of Ukraine → Ukraine),
-- each once, walked up by primary key (a recursive query joined all organizations each step).
-- Parties are references, so they exist; a null one is skipped.
create function accord_with_ancestors(parties uuid[]) returns uuid[]
language plpgsql stable parallel safe as $$
declare
    found uuid[] := '{}';
    party uuid;
begin
    foreach party in array parties loop
        while party is not null and party <> all(found) loop
            found := found || party;
            select parent_id into party from organizations where id = party;
        end loop;
    end loop;
    return found;
end
$$;

-- Text cut to at most `width` characters: whole when it fits, else before the last word that
-- does not fit (and any punctuation left dangling), ending with "…". A last word longer than
-- 40 characters (a URL, a script written without spaces) is cut where the width ends instead.
-- A plain expression, so PostgreSQL inlines it into the queries that call it.
create function accord_shorten(body text, width integer) returns text
language sql immutable parallel safe as $$
    select case when length(body) <= width then body
                else left(regexp_replace(left(body, width), '[\s,;:–—-]*\s\S{0,40}$', ''),
                          width - 1) || '…'
           end
$$;

create or replace view timeline_source as
    select rc.id as record_id, 0 as number, 'role_change' as kind, rc.event_date as day,
           case when rc.effective_date is not null then rc.effective_precision
                else rc.announced_precision end as precision,
           accord_negotiations_of(rc.id) as negotiation_ids,
           accord_with_ancestors(array[p.organization_id]) as party_ids,
           array[rc.official_id] as official_ids
      from role_changes rc join posts p on p.id = rc.post_id
     where rc.event_date is not null
    union all
    select r.id, 0, 'round', r.start_date, r.start_precision, accord_negotiations_of(r.id),
           accord_with_ancestors(array(select organization_id from negotiation_parties
                                        where negotiation_id = r.negotiation_id)),
           coalesce((select array_agg(distinct m.official_id) from round_delegations rd
                       join delegation_members m on m.delegation_id = rd.delegation_id
                      where rd.round_id = r.id), '{}')
      from rounds r
     where r.start_date is not null
    union all
    select m.id, v.number, 'memorandum_version', v.version_date, v.version_precision,
           accord_negotiations_of(m.id), accord_with_ancestors(array[m.author_id]), '{}'::uuid[]
      from memorandum_versions v join memoranda m on m.id = v.memorandum_id
     where v.version_date is not null
    union all
    select a.id, 0, 'agreement', a.agreed_date, a.agreed_precision, accord_negotiations_of(a.id),
           accord_with_ancestors(array(select organization_id from agreement_signatories
                                        where agreement_id = a.id)),
           '{}'::uuid[]
      from agreements a
     where a.agreed_date is not null
    union all
    select e.id, 0, 'exchange', e.exchange_date, e.exchange_precision,
           accord_negotiations_of(e.id), accord_with_ancestors(array[e.from_party_id, e.to_party_id]),
           '{}'::uuid[]
      from exchanges e
     where e.exchange_date is not null
    union all
    select s.id, 0, 'statement', s.statement_date, s.statement_precision,
           accord_negotiations_of(s.id), accord_with_ancestors(array[s.speaker_organization_id]),
           case when s.speaker_official_id is not null
                then array[s.speaker_official_id] else '{}' end
      from statements s
     where s.statement_date is not null;

drop function accord_with_ancestors(uuid);

-- The items of several records at once.
create function accord_timeline_refresh(records uuid[]) returns void
language sql as $$
    delete from timeline where record_id = any(records);
    insert into timeline select * from timeline_source where record_id = any(records);
$$;

-- Refresh the items of records whose ties may have changed, and of everything whose
-- negotiations are read from theirs: what is tied through them (an agreement's exchanges, the
-- subjects of claims naming it, a round's agreements, a delegation's members' role changes),
-- the claims about or naming any of those, the statements those claims are made in, and the
-- statements about any of them.
create function accord_timeline_refresh_tied(records uuid[]) returns void
language plpgsql as $$
declare
    items uuid[];
begin
    with recursive tied(id) as (
        select id from unnest(records) id where id is not null
        union
        select through.id from tied, lateral (
            select a.id from agreements a where a.round_id = tied.id
            union all select e.id from exchanges e where e.agreement_id = tied.id
            union all select c.subject_id from claims c
                       where c.object_id = tied.id and c.predicate = 'falls_under_agreement'
            union all select rc.id from delegation_members m
                        join role_changes rc on rc.official_id = m.official_id
                       where m.delegation_id = tied.id
        ) through
    ),
    claimed as (
        select c.id, c.statement_id from tied join claims c on c.subject_id = tied.id
        union
        select c.id, c.statement_id from tied join claims c on c.object_id = tied.id
    )
    select array(
        select id from tied
        union select id from claimed
        union select statement_id from claimed where statement_id is not null
        union select ss.statement_id from statement_subjects ss
               where ss.record_id in (select id from tied union select id from claimed))
      into items;
    perform accord_timeline_refresh(items);
end
$$;

-- Follow triggers: `tg_argv` names the columns holding records whose ties a change may move;
-- the old and the new values are both followed.
create function accord_timeline_follow() returns trigger
language plpgsql as $$
declare
    column_name text;
    target uuid;
    records uuid[] := '{}';
begin
    foreach column_name in array tg_argv loop
        if tg_op in ('INSERT', 'UPDATE') then
            execute format('select ($1).%I', column_name) using new into target;
            records := records || target;
        end if;
        if tg_op in ('UPDATE', 'DELETE') then
            execute format('select ($1).%I', column_name) using old into target;
            records := records || target;
        end if;
    end loop;
    perform accord_timeline_refresh_tied(records);
    return null;
end
$$;

-- A claim moves the ties of its subject (old and new) and the negotiations of the statement
-- it is made in (old and new); the follow reaches the claim itself through its subject.
drop trigger claims_timeline on claims;
create trigger claims_timeline after insert or delete on claims
    for each row execute function accord_timeline_follow('subject_id', 'statement_id');
create trigger claims_timeline_update after update on claims
    for each row
    when ((old.subject_id, old.predicate, old.object_id, old.statement_id)
          is distinct from (new.subject_id, new.predicate, new.object_id, new.statement_id))
    execute function accord_timeline_follow('subject_id', 'statement_id');

-- A record's own tie moving. The `*_timeline` triggers still refresh the record's own item on
-- every update; these reach what follows it. (They replace `agreement_exchanges_timeline`.)
drop trigger agreement_exchanges_timeline on agreements;
create trigger agreements_timeline_ties after update on agreements
    for each row when (old.round_id is distinct from new.round_id)
    execute function accord_timeline_follow('id');
create trigger exchanges_timeline_ties after update on exchanges
    for each row when (old.agreement_id is distinct from new.agreement_id)
    execute function accord_timeline_follow('id');
create trigger rounds_timeline_ties after update on rounds
    for each row when (old.negotiation_id is distinct from new.negotiation_id)
    execute function accord_timeline_follow('id');
create trigger memoranda_timeline_ties after update on memoranda
    for each row when (old.negotiation_id is distinct from new.negotiation_id)
    execute function accord_timeline_follow('id');
create trigger delegations_timeline_ties after update on delegations
    for each row when (old.negotiation_id is distinct from new.negotiation_id)
    execute function accord_timeline_follow('id');
create trigger role_changes_timeline_ties after update on role_changes
    for each row when (old.official_id is distinct from new.official_id)
    execute function accord_timeline_follow('id');

-- Changes that reach many items: a negotiation's parties (its rounds); a delegation's members
-- (the members' role changes, with what follows them, and the rounds the delegation attends);
-- an organization's parent (every item it or an organization under it is a party to: all of
-- them list it); a post's organization (the role changes to the post).
create or replace function accord_timeline_fan_out() returns trigger
language plpgsql as $$
declare
    changed record;
begin
    changed := case when tg_op = 'DELETE' then old else new end;
    if tg_table_name = 'negotiation_parties' then
        perform accord_timeline_refresh(array(
            select id from rounds where negotiation_id = changed.negotiation_id));
    elsif tg_table_name = 'delegation_members' then
        perform accord_timeline_refresh_tied(array(
            select id from role_changes where official_id = changed.official_id));
        perform accord_timeline_refresh(array(
            select round_id from round_delegations where delegation_id = changed.delegation_id));
    elsif tg_table_name = 'organizations' then
        perform accord_timeline_refresh(array(
            select record_id from timeline where party_ids @> array[changed.id]));
    elsif tg_table_name = 'posts' then
        perform accord_timeline_refresh(array(
            select id from role_changes where post_id = changed.id));
    end if;
    return null;
end
$$;
create trigger organizations_timeline after update on organizations
    for each row when (old.parent_id is distinct from new.parent_id)
    execute function accord_timeline_fan_out();
create trigger posts_timeline after update on posts
    for each row when (old.organization_id is distinct from new.organization_id)
    execute function accord_timeline_fan_out();

-- Bring the stored items up to date, rewriting only those whose negotiations or parties move.
update timeline t
   set negotiation_ids = s.negotiation_ids, party_ids = s.party_ids
  from timeline_source s
 where s.record_id = t.record_id and s.number = t.number
   and (s.negotiation_ids, s.party_ids) is distinct from (t.negotiation_ids, t.party_ids);
