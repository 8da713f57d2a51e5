-- Foundation: shared functions, organizations, officials, posts, role changes and the tenures
-- derived from them. Runs unchanged on PostgreSQL 15 and 18.

create extension if not exists pg_trgm;
create extension if not exists unaccent;
create extension if not exists btree_gist;

-- The service's signing secret (cursors), made once per database so every process agrees.
create table accord_secret (
    singleton boolean primary key default true check (singleton),
    secret bytea not null
);
insert into accord_secret (secret)
values (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));

-- Time-ordered UUIDs (version 7 layout): new rows sort after old ones, so keyset pages by id
-- follow creation order and index pages fill at the right edge.
create function accord_uuid7() returns uuid
language sql volatile parallel safe as $$
    select encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    placing substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
                    from 1 for 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

-- Case- and accent-insensitive form of a name, for matching across spellings. unaccent() is
-- only stable (its dictionary could change), so index expressions go through this wrapper.
create function accord_fold(value text) returns text
language sql immutable parallel safe strict as $$
    select lower(public.unaccent('public.unaccent'::regdictionary, value))
$$;

-- All names of a record (its name and every other name), folded, for one trigram index.
create function accord_names(name text, other_names jsonb) returns text
language sql immutable parallel safe as $$
    select accord_fold(name || coalesce(
        (select string_agg(' ' || (n.value ->> 'name'), '' order by n.position)
           from jsonb_array_elements(other_names) with ordinality as n(value, position)), ''))
$$;

-- A LIKE pattern that matches the folded value anywhere, with LIKE's wildcards escaped.
create function accord_contains(value text) returns text
language sql immutable parallel safe strict as $$
    select '%' || replace(replace(replace(accord_fold(value), '\', '\\'), '%', '\%'), '_', '\_') || '%'
$$;

-- Partial dates are stored as the first day of the period plus its precision.
create function accord_partial_date(day date, precision_ text) returns text
language sql immutable parallel safe as $$
    select case precision_
        when 'year' then to_char(day, 'YYYY')
        when 'month' then to_char(day, 'YYYY-MM')
        when 'day' then to_char(day, 'YYYY-MM-DD')
    end
$$;

create table organizations (
    id uuid primary key default accord_uuid7(),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    name text not null check (name <> ''),
    kind text not null check (kind in ('state', 'government', 'ministry', 'agency',
        'media_outlet', 'international_organization', 'other')),
    parent_id uuid references organizations (id),
    country_code text check (country_code ~ '^[A-Z]{2}$'),
    other_names jsonb not null default '[]' check (jsonb_typeof(other_names) = 'array'),
    note text,
    search_names text generated always as (accord_names(name, other_names)) stored,
    constraint organization_not_own_parent check (parent_id <> id)
);
create index organizations_kind on organizations (kind, id);
create index organizations_parent on organizations (parent_id, id);
create index organizations_country on organizations (country_code, id);
create index organizations_name_order on organizations (name, id);
create index organizations_names on organizations using gin (search_names gin_trgm_ops);

-- An organization may not end up among its own ancestors.
create function accord_organization_no_cycle() returns trigger
language plpgsql as $$
begin
    if new.parent_id is not null and exists (
        with recursive ancestors(id) as (
            select new.parent_id
            union
            select o.parent_id from organizations o join ancestors a on o.id = a.id
             where o.parent_id is not null
        )
        select from ancestors where id = new.id
    ) then
        raise exception 'organization % cannot be its own ancestor', new.id
            using errcode = 'check_violation', constraint = 'organization_no_cycle';
    end if;
    return new;
end
$$;
create trigger organization_no_cycle before insert or update of parent_id on organizations
    for each row execute function accord_organization_no_cycle();

create table officials (
    id uuid primary key default accord_uuid7(),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    name text not null check (name <> ''),
    other_names jsonb not null default '[]' check (jsonb_typeof(other_names) = 'array'),
    wikidata_id text unique check (wikidata_id ~ '^Q[1-9][0-9]*$'),
    nationality_id uuid references organizations (id),
    note text,
    search_names text generated always as (accord_names(name, other_names)) stored
);
create index officials_nationality on officials (nationality_id, id);
create index officials_name_order on officials (name, id);
create index officials_names on officials using gin (search_names gin_trgm_ops);

create table posts (
    id uuid primary key default accord_uuid7(),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    title text not null check (title <> ''),
    organization_id uuid not null references organizations (id),
    single_holder boolean not null default true,
    note text,
    constraint post_title_unique unique (organization_id, title)
);
create index posts_title_order on posts (title, id);
create index posts_titles on posts using gin (accord_fold(title) gin_trgm_ops);

create table role_changes (
    id uuid primary key default accord_uuid7(),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    official_id uuid not null references officials (id),
    post_id uuid not null references posts (id),
    kind text not null check (kind in ('appointment', 'acting_appointment', 'dismissal',
        'resignation', 'nomination')),
    status text not null check (status in ('proposed', 'announced', 'effective', 'withdrawn')),
    effective_date date,
    effective_precision text check (effective_precision in ('year', 'month', 'day')),
    announced_date date,
    announced_precision text check (announced_precision in ('year', 'month', 'day')),
    note text,
    event_date date generated always as (coalesce(effective_date, announced_date)) stored,
    constraint effective_date_complete check ((effective_date is null) = (effective_precision is null)),
    constraint announced_date_complete check ((announced_date is null) = (announced_precision is null)),
    constraint effective_change_has_date check (status <> 'effective' or effective_date is not null),
    constraint nomination_never_effective check (kind <> 'nomination' or status <> 'effective'),
    constraint announced_not_after_effective check (announced_date <= effective_date)
);
create index role_changes_official on role_changes (official_id, id);
create index role_changes_post on role_changes (post_id, id);
create index role_changes_kind on role_changes (kind, id);
create index role_changes_status on role_changes (status, id);
create index role_changes_event_date on role_changes (event_date, id);

-- Tenures are derived from effective role changes and never written by the API. They are kept
-- as rows so that PostgreSQL itself refuses a second simultaneous holder of a one-holder post
-- and so that "who held this post on this date" is an index lookup.
create table tenures (
    start_change_id uuid primary key references role_changes (id) on delete cascade,
    end_change_id uuid references role_changes (id) on delete cascade,
    official_id uuid not null references officials (id),
    post_id uuid not null references posts (id),
    single_holder boolean not null,
    acting boolean not null,
    period daterange not null check (not isempty(period)),
    constraint one_holder_at_a_time exclude using gist (post_id with =, period with &&)
        where (single_holder)
);
create index tenures_post_period on tenures using gist (post_id, period);
create index tenures_official on tenures (official_id, (lower(period)), start_change_id);

-- Rebuild the tenures of one official in one post from that pair's effective role changes:
-- an appointment opens a tenure, a dismissal or resignation closes it (the end date is the
-- first day not held), an appointment after an acting one turns it into a full tenure.
-- Nominations and changes that are not effective never make anyone a holder.
create function accord_refresh_tenures(p_official uuid, p_post uuid) returns void
language plpgsql as $$
declare
    change record;
    single boolean;
    open_id uuid;
    open_start date;
    open_acting boolean;
begin
    delete from tenures where official_id = p_official and post_id = p_post;
    select single_holder into single from posts where id = p_post;
    if not found then
        return;
    end if;
    for change in
        select id, kind, effective_date from role_changes
         where official_id = p_official and post_id = p_post
           and status = 'effective' and kind <> 'nomination'
         order by effective_date, kind in ('dismissal', 'resignation') desc, id
    loop
        if change.kind in ('appointment', 'acting_appointment') then
            if open_id is not null and not (open_acting and change.kind = 'appointment') then
                continue;
            end if;
            if open_id is not null and open_start < change.effective_date then
                insert into tenures values (open_id, change.id, p_official, p_post, single,
                    open_acting, daterange(open_start, change.effective_date));
            end if;
            open_id := change.id;
            open_start := change.effective_date;
            open_acting := change.kind = 'acting_appointment';
        elsif open_id is not null then
            if open_start < change.effective_date then
                insert into tenures values (open_id, change.id, p_official, p_post, single,
                    open_acting, daterange(open_start, change.effective_date));
            end if;
            open_id := null;
        end if;
    end loop;
    if open_id is not null then
        insert into tenures values (open_id, null, p_official, p_post, single, open_acting,
            daterange(open_start, null));
    end if;
end
$$;

create function accord_role_change_tenures() returns trigger
language plpgsql as $$
begin
    if tg_op in ('UPDATE', 'DELETE') then
        perform accord_refresh_tenures(old.official_id, old.post_id);
    end if;
    if tg_op in ('INSERT', 'UPDATE') and (tg_op = 'INSERT'
            or (new.official_id, new.post_id) is distinct from (old.official_id, old.post_id)) then
        perform accord_refresh_tenures(new.official_id, new.post_id);
    end if;
    return null;
end
$$;
create trigger role_change_tenures after insert or update or delete on role_changes
    for each row execute function accord_role_change_tenures();

create function accord_post_single_holder() returns trigger
language plpgsql as $$
begin
    update tenures set single_holder = new.single_holder where post_id = new.id;
    return null;
end
$$;
create trigger post_single_holder after update of single_holder on posts
    for each row when (old.single_holder is distinct from new.single_holder)
    execute function accord_post_single_holder();
