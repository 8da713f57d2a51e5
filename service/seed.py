"""The worked example of DESIGN.md as data: loaded by ``accord seed`` and by ``accord serve``
on the embedded database. Idempotent."""

from __future__ import annotations

import asyncpg

from service.paths import SQL_DIR

SEED_FILE = SQL_DIR / "seed" / "worked_example.sql"


async def load(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    async with conn.transaction():
        await conn.execute(SEED_FILE.read_text(encoding="utf-8"))
