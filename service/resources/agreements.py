"""Agreements: what a round agreed (the Istanbul agreements on exchanging prisoners and
returning bodies), with its kind, its stage in the PA-X sense, its signatories and terms."""

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
from service.core.params import DateFrom, DateTo, DisputedQuery, NameQuery, UpdatedSince
from service.core.records import patch_of
from service.core.routes import ResourceRouter, record_handlers
from service.core.tables import TITLE_MATCHES, Link, Table, record_filters
from service.core.types import (
    Citations,
    Note,
    PartialDate,
    Text,
    Title,
    date_range,
    parse_partial_date,
)
from service.resources import claims

# --- structs -----------------------------------------------------------------------------------

AgreementKind = Literal["humanitarian", "ceasefire", "procedural", "political", "other"]
AgreementStage = Literal["pre_negotiation", "ceasefire", "framework", "implementation"]


class AgreementCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What was agreed at a round."""

    round_id: UUID
    title: Title
    kind: AgreementKind
    stage: AgreementStage
    """The peace-process stage, as PA-X classifies agreements: pre-negotiation (talks about
    talks, humanitarian steps), ceasefire, framework (substantive), implementation."""
    agreed_date: PartialDate | None = None
    signatories: Annotated[list[UUID], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )
    """Organizations bound by it."""
    terms: Text | None = None
    """A summary of its terms."""
    citations: Citations = msgspec.field(default_factory=list)
    note: Note | None = None


AgreementPatch = patch_of(AgreementCreate)


class Agreement(AgreementCreate, kw_only=True, forbid_unknown_fields=False):
    id: UUID
    version: int
    """Revision number, +1 on every change; the ETag carries it."""
    created_at: datetime
    updated_at: datetime
    disputed: bool
    """True while claims about it disagree (see its `claims`); read-only."""
    negotiation_id: UUID
    """The negotiation of its round; read-only."""


class AgreementPage(Page[Agreement]):
    """A page of agreements."""


# --- queries -----------------------------------------------------------------------------------

TABLE = Table(
    table="agreements",
    label="agreement",
    columns="id, version, created_at, updated_at, round_id, title, kind, stage, "
    "accord_partial_date(agreed_date, agreed_precision) as agreed_date, terms, note",
    record=Agreement,
    create=AgreementCreate,
    writes=(
        "round_id",
        "title",
        "kind",
        "stage",
        "agreed_date",
        "agreed_precision",
        "terms",
        "note",
    ),
    params=lambda a: (
        a.round_id,
        a.title,
        a.kind,
        a.stage,
        *parse_partial_date(a.agreed_date, "agreed_date"),
        a.terms,
        a.note,
    ),
    links=(
        Link.of_ids(
            "signatories",
            table="agreement_signatories",
            parent="agreement_id",
            column="organization_id",
        ),
    ),
    derived={
        "negotiation_id": "(select negotiation_id from rounds where id = agreements.round_id)"
    },
)

LISTING = TABLE.listing(
    AgreementPage,
    name="agreements",
    sorts=standard_sorts(("title", str)),
    filters={
        "round_id": "round_id = {0}",
        "negotiation_id": "round_id in (select id from rounds where negotiation_id = {0})",
        "kind": "kind = {0}",
        "stage": "stage = {0}",
        "signatory_id": "id in (select agreement_id from agreement_signatories "
        "where organization_id = {0})",
        "title": TITLE_MATCHES,
        "from": "accord_last_day(agreed_date, agreed_precision) >= {0}",
        "to": "agreed_date <= {0}",
    },
)

CREATE_EXAMPLE: dict[str, Any] = {
    "round_id": "0193a0a5-0000-7000-8000-000000000001",
    "title": "Exchange of 1,000 prisoners of war for 1,000",
    "kind": "humanitarian",
    "stage": "pre_negotiation",
    "agreed_date": "2025-05-16",
    "signatories": ["0193a0a0-0000-7000-8000-000000000001", "0193a0a0-0000-7000-8000-000000000002"],
}
PATCH_EXAMPLE: dict[str, Any] = {"terms": "Each side releases 1,000 prisoners of war."}

# --- handlers ----------------------------------------------------------------------------------


@public_collection(
    LISTING,
    operation_id="listAgreements",
    summary="List agreements",
    description="Filter by round, negotiation, kind, stage, signatory, title and a date "
    "range on the agreed date (`from`/`to` may be partial). Cursor-paginated.",
)
async def list_agreements(
    request: Request[Any, Any, Any],
    round_id: Annotated[UUID | None, QueryParameter()] = None,
    negotiation_id: Annotated[UUID | None, QueryParameter()] = None,
    kind: Annotated[AgreementKind | None, QueryParameter()] = None,
    stage: Annotated[AgreementStage | None, QueryParameter()] = None,
    signatory_id: Annotated[UUID | None, QueryParameter()] = None,
    title: NameQuery = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    updated_since: UpdatedSince = None,
    disputed: DisputedQuery = None,
    sort: Annotated[Literal["id", "title", "-title"], QueryParameter()] = "id",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[AgreementPage]:
    filters = LISTING.where(
        round_id=round_id,
        negotiation_id=negotiation_id,
        kind=kind,
        stage=stage,
        signatory_id=signatory_id,
        title=title,
        **date_range(date_from, date_to),
        **record_filters(updated_since, disputed),
    )
    return await LISTING.page(request, filters, limit=limit, cursor=cursor, sort=sort)


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/agreements",
        tags=["agreements"],
        route_handlers=[
            list_agreements,
            *record_handlers(
                TABLE,
                create_example=CREATE_EXAMPLE,
                patch_example=PATCH_EXAMPLE,
                name="Agreement",
                patch_type=AgreementPatch,
                referenced_by="other records",
            ),
            claims.about(TABLE, "Agreement"),
        ],
    )
