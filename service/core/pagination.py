"""Cursor (keyset) pagination shared by every collection.

A page is one SQL statement: the resource's filters, then ``(sort key, id) > (cursor values)``,
ordered by the same key, ``limit + 1`` rows to learn whether another page exists. The cursor is
the last row's key, signed so a client cannot forge one (a bad cursor is a 400).

Asked for ``application/x-ndjson`` or ``text/csv`` (``Accept``), a collection answers with
every matching row instead, in the same order and with the same filters, streamed from a
server-side cursor (``service.core.bulk``): ``limit`` does not apply, and ``cursor`` starts the
export after the page it came from."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Generic, TypeVar, Union
from urllib.parse import urlencode
from uuid import UUID

import asyncpg
import msgspec
from litestar import Request, Response, get
from litestar.datastructures import ResponseHeader
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.params import QueryParameter
from litestar.types import ASGIApp, Receive, Scope, Send

from service.core import bulk, rendered
from service.core.database import AnyConnection
from service.core.problems import FieldError, ProblemError, problem_responses
from service.core.replica import read_pool
from service.core.responses import Encoded

T = TypeVar("T")
P = TypeVar("P", bound="Page[Any]")

Limit = Annotated[
    int,
    QueryParameter(
        ge=1,
        le=200,
        description="Items per page (1–200). Not applied to an NDJSON or CSV export "
        "(`Accept: application/x-ndjson` or `text/csv`), which has every matching item.",
    ),
]
CursorParam = Annotated[
    str | None,
    QueryParameter(
        max_length=1024,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Opaque cursor from a previous page's `next_cursor`; omit for page 1. "
        "Pass it back unchanged with the same `sort`: a cursor this listing did not issue "
        "(altered, from another collection or another `sort`) is a 400 `invalid-cursor`. "
        "An NDJSON or CSV export given a cursor has the items after that page: the rest of "
        "the collection.",
    ),
]


LINK_HEADER = ResponseHeader(
    name="Link",
    description='`<URL of the next page>; rel="next"` while there is one.',
    required=False,
    documentation_only=True,
)


SEQ_HEADER = ResponseHeader(
    name="Accord-Seq",
    description="The change log's position this response is consistent with: every change up "
    "to it is reflected. Follow `/v1/changes?since=` from the first page's to keep a copy.",
    required=True,
    documentation_only=True,
)
PAGE_HEADERS = [LINK_HEADER, SEQ_HEADER]
"""What every page of a collection carries."""

_LAST_SEQ = "select last_seq from change_log"


class Page(msgspec.Struct, Generic[T]):
    """One page of a collection; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[T]
    next_cursor: str | None


class CursorCodec:
    """Signs and checks cursors with the service's secret; ``scope`` binds a cursor to the
    listing (resource and sort) it came from."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, scope: str, payload: bytes) -> bytes:
        return hmac.new(self._secret, scope.encode() + b"\0" + payload, hashlib.sha256).digest()[
            :16
        ]

    def encode(self, scope: str, values: Sequence[Any]) -> str:
        payload = msgspec.json.encode(values)
        token = payload + self._mac(scope, payload)
        return base64.urlsafe_b64encode(token).rstrip(b"=").decode()

    def decode(self, scope: str, cursor: str, types: tuple[type, ...]) -> tuple[Any, ...]:
        try:
            token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except ValueError:
            raise _bad_cursor() from None
        payload, mac = token[:-16], token[-16:]
        if len(token) <= 16 or not hmac.compare_digest(mac, self._mac(scope, payload)):
            raise _bad_cursor()
        try:
            return msgspec.json.decode(payload, type=tuple[types])  # type: ignore[valid-type]
        except msgspec.DecodeError:
            raise _bad_cursor() from None


def _bad_cursor() -> ProblemError:
    return ProblemError(
        400,
        "invalid-cursor",
        "The cursor is not one this listing issued; start again without it.",
        errors=[FieldError(message="invalid cursor", field="cursor", source="query")],
    )


@dataclass(frozen=True, slots=True)
class SortKey:
    """An ordering a listing offers: SQL expressions with their output column names and types,
    always ending with the unique id so the order is total."""

    columns: tuple[tuple[str, str, type], ...]
    """(SQL expression, column name in the row, Python type) for each part of the key."""
    descending: bool = False


def standard_sorts(*keys: tuple[str, type]) -> dict[str, SortKey]:
    """``id`` (creation order) plus, for each ``(column, type)``, ascending and ``-``
    descending orders by that column with the id as tie-breaker."""
    sorts = {"id": SortKey((("id", "id", UUID),))}
    for column, kind in keys:
        columns = ((column, column, kind), ("id", "id", UUID))
        sorts[column] = SortKey(columns)
        sorts[f"-{column}"] = SortKey(columns, descending=True)
    return sorts


@dataclass(frozen=True, slots=True)
class Listing(Generic[P]):
    """How one collection is read: the select up to ``where``, the sorts it offers, the
    struct each row becomes and the page struct (named per resource in the contract)."""

    page_type: type[P]
    name: str
    select: str
    """``select ... from ...`` with no where, order or limit."""
    sorts: dict[str, SortKey]
    default_sort: str
    make: Callable[[asyncpg.Record], Any]
    filters: Mapping[str, str] = field(default_factory=dict)
    """The filters the listing offers: name → SQL condition, ``{0}`` standing for the value
    (a condition without ``{0}`` applies when its value is true)."""
    _item_sql: dict[str, str | None] = field(default_factory=dict, init=False, repr=False)
    """The SQL of one item's JSON (``core.rendered``), made at the first page; ``None``
    when this listing's items cannot be rendered by PostgreSQL."""

    def where(self, **values: Any) -> list[tuple[str, Any]]:
        """The conditions for the filters given a value (``None`` means not asked for)."""
        return [
            (self.filters[name], value)
            for name, value in values.items()
            if value is not None and ("{0}" in self.filters[name] or value)
        ]

    def query(
        self,
        filters: Sequence[tuple[str, Any]],
        *,
        limit: int | None,
        after: Sequence[Any] | None = None,
        sort: str | None = None,
        leading: Sequence[Any] = (),
    ) -> tuple[str, list[Any]]:
        """The SQL and arguments of one page: rows matching ``filters`` after the sort key
        values ``after`` (none for page 1), ``limit + 1`` of them (every one for ``None``).
        Each filter is ``(SQL condition with {0} for its parameter, value)``; the SQL is fixed
        text chosen by which filters are present and the limit, values are always bound.
        ``leading`` are the values of parameters ``$1``… that the select itself uses (a
        search's query).

        The limit is written into the SQL (a number, 1–200 by the contract), not bound: with
        ``limit $n`` the generic plan of a prepared statement assumes a tenth of the table
        (a scan of all of it), so PostgreSQL never chose it and planned every page afresh.
        Known, the limit lets one plan serve every page: the backend's CPU for a page of 50
        officials went from 1.6 to 1.1 ms, for a timeline page from 2.1 to 1.3 ms."""
        key = self.sorts[sort or self.default_sort]
        conditions: list[str] = []
        args: list[Any] = list(leading)
        for condition, value in filters:
            if "{0}" in condition:
                args.append(value)
                conditions.append(condition.format(f"${len(args)}"))
            else:
                conditions.append(condition)
        if after is not None:
            placeholders = []
            for value in after:
                args.append(value)
                placeholders.append(f"${len(args)}")
            exprs = ", ".join(expr for expr, _, _ in key.columns)
            op = "<" if key.descending else ">"
            conditions.append(f"({exprs}) {op} ({', '.join(placeholders)})")
        direction = " desc" if key.descending else ""
        order = ", ".join(f"{expr}{direction}" for expr, _, _ in key.columns)
        where = f" where {' and '.join(conditions)}" if conditions else ""
        if limit is None:
            return f"{self.select}{where} order by {order}", args
        return f"{self.select}{where} order by {order} limit {int(limit) + 1:d}", args

    def scope(self, sort: str | None = None) -> str:
        """What a cursor of this listing is signed for."""
        return f"{self.name}:{sort or self.default_sort}"

    async def page(
        self,
        request: Request[Any, Any, Any],
        filters: Sequence[tuple[str, Any]],
        *,
        limit: int,
        cursor: str | None,
        sort: str | None = None,
        leading: Sequence[Any] = (),
    ) -> Response[P]:
        """One page, answered with ``next_cursor`` and a ``Link`` header while more follow;
        or, when the request asks for NDJSON or CSV, every item from there on (``export``)."""
        key = self.sorts[sort or self.default_sort]
        scope = self.scope(sort)
        codec: CursorCodec = request.app.state.cursors
        after = None
        if cursor is not None:
            after = codec.decode(scope, cursor, tuple(t for _, _, t in key.columns))
        format = bulk.asked_format(request.headers)
        if format is not None:
            sql, args = self.query(filters, limit=None, after=after, sort=sort, leading=leading)
            return self.export(sql, args, format)
        sql, args = self.query(filters, limit=limit, after=after, sort=sort, leading=leading)
        pool = await read_pool(request.scope)
        items: list[Any] | None = None
        # On one connection, so from one server even when a replica service spreads connections.
        async with pool.acquire() as conn:
            fast = await self.rendered_sql(conn, sql, key) if request.app.state.rendered else None
            if fast is not None:
                # The change log's position comes with the rows, from the same snapshot.
                rows = await conn.fetch(fast, *args)
                seq = rows[0]["seq"] if rows else await conn.fetchval(_LAST_SEQ)
                if all(row[0] is not None for row in rows):
                    items = [msgspec.Raw(row[0]) for row in rows[:limit]]
            if items is None:  # the general path: a struct per row, encoded by msgspec
                # Read before the page, so the page reflects at least every change up to it.
                seq = await conn.fetchval(_LAST_SEQ)
                rows = await conn.fetch(sql, *args)
                items = [self.make(row) for row in rows[:limit]]
        next_cursor = None
        headers = {"Accord-Seq": str(seq), "Vary": "Accept"}
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = codec.encode(scope, [last[name] for _, name, _ in key.columns])
            headers["Link"] = f'<{_next_url(request, next_cursor)}>; rel="next"'
        return Encoded(self.page_type(items, next_cursor), headers=headers)

    async def rendered_sql(self, conn: AnyConnection, sql: str, key: SortKey) -> str | None:
        """``sql`` (a page of this listing) as rows of the item's JSON (UTF-8), rendered by
        PostgreSQL exactly as msgspec would encode the struct the row becomes, the sort key's
        columns and the change log's position (``seq``, the same in every row); None when the
        items cannot be rendered so (``core.rendered``)."""
        item = self._item_sql.get("")
        if "" not in self._item_sql:
            struct = rendered.struct_of(self.make)
            item = None if struct is None else await rendered.prepare(conn, self.select, struct)
            self._item_sql[""] = item
        if item is None:
            return None
        names = [f's."{name}"' for _, name, _ in key.columns]
        direction = " desc" if key.descending else ""
        order = ", ".join(f"{name}{direction}" for name in names)
        # As UTF-8 bytes (bytea), not text: asyncpg would decode the text into a str only for
        # the page to encode it back, which costs more than anything else Python does for a
        # page of names in other scripts.
        return (
            f"select convert_to({item}, 'UTF8') as j, {', '.join(names)}, ({_LAST_SEQ}) as seq "
            f"from ({sql}) s order by {order}"
        )

    async def page_of_found(
        self,
        request: Request[Any, Any, Any],
        filters: Sequence[tuple[str, Any]],
        *,
        exists: Callable[[], Awaitable[bool]],
        missing: Callable[[], ProblemError],
        limit: int,
        cursor: str | None,
        sort: str | None = None,
    ) -> Response[P]:
        """A page of what belongs to one thing (a record's history, a webhook's deliveries):
        ``missing()`` — a 404 — rather than an empty page when ``exists()`` says the thing is
        not there. The check runs only when page 1 is empty, or before an export (NDJSON,
        CSV), which cannot turn into a 404 once it has started."""
        if bulk.asked_format(request.headers) is not None:
            if not await exists():
                raise missing()
            return await self.page(request, filters, limit=limit, cursor=cursor, sort=sort)
        response = await self.page(request, filters, limit=limit, cursor=cursor, sort=sort)
        if not response.content.items and cursor is None and not await exists():
            raise missing()
        return response

    @property
    def item_type(self) -> Any:
        """The type of the page's items (the record struct, or a union of them)."""
        return item_type_of(self.page_type)

    def export(self, sql: str, args: Sequence[Any], format: bulk.Format) -> Response[Any]:
        """Every row ``sql`` selects as NDJSON or CSV, streamed in one snapshot."""
        encoder = bulk.Encoder(format, self.item_type)
        produce = bulk.rows_of(sql, args, self.make, encoder)
        return bulk.streamed(produce, media_type=encoder.media_type, filename=None, negotiated=True)


_PLAIN_LIMIT = re.compile(rb"[1-9][0-9]{0,2}")
_PLAIN_CURSOR = re.compile(rb"[A-Za-z0-9_-]{1,1024}")


def public_collection(
    listing: Listing[Any], *, default_limit: int = 50, **config: Any
) -> Callable[[Callable[..., Any]], HTTPRouteHandler]:
    """``GET /`` of a public collection, ``listing``'s pages: its page headers, its 422
    problem, and ``PlainPage`` in front of the handler; ``config`` is the rest of Litestar's
    ``get`` (the operation id, summary and description)."""
    return get(
        "/",
        middleware=[DefineMiddleware(PlainPage, listing=listing, default_limit=default_limit)],
        response_headers=PAGE_HEADERS,
        responses=problem_responses(422),
        **config,
    )


class PlainPage:
    """A page asked for with nothing but ``limit`` and ``cursor``, answered without Litestar's
    per-request parameter machinery (``Request``, kwargs and signature models), which cost a
    page more Python than everything else it does: the handler would find every filter
    absent and call ``Listing.page`` with none, which this does once Litestar has routed the
    request. Anything else in the query string — a filter, a sort, a value spelt otherwise,
    one the contract refuses — goes on to the handler, which validates it; a test holds both
    to the same answers. Only for a public collection: the handler's guards would not run.
    Route middleware, not in front of the router as ``core.routes.ReadsById`` is: a
    collection's path is one the router has seen (routing a read by id's new path every time
    is much of what that saves). A plain ASGI app: Litestar's ``ASGIMiddleware`` adds a
    wrapper and its bypass checks to every call."""

    def __init__(self, app: ASGIApp, listing: Listing[Any], default_limit: int = 50) -> None:
        self.app = app
        self.listing = listing
        self.default_limit = default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asked = _plain(scope["query_string"])
        if asked is None:
            await self.app(scope, receive, send)
            return
        limit, cursor = asked
        request: Request[Any, Any, Any] = Request(scope, receive, send)
        response = await self.listing.page(
            request, [], limit=limit or self.default_limit, cursor=cursor
        )
        # A page is an ``Encoded`` or a ``Streamed`` export: each is its own ASGI app.
        await response.to_asgi_response(request.app, request)(scope, receive, send)


def _plain(query: bytes) -> tuple[int | None, str | None] | None:
    """``(limit, cursor)`` of a query string with no other parameter, each at most once and
    spelt as the contract takes it (a limit of 1–200 without leading zeros); else None."""
    limit: int | None = None
    cursor: str | None = None
    if not query:
        return limit, cursor
    for part in query.split(b"&"):
        name, _, value = part.partition(b"=")
        if name == b"limit" and limit is None and _PLAIN_LIMIT.fullmatch(value):
            limit = int(value)
            if limit > 200:
                return None
        elif name == b"cursor" and cursor is None and _PLAIN_CURSOR.fullmatch(value):
            cursor = value.decode()
        else:
            return None
    return limit, cursor


def _next_url(request: Request[Any, Any, Any], cursor: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    params.append(("cursor", cursor))
    # The path as ``request.url`` has it, without building the whole URL for it.
    path = request.scope.get("root_path", "") + request.scope["path"]
    return f"{path}?{urlencode(params)}"


def _python_type(kind: msgspec.inspect.Type) -> Any:
    """The Python type ``msgspec.inspect`` describes, for a page's items: a struct, or a union
    of structs."""
    if isinstance(kind, msgspec.inspect.Metadata):
        return _python_type(kind.type)
    if isinstance(kind, msgspec.inspect.StructType):
        return kind.cls
    if isinstance(kind, msgspec.inspect.UnionType):
        return Union[tuple(_python_type(member) for member in kind.types)]  # noqa: UP007
    raise TypeError(f"a page of {kind!r} cannot be exported")


@cache
def item_type_of(page_type: type[Page[Any]]) -> Any:
    """The type of a page struct's items: a record struct, or a union of them."""
    info = msgspec.inspect.type_info(page_type)
    assert isinstance(info, msgspec.inspect.StructType)
    items = next(field.type for field in info.fields if field.name == "items")
    assert isinstance(items, msgspec.inspect.ListType)
    return _python_type(items.item_type)
