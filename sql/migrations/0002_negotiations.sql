-- Negotiations: negotiations with their parties and mediators, delegations and their members,
-- rounds (venue, dates, mediators and delegations present, agenda), memoranda with their
-- append-only versions, and agreements with their signatories. Runs unchanged on PostgreSQL 15
-- and 18.
--
-- A list inside a record (a negotiation's parties, a delegation's members) is kept as rows of
-- a table of its own, `position` keeping the client's order, so that PostgreSQL checks every
-- reference in it. Such rows belong to their record (deleted with it); everything else that
-- refers to a record blocks its deletion. Constraints named `*_listed_once` refuse the same
-- item twice in one list.

-- The last day of the period a partial date names (2025-07 → 2025-07-31). End dates are checked
-- against start dates through it: an end of `2025` is not before a start of `2025-06-02`.
create function accord_last_day(day date, precision_ text) returns date
language sql immutable parallel safe as $$
    select case precision_
        when 'year' then (day + interval '1 year' - interval '1 day')::date
        when 'month' then (day + interval '1 month' - interval '1 day')::date
        else day
    end
$$;

-- Refuses a link between records of two different negotiations.
create function accord_same_negotiation(
    what text, expected uuid, actual uuid, constraint_ text
) returns void
language plpgsql as $$
begin
    if expected is not null and actual is not null and expected <> actual then
        raise exception '% belongs to another negotiation', what
            using errcode = 'check_violation', constraint = constraint_,
                  detail = format('%s is part of negotiation %s, not of %s.', what, actual, expected);
    end if;
end
$$;

create table negotiations (
    id uuid primary key default accord_uuid7(),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    title text not null check (title <> ''),
    status text not null check (status in ('active', 'suspended', 'concluded')),
    start_date date,
    start_precision text check (start_precision in ('year', 'month', 'day')),
    end_date date,
    end_precision text check (end_precision in ('year', 'month', 'day')),
    note text,
    constraint start_date_complete check ((start_date is null) = (start_precision is null)),
    constraint end_date_complete check ((end_date is null) = (end_precision is null)),
    constraint negotiation_ends_after_start check (accord_last_day(end_date, end_precision) >= start_date),
    constraint concluded_negotiation_has_end check (status <> 'concluded' or end_date is not null)
);
create index negotiations_status on negotiations (status, id);
create index negotiations_start on negotiations (start_date, id);
create index negotiations_title_order on negotiations (title, id);
create index negotiations_titles on negotiations using gin (accord_fold(title) gin_trgm_ops);

create table negotiation_parties (
    negotiation_id uuid not null references negotiations (id) on delete cascade,
    position integer not null,
    organization_id uuid not null references organizations (id),
    constraint negotiation_party_listed_once primary key (negotiation_id, organization_id)
);
create index negotiation_parties_organization on negotiation_parties (organization_id, negotiation_id);

create table negotiation_mediators (
    negotiation_id uuid not null references negotiations (id) on delete cascade,
    position integer not null,
    organization_id uuid not null references organizations (id),
    role text not null check (role in ('mediator', 'facilitator', 'host', 'guarantor', 'observer')),
    constraint negotiation_mediator_listed_once primary key (negotiation_id, organization_id)
);
create index negotiation_mediators_organization on negotiation_mediators (organization_id, negotiation_id);

-- A party's team. Its party must be a party of the negotiation; the check waits for the end of
-- the transaction because a change of a negotiation's parties rewrites its party rows.
create table delegations (
    id uuid primary key default accord_uuid7(),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    negotiation_id uuid not null references negotiations (id),
    party_id uuid not null references organizations (id),
    name text check (name <> ''),
    note text,
    constraint one_delegation_per_party unique (negotiation_id, party_id),
    constraint delegation_of_a_party foreign key (negotiation_id, party_id)
        references negotiation_parties (negotiation_id, organization_id)
        deferrable initially deferred
);
create index delegations_party on delegations (party_id, id);
create index delegations_negotiation on delegations (negotiation_id, id);

create table rounds (
    id uuid primary key default accord_uuid7(),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    negotiation_id uuid not null references negotiations (id),
    ordinal integer not null check (ordinal between 1 and 10000),
    status text not null check (status in ('proposed', 'awaited', 'scheduled', 'held',
        'postponed', 'cancelled')),
    venue_city text check (venue_city <> ''),
    venue_country_code text check (venue_country_code ~ '^[A-Z]{2}$'),
    venue_place text check (venue_place <> ''),
    start_date date,
    start_precision text check (start_precision in ('year', 'month', 'day')),
    end_date date,
    end_precision text check (end_precision in ('year', 'month', 'day')),
    outcome text,
    note text,
    constraint round_ordinal_unique unique (negotiation_id, ordinal),
    constraint round_of_negotiation unique (id, negotiation_id),
    constraint start_date_complete check ((start_date is null) = (start_precision is null)),
    constraint end_date_complete check ((end_date is null) = (end_precision is null)),
    constraint round_ends_after_start check (accord_last_day(end_date, end_precision) >= start_date),
    constraint held_round_has_dates check (status <> 'held' or start_precision = 'day')
);
create index rounds_status on rounds (status, id);
create index rounds_venue_country on rounds (venue_country_code, id);
create index rounds_start on rounds (start_date, id);
create index rounds_negotiation_order on rounds (negotiation_id, ordinal);

-- Which status may follow which: a held or cancelled round is final; a round that was only
-- proposed, awaited, scheduled or postponed may move on to any other state.
create function accord_round_transition() returns trigger
language plpgsql as $$
begin
    if old.status in ('held', 'cancelled') and new.status <> old.status then
        raise exception 'a % round cannot become %', old.status, new.status
            using errcode = 'check_violation', constraint = 'round_status_transition',
                  detail = format('A %s round is final: it cannot become %s. Record a new round instead.',
                                  old.status, new.status);
    end if;
    return new;
end
$$;
create trigger round_status_transition before update of status on rounds
    for each row execute function accord_round_transition();

create table round_mediators (
    round_id uuid not null references rounds (id) on delete cascade,
    position integer not null,
    organization_id uuid not null references organizations (id),
    constraint round_mediator_listed_once primary key (round_id, organization_id)
);
create index round_mediators_organization on round_mediators (organization_id, round_id);

create table round_delegations (
    round_id uuid not null references rounds (id) on delete cascade,
    position integer not null,
    delegation_id uuid not null references delegations (id),
    constraint round_delegation_listed_once primary key (round_id, delegation_id)
);
create index round_delegations_delegation on round_delegations (delegation_id, round_id);

create function accord_round_delegation_check() returns trigger
language plpgsql as $$
begin
    perform accord_same_negotiation(format('delegation %s', new.delegation_id),
        (select negotiation_id from rounds where id = new.round_id),
        (select negotiation_id from delegations where id = new.delegation_id),
        'round_delegation_same_negotiation');
    return new;
end
$$;
create trigger round_delegation_same_negotiation before insert or update on round_delegations
    for each row execute function accord_round_delegation_check();

create table memoranda (
    id uuid primary key default accord_uuid7(),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    negotiation_id uuid not null references negotiations (id),
    author_id uuid not null references organizations (id),
    title text not null check (title <> ''),
    status text not null check (status in ('draft', 'exchanged', 'under_discussion', 'agreed',
        'rejected', 'superseded')),
    exchanged_round_id uuid,
    note text,
    constraint memorandum_by_a_party foreign key (negotiation_id, author_id)
        references negotiation_parties (negotiation_id, organization_id)
        deferrable initially deferred,
    constraint memorandum_exchanged_at_own_round foreign key (exchanged_round_id, negotiation_id)
        references rounds (id, negotiation_id)
);
create index memoranda_negotiation on memoranda (negotiation_id, id);
create index memoranda_author on memoranda (author_id, id);
create index memoranda_status on memoranda (status, id);
create index memoranda_exchanged_round on memoranda (exchanged_round_id, id);
create index memoranda_titles on memoranda using gin (accord_fold(title) gin_trgm_ops);

-- Versions are append-only: a new text is a new version; none is ever changed or removed
-- except with its memorandum.
create table memorandum_versions (
    memorandum_id uuid not null references memoranda (id) on delete cascade,
    number integer not null check (number >= 1),
    created_at timestamptz not null default now(),
    version_date date,
    version_precision text check (version_precision in ('year', 'month', 'day')),
    summary text not null check (summary <> ''),
    full_text text,
    constraint memorandum_version_number primary key (memorandum_id, number),
    constraint version_date_complete check ((version_date is null) = (version_precision is null))
);

create function accord_memorandum_version_kept() returns trigger
language plpgsql as $$
begin
    if tg_op = 'UPDATE' or exists (select from memoranda where id = old.memorandum_id) then
        raise exception 'memorandum versions are never changed'
            using errcode = 'check_violation', constraint = 'memorandum_version_append_only',
                  detail = 'Add a new version instead.';
    end if;
    return old;
end
$$;
create trigger memorandum_version_append_only before update or delete on memorandum_versions
    for each row execute function accord_memorandum_version_kept();

-- A round's agenda: free-text items and/or memoranda of the same negotiation to discuss.
create table round_agenda (
    round_id uuid not null references rounds (id) on delete cascade,
    position integer not null,
    memorandum_id uuid references memoranda (id),
    item text check (item <> ''),
    constraint round_agenda_position primary key (round_id, position),
    constraint agenda_item_has_content check (memorandum_id is not null or item is not null)
);
create index round_agenda_memorandum on round_agenda (memorandum_id, round_id);

create function accord_round_agenda_check() returns trigger
language plpgsql as $$
begin
    perform accord_same_negotiation(format('memorandum %s', new.memorandum_id),
        (select negotiation_id from rounds where id = new.round_id),
        (select negotiation_id from memoranda where id = new.memorandum_id),
        'round_agenda_same_negotiation');
    return new;
end
$$;
create trigger round_agenda_same_negotiation before insert or update on round_agenda
    for each row execute function accord_round_agenda_check();

-- Members of a delegation with their role, over dates and/or from one round to another.
-- `period` is derived (a trigger below): from the start date, else the first round's start,
-- else open; to the day after the end date, else after the last round, else open. PostgreSQL
-- refuses two heads of one delegation at the same time.
create table delegation_members (
    delegation_id uuid not null references delegations (id) on delete cascade,
    position integer not null,
    official_id uuid not null references officials (id),
    role text not null check (role in ('head', 'deputy_head', 'member', 'adviser', 'expert')),
    start_date date,
    start_precision text check (start_precision in ('year', 'month', 'day')),
    end_date date,
    end_precision text check (end_precision in ('year', 'month', 'day')),
    from_round_id uuid references rounds (id),
    to_round_id uuid references rounds (id),
    note text,
    period daterange not null,
    constraint delegation_member_position primary key (delegation_id, position),
    constraint start_date_complete check ((start_date is null) = (start_precision is null)),
    constraint end_date_complete check ((end_date is null) = (end_precision is null)),
    constraint membership_ends_after_start check (accord_last_day(end_date, end_precision) >= start_date),
    constraint membership_not_empty check (not isempty(period)),
    constraint one_head_at_a_time exclude using gist (delegation_id with =, period with &&)
        where (role = 'head')
);
create index delegation_members_official on delegation_members (official_id, delegation_id);
create index delegation_members_from_round on delegation_members (from_round_id);
create index delegation_members_to_round on delegation_members (to_round_id);

create function accord_member_period() returns trigger
language plpgsql as $$
declare
    own_negotiation uuid;
    first_round rounds%rowtype;
    last_round rounds%rowtype;
begin
    select negotiation_id into own_negotiation from delegations where id = new.delegation_id;
    select * into first_round from rounds where id = new.from_round_id;
    select * into last_round from rounds where id = new.to_round_id;
    perform accord_same_negotiation(format('round %s', new.from_round_id), own_negotiation,
        first_round.negotiation_id, 'delegation_member_same_negotiation');
    perform accord_same_negotiation(format('round %s', new.to_round_id), own_negotiation,
        last_round.negotiation_id, 'delegation_member_same_negotiation');
    new.period := daterange(
        coalesce(new.start_date, first_round.start_date),
        coalesce(accord_last_day(new.end_date, new.end_precision),
                 accord_last_day(coalesce(last_round.end_date, last_round.start_date),
                                 coalesce(last_round.end_precision, last_round.start_precision))),
        '[]');
    return new;
end
$$;
create trigger delegation_member_period before insert or update on delegation_members
    for each row execute function accord_member_period();

-- When a round's dates change, the periods of memberships counted from or to it follow.
create function accord_round_dates_changed() returns trigger
language plpgsql as $$
begin
    update delegation_members set period = period
     where from_round_id = new.id or to_round_id = new.id;
    return null;
end
$$;
create trigger round_dates_changed after update of start_date, start_precision, end_date,
    end_precision on rounds
    for each row execute function accord_round_dates_changed();

create table agreements (
    id uuid primary key default accord_uuid7(),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    round_id uuid not null references rounds (id),
    title text not null check (title <> ''),
    kind text not null check (kind in ('humanitarian', 'ceasefire', 'procedural', 'political',
        'other')),
    stage text not null check (stage in ('pre_negotiation', 'ceasefire', 'framework',
        'implementation')),
    agreed_date date,
    agreed_precision text check (agreed_precision in ('year', 'month', 'day')),
    terms text,
    note text,
    constraint agreed_date_complete check ((agreed_date is null) = (agreed_precision is null))
);
create index agreements_round on agreements (round_id, id);
create index agreements_kind on agreements (kind, id);
create index agreements_stage on agreements (stage, id);
create index agreements_date on agreements (agreed_date, id);
create index agreements_titles on agreements using gin (accord_fold(title) gin_trgm_ops);

create table agreement_signatories (
    agreement_id uuid not null references agreements (id) on delete cascade,
    position integer not null,
    organization_id uuid not null references organizations (id),
    constraint agreement_signatory_listed_once primary key (agreement_id, organization_id)
);
create index agreement_signatories_organization on agreement_signatories (organization_id, agreement_id);
