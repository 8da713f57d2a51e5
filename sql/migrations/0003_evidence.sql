-- Evidence: a registry of every record, sources and the citations every record carries,
-- statements, humanitarian exchanges, claims (and what makes a record disputed), and an index
-- on `updated_at` behind every collection's `updated_since`. Runs unchanged on PostgreSQL 15
-- and 18.

-- Every record of every resource, by id, with its kind: what citations, statements and claims
-- refer to, so PostgreSQL checks those references like any other. Triggers keep it: a record
-- is registered when inserted and removed when deleted — and that removal is refused while a
-- statement or claim still refers to the record (its citations go with it).
create table accord_records (
    id uuid primary key,
    kind text not null
);

-- Where a record is served.
create function accord_href(kind text, id uuid) returns text
language sql immutable parallel safe as $$
    select '/v1/' || case kind
        when 'organization' then 'organizations' when 'official' then 'officials'
        when 'post' then 'posts' when 'role_change' then 'role-changes'
        when 'negotiation' then 'negotiations' when 'delegation' then 'delegations'
        when 'round' then 'rounds' when 'memorandum' then 'memoranda'
        when 'agreement' then 'agreements' when 'source' then 'sources'
        when 'statement' then 'statements' when 'exchange' then 'exchanges'
        when 'claim' then 'claims'
    end || '/' || id
$$;

create function accord_register() returns trigger
language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into accord_records (id, kind) values (new.id, tg_argv[0]);
    else
        delete from accord_records where id = old.id;
    end if;
    return null;
end
$$;

create table sources (
    id uuid primary key default accord_uuid7(),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    title text not null check (title <> ''),
    outlet_id uuid references organizations (id),
    official_id uuid references officials (id),
    url text check (url ~ '^https?://'),
    language text,
    published_date date,
    published_precision text check (published_precision in ('year', 'month', 'day')),
    retrieved_date date,
    note text,
    constraint source_url_unique unique (url),
    constraint published_date_complete check ((published_date is null) = (published_precision is null))
);
create index sources_outlet on sources (outlet_id, id);
create index sources_official on sources (official_id, id);
create index sources_published on sources (published_date, id);

-- Citations of every record: one table for all resources.
create table citations (
    record_id uuid not null references accord_records (id) on delete cascade,
    position integer not null,
    source_id uuid not null references sources (id),
    quote text check (quote <> ''),
    locator text check (locator <> ''),
    constraint citation_position primary key (record_id, position)
);
create index citations_source on citations (source_id, record_id);

create table statements (
    id uuid primary key default accord_uuid7(),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    speaker_official_id uuid references officials (id),
    speaker_organization_id uuid references organizations (id),
    statement_date date,
    statement_precision text check (statement_precision in ('year', 'month', 'day')),
    occasion text not null check (occasion in ('press_briefing', 'interview', 'telegram_post',
        'social_media_post', 'communique', 'speech', 'other')),
    quote text not null check (quote <> ''),
    language text not null,
    translation text check (translation <> ''),
    translation_language text,
    note text,
    search_text tsvector generated always as (
        to_tsvector('simple', accord_fold(quote || ' ' || coalesce(translation, '')))) stored,
    constraint one_speaker check (num_nonnulls(speaker_official_id, speaker_organization_id) = 1),
    constraint statement_date_complete check ((statement_date is null) = (statement_precision is null)),
    constraint translation_has_language check ((translation is null) = (translation_language is null))
);
create index statements_official on statements (speaker_official_id, id);
create index statements_organization on statements (speaker_organization_id, id);
create index statements_occasion on statements (occasion, id);
create index statements_date on statements (statement_date, id);
create index statements_text on statements using gin (search_text);

-- The records a statement is about.
create table statement_subjects (
    statement_id uuid not null references statements (id) on delete cascade,
    position integer not null,
    record_id uuid not null references accord_records (id),
    constraint statement_subject_listed_once primary key (statement_id, record_id)
);
create index statement_subjects_record on statement_subjects (record_id, statement_id);

create table exchanges (
    id uuid primary key default accord_uuid7(),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    kind text not null check (kind in ('prisoner_exchange', 'repatriation_of_bodies',
        'civilian_return')),
    exchange_date date,
    exchange_precision text check (exchange_precision in ('year', 'month', 'day')),
    from_party_id uuid not null references organizations (id),
    to_party_id uuid not null references organizations (id),
    quantity integer check (quantity >= 0),
    quantity_estimated boolean not null default false,
    series text check (series <> ''),
    batch_number integer check (batch_number >= 1),
    agreement_id uuid references agreements (id),
    note text,
    constraint exchange_date_complete check ((exchange_date is null) = (exchange_precision is null)),
    constraint exchange_between_two_parties check (from_party_id <> to_party_id),
    constraint batch_in_a_series check (batch_number is null or series is not null),
    constraint batch_once_in_series unique (series, batch_number)
);
create index exchanges_kind on exchanges (kind, id);
create index exchanges_from_party on exchanges (from_party_id, id);
create index exchanges_to_party on exchanges (to_party_id, id);
create index exchanges_agreement on exchanges (agreement_id, id);
create index exchanges_date on exchanges (exchange_date, id);

-- An attributed assertion about a record. Its object is another record or a JSON value;
-- `object_key` compares either (jsonb's text form is canonical).
create table claims (
    id uuid primary key default accord_uuid7(),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    subject_id uuid not null references accord_records (id),
    predicate text not null check (predicate in ('falls_under_agreement', 'held_post',
        'attended_round', 'headed_delegation', 'authored', 'quantity', 'date', 'status')),
    object_id uuid references accord_records (id),
    object_value jsonb,
    claimant_official_id uuid references officials (id),
    claimant_organization_id uuid references organizations (id),
    stance text not null check (stance in ('affirms', 'denies')),
    statement_id uuid references statements (id),
    note text,
    object_key text generated always as (coalesce(object_id::text, object_value::text)) stored,
    constraint one_object check (num_nonnulls(object_id, object_value) = 1),
    constraint object_value_short check (length(object_value::text) <= 1000),
    constraint one_claimant check (num_nonnulls(claimant_official_id, claimant_organization_id) = 1)
);
create index claims_subject on claims (subject_id, predicate, object_key, stance);
create index claims_object on claims (object_id);
create index claims_statement on claims (statement_id);
create index claims_official on claims (claimant_official_id, id);
create index claims_organization on claims (claimant_organization_id, id);

-- What a predicate's object must be: a record of a given kind, or a value of a given shape.
create function accord_claim_object_check() returns trigger
language plpgsql as $$
declare
    wanted text := case new.predicate
        when 'falls_under_agreement' then 'agreement'
        when 'held_post' then 'post'
        when 'attended_round' then 'round'
        when 'headed_delegation' then 'delegation'
        when 'authored' then 'memorandum'
    end;
    actual text;
begin
    if wanted is not null then
        select kind into actual from accord_records where id = new.object_id;
        if new.object_id is null or actual is distinct from wanted then
            raise exception 'the object of % must be a record', new.predicate
                using errcode = 'check_violation', constraint = 'claim_object_fits_predicate',
                      detail = format('The object of "%s" must be the id of %s %s.', new.predicate,
                                      case when wanted ~ '^[aeiou]' then 'an' else 'a' end, wanted);
        end if;
    elsif new.object_value is null
       or (new.predicate = 'quantity' and jsonb_typeof(new.object_value) <> 'number')
       or (new.predicate in ('date', 'status') and jsonb_typeof(new.object_value) <> 'string') then
        raise exception 'the object of % must be a value', new.predicate
            using errcode = 'check_violation', constraint = 'claim_object_fits_predicate',
                  detail = format('The object of "%s" must be a value (%s).', new.predicate,
                                  case new.predicate when 'quantity' then 'a number' else 'a string' end);
    end if;
    return new;
end
$$;
create trigger claim_object_fits_predicate before insert or update on claims
    for each row execute function accord_claim_object_check();

-- Register every record table, including what is already stored, and index `updated_at`.
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
        execute format('insert into accord_records (id, kind) select id, %L from %I',
                       pair[2], pair[1]);
        execute format('create trigger %I after insert or delete on %I for each row '
                       'execute function accord_register(%L)',
                       pair[1] || '_registered', pair[1], pair[2]);
        execute format('create index %I on %I (updated_at, id)',
                       pair[1] || '_updated', pair[1]);
    end loop;
end
$$;
