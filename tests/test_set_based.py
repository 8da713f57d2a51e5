"""Set-based triggers (migration 0012): a statement that writes many rows derives exactly what
the per-row triggers before it derived — the registry of records, tenures, timeline items.

Two databases get the same rows: one migrated through 0011 (per-row triggers: each row's
derivation runs on its own, as a single-row write's does), one migrated fully. Every
statement here writes many rows at once, to both, and the derived tables must then be equal
row for row; the fully migrated one's timeline must also equal what `timeline_source` (the
view defining it) gives."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest

from service import migrations, seed
from tests.conftest import Databases, query

PER_ROW = 11
"""The last migration with per-row triggers."""

DERIVED = {
    "tenures": "select start_change_id, end_change_id, official_id, post_id, single_holder, "
    "acting, lower(period), upper(period) from tenures order by start_change_id",
    "timeline": "select * from timeline order by record_id, number",
    "accord_records": "select id, kind from accord_records order by id",
}

INSERT_CHANGES = """
insert into role_changes (id, official_id, post_id, kind, status, effective_date,
                          effective_precision, announced_date, announced_precision)
select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::date[],
                     $7::text[], $8::date[], $9::text[])
"""

Row = tuple[
    uuid.UUID, uuid.UUID, uuid.UUID, str, str, date | None, str | None, date | None, str | None
]


class Example:
    """The records the role changes refer to, with fixed ids so both databases share them."""

    def __init__(self, rng: random.Random) -> None:
        def ids(count: int) -> list[uuid.UUID]:
            return [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(count)]

        self.states = ids(3)
        self.ministries = ids(6)
        self.officials = ids(60)
        self.single_posts = ids(14)
        self.shared_posts = ids(6)
        self.negotiation, self.delegation, self.round, self.agreement = ids(4)
        self.claims = ids(3)

    @property
    def posts(self) -> list[uuid.UUID]:
        return self.single_posts + self.shared_posts

    async def store(self, conn: asyncpg.Connection[Any]) -> None:
        async with conn.transaction():
            await conn.executemany(
                "insert into organizations (id, name, kind) values ($1, $2, 'state')",
                [(state, f"State {i}") for i, state in enumerate(self.states)],
            )
            await conn.executemany(
                "insert into organizations (id, name, kind, parent_id) "
                "values ($1, $2, 'ministry', $3)",
                [
                    (ministry, f"Ministry {i}", self.states[i % 3])
                    for i, ministry in enumerate(self.ministries)
                ],
            )
            await conn.execute(
                "insert into officials (id, name) select id, 'Official ' || n "
                "from unnest($1::uuid[]) with ordinality o(id, n)",
                self.officials,
            )
            await conn.execute(
                "insert into posts (id, title, organization_id, single_holder) "
                "select id, 'Post ' || n, ($2::uuid[])[1 + n % 6], n <= $3 "
                "from unnest($1::uuid[]) with ordinality p(id, n)",
                self.posts,
                self.ministries,
                len(self.single_posts),
            )
            # A negotiation whose delegation the first five officials sit on, and an agreement
            # claims about role changes can say they fall under: both reach the timeline.
            await conn.execute(
                "insert into negotiations (id, title, status) values ($1, 'Talks', 'active')",
                self.negotiation,
            )
            await conn.execute(
                "insert into negotiation_parties (negotiation_id, position, organization_id) "
                "values ($1, 1, $2), ($1, 2, $3)",
                self.negotiation,
                self.states[0],
                self.states[1],
            )
            await conn.execute(
                "insert into delegations (id, negotiation_id, party_id) values ($1, $2, $3)",
                self.delegation,
                self.negotiation,
                self.states[0],
            )
            await conn.execute(
                "insert into delegation_members (delegation_id, position, official_id, role) "
                "select $1, n, id, 'member' from unnest($2::uuid[]) with ordinality m(id, n)",
                self.delegation,
                self.officials[:5],
            )
            await conn.execute(
                "insert into rounds (id, negotiation_id, ordinal, status, start_date, "
                "start_precision) values ($1, $2, 1, 'held', '2020-05-01', 'day')",
                self.round,
                self.negotiation,
            )
            await conn.execute(
                "insert into agreements (id, round_id, title, kind, stage) "
                "values ($1, $2, 'Exchange', 'humanitarian', 'implementation')",
                self.agreement,
                self.round,
            )


def changes(example: Example, rng: random.Random) -> list[Row]:
    """Role changes of every kind: on one-holder posts, holders in turn (acting first or not,
    turned full the same day or later, dismissed or resigning the day the next starts or
    earlier; the last may stay), with nominations, withdrawn and announced changes, second
    appointments while in post and departures of officials not in post; on shared posts,
    anything at any date."""
    rows: list[Row] = []

    def add(
        official: uuid.UUID,
        post: uuid.UUID,
        kind: str,
        status: str,
        effective: date | None,
        announced: date | None = None,
    ) -> None:
        announced = announced or (effective - timedelta(rng.randrange(5)) if effective else None)
        rows.append(
            (
                uuid.UUID(int=rng.getrandbits(128), version=4),
                official,
                post,
                kind,
                status,
                effective,
                "day" if effective else None,
                announced,
                "day" if announced else None,
            )
        )

    for post in example.single_posts:
        day = date(1950, 1, 1) + timedelta(rng.randrange(4000))
        turns = rng.randint(10, 30)
        for turn in range(turns):
            holder = rng.choice(example.officials)
            add(
                rng.choice(example.officials),
                post,
                "nomination",
                rng.choice(["proposed", "withdrawn"]),
                None,
                day,
            )
            start = day
            if rng.random() < 0.4:
                add(holder, post, "acting_appointment", "effective", day)
                start = day + timedelta(rng.choice([0, 0, 10, 40]))
            add(holder, post, "appointment", "effective", start)
            if rng.random() < 0.3:
                add(
                    holder,
                    post,
                    rng.choice(["appointment", "acting_appointment"]),
                    "effective",
                    start + timedelta(5),
                )
            if rng.random() < 0.3:
                add(
                    holder,
                    post,
                    "appointment",
                    rng.choice(["announced", "withdrawn"]),
                    start + timedelta(3),
                )
            if rng.random() < 0.2:
                add(
                    rng.choice(example.officials),
                    post,
                    "dismissal",
                    "effective",
                    start + timedelta(2),
                )
            end = start + timedelta(rng.randint(50, 900))
            if turn < turns - 1 or rng.random() < 0.5:
                add(holder, post, rng.choice(["dismissal", "resignation"]), "effective", end)
            day = end + timedelta(rng.choice([0, 0, 1, 30]))
    for post in example.shared_posts:
        for _ in range(250):
            kind = rng.choice(
                ["appointment", "acting_appointment", "dismissal", "resignation", "nomination"]
            )
            status = rng.choice(["effective", "effective", "announced", "withdrawn", "proposed"])
            if kind == "nomination" and status == "effective":
                status = "proposed"
            day = date(1995, 1, 1) + timedelta(rng.randrange(3000))
            dated = status == "effective" or rng.random() < 0.5
            add(
                rng.choice(example.officials[:20]),
                post,
                kind,
                status,
                day if dated else None,
                None if dated or rng.random() < 0.5 else day,
            )
    return rows


async def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = await asyncpg.connect(url)
    try:
        return {
            table: [tuple(row) for row in await conn.fetch(sql)] for table, sql in DERIVED.items()
        }
    finally:
        await conn.close()


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return asyncio.run(_snapshot(url))


def on_both(pair: tuple[str, str], sql: str, *args: object) -> None:
    for url in pair:
        query(url, sql, *args)


def assert_same_derivations(pair: tuple[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    per_row, set_based = (snapshot(url) for url in pair)
    for table in DERIVED:
        assert set_based[table] == per_row[table], table
    stale = query(
        pair[1],
        "select count(*) from ((table timeline except all table timeline_source) "
        "union all (table timeline_source except all table timeline)) d",
    )
    assert stale[0][0] == 0
    return set_based


async def _migrate(url: str, through: int | None) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrations.migrate(conn, through=through)
    finally:
        await conn.close()


async def _store(url: str, example: Example, rows: list[Row]) -> None:
    conn = await asyncpg.connect(url)
    try:
        await example.store(conn)
        await conn.execute(INSERT_CHANGES, *(list(column) for column in zip(*rows, strict=True)))
        # Claims that role changes fall under the agreement (their items gain its
        # negotiation), one in a statement about another role change.
        await conn.execute(
            "insert into claims (id, subject_id, predicate, object_id, claimant_official_id, "
            "stance) select c, s, 'falls_under_agreement', $3, $4, 'affirms' "
            "from unnest($1::uuid[], $2::uuid[]) x(c, s)",
            example.claims,
            [row[0] for row in rows[:3]],
            example.agreement,
            example.officials[0],
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def example() -> Example:
    return Example(random.Random(12))


@pytest.fixture(scope="module")
def rows(example: Example) -> list[Row]:
    return changes(example, random.Random(34))


@pytest.fixture(scope="module")
def pair(databases: Databases, example: Example, rows: list[Row]) -> tuple[str, str]:
    """(per-row database, set-based database), each holding the example and its role changes,
    written by one `insert … select`."""
    per_row = databases.create_empty("set_based_per_row")
    set_based = databases.create_empty("set_based")
    asyncio.run(_migrate(per_row, PER_ROW))
    asyncio.run(_migrate(set_based, None))
    for url in (per_row, set_based):
        asyncio.run(_store(url, example, rows))
    return per_row, set_based


def test_a_multi_row_insert_derives_what_single_row_writes_derive(
    pair: tuple[str, str], rows: list[Row]
) -> None:
    derived = assert_same_derivations(pair)
    tenures = derived["tenures"]
    assert len(rows) > 2000
    # The example reaches every branch of the rule: acting tenures ended by a full
    # appointment and by a departure, full ones closed and still open, on both kinds of post.
    assert any(t[5] and t[1] is not None for t in tenures)
    assert any(not t[5] and t[1] is None for t in tenures)
    assert any(not t[4] for t in tenures)
    assert any(t[4] for t in tenures)
    assert len({t[2] for t in tenures}) > 40
    timeline = derived["timeline"]
    assert any(item[5] for item in timeline if item[2] == "role_change")  # negotiations


def test_updates_of_many_rows_derive_what_single_row_writes_derive(
    pair: tuple[str, str], example: Example, rows: list[Row]
) -> None:
    # Appointments withdrawn (departures kept, so one-holder posts stay free of overlaps).
    on_both(
        pair,
        "update role_changes set status = 'withdrawn' "
        "where kind in ('appointment', 'acting_appointment') and status = 'effective' "
        "and get_byte(uuid_send(id), 15) < 40",
    )
    assert_same_derivations(pair)
    # Every change of some shared posts a day later, and changes moved to other officials (the
    # official's ties move: the delegation's negotiation comes or goes).
    on_both(
        pair,
        "update role_changes set effective_date = effective_date + 1, "
        "announced_date = announced_date + 1 where post_id = any($1::uuid[])",
        example.shared_posts[:2],
    )
    # Each to an official of its own who had no change to that post (the per-row triggers
    # would otherwise rebuild the new pair before the old one lets go of the change).
    moved = [row[0] for row in rows if row[2] in example.shared_posts][:40]
    on_both(
        pair,
        "update role_changes rc set official_id = m.official_id "
        "from unnest($1::uuid[], $2::uuid[]) m(id, official_id) where rc.id = m.id",
        moved,
        example.officials[20:60],
    )
    assert_same_derivations(pair)
    # A statement that changes nothing derived, and one that matches no row.
    on_both(pair, "update role_changes set note = 'checked'")
    on_both(pair, "update role_changes set note = null where false")
    assert_same_derivations(pair)


async def _shifted(url: str, posts: list[uuid.UUID]) -> tuple[list[Any], list[Any]]:
    conn = await asyncpg.connect(url)
    try:
        sql = (
            "select start_change_id, lower(period), upper(period) from tenures "
            "where post_id = any($1::uuid[]) order by start_change_id"
        )
        transaction = conn.transaction()
        await transaction.start()
        before = await conn.fetch(sql, posts)
        await conn.execute(
            "update role_changes set effective_date = effective_date + 1, "
            "announced_date = announced_date + 1 where post_id = any($1::uuid[])",
            posts,
        )
        after = await conn.fetch(sql, posts)
        await transaction.rollback()
        return [tuple(row) for row in before], [tuple(row) for row in after]
    finally:
        await conn.close()


def test_one_holder_posts_moved_in_one_statement(pair: tuple[str, str], example: Example) -> None:
    """Every change of one-holder posts a day later: each holder's tenure moves with them. (The
    per-row triggers could refuse this: rebuilding one holder's tenure while the next one's
    still has its old dates makes a passing overlap.)"""
    before, after = asyncio.run(_shifted(pair[1], example.single_posts))
    day = timedelta(days=1)
    assert len(before) > 100
    assert after == [
        (start, lower + day, upper + day if upper else None) for start, lower, upper in before
    ]


def test_deletes_of_many_rows_derive_what_single_row_writes_derive(
    pair: tuple[str, str], example: Example
) -> None:
    # Nominations, some appointments (not departures: one-holder posts would overlap), every
    # change of some shared posts; not those claims are about (their claims still refer to
    # them).
    claimed = query(pair[1], "select subject_id from claims")
    on_both(
        pair,
        "delete from role_changes where (kind = 'nomination' or post_id = any($1::uuid[]) "
        "or (get_byte(uuid_send(id), 13) < 30 and kind not in ('dismissal', 'resignation'))) "
        "and id <> all($2::uuid[])",
        example.shared_posts[3:],
        [row[0] for row in claimed],
    )
    assert_same_derivations(pair)


def test_posts_organizations_and_delegations_changed_in_bulk(
    pair: tuple[str, str], example: Example
) -> None:
    # Shared posts made one-holder are refused while their holders overlap; the rest move.
    with pytest.raises(asyncpg.ExclusionViolationError):
        query(pair[1], "update posts set single_holder = true where not single_holder")
    on_both(
        pair,
        "update posts set single_holder = not single_holder, organization_id = $1 "
        "where id = any($2::uuid[])",
        example.ministries[0],
        example.single_posts[:4],
    )
    on_both(
        pair,
        "update organizations set parent_id = $1 where id = any($2::uuid[])",
        example.states[2],
        example.ministries[:3],
    )
    on_both(
        pair,
        "insert into delegation_members (delegation_id, position, official_id, role) "
        "select $1, 10 + n, id, 'adviser' from unnest($2::uuid[]) with ordinality m(id, n)",
        example.delegation,
        example.officials[5:15],
    )
    on_both(
        pair,
        "delete from delegation_members where delegation_id = $1 and position < 4",
        example.delegation,
    )
    on_both(pair, "delete from claims where id = $1", example.claims[0])
    assert_same_derivations(pair)


def test_an_overlap_in_a_multi_row_insert_is_refused_and_nothing_is_written(
    pair: tuple[str, str], example: Example
) -> None:
    before = snapshot(pair[1])
    counted = query(pair[1], "select count(*) from role_changes")[0][0]
    post = query(pair[1], "select id from posts where single_holder order by id limit 1")[0]["id"]
    first, second, third = example.officials[40:43]
    # The first two overlap (each with the other, and with whoever holds the post now).
    rows: list[Row] = [
        (uuid.uuid4(), official, post, "appointment", "effective", day, "day", day, "day")
        for official, day in (
            (first, date(2090, 1, 1)),
            (second, date(2090, 6, 1)),
            (third, date(2091, 1, 1)),
        )
    ]
    with pytest.raises(asyncpg.ExclusionViolationError):
        query(pair[1], INSERT_CHANGES, *(list(column) for column in zip(*rows, strict=True)))
    assert snapshot(pair[1]) == before
    assert query(pair[1], "select count(*) from role_changes")[0][0] == counted


async def _migrated_with_data(url: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    conn = await asyncpg.connect(url)
    try:
        await migrations.migrate(conn, through=PER_ROW)
        await seed.load(conn)
        before = await _snapshot(url)
        await migrations.migrate(conn)
        after = await _snapshot(url)
        async with conn.transaction():
            await conn.execute(
                "select accord_refresh_tenures(array_agg(official_id), array_agg(post_id)) "
                "from (select distinct official_id, post_id from role_changes) pair"
            )
            await conn.execute(
                "select accord_timeline_refresh(array(select id from accord_records))"
            )
        rebuilt = await _snapshot(url)
    finally:
        await conn.close()
    return before, after, rebuilt


def test_the_migration_keeps_the_derived_rows_of_a_database_with_data(
    databases: Databases,
) -> None:
    url = databases.create_empty("set_based_migrated")
    before, after, rebuilt = asyncio.run(_migrated_with_data(url))
    assert before["tenures"]
    assert before["timeline"]
    assert after == before
    # Rebuilt set-based from nothing but the records, the worked example's tenures and items
    # come out as the per-row triggers made them.
    assert rebuilt == before
