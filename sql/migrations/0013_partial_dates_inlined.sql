-- A partial date as text, without `to_char`. `to_char` is only stable (it reads the locale), so
-- the immutable `accord_partial_date` that called it could not be inlined: every record read paid
-- a SQL-function call per date, about 10 µs — most of what PostgreSQL spent on a role change in a
-- bulk export (two dates a row). Built from `extract` and `lpad` (immutable) as one expression,
-- it is inlined into the queries that use it and costs a fraction of a microsecond. Same text for
-- every date a partial date can hold — years 1–9999 (the API's pattern), zero-padded to four
-- digits — and null, as `to_char` gave, for an infinite date (a derived period left open).
create or replace function accord_partial_date(day date, precision_ text) returns text
language sql immutable parallel safe as $$
    select case when isfinite(day) then case precision_
        when 'year' then lpad(extract(year from day)::integer::text, 4, '0')
        when 'month' then lpad(extract(year from day)::integer::text, 4, '0') || '-'
            || lpad(extract(month from day)::integer::text, 2, '0')
        when 'day' then lpad(extract(year from day)::integer::text, 4, '0') || '-'
            || lpad(extract(month from day)::integer::text, 2, '0') || '-'
            || lpad(extract(day from day)::integer::text, 2, '0')
    end end
$$;
