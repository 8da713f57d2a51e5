"""The worked example of DESIGN.md as data (sql/seed/worked_example.sql), loaded once per
database and recorded in ``seeds`` as migrations are in ``schema_migrations``: ``accord serve``
(on the embedded database, or with ``--seed``) and ``accord seed`` load it only where it never
was, so a record a user has deleted or changed stays as the user left it. On request
(``accord seed --restore-missing``) the example's records that are missing come back, with
what they own; records that exist are never touched."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from service.core.database import AnyConnection, Connection
from service.core.tables import Table
from service.paths import SQL_DIR
from service.resources.registry import TABLES

NAME = "worked_example"
SEED_FILE = SQL_DIR / "seed" / "worked_example.sql"
_LOCK_KEY = 0x73656564  # "seed": concurrent starts load the example once

RECORDS: tuple[Table[Any, Any], ...] = tuple(TABLES.values())
"""The tables of the example's records, in an order each can be filled after those it refers
to."""
OWNED: dict[str, str] = {
    **{link.table: link.parent for table in RECORDS for link in table.links},
    # A memorandum's versions are a sub-collection of their own, not a list in the record.
    "memorandum_versions": "memorandum_id",
}
"""The tables of rows a record owns (its lists, citations, versions): table → the column
naming the record."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """The example on one database."""

    at: datetime
    """When it was loaded."""
    now: bool
    """Loaded by this call (else it already was)."""
    changed: bool
    """The file differs from the one loaded then."""


def _checksum() -> str:
    return hashlib.sha256(SEED_FILE.read_bytes()).hexdigest()


async def load(conn: AnyConnection) -> Loaded:
    """Load the example unless this database has had it; either way, when it was loaded."""
    checksum = _checksum()
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock($1)", _LOCK_KEY)
        row = await conn.fetchrow("select checksum, loaded_at from seeds where name = $1", NAME)
        if row is not None:
            changed = row["checksum"] is not None and row["checksum"] != checksum
            return Loaded(row["loaded_at"], now=False, changed=changed)
        await conn.execute(SEED_FILE.read_text(encoding="utf-8"))
        at = await conn.fetchval(
            "insert into seeds (name, checksum) values ($1, $2) returning loaded_at",
            NAME,
            checksum,
        )
    return Loaded(at, now=True, changed=False)


async def _stage(conn: AnyConnection) -> dict[str, str]:
    """Fill temporary tables ``seed_<table>``, each like the table it stands for, with the
    example as the file has it, for comparing with what is stored (inside a transaction; they
    go at its end). Returns each table's qualified name."""
    tables = [table.table for table in RECORDS] + list(OWNED)
    rows = await conn.fetch(
        "select t, format('%I.%I', n.nspname, c.relname) as qualified "
        "from unnest($1::text[]) t join pg_class c on c.oid = to_regclass(t) "
        "join pg_namespace n on n.oid = c.relnamespace",
        tables,
    )
    qualified: dict[str, str] = {row["t"]: row["qualified"] for row in rows}
    for table in tables:
        await conn.execute(
            f"create temp table {table} (like {qualified[table]} including defaults "
            "including indexes) on commit drop"
        )
        # The table's triggers are not copied, so what they fill (a delegation member's
        # period) stays null here, and is filled when the rows reach the table itself.
        filled_later = await conn.fetch(
            "select quote_ident(a.attname) as name from pg_attribute a "
            "where a.attrelid = to_regclass('pg_temp.' || $1) and a.attnum > 0 "
            "and a.attnotnull and not a.attisdropped and not exists (select from pg_index i "
            "where i.indrelid = a.attrelid and i.indisprimary and a.attnum = any(i.indkey))",
            table,
        )
        if filled_later:
            drops = ", ".join(f"alter column {row['name']} drop not null" for row in filled_later)
            await conn.execute(f"alter table pg_temp.{table} {drops}")
    # With only the temporary tables on the path, a table the file writes that is not staged
    # here fails the load instead of being written (so the file calls no function of ours:
    # those are off the path too).
    path = await conn.fetchval("select current_setting('search_path')")
    await conn.execute("select set_config('search_path', 'pg_temp', true)")
    await conn.execute(SEED_FILE.read_text(encoding="utf-8"))
    await conn.execute("select set_config('search_path', $1, true)", path)
    # Renamed, so that nothing else (the triggers' queries) finds them in place of the tables.
    for table in tables:
        await conn.execute(f"alter table pg_temp.{table} rename to seed_{table}")
    return qualified


async def _columns(conn: AnyConnection, qualified: str) -> list[str]:
    """The columns of a table a row is inserted with (not the generated ones)."""
    names: list[str] = await conn.fetchval(
        "select array_agg(quote_ident(attname) order by attnum) from pg_attribute "
        "where attrelid = to_regclass($1) and attnum > 0 and not attisdropped "
        "and attgenerated = ''",
        qualified,
    )
    return names


_MISSING = "not exists (select from {0} r where r.id = s.id)"


async def missing(conn: AnyConnection) -> list[tuple[str, UUID]]:
    """The example's records this database lacks (deleted since, or new in the file): their
    labels and ids. Changes nothing."""
    found: list[tuple[str, UUID]] = []
    async with conn.transaction():
        qualified = await _stage(conn)
        for table in RECORDS:
            rows = await conn.fetch(
                f"select s.id from pg_temp.seed_{table.table} s "  # noqa: S608
                f"where {_MISSING.format(qualified[table.table])} order by s.id"
            )
            found += [(table.label, row["id"]) for row in rows]
    return found


async def restore_missing(conn: Connection) -> list[tuple[str, UUID]]:
    """Put back the example's records this database lacks, each with the rows it owns, and
    a ``create`` (by no API key) in its history, continuing its version numbers; a record
    that exists is left as it is, and so is all it owns. The labels and ids restored."""
    restored: list[tuple[str, UUID]] = []
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock($1)", _LOCK_KEY)
        qualified = await _stage(conn)
        for table in RECORDS:
            target = qualified[table.table]
            columns = await _columns(conn, target)
            # The version goes on from the one the history last saw, so an ETag read before
            # the delete cannot match the record put back.
            values = [
                "coalesce((select max(h.version) from history h where h.record_id = s.id), 0) + 1"
                if column == "version"
                else f"s.{column}"
                for column in columns
            ]
            rows = await conn.fetch(
                f"insert into {target} ({', '.join(columns)}) "  # noqa: S608
                f"select {', '.join(values)} from pg_temp.seed_{table.table} s "
                f"where {_MISSING.format(target)} order by s.id returning id"
            )
            restored += [(table.label, row["id"]) for row in rows]
        ids = [ident for _, ident in restored]
        for owned, parent in OWNED.items():
            names = ", ".join(await _columns(conn, qualified[owned]))
            await conn.execute(
                f"insert into {qualified[owned]} ({names}) "  # noqa: S608
                f"select {names} from pg_temp.seed_{owned} where {parent} = any($1::uuid[])",
                ids,
            )
        by_label = {table.label: table for table in RECORDS}
        for label, ident in restored:
            await by_label[label].restored(conn, ident)
    return restored
