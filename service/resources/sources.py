"""Sources: the publications and posts facts come from — a media outlet's report (Anadolu
Agency, Ukrainska Pravda) or an official's own channel (Medinsky's Telegram) — and which
records cite each one."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Request, Response
from litestar.params import QueryParameter

from service.core.pagination import (
    CursorParam,
    Limit,
    Listing,
    Page,
    SortKey,
    public_collection,
    standard_sorts,
)
from service.core.params import DateFrom, DateTo, DisputedQuery, NameQuery, UpdatedSince
from service.core.records import patch_of
from service.core.routes import ResourceRouter, record_handlers, sub_collection
from service.core.tables import TITLE_MATCHES, Table, record_filters, row_to
from service.core.types import (
    NO_NUL_PATTERN,
    LanguageTag,
    Note,
    PartialDate,
    Title,
    Url,
    date_range,
    parse_partial_date,
)
from service.resources import claims

# --- structs -----------------------------------------------------------------------------------


class SourceCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A publication or post. Its outlet is a media organization, or, for an official's own
    channel (a Telegram post), the official."""

    title: Title
    outlet_id: UUID | None = None
    """The organization that published it (a media outlet, a ministry)."""
    official_id: UUID | None = None
    """The official whose own channel it is."""
    url: Url | None = None
    """Unique: one source per URL."""
    language: LanguageTag | None = None
    published_date: PartialDate | None = None
    retrieved_date: date | None = None
    note: Note | None = None


SourcePatch = patch_of(SourceCreate)


class Source(SourceCreate, kw_only=True, forbid_unknown_fields=False):
    id: UUID
    version: int
    """Revision number, +1 on every change; the ETag carries it."""
    created_at: datetime
    updated_at: datetime
    disputed: bool
    """True while claims about it disagree (see its `claims`); read-only."""


class SourcePage(Page[Source]):
    """A page of sources."""


class Citing(msgspec.Struct, kw_only=True):
    """A record that cites a source, with what it quotes and where."""

    kind: str
    """The record's resource, singular: `exchange`, `statement`, `role_change`…"""
    id: UUID
    href: str
    quote: str | None
    locator: str | None


class CitingPage(Page[Citing]):
    """A page of the records citing a source."""


# --- queries -----------------------------------------------------------------------------------

TABLE = Table(
    table="sources",
    label="source",
    columns="id, version, created_at, updated_at, title, outlet_id, official_id, url, language, "
    "accord_partial_date(published_date, published_precision) as published_date, "
    "retrieved_date, note",
    record=Source,
    create=SourceCreate,
    writes=(
        "title",
        "outlet_id",
        "official_id",
        "url",
        "language",
        "published_date",
        "published_precision",
        "retrieved_date",
        "note",
    ),
    params=lambda s: (
        s.title,
        s.outlet_id,
        s.official_id,
        s.url,
        s.language,
        *parse_partial_date(s.published_date, "published_date"),
        s.retrieved_date,
        s.note,
    ),
    cited=False,
)

LISTING = TABLE.listing(
    SourcePage,
    name="sources",
    sorts=standard_sorts(("title", str)),
    filters={
        "outlet_id": "outlet_id = {0}",
        "official_id": "official_id = {0}",
        "language": "language = {0}",
        "url": "url = {0}",
        "title": TITLE_MATCHES,
        "from": "accord_last_day(published_date, published_precision) >= {0}",
        "to": "published_date <= {0}",
    },
)

CITED_BY = Listing(
    page_type=CitingPage,
    name="cited-by",
    select="select c.record_id as id, r.kind, accord_href(r.kind, c.record_id) as href, "
    "c.quote, c.locator, c.position from citations c join accord_records r on r.id = c.record_id",
    sorts={"record": SortKey((("c.record_id", "id", UUID), ("c.position", "position", int)))},
    default_sort="record",
    make=row_to(Citing),
    filters={"source_id": "c.source_id = {0}"},
)

CREATE_EXAMPLE: dict[str, Any] = {
    "title": "Report on Dmitry Peskov's press briefing",
    "outlet_id": "0193a0a0-0000-7000-8000-00000000000a",
    "language": "en",
    "published_date": "2025-07",
}
PATCH_EXAMPLE: dict[str, Any] = {"retrieved_date": "2025-07-20"}

# --- handlers ----------------------------------------------------------------------------------


@public_collection(
    LISTING,
    operation_id="listSources",
    summary="List sources",
    description="Filter by outlet, official, language, URL, title and a published-date range "
    "(`from`/`to` may be partial). Cursor-paginated.",
)
async def list_sources(
    request: Request[Any, Any, Any],
    outlet_id: Annotated[UUID | None, QueryParameter()] = None,
    official_id: Annotated[UUID | None, QueryParameter()] = None,
    language: Annotated[str | None, QueryParameter(max_length=35, pattern=NO_NUL_PATTERN)] = None,
    url: Annotated[str | None, QueryParameter(max_length=2000, pattern=NO_NUL_PATTERN)] = None,
    title: NameQuery = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    updated_since: UpdatedSince = None,
    disputed: DisputedQuery = None,
    sort: Annotated[Literal["id", "title", "-title"], QueryParameter()] = "id",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[SourcePage]:
    filters = LISTING.where(
        outlet_id=outlet_id,
        official_id=official_id,
        language=language,
        url=url,
        title=title,
        **date_range(date_from, date_to),
        **record_filters(updated_since, disputed),
    )
    return await LISTING.page(request, filters, limit=limit, cursor=cursor, sort=sort)


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/sources",
        tags=["sources"],
        route_handlers=[
            list_sources,
            sub_collection(
                TABLE,
                CITED_BY,
                path="cited-by",
                key="source_id",
                operation_id="listSourceCitations",
                summary="The records that cite a source",
                description="Every record of every resource citing it, with the quote and "
                "locator of each citation. Cursor-paginated.",
            ),
            *record_handlers(
                TABLE,
                create_example=CREATE_EXAMPLE,
                patch_example=PATCH_EXAMPLE,
                name="Source",
                patch_type=SourcePatch,
                referenced_by="citations",
            ),
            claims.about(TABLE, "Source"),
        ],
    )
