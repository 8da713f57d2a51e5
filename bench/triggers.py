"""``.venv/bin/python -m bench.triggers [--changes 1000000] [--skip-before] [--explain]``

What the record tables' triggers cost a set-based write: one ``insert into role_changes
select …`` of ``--changes`` role changes (every index in place) on a throwaway database with
100k officials and 50k posts, first with the schema before migration 0012 (per-row triggers),
then after it (statement-level triggers), each against the same statement with the user
triggers disabled (the insert itself: heap, indexes, foreign-key checks). The rows are those
an import brings: per post, five holders in turn, each nominated (proposed or withdrawn),
appointed acting or announced, appointed, then dismissed or resigning (the last still in
post); a fifth of the posts take several holders at once. Each run is rolled back, so both
schemas see the same data. Where the time goes: ``pg_stat_user_functions`` (self time of each
trigger function, ``track_functions = all``) and, with ``--explain``, auto_explain's plans of
the trigger statements with the foreign-key checks they made. Also the cost of 2,000 single-row
inserts (what API writes make) under each schema. Figures only: nothing here asserts a
speed."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from typing import Any

import asyncpg

from service import embedded, migrations
from service.settings import default_data_dir

BEFORE = 11
"""The last migration of the per-row schema."""

ORGANIZATIONS = 1_000
OFFICIALS = 100_000
POSTS = 50_000
"""What FILL makes (its SQL spells them out)."""

# Numbered ids, so the generated rows can pick them by arithmetic; registered through the
# tables' own triggers like any write (not timed).
FILL = """
create unlogged table bench_organizations as
    select n, accord_uuid7() as id from generate_series(1, 1000) n;
create unlogged table bench_officials as
    select n, accord_uuid7() as id from generate_series(1, 100000) n;
create unlogged table bench_posts as
    select n, accord_uuid7() as id from generate_series(1, 50000) n;
insert into organizations (id, name, kind, parent_id)
    select o.id, 'Organization ' || o.n, case when o.n <= 100 then 'state' else 'ministry' end,
           p.id
      from bench_organizations o left join bench_organizations p
        on o.n > 100 and p.n = 1 + o.n % 100
     order by o.n;
insert into officials (id, name) select id, 'Official ' || n from bench_officials;
insert into posts (id, title, organization_id, single_holder)
    select p.id, 'Post ' || p.n, o.id, p.n % 5 <> 0
      from bench_posts p join bench_organizations o on o.n = 1 + p.n % 1000;
analyze;
"""

# Per post, 20 changes: holder h (0–4) from day t0 = base + 400·h: a nomination ten days
# before (proposed or withdrawn), an acting appointment at t0 (or, every other holder, an
# appointment announced but not effective), the appointment at t0 + 30, and a dismissal or
# resignation at t0 + 400 — the day the next holder starts, so one-holder posts never
# overlap — except for the last holder, whose departure is only announced.
STAGE = """
create unlogged table bench_role_changes (
    id uuid, official_id uuid, post_id uuid, kind text, status text, effective_date date,
    effective_precision text, announced_date date, announced_precision text
)"""

STAGE_ROWS = """
insert into bench_role_changes
with steps as (
    select p.n as post_n, p.id as post_id, s / 4 as holder, s % 4 as phase,
           date '1960-01-01' + (p.n % 3000) + (s / 4) * 400 as t0
      from bench_posts p cross join generate_series(0, 19) s
     where (p.n - 1) * 20 + s < $1
)
select accord_uuid7() as id, o.id as official_id, st.post_id,
       case st.phase
           when 0 then 'nomination'
           when 1 then case when (st.post_n + st.holder) % 2 = 0 then 'acting_appointment'
                            else 'appointment' end
           when 2 then 'appointment'
           else case when st.holder % 2 = 0 then 'dismissal' else 'resignation' end
       end as kind,
       case
           when st.phase = 0 then
               case when (st.post_n + st.holder) % 3 = 0 then 'withdrawn' else 'proposed' end
           when st.phase = 1 and (st.post_n + st.holder) % 2 = 1 then 'announced'
           when st.phase = 3 and st.holder = 4 then 'announced'
           else 'effective'
       end as status,
       case
           when st.phase = 0 then null
           when st.phase = 1 and (st.post_n + st.holder) % 2 = 1 then null
           when st.phase = 3 and st.holder = 4 then null
           else st.t0 + case st.phase when 2 then 30 when 3 then 400 else 0 end
       end as effective_date,
       case
           when st.phase = 0 then null
           when st.phase = 1 and (st.post_n + st.holder) % 2 = 1 then null
           when st.phase = 3 and st.holder = 4 then null
           else 'day'
       end as effective_precision,
       st.t0 - 10 + case st.phase when 3 then 400 else 0 end as announced_date,
       'day' as announced_precision
  from steps st
  join bench_officials o on o.n = 1 + (st.post_n * 7 + st.holder * 13791) % 100000
 order by st.post_n, st.holder, st.phase
"""

INSERT = """
insert into role_changes (id, official_id, post_id, kind, status, effective_date,
                          effective_precision, announced_date, announced_precision)
select id, official_id, post_id, kind, status, effective_date, effective_precision,
       announced_date, announced_precision
  from bench_role_changes"""

DERIVED = """
select (select count(*) from tenures) as tenures,
       (select count(*) from timeline) as timeline,
       (select count(*) from accord_records) as records
"""


async def _timed(conn: asyncpg.Connection[Any], *, triggers: bool) -> tuple[float, Any]:
    """The insert's seconds and the derived rows' counts, in a transaction rolled back."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        if not triggers:
            await conn.execute("alter table role_changes disable trigger user")
        await conn.execute("select pg_stat_reset()")
        started = time.perf_counter()
        await conn.execute(INSERT)
        took = time.perf_counter() - started
        counts = await conn.fetchrow(DERIVED)
    finally:
        await transaction.rollback()
    return took, counts


SINGLE = """
do $$
declare
    change record;
begin
    for change in select * from bench_role_changes limit 2000 loop
        insert into role_changes (id, official_id, post_id, kind, status, effective_date,
                                  effective_precision, announced_date, announced_precision)
        values (change.id, change.official_id, change.post_id, change.kind, change.status,
                change.effective_date, change.effective_precision, change.announced_date,
                change.announced_precision);
    end loop;
end
$$"""
"""2,000 inserts of one row each, as API writes make them (without the HTTP and the history)."""


async def _single(conn: asyncpg.Connection[Any], *, triggers: bool) -> float:
    """Milliseconds per single-row insert, in a transaction rolled back."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        if not triggers:
            await conn.execute("alter table role_changes disable trigger user")
        started = time.perf_counter()
        await conn.execute(SINGLE)
        return (time.perf_counter() - started) / 2000 * 1000
    finally:
        await transaction.rollback()


EXPLAIN = (
    "load 'auto_explain'",
    "set local auto_explain.log_min_duration = '100ms'",
    "set local auto_explain.log_nested_statements = on",
    "set local auto_explain.log_analyze = on",
    "set local auto_explain.log_triggers = on",
    "set local auto_explain.log_level = notice",
    "set local client_min_messages = notice",
)


async def _explain(conn: asyncpg.Connection[Any]) -> None:
    """The trigger statements that took 100 ms or more, by auto_explain (with timing, so
    slower than the timed run): their time, their top node and the foreign-key checks each
    made."""
    plans: list[str] = []

    def listen(_: Any, message: asyncpg.PostgresLogMessage) -> None:
        plans.append(str(message.message))

    conn.add_log_listener(listen)
    transaction = conn.transaction()
    await transaction.start()
    try:
        for statement in EXPLAIN:
            await conn.execute(statement)
        await conn.execute(INSERT)
    finally:
        await transaction.rollback()
        conn.remove_log_listener(listen)
    for plan in plans:
        lines = plan.splitlines()
        print(f"  {lines[0]}")
        text = next((line for line in lines if line.startswith("Query Text:")), "")
        print(f"    {text[:110]}")
        for line in lines:
            stripped = line.strip()
            if stripped.startswith(("Insert on", "Delete on", "Update on", "Trigger ")):
                print(f"      {stripped[:110]}")


async def _functions(conn: asyncpg.Connection[Any]) -> list[Any]:
    # The statistics collector sees the rolled back run's calls once the backend reports them.
    await asyncio.sleep(1.5)
    await conn.execute("select pg_stat_clear_snapshot()")
    return await conn.fetch(
        """select funcname, calls, round(total_time::numeric / 1000, 2) as total_s,
                  round(self_time::numeric / 1000, 2) as self_s
             from pg_stat_user_functions where calls > 0 order by self_time desc limit 12"""
    )


async def _schema(conn: asyncpg.Connection[Any], label: str, explain: bool) -> None:
    bare_one, full_one = await _single(conn, triggers=False), await _single(conn, triggers=True)
    print(
        f"{label}: single-row inserts: {full_one:.2f} ms each, "
        f"{bare_one:.2f} ms with user triggers disabled"
    )
    bare, counts = await _timed(conn, triggers=False)
    print(f"{label}: insert with user triggers disabled: {bare:.1f} s ({dict(counts)})")
    full, counts = await _timed(conn, triggers=True)
    print(f"{label}: insert with the triggers:          {full:.1f} s ({dict(counts)})")
    # The two runs meet different loads on a shared machine: the functions' times below are
    # the triggers' own.
    print(f"{label}: the difference:                    {full - bare:.1f} s")
    for row in await _functions(conn):
        print(
            f"    {row['funcname']:32} calls {row['calls']:>9,}  total {row['total_s']:>8} s"
            f"  self {row['self_s']:>8} s"
        )
    if explain:
        await _explain(conn)


async def run(server: str, name: str, changes: int, before: bool, explain: bool) -> None:
    url = await embedded.recreate_database(server, name)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("set track_functions = 'all'")
        await conn.execute("set maintenance_work_mem = '256MB'")
        await conn.execute("set work_mem = '64MB'")
        await migrations.migrate(conn, through=BEFORE)
        started = time.perf_counter()
        await conn.execute(FILL)
        await conn.execute(STAGE)
        await conn.execute(STAGE_ROWS, changes)
        await conn.execute("analyze bench_role_changes")
        staged = await conn.fetchval("select count(*) from bench_role_changes")
        print(
            f"{ORGANIZATIONS:,} organizations, {OFFICIALS:,} officials, {POSTS:,} posts; "
            f"{staged:,} role changes staged in {time.perf_counter() - started:.1f} s"
        )
        if before:
            await _schema(conn, "per-row (0011)", explain=False)
        started = time.perf_counter()
        await migrations.migrate(conn)
        print(f"migrations after 0011 applied in {time.perf_counter() - started:.1f} s")
        await _schema(conn, "set-based (0012)", explain)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.triggers", description=__doc__)
    parser.add_argument("--changes", type=int, default=1_000_000)
    parser.add_argument(
        "--skip-before", action="store_true", help="measure only the set-based schema"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="once more with auto_explain: the set-based trigger statements' plans, summed up",
    )
    args = parser.parse_args()
    server = asyncio.run(
        embedded.find_server(os.environ.get("ACCORD_DATABASE_URL"), default_data_dir())
    )
    name = f"accord_bench_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        asyncio.run(run(server, name, args.changes, not args.skip_before, args.explain))
    finally:
        asyncio.run(embedded.drop_database(server, name))


if __name__ == "__main__":
    main()
