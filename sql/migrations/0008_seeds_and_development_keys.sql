-- First contact: the worked example is loaded once per database, and a database has at most
-- one valid development key. Runs unchanged on PostgreSQL 15 and 18.

-- Data loaded once per database, recorded as migrations are in schema_migrations, so that
-- `accord serve` and `accord seed` never load the worked example again over records a user
-- has deleted or changed since. `checksum` is the SHA-256 of the file loaded (null when it
-- was loaded before this table existed).
create table seeds (
    name text primary key,
    checksum text,
    loaded_at timestamptz not null default now()
);

-- A database that got the worked example before it was recorded here: some record of it, by
-- its fixed ids (0193a0aN-0000-7000-8000-0000000000NN, a pattern a generated UUIDv7's random
-- bits never take), is still there or has a history. The example was loaded in one
-- transaction, so its organizations' created_at is when; the history is the fallback.
insert into seeds (name, loaded_at)
select 'worked_example', coalesce(
    (select min(created_at) from organizations
      where id::text like '0193a0a_-0000-7000-8000-0000000000__'),
    (select min(at) from history where record_id::text like '0193a0a_-0000-7000-8000-0000000000__'),
    now())
where exists (select from accord_records
               where id::text like '0193a0a_-0000-7000-8000-0000000000__')
   or exists (select from history where record_id::text like '0193a0a_-0000-7000-8000-0000000000__');

-- The key `accord serve` makes on the embedded database for trying writes: each start revokes
-- the one before, so at most one is valid at a time; PostgreSQL keeps it so.
alter table api_keys add column development boolean not null default false;
-- Those made before this column existed: only the newest stays valid.
update api_keys set development = true where name = 'development key (accord serve)';
update api_keys set revoked_at = now()
 where development and revoked_at is null
   and id <> (select id from api_keys where development and revoked_at is null
               order by created_at desc, id desc limit 1);
create unique index api_keys_one_development on api_keys (development)
    where development and revoked_at is null;
