"""The one way a resource's table is read and written. A resource declares its columns and how
its create struct becomes SQL parameters; everything else (404, If-Match, merge patch, version
and timestamps, lists kept as rows, citations, `disputed`, history) happens here, the same for
every resource."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import asyncpg
import msgspec
from litestar import Request, Response

from service.core import history
from service.core.database import Connection, Pool
from service.core.pagination import Listing, Page, SortKey
from service.core.problems import FieldError, ProblemError, not_found
from service.core.records import check_if_match, etag, fresh, patched
from service.core.rendered import RowTo
from service.core.replica import read_pool
from service.core.responses import Encoded

NAME_MATCHES = "(search_names like accord_contains({0}) or accord_fold({0}) <% search_names)"
"""Filter on a table's ``search_names`` (all names, folded): a substring of any name, or a
name close enough to it by trigram word similarity (``Medinskiy`` finds ``Medinsky``)."""

TITLE_MATCHES = (
    "(accord_fold(title) like accord_contains({0}) or accord_fold({0}) <% accord_fold(title))"
)
"""Filter on a ``title`` column: a substring or a close spelling, ignoring case and accents
(backed by a trigram index on ``accord_fold(title)``)."""

R = TypeVar("R", bound=msgspec.Struct)
C = TypeVar("C", bound=msgspec.Struct)
P = TypeVar("P", bound=Page[Any])


def row_to(struct: type[R]) -> RowTo[R]:
    """Row → struct, by column name; columns the struct lacks (sort keys) are ignored. A
    listing whose rows are made so has PostgreSQL render its pages (``core.rendered``)."""
    return RowTo(struct)


@dataclass(frozen=True, slots=True)
class Link:
    """A list inside a record (a negotiation's parties, a delegation's members) kept as rows of
    a table of its own, so PostgreSQL checks every reference in it. The rows belong to the
    record: written with it, replaced whole when it changes, deleted with it; ``position``
    keeps the client's order."""

    field: str
    """The list's name in the record struct."""
    table: str
    parent: str
    """The column naming the record the row belongs to."""
    columns: tuple[tuple[str, str], ...]
    """(column, SQL type) filled from each element, in order."""
    item: str
    """SQL for one element of the list as read back, over the link table aliased ``l``."""
    row: Callable[[Any], Sequence[Any]] | None = None
    """Element → column values; by default the element itself (one column) or its
    attributes named like the columns."""

    @classmethod
    def of_ids(cls, field: str, table: str, parent: str, column: str) -> Link:
        """A list of ids of other records (a negotiation's parties)."""
        return cls(
            field=field, table=table, parent=parent, columns=((column, "uuid"),), item=f"l.{column}"
        )

    def values(self, element: Any) -> Sequence[Any]:
        if self.row is not None:
            return self.row(element)
        if len(self.columns) == 1:
            return (element,)
        return tuple(getattr(element, name) for name, _ in self.columns)

    def read_sql(self, owner: str) -> str:
        return (
            f"coalesce((select jsonb_agg({self.item} order by l.position) from {self.table} l "
            f"where l.{self.parent} = {owner}.id), '[]'::jsonb) as {self.field}"
        )

    def insert_sql(self) -> str:
        names = ", ".join(name for name, _ in self.columns)
        arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(self.columns, 2))
        return (
            f"insert into {self.table} ({self.parent}, position, {names}) "
            f"select $1, u.position, {', '.join(f'u.{n}' for n, _ in self.columns)} "
            f"from unnest({arrays}) with ordinality as u({names}, position)"
        )


@dataclass(frozen=True, slots=True)
class Embed:
    """Records of another table that a read embeds on request (``?include=``): those whose
    ``column`` names the record, in ``order``, fetched in one query."""

    field: str
    """The field of the record struct that holds them (unset unless asked for)."""
    table: Table[Any, Any]
    column: str
    order: str

    @property
    def sql(self) -> str:
        return f"{self.table.select} where {self.column} = $1 order by {self.order}"


CITATIONS = Link(
    field="citations",
    table="citations",
    parent="record_id",
    columns=(("source_id", "uuid"), ("quote", "text"), ("locator", "text")),
    item="jsonb_build_object('source_id', l.source_id, 'quote', l.quote, 'locator', l.locator)",
)
"""The sources every record cites: one table for all resources, keyed by the record's id."""

# Written out rather than called as a SQL function: PostgreSQL cannot inline a function with a
# subquery, and the call cost more than the rest of a read by id (bench/RESULTS.md).
_DISPUTED = (
    "exists (select from claims a join claims d on d.subject_id = a.subject_id "
    "and d.predicate = a.predicate and d.object_key = a.object_key and d.stance = 'denies' "
    "where a.subject_id = {0}.id and a.stance = 'affirms')"
)
"""A record is disputed while one claim affirms and another denies the same predicate and
object about it."""
_DISPUTED_IDS = (
    "(select a.subject_id from claims a join claims d on d.subject_id = a.subject_id "
    "and d.predicate = a.predicate and d.object_key = a.object_key and d.stance = 'denies' "
    "where a.stance = 'affirms')"
)
RECORD_FILTERS = {
    "updated_since": "updated_at >= {0}",
    "disputed": f"id in {_DISPUTED_IDS}",
    "undisputed": f"id not in {_DISPUTED_IDS}",
}
"""Filters every collection of records offers (see ``record_filters``)."""


def record_filters(updated_since: str | None, disputed: bool | None) -> dict[str, Any]:
    """The values of the filters every collection offers, for ``Listing.where``."""
    since = None
    if updated_since is not None:
        try:
            since = datetime.fromisoformat(updated_since)
        except ValueError:
            raise ProblemError(
                422,
                "invalid-date",
                f"{updated_since!r} is not an instant in the calendar.",
                errors=[
                    FieldError(message="not a valid instant", field="updated_since", source="query")
                ],
            ) from None
    return {
        "updated_since": since,
        "disputed": disputed is True,
        "undisputed": disputed is False,
    }


class Table(Generic[R, C]):
    """A resource's table: ``columns`` is the select list of its own columns (plain names or
    expressions with aliases); ``writes`` are the columns ``params`` fills, in order, from a
    create struct; ``links`` are its lists kept in tables of their own; ``derived`` are
    read-only values computed from other records (name → SQL expression), which count in the
    ETag since the record's version does not follow them. Every record also has its
    ``citations`` (unless ``cited`` is false) and ``disputed``, derived from claims."""

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
        links: Sequence[Link] = (),
        derived: Mapping[str, str] | None = None,
        cited: bool = True,
    ) -> None:
        self.table = table
        self.key: tuple[str, ...] = ("id",)
        """The columns that name a record: its primary key, the order of its exports."""
        self.label = label
        self.kind = label.replace(" ", "_")
        """The record kind, as the registry and the history name it (`role_change`)."""
        self.a_label = f"{'an' if label[0] in 'aeiou' else 'a'} {label}"
        """The label with its indefinite article, for the contract's summaries ("an
        organization", "a role change"): every label starts as it sounds."""
        self.record = record
        self.create = create
        self.params = params
        self.links = (*links, CITATIONS) if cited else tuple(links)
        derived = {**(derived or {}), "disputed": _DISPUTED.format(table)}
        self.derived = tuple(derived)
        self.make = row_to(record)
        select_list = ", ".join(
            [
                columns,
                *(link.read_sql(table) for link in self.links),
                *(f"{expr} as {name}" for name, expr in derived.items()),
            ]
        )
        self.select = f"select {select_list} from {table}"
        self.get_sql = f"{self.select} where id = $1"
        self.many_sql = f"{self.select} where id = any($1::uuid[])"
        # What an ETag is made of, alone: enough to answer a conditional read with a 304.
        tag_list = ", ".join(["version", *(f"{expr} as {name}" for name, expr in derived.items())])
        self.tag_sql = f"select {tag_list} from {table} where id = $1"
        self.lock_sql = f"{self.select} where id = $1 for update of {table}"
        # A write returns the whole record in the same statement; only when it also writes
        # lists is the record read again, since the statement cannot see those rows.
        placeholders = ", ".join(f"${i}" for i in range(1, len(writes) + 1))
        self.insert_sql = (
            f"insert into {table} ({', '.join(writes)}) values ({placeholders}) "
            f"returning {select_list}"
        )
        assignments = ", ".join(f"{col} = ${i}" for i, col in enumerate(writes, start=2))
        self.update_sql = (
            f"update {table} set {assignments}, version = version + 1, updated_at = now() "
            f"where id = $1 returning {select_list}"
        )
        self._delete = f"delete from {table} where id = $1"

    def listing(
        self,
        page_type: type[P],
        *,
        name: str,
        sorts: dict[str, SortKey],
        filters: Mapping[str, str],
        default_sort: str = "id",
    ) -> Listing[P]:
        """The collection of this table's records, with the filters every collection has."""
        return Listing(
            page_type=page_type,
            name=name,
            select=self.select,
            sorts=sorts,
            default_sort=default_sort,
            make=self.make,
            filters={**filters, **RECORD_FILTERS},
        )

    def tag(self, row: asyncpg.Record) -> str:
        """The ETag of a row as read: its version, plus a checksum of its derived values."""
        derived = msgspec.json.encode([row[name] for name in self.derived])
        return etag(row["version"], zlib.crc32(derived))

    async def read(
        self,
        pool: Pool,
        ident: UUID,
        if_none_match: str | None,
        embeds: Sequence[Embed] = (),
    ) -> Encoded[R]:
        """GET one record: 404, 304 while the client's ETag is current, else the record with
        its ETag. Everything a read asks runs on one connection: with replicas behind one
        service name, its queries could otherwise reach servers at different positions. Each
        embed adds one query for all its records; their ETags count in the record's. A
        conditional read of a record alone first reads only what its ETag is made of
        (`tag_sql`), so a 304 costs PostgreSQL less than a read; a stale tag then costs a
        second query. (One statement for both, its JSON left NULL by a CASE when the tag is
        current, took PostgreSQL 61 µs for a 304 against `tag_sql`'s 16 µs: the executor
        sets up the whole rendering either way.) The record's JSON is msgspec's, not
        PostgreSQL's as a page's items are (``core.rendered``): rendering one record cost
        PostgreSQL 0.11 ms more CPU a read than it saved Python (`bench.cpu`: 0.18 against
        0.07 ms, the worker's 0.177 against 0.187), where a page's fifty items save the
        single worker more than they cost the server."""
        if if_none_match is None and not embeds:  # the plain read: one statement
            row = await pool.fetchrow(self.get_sql, ident)
            if row is None:
                raise not_found(self.label, ident)
            return Encoded.tagged(self.make.unchecked(row), self.tag(row))
        async with pool.acquire() as conn:
            if not embeds:
                current = await conn.fetchrow(self.tag_sql, ident)
                if current is None:
                    raise not_found(self.label, ident)
                tag = self.tag(current)
                if fresh(if_none_match, tag):
                    return Encoded(None, status_code=304, headers={"ETag": tag})
            row = await self.fetch(conn, ident)
            embedded = [(embed, await conn.fetch(embed.sql, ident)) for embed in embeds]
        return self._answer(row, embedded, if_none_match)

    def _answer(
        self,
        row: asyncpg.Record,
        embedded: list[tuple[Embed, list[asyncpg.Record]]],
        if_none_match: str | None,
    ) -> Encoded[R]:
        """A read's answer: 304 while the client's copy is current, else the record (with its
        embeds), encoded by msgspec."""
        tag = self.tag(row)
        if embedded:
            tags = [tag, *([embed.table.tag(r) for r in rows] for embed, rows in embedded)]
            tag = etag(row["version"], zlib.crc32(msgspec.json.encode(tags)))
        if fresh(if_none_match, tag):
            return Encoded(None, status_code=304, headers={"ETag": tag})
        # Only to be encoded: the record's twin without the constraints its writes checked.
        item = self.make.unchecked(row)
        if embedded:
            parts = {
                embed.field: [embed.table.make.unchecked(r) for r in rows]
                for embed, rows in embedded
            }
            item = msgspec.structs.replace(item, **parts)
        return Encoded.tagged(item, tag)

    async def fetch(self, pool: Pool | Connection, ident: UUID) -> asyncpg.Record:
        row = await pool.fetchrow(self.get_sql, ident)
        if row is None:
            raise not_found(self.label, ident)
        return row

    async def exists(self, pool: Pool, ident: UUID) -> bool:
        found = await pool.fetchval(
            f"select exists (select from {self.table} where id = $1)", ident
        )
        return bool(found)

    async def insert(self, conn: Connection, data: C, actor: UUID | None) -> tuple[R, str]:
        """Insert a record, its lists and its history; the record as stored, with its ETag.
        ``actor`` is the API key writing."""
        row = await conn.fetchrow(self.insert_sql, *self.params(data))
        assert row is not None
        written = [link for link in self.links if getattr(data, link.field)]
        if written:
            await self._write_links(conn, row["id"], data, written, replace=False)
            row = await self.fetch(conn, row["id"])
        item = self.make(row)
        await self._history(conn, row, "create", None, item, actor)
        return item, self.tag(row)

    async def update(
        self,
        conn: Connection,
        ident: UUID,
        patch: msgspec.Struct,
        if_match: str | None,
        actor: UUID | None,
    ) -> tuple[R, str]:
        """Apply a merge patch under a row lock, with its history; the record as stored, with
        its ETag. Lists the patch leaves as they were are not rewritten."""
        row = await conn.fetchrow(self.lock_sql, ident)
        if row is None:
            raise not_found(self.label, ident)
        check_if_match(if_match, row["version"])
        current = self.make(row)
        data = patched(current, patch, self.create)
        row = await conn.fetchrow(self.update_sql, ident, *self.params(data))
        assert row is not None
        changed = [
            link for link in self.links if getattr(data, link.field) != getattr(current, link.field)
        ]
        if changed:
            await self._write_links(conn, ident, data, changed, replace=True)
            row = await self.fetch(conn, ident)
        item = self.make(row)
        await self._history(conn, row, "update", current, item, actor)
        return item, self.tag(row)

    async def restored(self, conn: Connection, ident: UUID) -> None:
        """Record in its history the return of a record that SQL put back (a deleted record
        of the worked example): a ``create`` by no API key."""
        row = await self.fetch(conn, ident)
        await self._history(conn, row, "create", None, self.make(row), None)

    async def _history(
        self,
        conn: Connection,
        row: asyncpg.Record,
        operation: history.Operation,
        before: R | None,
        after: R | None,
        actor: UUID | None,
    ) -> None:
        await history.write(
            conn,
            kind=self.kind,
            record_id=row["id"],
            operation=operation,
            version=row["version"],
            changes=history.changes_between(self.create.__struct_fields__, before, after),
            actor=actor,
        )

    async def _write_links(
        self, conn: Connection, ident: UUID, data: C, links: Sequence[Link], *, replace: bool
    ) -> None:
        for link in links:
            if replace:
                await conn.execute(f"delete from {link.table} where {link.parent} = $1", ident)
            elements = getattr(data, link.field)
            if elements:
                rows = [link.values(element) for element in elements]
                columns = [list(column) for column in zip(*rows, strict=True)]
                await conn.execute(link.insert_sql(), ident, *columns)

    async def delete(
        self, conn: Connection, ident: UUID, if_match: str | None, actor: UUID | None
    ) -> None:
        row = await conn.fetchrow(self.lock_sql, ident)
        if row is None:
            raise not_found(self.label, ident)
        check_if_match(if_match, row["version"])
        await conn.execute(self._delete, ident)
        await self._history(conn, row, "delete", self.make(row), None, actor)


@dataclass(frozen=True, slots=True)
class Appended(Generic[R]):
    """Rows that belong to a record and are only ever added, never changed or removed on
    their own (a memorandum's versions): named by their record and a number (``key``), read as
    ``record`` structs. Exports and imports carry them like records — a line is what a GET of
    one returns — and adding some counts, in the history and the change log, as an update of
    the record they belong to (its ``owner``), whose version does not move."""

    table: str
    label: str
    owner: Table[Any, Any]
    key: tuple[str, str]
    """(the column naming the record they belong to, the number among its rows)."""
    record: type[R]
    create: type[msgspec.Struct]
    """A line of an import: the record's fields, validated as the API validates an addition,
    unknown fields refused; what the API sets alone (``created_at``) may be left out."""
    select: str
    """``select ... from ...``, the columns as ``record`` has them."""
    writes: tuple[str, ...]
    """The table's columns an import fills, in the order ``params`` gives their values."""
    params: Callable[[Any], Sequence[Any]]
    """A line (``create``) → the values of ``writes``; raises ``ProblemError`` as the API
    would."""
    latest: str
    """The owner's derived field that names its newest row (``latest_version``)."""
    links: tuple[Link, ...] = ()

    @property
    def kind(self) -> str:
        """What the history records an addition as: a change of the owner."""
        return self.owner.kind

    @property
    def make(self) -> Callable[[asyncpg.Record], R]:
        return row_to(self.record)


Bulk = Table[Any, Any] | Appended[Any]
"""What the exports and the import carry: records, and rows only ever added to a record."""


async def page_of_existing(
    request: Request[Any, Any, Any],
    listing: Listing[P],
    filters: Sequence[tuple[str, Any]],
    parent: Table[Any, Any],
    parent_id: UUID,
    *,
    limit: int,
    cursor: str | None,
) -> Response[P]:
    """A page of a record's sub-collection (a post's holders, a memorandum's versions); 404,
    not an empty page, when the record itself does not exist (``Listing.page_of_found``)."""

    async def exists() -> bool:
        return await parent.exists(await read_pool(request.scope), parent_id)

    return await listing.page_of_found(
        request,
        filters,
        exists=exists,
        missing=lambda: not_found(parent.label, parent_id),
        limit=limit,
        cursor=cursor,
    )
