"""Forward-only migrations: ``sql/migrations/NNNN_name.sql``, applied in order, each in its
own transaction under an advisory lock so concurrent runs queue instead of racing.
Each applied file's SHA-256 is recorded; an applied file that has since changed is refused."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import asyncpg

from service.paths import SQL_DIR

MIGRATIONS_DIR = SQL_DIR / "migrations"
_LOCK_KEY = 0x6163636F7264  # "accord"
log = logging.getLogger("accord.migrations")
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True, slots=True)
class MigrationState:
    migration: Migration
    status: Literal["applied", "pending", "changed"]


def discover() -> list[Migration]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a number")
    return found


_BOOKKEEPING = """
create table if not exists schema_migrations (
    version integer primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
)
"""


async def _applied(conn: asyncpg.Connection[asyncpg.Record]) -> dict[int, str]:
    exists = await conn.fetchval("select to_regclass('schema_migrations') is not null")
    if not exists:
        return {}
    rows = await conn.fetch("select version, checksum from schema_migrations")
    return {row["version"]: row["checksum"] for row in rows}


async def status(conn: asyncpg.Connection[asyncpg.Record]) -> list[MigrationState]:
    applied = await _applied(conn)
    states = []
    for migration in discover():
        recorded = applied.get(migration.version)
        if recorded is None:
            states.append(MigrationState(migration, "pending"))
        elif recorded != migration.checksum:
            states.append(MigrationState(migration, "changed"))
        else:
            states.append(MigrationState(migration, "applied"))
    return states


async def migrate(
    conn: asyncpg.Connection[asyncpg.Record], through: int | None = None
) -> list[Migration]:
    """Apply every pending migration (up to version ``through``, when given); returns those
    applied by this call.

    Each migration runs in its own transaction holding a transaction-level advisory lock, and
    re-reads what is applied once it holds the lock: concurrent runs queue and then find
    nothing left to do, and the lock cannot outlive its transaction even behind a pooler."""
    done: list[Migration] = []
    while True:
        async with conn.transaction():
            await conn.execute("select pg_advisory_xact_lock($1)", _LOCK_KEY)
            await conn.execute(_BOOKKEEPING)
            states = await status(conn)
            changed = [state for state in states if state.status == "changed"]
            if changed:
                raise MigrationError(
                    f"{changed[0].migration.path.name} was edited after it was applied; "
                    "migrations are forward-only: add a new file instead"
                )
            pending = [
                state.migration
                for state in states
                if state.status == "pending"
                and (through is None or state.migration.version <= through)
            ]
            if not pending:
                return done
            migration = pending[0]
            await conn.execute(migration.sql)
            await conn.execute(
                "insert into schema_migrations (version, name, checksum) values ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
        log.info("migration applied", extra={"migration": migration.path.name})
        done.append(migration)
