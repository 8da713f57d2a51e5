"""``.venv/bin/python -m bench.imports [--rows 1000000]``

What an import costs: NDJSON files of ``--rows`` role changes with their officials, posts and
organizations (each post held in turn by four officials, as bench/data.py makes them; ids
given, as an export has them), imported in one transaction by the import engine — validation,
staging, checks, writes with their triggers and indexes, history rows — into a fresh migrated
database. Prints ``import rows/s`` (all lines, every resource) and each phase's seconds, so the
slowest is visible: ``parse`` is Python's part (decoding, validating, the rules of ``params``),
the rest PostgreSQL's. Figures only: nothing here asserts a speed."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

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


def run(server: str, role_changes: int) -> list[str]:
    """Generate, import, drop: the report's lines."""
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
        finally:
            asyncio.run(embedded.drop_database(server, database))
    return report_lines(report)


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
