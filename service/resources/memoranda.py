"""Memoranda: documents a party drafts in a negotiation and exchanges at a round, with their
status and their versions. Versions are append-only: adding one never rewrites an earlier one.
Which rounds have a memorandum on their agenda is read from the rounds' agendas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Request, Response, get, post
from litestar.openapi.spec import Example
from litestar.params import Body, PathParameter, QueryParameter

from service.core import history
from service.core.auth import WRITE, WRITE_SECURITY
from service.core.database import pool_of, transaction
from service.core.idempotency import REPLAYED_HEADER, IdempotencyKey, remember, replay
from service.core.pagination import (
    CursorParam,
    Limit,
    Listing,
    Page,
    SortKey,
    public_collection,
    standard_sorts,
)
from service.core.params import DisputedQuery, NameQuery, UpdatedSince
from service.core.problems import WRITE_STATUSES, not_found, problem_responses
from service.core.records import ETAG_HEADER, LOCATION_HEADER, RecordId, etag, patch_of
from service.core.replica import read_pool
from service.core.responses import Encoded
from service.core.routes import ResourceRouter, record_handlers, sub_collection
from service.core.tables import TITLE_MATCHES, Appended, Table, record_filters, row_to
from service.core.types import (
    Citations,
    FullText,
    Note,
    PartialDate,
    Text,
    Title,
    parse_partial_date,
)
from service.resources import claims

# --- structs -----------------------------------------------------------------------------------

MemorandumStatus = Literal[
    "draft", "exchanged", "under_discussion", "agreed", "rejected", "superseded"
]


class MemorandumCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A document drafted by one party of a negotiation. Its text lives in its versions."""

    negotiation_id: UUID
    author_id: UUID
    """The party (an organization, a party of the negotiation) that drafted it."""
    title: Title
    status: MemorandumStatus
    exchanged_round_id: UUID | None = None
    """The round (of the same negotiation) at which it was handed to the other side."""
    citations: Citations = msgspec.field(default_factory=list)
    note: Note | None = None


MemorandumPatch = patch_of(MemorandumCreate)


class Memorandum(MemorandumCreate, kw_only=True, forbid_unknown_fields=False):
    id: UUID
    version: int
    """Revision number, +1 on every change; the ETag carries it."""
    created_at: datetime
    updated_at: datetime
    disputed: bool
    """True while claims about it disagree (see its `claims`); read-only."""
    agenda_round_ids: list[UUID]
    """Rounds with this memorandum on their agenda (set on the rounds); read-only."""
    latest_version: int | None
    """Number of its newest version, none before the first; read-only."""


class MemorandumPage(Page[Memorandum]):
    """A page of memoranda."""


class MemorandumVersionCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new version of a memorandum's text; it gets the next number."""

    date: PartialDate | None = None
    """When this version was written or handed over, as precise as known."""
    summary: Text
    full_text: FullText | None = None


class MemorandumVersion(MemorandumVersionCreate, kw_only=True, forbid_unknown_fields=False):
    memorandum_id: UUID
    number: int
    """1 for the first version; never reused or changed."""
    created_at: datetime


class MemorandumVersionPage(Page[MemorandumVersion]):
    """A page of a memorandum's versions, oldest first."""


class MemorandumVersionImport(MemorandumVersionCreate, kw_only=True, forbid_unknown_fields=True):
    """A line of an import of versions: a version as a GET returns it (the export's line);
    ``created_at`` is kept, or now when left out."""

    memorandum_id: UUID
    number: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
    created_at: datetime | None = None


# --- queries -----------------------------------------------------------------------------------

TABLE = Table(
    table="memoranda",
    label="memorandum",
    columns="id, version, created_at, updated_at, negotiation_id, author_id, title, status, "
    "exchanged_round_id, note",
    record=Memorandum,
    create=MemorandumCreate,
    writes=("negotiation_id", "author_id", "title", "status", "exchanged_round_id", "note"),
    params=lambda m: (
        m.negotiation_id,
        m.author_id,
        m.title,
        m.status,
        m.exchanged_round_id,
        m.note,
    ),
    derived={
        "agenda_round_ids": "(select coalesce(jsonb_agg(a.round_id order by a.round_id), "
        "'[]'::jsonb) from (select distinct round_id from round_agenda "
        "where memorandum_id = memoranda.id) a)",
        "latest_version": "(select max(number) from memorandum_versions "
        "where memorandum_id = memoranda.id)",
    },
)

LISTING = TABLE.listing(
    MemorandumPage,
    name="memoranda",
    sorts=standard_sorts(("title", str)),
    filters={
        "negotiation_id": "negotiation_id = {0}",
        "author_id": "author_id = {0}",
        "status": "status = {0}",
        "round_id": "(exchanged_round_id = {0} "
        "or id in (select memorandum_id from round_agenda where round_id = {0}))",
        "title": TITLE_MATCHES,
    },
)

_VERSION_COLUMNS = (
    "memorandum_id, number, created_at, summary, full_text, "
    "accord_partial_date(version_date, version_precision) as date"
)
# Composed from the fixed column list above; values are always bound parameters.
_ADD_VERSION = f"""
insert into memorandum_versions (memorandum_id, number, version_date, version_precision,
                                 summary, full_text)
select $1, coalesce(max(number), 0) + 1, $2, $3, $4, $5
  from memorandum_versions where memorandum_id = $1
returning {_VERSION_COLUMNS}"""  # noqa: S608
_GET_VERSION = f"select {_VERSION_COLUMNS} from memorandum_versions where memorandum_id = $1"  # noqa: S608

VERSIONS = Listing(
    page_type=MemorandumVersionPage,
    name="memorandum-versions",
    select=f"select {_VERSION_COLUMNS} from memorandum_versions",  # noqa: S608
    sorts={"number": SortKey((("number", "number", int),))},
    default_sort="number",
    make=row_to(MemorandumVersion),
    filters={"memorandum_id": "memorandum_id = {0}"},
)


def _version_params(line: MemorandumVersionImport) -> tuple[Any, ...]:
    day, precision = parse_partial_date(line.date, "date")
    return (
        line.memorandum_id,
        line.number,
        line.created_at,
        day,
        precision,
        line.summary,
        line.full_text,
    )


VERSION_ROWS = Appended(
    table="memorandum_versions",
    label="memorandum version",
    owner=TABLE,
    key=("memorandum_id", "number"),
    record=MemorandumVersion,
    create=MemorandumVersionImport,
    select=VERSIONS.select,
    writes=(
        "memorandum_id",
        "number",
        "created_at",
        "version_date",
        "version_precision",
        "summary",
        "full_text",
    ),
    params=_version_params,
    latest="latest_version",
)
"""The versions in bulk: exported and imported like records (``memorandum-versions``)."""

CREATE_EXAMPLE: dict[str, Any] = {
    "negotiation_id": "0193a0a4-0000-7000-8000-000000000001",
    "author_id": "0193a0a0-0000-7000-8000-000000000002",
    "title": "Ukraine's draft memorandum on a settlement",
    "status": "draft",
}
PATCH_EXAMPLE: dict[str, Any] = {
    "status": "exchanged",
    "exchanged_round_id": "0193a0a5-0000-7000-8000-000000000002",
}
VERSION_EXAMPLE: dict[str, Any] = {
    "date": "2025-06-02",
    "summary": "Conditions for a ceasefire and the steps of a settlement, as handed over.",
}

# --- handlers ----------------------------------------------------------------------------------


@public_collection(
    LISTING,
    operation_id="listMemoranda",
    summary="List memoranda",
    description="Filter by negotiation, author, status, round (exchanged at it or on its "
    "agenda) and title. Cursor-paginated.",
)
async def list_memoranda(
    request: Request[Any, Any, Any],
    negotiation_id: Annotated[UUID | None, QueryParameter()] = None,
    author_id: Annotated[UUID | None, QueryParameter()] = None,
    status: Annotated[MemorandumStatus | None, QueryParameter()] = None,
    round_id: Annotated[
        UUID | None,
        QueryParameter(description="Exchanged at this round or on its agenda."),
    ] = None,
    title: NameQuery = None,
    updated_since: UpdatedSince = None,
    disputed: DisputedQuery = None,
    sort: Annotated[Literal["id", "title", "-title"], QueryParameter()] = "id",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[MemorandumPage]:
    filters = LISTING.where(
        negotiation_id=negotiation_id,
        author_id=author_id,
        status=status,
        round_id=round_id,
        title=title,
        **record_filters(updated_since, disputed),
    )
    return await LISTING.page(request, filters, limit=limit, cursor=cursor, sort=sort)


@get(
    "/{id:uuid}/versions/{number:int}",
    operation_id="getMemorandumVersion",
    summary="One version of a memorandum",
    description="Versions never change, so the ETag is the version number.",
    response_headers=[ETAG_HEADER],
    responses=problem_responses(404),
)
async def get_memorandum_version(
    request: Request[Any, Any, Any],
    id: RecordId,
    number: Annotated[int, PathParameter(ge=1, le=2**31 - 1, description="Version number.")],
) -> Response[MemorandumVersion]:
    pool = await read_pool(request.scope)
    row = await pool.fetchrow(f"{_GET_VERSION} and number = $2", id, number)
    if row is None:
        raise not_found("memorandum version", f"{id} number {number}")
    return Encoded(VERSIONS.make(row), headers={"ETag": etag(number)})


@post(
    "/{id:uuid}/versions",
    operation_id="addMemorandumVersion",
    summary="Add a version to a memorandum",
    description="201 with `Location`. The version gets the next number; earlier versions "
    "stay exactly as they were.",
    response_headers=[ETAG_HEADER, LOCATION_HEADER, REPLAYED_HEADER],
    responses=problem_responses(404, 422, *WRITE_STATUSES),
    guards=WRITE,
    security=WRITE_SECURITY,
)
async def add_memorandum_version(
    request: Request[Any, Any, Any],
    id: RecordId,
    data: Annotated[
        MemorandumVersionCreate,
        Body(examples=[Example(summary="From the worked example", value=VERSION_EXAMPLE)]),
    ],
    idempotency_key: IdempotencyKey = None,
) -> Response[MemorandumVersion]:
    day, precision = parse_partial_date(data.date, "date")
    async with transaction(pool_of(request)) as conn:
        # Locking the memorandum numbers concurrent additions one after the other.
        version = await conn.fetchval("select version from memoranda where id = $1 for update", id)
        if version is None:
            raise not_found(TABLE.label, id)
        stored = await replay(conn, request, idempotency_key)
        if stored is not None:
            return stored
        row = await conn.fetchrow(_ADD_VERSION, id, day, precision, data.summary, data.full_text)
        assert row is not None
        item = VERSIONS.make(row)
        response = Encoded(
            item,
            status_code=201,
            headers={
                "ETag": etag(item.number),
                "Location": f"{request.url.path.rstrip('/')}/{item.number}",
            },
        )
        await history.write(
            conn,
            kind=TABLE.kind,
            record_id=id,
            operation="update",
            version=version,
            changes={"latest_version": {"before": item.number - 1 or None, "after": item.number}},
            actor=request.state.api_key_id,
        )
        await remember(conn, request, idempotency_key, response)
    return response


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/memoranda",
        tags=["memoranda"],
        route_handlers=[
            list_memoranda,
            sub_collection(
                TABLE,
                VERSIONS,
                path="versions",
                key="memorandum_id",
                operation_id="listMemorandumVersions",
                summary="A memorandum's versions",
                description="Oldest first. Cursor-paginated.",
            ),
            get_memorandum_version,
            add_memorandum_version,
            *record_handlers(
                TABLE,
                create_example=CREATE_EXAMPLE,
                patch_example=PATCH_EXAMPLE,
                name="Memorandum",
                patch_type=MemorandumPatch,
                referenced_by="rounds' agendas",
            ),
            claims.about(TABLE, "Memorandum"),
        ],
    )
