"""Synthetic data at scale: organizations, officials with names in several scripts, posts held
in turn over decades, the role changes that appoint and dismiss their holders, and the tenures
they give — loaded with COPY. Tenures are computed here, not by the role changes' trigger (the
load runs with triggers off, and the later migrations derive only the registry and the
timeline); the exclusion constraint still checks them."""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any

import asyncpg

from service.core.database import init_connection

SYLLABLES = [
    "ka",
    "ro",
    "mi",
    "dan",
    "vel",
    "sho",
    "tar",
    "lin",
    "ne",
    "vo",
    "ser",
    "gei",
    "mir",
    "os",
    "lav",
    "ko",
    "dim",
    "ul",
    "bo",
    "rys",
    "zha",
    "ti",
    "ev",
    "an",
]
CYRILLIC = {
    "ka": "ка",
    "ro": "ро",
    "mi": "ми",
    "dan": "дан",
    "vel": "вел",
    "sho": "шо",
    "tar": "тар",
    "lin": "лин",
    "ne": "не",
    "vo": "во",
    "ser": "сер",
    "gei": "гей",
    "mir": "мир",
    "os": "ос",
    "lav": "лав",
    "ko": "ко",
    "dim": "дим",
    "ul": "ул",
    "bo": "бо",
    "rys": "рыс",
    "zha": "жа",
    "ti": "ти",
    "ev": "ев",
    "an": "ан",
}
GIVEN = [
    "Oleksii",
    "Vladimir",
    "Dmitry",
    "Rustem",
    "Denys",
    "Olha",
    "Iryna",
    "Sergei",
    "Mykola",
    "Anna",
    "Yulia",
    "Andrii",
    "Maria",
    "Pavel",
    "Taras",
    "Natalia",
]
TITLES = [
    "Minister of {}",
    "Deputy Minister of {}",
    "Head of the {} Service",
    "Ambassador to {}",
    "Press Secretary of {}",
    "Adviser on {}",
]
FIELDS = [
    "Defence",
    "Foreign Affairs",
    "Finance",
    "Justice",
    "Energy",
    "Health",
    "Culture",
    "Trade",
    "Agriculture",
    "Education",
    "Transport",
    "Digital Affairs",
]
SCHEMA = 2
"""The migration the loader's tables are complete at; later ones derive from the rows."""
HOLDERS_PER_POST = 4
BATCH = 20_000


_VERSION_CLEAR = ~((0xF << 76) | (0x3 << 62))
_VERSION_SET = (0x7 << 76) | (0x2 << 62)  # version 7, RFC 4122 variant


def uuid7(at_ms: int, rng: random.Random) -> uuid.UUID:
    """The layout of the database's accord_uuid7(): 48-bit milliseconds, then random bits."""
    value = ((at_ms & ((1 << 48) - 1)) << 80 | rng.getrandbits(80)) & _VERSION_CLEAR
    return uuid.UUID(int=value | _VERSION_SET)


@dataclass
class Plan:
    """How many of each record ``rows`` (in all) becomes."""

    rows: int
    organizations: int = field(init=False)
    officials: int = field(init=False)
    posts: int = field(init=False)

    def __post_init__(self) -> None:
        # Per post: 4 appointments + 3 dismissals; the rest are officials and organizations.
        self.posts = max(1, self.rows // 10)
        self.organizations = max(1, self.rows // 100)
        self.officials = max(
            HOLDERS_PER_POST, self.rows - self.posts - self.role_changes - self.organizations
        )

    @property
    def role_changes(self) -> int:
        return self.posts * (2 * HOLDERS_PER_POST - 1)


class Progress:
    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.perf_counter()
        self.interactive = sys.stderr.isatty()

    def add(self, count: int) -> None:
        self.done += count
        if self.interactive:
            width = 40
            filled = int(width * self.done / self.total)
            rate = self.done / max(time.perf_counter() - self.started, 1e-9)
            print(
                f"\r  [{'#' * filled}{'.' * (width - filled)}] {self.done:,}/{self.total:,} "
                f"rows, {rate:,.0f} rows/s",
                end="",
                file=sys.stderr,
                flush=True,
            )

    def finish(self) -> float:
        elapsed = time.perf_counter() - self.started
        if self.interactive:
            print(file=sys.stderr)
        return elapsed


def _name(rng: random.Random) -> tuple[str, list[dict[str, str]]]:
    parts = [rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))]
    surname = "".join(parts).capitalize()
    given = rng.choice(GIVEN)
    cyrillic = "".join(CYRILLIC[p] for p in parts).capitalize()
    other = [
        {"name": f"{given} {cyrillic}", "lang": "ru"},
        {"name": f"{given} {surname}iy", "lang": "ru-Latn"},
    ]
    if rng.random() < 0.5:
        other.append({"name": f"{given[0]}. {surname}", "lang": "en"})
    return f"{given} {surname}", other


ORGANIZATION_COLUMNS = (
    "id",
    "name",
    "kind",
    "parent_id",
    "country_code",
    "other_names",
    "created_at",
    "updated_at",
)
OFFICIAL_COLUMNS = ("id", "name", "other_names", "nationality_id", "created_at", "updated_at")
POST_COLUMNS = ("id", "title", "organization_id", "single_holder", "created_at", "updated_at")
CHANGE_COLUMNS = (
    "id",
    "official_id",
    "post_id",
    "kind",
    "status",
    "effective_date",
    "effective_precision",
    "announced_date",
    "announced_precision",
    "created_at",
    "updated_at",
)
TENURE_COLUMNS = (
    "start_change_id",
    "end_change_id",
    "official_id",
    "post_id",
    "single_holder",
    "acting",
    "period",
)
KINDS = ["state", "government", "ministry", "agency", "media_outlet", "other"]


async def load(url: str, rows: int, seed: int = 1) -> dict[str, int]:
    """Fill an empty, migrated database; returns the counts loaded per table.

    Two connections load at once (organizations, officials and half the posts' role changes
    on one; posts and the other half on the other), so Python generates one batch while
    PostgreSQL stores another; a third indexes the tables already loaded."""
    rng = random.Random(seed)
    plan = Plan(rows)
    now = datetime.now(UTC)
    base_ms = int(now.timestamp() * 1000) - 10_000_000
    counts: dict[str, int] = {}
    progress = Progress(
        plan.organizations
        + plan.officials
        + plan.posts
        + plan.role_changes
        + plan.posts * HOLDERS_PER_POST
    )

    pick = rng.random

    def ids(count: int, offset: int) -> list[uuid.UUID]:
        return [uuid7(base_ms + offset + i, rng) for i in range(count)]

    orgs = ids(plan.organizations, 0)
    officials = ids(plan.officials, 1_000_000)
    posts = ids(plan.posts, 3_000_000)

    async def copy(
        conn: asyncpg.Connection[Any],
        table: str,
        columns: Sequence[str],
        records: Iterator[tuple[Any, ...]],
    ) -> None:
        while batch := list(islice(records, BATCH)):
            await conn.copy_records_to_table(table, records=batch, columns=columns)
            progress.add(len(batch))
            counts[table] = counts.get(table, 0) + len(batch)

    def org_rows() -> Iterator[tuple[Any, ...]]:
        for i, ident in enumerate(orgs):
            parent = orgs[rng.randrange(i)] if i and rng.random() < 0.7 else None
            yield (
                ident,
                f"Organization {i} {rng.choice(FIELDS)}",
                rng.choice(KINDS),
                parent,
                rng.choice(["UA", "RU", "US", "TR", "PL", "DE", None]),
                [{"name": f"Организация {i}", "lang": "ru"}],
                now,
                now,
            )

    def official_rows() -> Iterator[tuple[Any, ...]]:
        for ident in officials:
            name, other = _name(rng)
            yield (ident, name, other, orgs[int(pick() * len(orgs))], now, now)

    def post_rows() -> Iterator[tuple[Any, ...]]:
        for i, ident in enumerate(posts):
            title = rng.choice(TITLES).format(rng.choice(FIELDS)) + f" #{i}"
            yield (ident, title, orgs[int(pick() * len(orgs))], True, now, now)

    def change_rows(
        held: list[uuid.UUID], offset: int, tenures: list[tuple[Any, ...]]
    ) -> Iterator[tuple[Any, ...]]:
        """Each post held in turn by four officials; the successor takes over the day the
        holder leaves, so one-holder posts never overlap."""
        for post in held:
            start = date(1960 + int(pick() * 41), 1 + int(pick() * 12), 1 + int(pick() * 28))
            for holder in range(HOLDERS_PER_POST):
                official = officials[int(pick() * len(officials))]
                appointment = uuid7(base_ms + offset, rng)
                offset += 1
                yield (
                    appointment,
                    official,
                    post,
                    "appointment",
                    "effective",
                    start,
                    "day",
                    None,
                    None,
                    now,
                    now,
                )
                end_change = end = None
                if holder < HOLDERS_PER_POST - 1:
                    end = date(
                        start.year + rng.randint(2, 6), rng.randint(1, 12), rng.randint(1, 28)
                    )
                    end_change = uuid7(base_ms + offset, rng)
                    offset += 1
                    yield (
                        end_change,
                        official,
                        post,
                        "dismissal",
                        "effective",
                        end,
                        "day",
                        None,
                        None,
                        now,
                        now,
                    )
                tenures.append(
                    (
                        appointment,
                        end_change,
                        official,
                        post,
                        True,
                        False,
                        asyncpg.Range(start, end),
                    )
                )
                if end is not None:
                    start = end

    async def changes(conn: asyncpg.Connection[Any], held: list[uuid.UUID], offset: int) -> None:
        tenures: list[tuple[Any, ...]] = []
        await copy(conn, "role_changes", CHANGE_COLUMNS, change_rows(held, offset, tenures))
        await copy(conn, "tenures", TENURE_COLUMNS, iter(tenures))

    officials_loaded, posts_loaded = asyncio.Event(), asyncio.Event()

    async def first(conn: asyncpg.Connection[Any]) -> None:
        await copy(conn, "organizations", ORGANIZATION_COLUMNS, org_rows())
        await copy(conn, "officials", OFFICIAL_COLUMNS, official_rows())
        officials_loaded.set()
        await changes(conn, posts[: len(posts) // 2], 5_000_000)

    async def second(conn: asyncpg.Connection[Any]) -> None:
        await copy(conn, "posts", POST_COLUMNS, post_rows())
        posts_loaded.set()
        await changes(conn, posts[len(posts) // 2 :], 50_000_000)

    async def build(conn: asyncpg.Connection[Any], share: Sequence[asyncpg.Record]) -> None:
        await conn.execute("set maintenance_work_mem = '256MB'")
        for index in share:
            await conn.execute(index["indexdef"])

    conns = [await asyncpg.connect(url) for _ in range(3)]
    try:
        for conn in conns:
            await init_connection(conn)
            # Triggers (tenure rebuilds, parent cycles) and foreign-key checks are for API
            # writes; bulk data is consistent by construction and brings its own tenures.
            await conn.execute("set session_replication_role = replica")
        main, builder = conns[0], conns[2]
        # Secondary indexes are dropped for the load and built once afterwards: a bulk build
        # is several times cheaper than maintaining them row by row.
        indexes = await main.fetch(
            """select i.tablename, i.indexname, i.indexdef from pg_indexes i
                where i.schemaname = 'public'
                  and i.tablename in ('organizations', 'officials', 'posts', 'role_changes',
                                      'tenures')
                  and not exists (select from pg_constraint c where c.conname = i.indexname)"""
        )
        for index in indexes:
            await main.execute(f'drop index "{index["indexname"]}"')
        early = [i for i in indexes if i["tablename"] not in ("role_changes", "tenures")]
        late = [i for i in indexes if i["tablename"] in ("role_changes", "tenures")]

        async def build_early() -> None:
            # Generating rows keeps Python busy on one core; PostgreSQL indexes the tables
            # already loaded meanwhile on the other.
            await officials_loaded.wait()
            await posts_loaded.wait()
            await build(builder, early)

        await asyncio.gather(first(conns[0]), second(conns[1]), build_early())
        # The rest, one connection per core.
        await asyncio.gather(build(conns[0], late[0::2]), build(conns[1], late[1::2]))
        elapsed = progress.finish()
        counts["seconds_x1000"] = int(elapsed * 1000)
        await main.execute("analyze")
    finally:
        for conn in conns:
            await conn.close()
    return counts
