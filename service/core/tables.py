"""The one way a resource's table is read and written. A resource declares its columns and how
its create struct becomes SQL parameters; everything else (404, If-Match, merge patch,
version and timestamps) happens here, the same for every resource."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar
from uuid import UUID

import asyncpg
import msgspec
from litestar import Response

from service.core.database import Connection, Pool
from service.core.problems import not_found
from service.core.records import check_if_match, etag, fresh, patched
from service.core.responses import Encoded

NAME_MATCHES = "(search_names like accord_contains({0}) or accord_fold({0}) <% search_names)"
"""Filter on a table's ``search_names`` (all names, folded): a substring of any name, or a
name close enough to it by trigram word similarity (``Medinskiy`` finds ``Medinsky``)."""

R = TypeVar("R", bound=msgspec.Struct)
C = TypeVar("C", bound=msgspec.Struct)


def row_to(struct: type[R]) -> Callable[[asyncpg.Record], R]:
    """Row → struct, by column name; columns the struct lacks (sort keys) are ignored."""

    def make(row: asyncpg.Record) -> R:
        return msgspec.convert(dict(row.items()), struct)

    return make


class Table(Generic[R, C]):
    """A resource's table: ``columns`` is the select list (plain column names or expressions
    with aliases, valid both after ``select`` and after ``returning``); ``writes`` are the
    columns ``params`` fills, in order, from a create struct."""

    def __init__(
        self,
        *,
        table: str,
        label: str,
        columns: str,
        record: type[R],
        create: type[C],
        writes: Sequence[str],
        params: Callable[[C], Sequence[Any]],
    ) -> None:
        self.table = table
        self.label = label
        self.record = record
        self.create = create
        self.params = params
        self.make = row_to(record)
        self.select = f"select {columns} from {table}"
        self.get_sql = f"{self.select} where id = $1"
        self.lock_sql = f"{self.select} where id = $1 for update"
        placeholders = ", ".join(f"${i}" for i in range(1, len(writes) + 1))
        self.insert_sql = (
            f"insert into {table} ({', '.join(writes)}) values ({placeholders}) returning {columns}"
        )
        assignments = ", ".join(f"{col} = ${i}" for i, col in enumerate(writes, start=2))
        self.update_sql = (
            f"update {table} set {assignments}, version = version + 1, updated_at = now() "
            f"where id = $1 returning {columns}"
        )
        self._delete = f"delete from {table} where id = $1"

    async def read(self, pool: Pool, ident: UUID, if_none_match: str | None) -> Response[R]:
        """GET one record: 404, 304 while the client's ETag is current (decided on the row's
        version, before any struct is built or encoded), else the record with its ETag."""
        row = await pool.fetchrow(self.get_sql, ident)
        if row is None:
            raise not_found(self.label, ident)
        version: int = row["version"]
        if fresh(if_none_match, version):
            return Encoded(None, status_code=304, headers={"ETag": etag(version)})
        return Encoded(self.make(row), headers={"ETag": etag(version)})

    async def exists(self, pool: Pool, ident: UUID) -> bool:
        found = await pool.fetchval(
            f"select exists (select from {self.table} where id = $1)", ident
        )
        return bool(found)

    async def insert(self, conn: Connection, data: C) -> R:
        row = await conn.fetchrow(self.insert_sql, *self.params(data))
        assert row is not None
        return self.make(row)

    async def update(
        self, conn: Connection, ident: UUID, patch: msgspec.Struct, if_match: str | None
    ) -> R:
        row = await conn.fetchrow(self.lock_sql, ident)
        if row is None:
            raise not_found(self.label, ident)
        current = self.make(row)
        check_if_match(if_match, getattr(current, "version"))  # noqa: B009
        data = patched(current, patch, self.create)
        row = await conn.fetchrow(self.update_sql, ident, *self.params(data))
        assert row is not None
        return self.make(row)

    async def delete(self, conn: Connection, ident: UUID, if_match: str | None) -> None:
        version = await conn.fetchval(
            f"select version from {self.table} where id = $1 for update", ident
        )
        if version is None:
            raise not_found(self.label, ident)
        check_if_match(if_match, version)
        await conn.execute(self._delete, ident)
