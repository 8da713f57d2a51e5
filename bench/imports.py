"""``.venv/bin/python -m bench.imports [--rows 1000000]``

What an import costs: NDJSON files of ``--rows`` role changes with their officials, posts and
organizations (each post held in turn by four officials, as bench/data.py makes them; ids
given, as an export has them), imported in one transaction by the import engine — validation,
staging, checks, writes with their triggers and indexes, history rows — into a fresh migrated
database. Prints ``import rows/s`` (all lines, every resource) and each phase's seconds, so the
slowest is visible: ``parse`` is Python's part (decoding, validating, the rules of ``params``),
the rest PostgreSQL's.

Beside it, **the import floor**: the most direct load there is of the very rows the import
wrote — every table it filled (records, the registry, tenures, timeline, history), read back
from its database by binary ``COPY`` into files — into another fresh migrated database, as a
restore loads it: in one transaction, every index, key, unique and exclusion constraint of
those tables dropped and their triggers disabled (CHECK constraints stay), each table truncated
and filled by one ``COPY … (freeze)``, the change log's counter set, then every index and
constraint made again (primary keys, indexes, unique and exclusion constraints, then foreign
keys). No validation, no derivation, no Python per row:
what the import could not go below on this machine, with the same indexes and constraints at
the end. Prints ``import floor rows/s`` (the import's lines over the floor's seconds), its
phases and heaviest tables and builds, and ``import ratio to floor``. Figures only: nothing
here asserts a speed."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from bench.data import CYRILLIC, FIELDS, GIVEN, HOLDERS_PER_POST, KINDS, SYLLABLES, TITLES, uuid7
from service import embedded, migrations
from service.core import imports
from service.core.database import init_connection
from service.resources import registry
from service.settings import default_data_dir


def generate(folder: Path, role_changes: int, seed: int = 1) -> dict[str, int]:
    """Write ``{resource}.ndjson`` files for ``role_changes`` role changes (rounded to whole
    posts) and the officials, posts and organizations they need; the lines of each."""
    rng = random.Random(seed)
    base_ms = int(datetime.now(UTC).timestamp() * 1000) - 10_000_000
    posts = max(1, role_changes // (2 * HOLDERS_PER_POST - 1))
    officials = max(HOLDERS_PER_POST, role_changes // 5)
    organizations = max(1, posts // 50)

    def ids(count: int, offset: int) -> list[str]:
        return [str(uuid7(base_ms + offset + i, rng)) for i in range(count)]

    org_ids = ids(organizations, 0)
    ranking = list(range(organizations))
    rng.shuffle(ranking)
    above = [[org_ids[j] for j in ranking[: ranking.index(i)][-20:]] for i in range(organizations)]
    official_ids = ids(officials, 1_000_000)
    post_ids = ids(posts, 3_000_000)
    encode = msgspec.json.encode
    counts: dict[str, int] = {}

    def write(name: str, lines: list[bytes]) -> None:
        (folder / f"{name}.ndjson").write_bytes(b"\n".join(lines) + b"\n")
        counts[name] = len(lines)

    write(
        "organizations",
        [
            encode(
                {
                    "id": ident,
                    "name": f"Organization {i} {rng.choice(FIELDS)}",
                    "kind": rng.choice(KINDS),
                    # Parents come later in the file as often as earlier (the engine orders
                    # nothing), and higher in a shuffled ranking, so there are no cycles.
                    "parent_id": rng.choice(above[i]) if above[i] and i % 3 else None,
                    "country_code": rng.choice(["UA", "RU", "US", "TR", None]),
                    "other_names": [{"name": f"Организация {i}", "lang": "ru"}],
                }
            )
            for i, ident in enumerate(org_ids)
        ],
    )
    official_lines = []
    for ident in official_ids:
        parts = [rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))]
        given, surname = rng.choice(GIVEN), "".join(parts).capitalize()
        cyrillic = "".join(CYRILLIC[p] for p in parts).capitalize()
        official_lines.append(
            encode(
                {
                    "id": ident,
                    "name": f"{given} {surname}",
                    "other_names": [{"name": f"{given} {cyrillic}", "lang": "ru"}],
                    "nationality_id": rng.choice(org_ids),
                }
            )
        )
    write("officials", official_lines)
    write(
        "posts",
        [
            encode(
                {
                    "id": ident,
                    "title": rng.choice(TITLES).format(rng.choice(FIELDS)) + f" #{i}",
                    "organization_id": rng.choice(org_ids),
                }
            )
            for i, ident in enumerate(post_ids)
        ],
    )
    change_lines = []
    offset = 5_000_000
    for post in post_ids:
        start = date(1960 + rng.randrange(41), 1 + rng.randrange(12), 1 + rng.randrange(28))
        for holder in range(HOLDERS_PER_POST):
            official = rng.choice(official_ids)
            change = {"official_id": official, "post_id": post, "status": "effective"}
            offset += 1
            change_lines.append(
                encode(
                    {
                        "id": str(uuid7(base_ms + offset, rng)),
                        **change,
                        "kind": "appointment",
                        "effective_date": start.isoformat(),
                    }
                )
            )
            if holder < HOLDERS_PER_POST - 1:
                end = date(start.year + rng.randint(2, 6), rng.randint(1, 12), rng.randint(1, 28))
                offset += 1
                change_lines.append(
                    encode(
                        {
                            "id": str(uuid7(base_ms + offset, rng)),
                            **change,
                            "kind": "dismissal",
                            "effective_date": end.isoformat(),
                        }
                    )
                )
                start = end
    write("role-changes", change_lines)
    return counts


async def measure(server: str, database: str, files: list[Path]) -> imports.ImportReport:
    """Import ``files`` into a fresh migrated ``database`` on ``server``."""
    url = await embedded.recreate_database(server, database)
    conn = await asyncpg.connect(url)
    try:
        await migrations.migrate(conn)
        await init_connection(conn)
        sources = [
            imports.Source(
                resource=path.stem,
                lines=imports.ndjson_lines(imports.file_chunks(str(path))),
                name=str(path),
            )
            for path in files
        ]
        return await imports.run(conn, sources, tables=registry.TABLES)
    finally:
        await conn.close()


@dataclass(slots=True)
class Floor:
    """The floor's seconds: by phase, each table's ``COPY``, each index or constraint made."""

    phases: dict[str, float] = field(default_factory=dict)
    copies: dict[str, float] = field(default_factory=dict)
    builds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.phases.values())


_COLUMNS = """select attname from pg_attribute
               where attrelid = $1::regclass and attnum > 0 and not attisdropped
                 and attgenerated = '' order by attnum"""
"""A table's columns that a ``COPY`` carries (generated ones are computed as it loads)."""


async def _row_counts(conn: asyncpg.Connection[Any]) -> dict[str, int]:
    tables = await conn.fetch(
        "select relname from pg_class where relnamespace = 'public'::regnamespace "
        "and relkind = 'r' order by relname"
    )
    return {
        row["relname"]: await conn.fetchval(f'select count(*) from "{row["relname"]}"')
        for row in tables
    }


async def dump_written(url: str, fresh: dict[str, int], folder: Path) -> tuple[list[str], int]:
    """The tables an import filled (rows where a fresh database has none), each into
    ``folder/TABLE.copy`` by binary ``COPY``; and the change log's counter."""
    conn = await asyncpg.connect(url)
    try:
        written = [
            table
            for table, count in (await _row_counts(conn)).items()
            if count and not fresh[table]
        ]
        for table in written:
            columns = [r["attname"] for r in await conn.fetch(_COLUMNS, table)]
            await conn.copy_from_table(
                table, columns=columns, output=folder / f"{table}.copy", format="binary"
            )
        last_seq: int = await conn.fetchval("select last_seq from change_log")
        return written, last_seq
    finally:
        await conn.close()


async def _timed(conn: asyncpg.Connection[Any], statement: str) -> float:
    started = time.perf_counter()
    await conn.execute(statement)
    return time.perf_counter() - started


async def load_floor(
    conn: asyncpg.Connection[Any], tables: list[str], last_seq: int, folder: Path
) -> Floor:
    """Load the dumped ``tables`` into ``conn``'s fresh migrated database the most direct way
    (see the module's docstring), timed; rolled back after."""
    floor = Floor()
    transaction = conn.transaction()
    await transaction.start()
    try:
        started = time.perf_counter()
        # The import's own settings: the same memory for sorts and index builds.
        await imports._session_settings(conn)
        # Foreign keys on these tables and those that refer to them (so that the primary keys
        # they need can go too), then every other constraint with an index, then the indexes.
        keys = await conn.fetch(
            """select conrelid::regclass::text as tab, conname, pg_get_constraintdef(oid) as def
                 from pg_constraint
                where contype = 'f'
                  and (conrelid = any($1::regclass[]) or confrelid = any($1::regclass[]))
                order by oid""",
            tables,
        )
        indexed = await conn.fetch(
            """select i.indrelid::regclass::text as tab, c.conname,
                      pg_get_constraintdef(c.oid) as def,
                      i.indexrelid::regclass::text as index, pg_get_indexdef(i.indexrelid) as idef
                 from pg_index i
                 left join pg_constraint c on c.conindid = i.indexrelid
                       and c.conrelid = i.indrelid and c.contype in ('p', 'u', 'x')
                where i.indrelid = any($1::regclass[])
                order by not i.indisprimary, i.indexrelid""",
            tables,
        )
        rebuild: list[tuple[str, str]] = []
        for key in keys:
            await conn.execute(f'alter table {key["tab"]} drop constraint "{key["conname"]}"')
        for row in indexed:
            if row["conname"] is not None:
                await conn.execute(f'alter table {row["tab"]} drop constraint "{row["conname"]}"')
                rebuild.append(
                    (
                        f"{row['tab']}.{row['conname']}",
                        f'alter table {row["tab"]} add constraint "{row["conname"]}" {row["def"]}',
                    )
                )
            else:
                await conn.execute(f"drop index {row['index']}")
                rebuild.append((f"{row['tab']}.{row['index']}", row["idef"]))
        for table in tables:
            await conn.execute(f"alter table {table} disable trigger user")
        # Truncated in this transaction, a table takes COPY's FREEZE: its rows are written
        # frozen and all-visible, with nothing for a later vacuum or read to set.
        await conn.execute(f"truncate {', '.join(tables)}")
        floor.phases["drop"] = time.perf_counter() - started

        for table in tables:
            columns = [r["attname"] for r in await conn.fetch(_COLUMNS, table)]
            began = time.perf_counter()
            status = await conn.copy_to_table(
                table,
                source=folder / f"{table}.copy",
                columns=columns,
                format="binary",
                freeze=True,
            )
            floor.copies[table] = time.perf_counter() - began
            floor.rows[table] = int(status.split()[-1])
        floor.copies["change_log"] = await _timed(
            conn, f"update change_log set last_seq = {last_seq}"
        )
        floor.phases["copy"] = sum(floor.copies.values())

        for name, statement in rebuild:
            floor.builds[name] = await _timed(conn, statement)
        floor.phases["indexes"] = sum(floor.builds.values())
        began = time.perf_counter()
        for key in keys:
            name = f"{key['tab']}.{key['conname']}"
            floor.builds[name] = await _timed(
                conn, f'alter table {key["tab"]} add constraint "{key["conname"]}" {key["def"]}'
            )
        for table in tables:
            await conn.execute(f"alter table {table} enable trigger user")
        floor.phases["keys"] = time.perf_counter() - began
    finally:
        await transaction.rollback()
    return floor


async def measure_floor(server: str, database: str, source_url: str, folder: Path) -> Floor:
    """The floor of what the import wrote in ``source_url``, loaded into a fresh migrated
    ``database``."""
    url = await embedded.recreate_database(server, database)
    conn = await asyncpg.connect(url)
    try:
        await migrations.migrate(conn)
        await init_connection(conn)
        tables, last_seq = await dump_written(source_url, await _row_counts(conn), folder)
        return await load_floor(conn, tables, last_seq, folder)
    finally:
        await conn.close()


def report_lines(report: imports.ImportReport) -> list[str]:
    s = report.seconds
    rate = report.rows / s.total
    return [
        f"import rows/s: {rate:,.0f} ({report.rows:,} lines: "
        + ", ".join(f"{name} {r.created:,}" for name, r in report.resources.items())
        + f"; {s.total:.1f} s)",
        f"import phases (s): parse+validate {s.parse:.1f} (Python), copy wait {s.copy:.1f}, "
        f"checks {s.checks:.1f}, write {s.write:.1f}, history {s.history:.1f}, "
        f"indexes {s.indexes:.1f}",
    ]


def floor_lines(floor: Floor, report: imports.ImportReport) -> list[str]:
    """The floor's rate and phases, where its time went, and the import's ratio to it."""

    def listed(seconds: dict[str, float], count: int) -> str:
        top = sorted(seconds.items(), key=lambda item: -item[1])[:count]
        return ", ".join(f"{name} {value:.2f}" for name, value in top)

    by_table: dict[str, float] = {}
    for name, value in floor.builds.items():
        table = name.split(".")[0]
        by_table[table] = by_table.get(table, 0.0) + value
    return [
        f"import floor rows/s: {report.rows / floor.total:,.0f} (the same {report.rows:,} "
        f"lines' {sum(floor.rows.values()):,} rows in {len(floor.rows)} tables; "
        f"{floor.total:.1f} s)",
        "import floor phases (s): "
        + ", ".join(f"{name} {value:.2f}" for name, value in floor.phases.items()),
        f"import floor copy (s): {listed(floor.copies, 8)}",
        f"import floor builds by table (s): {listed(by_table, 8)}",
        f"import floor builds (s): {listed(floor.builds, 8)}",
        f"import ratio to floor: {floor.total / report.seconds.total:.2f}",
    ]


def run(server: str, role_changes: int) -> list[str]:
    """Generate, import, load the floor, drop: the report's lines."""
    database = f"accord_bench_import_{os.getpid()}_{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(prefix="accord-import-") as folder:
        started = time.perf_counter()
        counts = generate(Path(folder), role_changes)
        print(
            f"generated {sum(counts.values()):,} lines in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        try:
            files = sorted(Path(folder).glob("*.ndjson"))
            report = asyncio.run(measure(server, database, files))
            dumps = Path(folder) / "floor"
            dumps.mkdir()
            floor = asyncio.run(
                measure_floor(
                    server, f"{database}_floor", embedded.with_database(server, database), dumps
                )
            )
        finally:
            asyncio.run(embedded.drop_database(server, database))
            asyncio.run(embedded.drop_database(server, f"{database}_floor"))
    return report_lines(report) + floor_lines(floor, report)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="role changes to import")
    args = parser.parse_args()
    server = asyncio.run(
        embedded.find_server(os.environ.get("ACCORD_DATABASE_URL"), default_data_dir())
    )
    print("\n".join(run(server, args.rows)))


if __name__ == "__main__":
    main()
