"""Statements: what an official said, or an organization said as a body — when, on what
occasion, in which words and language (with a translation), and which records it is about."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Request, Response
from litestar.params import QueryParameter

from service.core.pagination import (
    CursorParam,
    Limit,
    Page,
    public_collection,
    standard_sorts,
)
from service.core.params import DateFrom, DateTo, DisputedQuery, UpdatedSince
from service.core.records import patch_of
from service.core.routes import ResourceRouter, record_handlers
from service.core.tables import Link, Table, record_filters
from service.core.types import (
    Citations,
    LanguageTag,
    Note,
    PartialDate,
    Text,
    date_range,
    parse_partial_date,
)
from service.resources import claims

# --- structs -----------------------------------------------------------------------------------

Occasion = Literal[
    "press_briefing",
    "interview",
    "telegram_post",
    "social_media_post",
    "communique",
    "speech",
    "other",
]


class StatementCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Something said in public. Exactly one speaker: an official, or an organization
    speaking as a body (a ministry's headquarters, a government)."""

    speaker_official_id: UUID | None = None
    speaker_organization_id: UUID | None = None
    date: PartialDate | None = None
    occasion: Occasion
    quote: Text
    """The words, in the language they were said or published in."""
    language: LanguageTag
    translation: Text | None = None
    translation_language: LanguageTag | None = None
    about: Annotated[list[UUID], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    """The records it is about, of any resource (rounds, exchanges, officials…)."""
    citations: Citations = msgspec.field(default_factory=list)
    note: Note | None = None


StatementPatch = patch_of(StatementCreate)


class Statement(StatementCreate, kw_only=True, forbid_unknown_fields=False):
    id: UUID
    version: int
    """Revision number, +1 on every change; the ETag carries it."""
    created_at: datetime
    updated_at: datetime
    disputed: bool
    """True while claims about it disagree (see its `claims`); read-only."""


class StatementPage(Page[Statement]):
    """A page of statements."""


# --- queries -----------------------------------------------------------------------------------

TABLE = Table(
    table="statements",
    label="statement",
    columns="id, version, created_at, updated_at, speaker_official_id, speaker_organization_id, "
    "accord_partial_date(statement_date, statement_precision) as date, occasion, quote, "
    "language, translation, translation_language, note",
    record=Statement,
    create=StatementCreate,
    writes=(
        "speaker_official_id",
        "speaker_organization_id",
        "statement_date",
        "statement_precision",
        "occasion",
        "quote",
        "language",
        "translation",
        "translation_language",
        "note",
    ),
    params=lambda s: (
        s.speaker_official_id,
        s.speaker_organization_id,
        *parse_partial_date(s.date, "date"),
        s.occasion,
        s.quote,
        s.language,
        s.translation,
        s.translation_language,
        s.note,
    ),
    links=(
        Link.of_ids("about", table="statement_subjects", parent="statement_id", column="record_id"),
    ),
)

LISTING = TABLE.listing(
    StatementPage,
    name="statements",
    sorts=standard_sorts(),
    filters={
        "speaker_official_id": "speaker_official_id = {0}",
        "speaker_organization_id": "speaker_organization_id = {0}",
        "occasion": "occasion = {0}",
        "about": "id in (select statement_id from statement_subjects where record_id = {0})",
        "from": "accord_last_day(statement_date, statement_precision) >= {0}",
        "to": "statement_date <= {0}",
    },
)

CREATE_EXAMPLE: dict[str, Any] = {
    "speaker_official_id": "0193a0a1-0000-7000-8000-000000000003",
    "date": "2025-07",
    "occasion": "press_briefing",
    "quote": "Russia awaits Ukraine's proposals to begin a third round of negotiations.",
    "language": "en",
    "about": ["0193a0a5-0000-7000-8000-000000000003"],
}
PATCH_EXAMPLE: dict[str, Any] = {"note": "As reported by Anadolu Agency."}

# --- handlers ----------------------------------------------------------------------------------


@public_collection(
    LISTING,
    operation_id="listStatements",
    summary="List statements",
    description="Filter by speaker (official or organization), occasion, a record the "
    "statement is about, and a date range (`from`/`to` may be partial). Cursor-paginated.",
)
async def list_statements(
    request: Request[Any, Any, Any],
    speaker_official_id: Annotated[UUID | None, QueryParameter()] = None,
    speaker_organization_id: Annotated[UUID | None, QueryParameter()] = None,
    occasion: Annotated[Occasion | None, QueryParameter()] = None,
    about: Annotated[
        UUID | None, QueryParameter(description="The id of a record it is about.")
    ] = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    updated_since: UpdatedSince = None,
    disputed: DisputedQuery = None,
    sort: Annotated[Literal["id"], QueryParameter()] = "id",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[StatementPage]:
    filters = LISTING.where(
        speaker_official_id=speaker_official_id,
        speaker_organization_id=speaker_organization_id,
        occasion=occasion,
        about=about,
        **date_range(date_from, date_to),
        **record_filters(updated_since, disputed),
    )
    return await LISTING.page(request, filters, limit=limit, cursor=cursor, sort=sort)


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/statements",
        tags=["statements"],
        route_handlers=[
            list_statements,
            *record_handlers(
                TABLE,
                create_example=CREATE_EXAMPLE,
                patch_example=PATCH_EXAMPLE,
                name="Statement",
                patch_type=StatementPatch,
                referenced_by="claims",
            ),
            claims.about(TABLE, "Statement"),
        ],
    )
