-- Timeline and search. Runs unchanged on PostgreSQL 15 and 18.
--
-- The timeline is one chronological feed across role changes, rounds, memorandum versions,
-- agreements, exchanges and statements. `timeline_source` says what each item is; the
-- `timeline` table keeps it, indexed for every filter and for keyset pages by (day, id),
-- and triggers refresh an item in the transaction that changes anything it depends on.

-- The negotiations a record belongs to, whatever its kind: a round, memorandum, delegation or
-- agreement through its own negotiation; an exchange through its agreement and the agreements
-- claims say it falls under; an official's role change through the delegations the official
-- sits on; a statement through what it is about.
create function accord_negotiations_of(record uuid) returns uuid[]
language sql stable parallel safe as $$
    select coalesce(array_agg(distinct n) filter (where n is not null), '{}')
      from (
        select record as n from negotiations where id = record
        union all select negotiation_id from rounds where id = record
        union all select negotiation_id from memoranda where id = record
        union all select negotiation_id from delegations where id = record
        union all select r.negotiation_id from agreements a join rounds r on r.id = a.round_id
                   where a.id = record
        union all select r.negotiation_id from exchanges e join agreements a on a.id = e.agreement_id
                   join rounds r on r.id = a.round_id where e.id = record
        union all select r.negotiation_id from claims c join agreements a on a.id = c.object_id
                   join rounds r on r.id = a.round_id
                   where c.subject_id = record and c.predicate = 'falls_under_agreement'
        union all select d.negotiation_id from role_changes rc
                   join delegation_members m on m.official_id = rc.official_id
                   join delegations d on d.id = m.delegation_id where rc.id = record
      ) found(n)
$$;

-- An organization and every organization above it (Ministry of Defence of Ukraine → Ukraine).
create function accord_with_ancestors(organization uuid) returns uuid[]
language sql stable parallel safe as $$
    with recursive up(id, parent_id) as (
        select id, parent_id from organizations where id = organization
        union
        select o.id, o.parent_id from organizations o join up on o.id = up.parent_id
    )
    select coalesce(array_agg(id), '{}') from up
$$;

create view timeline_source as
    select rc.id as record_id, 0 as number, 'role_change' as kind, rc.event_date as day,
           case when rc.effective_date is not null then rc.effective_precision
                else rc.announced_precision end as precision,
           accord_negotiations_of(rc.id) as negotiation_ids,
           accord_with_ancestors(p.organization_id) as party_ids,
           array[rc.official_id] as official_ids
      from role_changes rc join posts p on p.id = rc.post_id
     where rc.event_date is not null
    union all
    select r.id, 0, 'round', r.start_date, r.start_precision, array[r.negotiation_id],
           coalesce((select array_agg(organization_id) from negotiation_parties
                      where negotiation_id = r.negotiation_id), '{}'),
           coalesce((select array_agg(distinct m.official_id) from round_delegations rd
                       join delegation_members m on m.delegation_id = rd.delegation_id
                      where rd.round_id = r.id), '{}')
      from rounds r
     where r.start_date is not null
    union all
    select m.id, v.number, 'memorandum_version', v.version_date, v.version_precision,
           array[m.negotiation_id], array[m.author_id], '{}'::uuid[]
      from memorandum_versions v join memoranda m on m.id = v.memorandum_id
     where v.version_date is not null
    union all
    select a.id, 0, 'agreement', a.agreed_date, a.agreed_precision, accord_negotiations_of(a.id),
           coalesce((select array_agg(organization_id) from agreement_signatories
                      where agreement_id = a.id), '{}'),
           '{}'::uuid[]
      from agreements a
     where a.agreed_date is not null
    union all
    select e.id, 0, 'exchange', e.exchange_date, e.exchange_precision,
           accord_negotiations_of(e.id), array[e.from_party_id, e.to_party_id], '{}'::uuid[]
      from exchanges e
     where e.exchange_date is not null
    union all
    select s.id, 0, 'statement', s.statement_date, s.statement_precision,
           coalesce((select array_agg(distinct n) from statement_subjects ss,
                            unnest(accord_negotiations_of(ss.record_id)) n
                      where ss.statement_id = s.id), '{}'),
           case when s.speaker_organization_id is not null
                then accord_with_ancestors(s.speaker_organization_id) else '{}' end,
           case when s.speaker_official_id is not null
                then array[s.speaker_official_id] else '{}' end
      from statements s
     where s.statement_date is not null;

create table timeline (
    record_id uuid not null references accord_records (id) on delete cascade,
    number integer not null,
    kind text not null,
    day date not null,
    precision text not null,
    negotiation_ids uuid[] not null,
    party_ids uuid[] not null,
    official_ids uuid[] not null,
    constraint timeline_item primary key (record_id, number)
);
create index timeline_order on timeline (day, record_id, number);
create index timeline_kind on timeline (kind, day, record_id, number);
create index timeline_negotiations on timeline using gin (negotiation_ids);
create index timeline_parties on timeline using gin (party_ids);
create index timeline_officials on timeline using gin (official_ids);

create function accord_timeline_refresh(record uuid) returns void
language sql as $$
    delete from timeline where record_id = record;
    insert into timeline select * from timeline_source where record_id = record;
$$;

-- Refresh triggers: `tg_argv` names the column holding the record whose item changes. Named
-- `<table>_timeline`, they fire after `<table>_registered` (triggers fire in name order).
create function accord_timeline_touch() returns trigger
language plpgsql as $$
declare
    target uuid;
begin
    if tg_op in ('INSERT', 'UPDATE') then
        execute format('select ($1).%I', tg_argv[0]) using new into target;
        perform accord_timeline_refresh(target);
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        execute format('select ($1).%I', tg_argv[0]) using old into target;
        if exists (select from accord_records where id = target) then
            perform accord_timeline_refresh(target);
        end if;
    end if;
    return null;
end
$$;

create trigger role_changes_timeline after insert or update on role_changes
    for each row execute function accord_timeline_touch('id');
create trigger rounds_timeline after insert or update on rounds
    for each row execute function accord_timeline_touch('id');
create trigger memoranda_timeline after update on memoranda
    for each row execute function accord_timeline_touch('id');
create trigger memorandum_versions_timeline after insert on memorandum_versions
    for each row execute function accord_timeline_touch('memorandum_id');
create trigger agreements_timeline after insert or update on agreements
    for each row execute function accord_timeline_touch('id');
create trigger exchanges_timeline after insert or update on exchanges
    for each row execute function accord_timeline_touch('id');
create trigger statements_timeline after insert or update on statements
    for each row execute function accord_timeline_touch('id');
create trigger statement_subjects_timeline after insert or delete on statement_subjects
    for each row execute function accord_timeline_touch('statement_id');
create trigger agreement_signatories_timeline after insert or delete on agreement_signatories
    for each row execute function accord_timeline_touch('agreement_id');
create trigger round_delegations_timeline after insert or delete on round_delegations
    for each row execute function accord_timeline_touch('round_id');
create trigger claims_timeline after insert or update or delete on claims
    for each row execute function accord_timeline_touch('subject_id');

-- Changes that reach many items: a negotiation's parties (its rounds), a delegation's members
-- (the members' role changes and the rounds the delegation attends), an agreement's round
-- (the exchanges under it).
create function accord_timeline_fan_out() returns trigger
language plpgsql as $$
declare
    changed record;
    item uuid;
begin
    changed := case when tg_op = 'DELETE' then old else new end;
    if tg_table_name = 'negotiation_parties' then
        for item in select id from rounds where negotiation_id = changed.negotiation_id loop
            perform accord_timeline_refresh(item);
        end loop;
    elsif tg_table_name = 'delegation_members' then
        for item in
            select id from role_changes where official_id = changed.official_id
            union select round_id from round_delegations where delegation_id = changed.delegation_id
        loop
            perform accord_timeline_refresh(item);
        end loop;
    elsif tg_table_name = 'agreements' then
        for item in select id from exchanges where agreement_id = changed.id loop
            perform accord_timeline_refresh(item);
        end loop;
    end if;
    return null;
end
$$;
create trigger negotiation_party_timeline after insert or delete on negotiation_parties
    for each row execute function accord_timeline_fan_out();
create trigger delegation_member_timeline after insert or delete on delegation_members
    for each row execute function accord_timeline_fan_out();
create trigger agreement_exchanges_timeline after update of round_id on agreements
    for each row execute function accord_timeline_fan_out();

insert into timeline select * from timeline_source;

-- Search: names through the trigram indexes the foundation made (`search_names`,
-- `accord_fold(title)`); text through tsvector GIN indexes on memoranda, agreements and
-- statements (whose `search_text` the evidence migration made).
alter table memoranda add column search_text tsvector generated always as (
    to_tsvector('simple', accord_fold(title || ' ' || coalesce(note, '')))) stored;
create index memoranda_text on memoranda using gin (search_text);
alter table agreements add column search_text tsvector generated always as (
    to_tsvector('simple', accord_fold(title || ' ' || coalesce(terms, '')))) stored;
create index agreements_text on agreements using gin (search_text);
