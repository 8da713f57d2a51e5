"""What PostgreSQL's catalog says of a table's constraints: the one place the import's checks
(foreign keys, CHECK and unique constraints run over staged lines) and the Data Package's
foreign keys read them from, so neither keeps a hand-written list that could drift from the
migrations."""

from __future__ import annotations

import asyncpg

from service.core.database import AnyConnection

_CONSTRAINTS = """
select c.conname, c.contype::text, pg_get_constraintdef(c.oid) as def,
       c.confrelid::regclass::text as target,
       array(select a.attname from unnest(c.conkey) with ordinality k(n, i)
               join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n
              order by k.i) as cols,
       array(select a.attname from unnest(c.confkey) with ordinality k(n, i)
               join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n
              order by k.i) as refcols
  from pg_constraint c where c.conrelid = $1::regclass
 order by c.conname"""


async def constraints(conn: AnyConnection, table: str) -> list[asyncpg.Record]:
    """Every constraint of ``table``, by name: ``conname``, ``contype`` (``f`` foreign key,
    ``c`` check, ``u`` unique, ``p`` primary key, ``x`` exclusion), ``def`` (its definition as
    SQL), ``cols`` (its columns in order) and, for a foreign key, ``target`` (the table
    referred to) and ``refcols`` (the columns referred to, in the same order)."""
    return await conn.fetch(_CONSTRAINTS, table)
