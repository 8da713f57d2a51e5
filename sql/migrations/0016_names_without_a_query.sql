-- A record's search names (organizations' and officials' `search_names`, a generated column)
-- without a query per row: `accord_names` was a SQL function whose subquery over the other
-- names kept PostgreSQL from inlining it, so each row written ran an executor of its own —
-- 38 µs a name on this machine, the largest cost of loading officials (an import's, a
-- restore's, an API write's). In PL/pgSQL, walking the array by index, every step is a simple
-- expression: 8 µs, most of it `unaccent`. It returns what the SQL function returned for every
-- input (the names in array order, each after a space; members without a `name` skipped; null
-- for a null name), so the stored values stay as they are and nothing is rewritten. Runs
-- unchanged on PostgreSQL 15 and 18, on a database that holds data.
create or replace function accord_names(name text, other_names jsonb) returns text
language plpgsql immutable parallel safe as $$
declare
    joined text := name;
begin
    for i in 0 .. coalesce(jsonb_array_length(other_names), 0) - 1 loop
        joined := joined || coalesce(' ' || (other_names -> i ->> 'name'), '');
    end loop;
    return accord_fold(joined);
end
$$;
