"""Negotiations: a negotiation process (the Russia–Ukraine direct talks in Istanbul) with its
parties, its mediators and their role, its status and dates. A read can embed the
negotiation's rounds and delegations (``?include=rounds,delegations``)."""

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
from service.core.tables import TITLE_MATCHES, Embed, Link, Table, record_filters
from service.core.types import Citations, Note, PartialDate, Title, date_range, parse_partial_date
from service.resources import claims, delegations, rounds
from service.resources.delegations import Delegation
from service.resources.rounds import Round

# --- structs -----------------------------------------------------------------------------------

NegotiationStatus = Literal["active", "suspended", "concluded"]
MediatorRole = Literal["mediator", "facilitator", "host", "guarantor", "observer"]


class Mediator(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    organization_id: UUID
    role: MediatorRole = "mediator"


class NegotiationCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A negotiation process between parties, possibly with mediators. A concluded
    negotiation has an end date."""

    title: Title
    status: NegotiationStatus
    parties: Annotated[list[UUID], msgspec.Meta(min_length=2, max_length=50)]
    """The organizations (usually states) negotiating; each may send one delegation."""
    mediators: Annotated[list[Mediator], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )
    start_date: PartialDate | None = None
    end_date: PartialDate | None = None
    citations: Citations = msgspec.field(default_factory=list)
    note: Note | None = None


NegotiationPatch = patch_of(NegotiationCreate)


class Negotiation(NegotiationCreate, kw_only=True, forbid_unknown_fields=False):
    id: UUID
    version: int
    """Revision number, +1 on every change; the ETag carries it."""
    created_at: datetime
    updated_at: datetime
    disputed: bool
    """True while claims about it disagree (see its `claims`); read-only."""
    rounds: list[Round] | msgspec.UnsetType = msgspec.UNSET
    """With `include=rounds`: its rounds, in order."""
    delegations: list[Delegation] | msgspec.UnsetType = msgspec.UNSET
    """With `include=delegations`: its delegations with their members (heads among them)."""


class NegotiationPage(Page[Negotiation]):
    """A page of negotiations."""


# --- queries -----------------------------------------------------------------------------------

TABLE = Table(
    table="negotiations",
    label="negotiation",
    columns="id, version, created_at, updated_at, title, status, "
    "accord_partial_date(start_date, start_precision) as start_date, "
    "accord_partial_date(end_date, end_precision) as end_date, note",
    record=Negotiation,
    create=NegotiationCreate,
    writes=(
        "title",
        "status",
        "start_date",
        "start_precision",
        "end_date",
        "end_precision",
        "note",
    ),
    params=lambda n: (
        n.title,
        n.status,
        *parse_partial_date(n.start_date, "start_date"),
        *parse_partial_date(n.end_date, "end_date"),
        n.note,
    ),
    links=(
        Link.of_ids(
            "parties",
            table="negotiation_parties",
            parent="negotiation_id",
            column="organization_id",
        ),
        Link(
            field="mediators",
            table="negotiation_mediators",
            parent="negotiation_id",
            columns=(("organization_id", "uuid"), ("role", "text")),
            item="jsonb_build_object('organization_id', l.organization_id, 'role', l.role)",
        ),
    ),
)

EMBEDS = (
    Embed(field="rounds", table=rounds.TABLE, column="negotiation_id", order="ordinal"),
    Embed(field="delegations", table=delegations.TABLE, column="negotiation_id", order="id"),
)

LISTING = TABLE.listing(
    NegotiationPage,
    name="negotiations",
    sorts=standard_sorts(("title", str)),
    filters={
        "party_id": "id in (select negotiation_id from negotiation_parties "
        "where organization_id = {0})",
        "mediator_id": "id in (select negotiation_id from negotiation_mediators "
        "where organization_id = {0})",
        "status": "status = {0}",
        "title": TITLE_MATCHES,
        "from": "(end_date is null or accord_last_day(end_date, end_precision) >= {0})",
        "to": "start_date <= {0}",
    },
)

CREATE_EXAMPLE: dict[str, Any] = {
    "title": "Russia–Ukraine direct talks",
    "status": "active",
    "parties": ["0193a0a0-0000-7000-8000-000000000001", "0193a0a0-0000-7000-8000-000000000002"],
    "mediators": [
        {"organization_id": "0193a0a0-0000-7000-8000-000000000003", "role": "mediator"},
        {"organization_id": "0193a0a0-0000-7000-8000-000000000004", "role": "host"},
    ],
    "start_date": "2025-05-16",
}
PATCH_EXAMPLE: dict[str, Any] = {"status": "suspended"}

# --- handlers ----------------------------------------------------------------------------------


@public_collection(
    LISTING,
    operation_id="listNegotiations",
    summary="List negotiations",
    description="Filter by party, mediator, status, title and a date range (negotiations "
    "under way at some time in it; `from`/`to` may be partial). Cursor-paginated.",
)
async def list_negotiations(
    request: Request[Any, Any, Any],
    party_id: Annotated[UUID | None, QueryParameter(description="A party.")] = None,
    mediator_id: Annotated[UUID | None, QueryParameter(description="A mediator.")] = None,
    status: Annotated[NegotiationStatus | None, QueryParameter()] = None,
    title: NameQuery = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    updated_since: UpdatedSince = None,
    disputed: DisputedQuery = None,
    sort: Annotated[Literal["id", "title", "-title"], QueryParameter()] = "id",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[NegotiationPage]:
    filters = LISTING.where(
        party_id=party_id,
        mediator_id=mediator_id,
        status=status,
        title=title,
        **date_range(date_from, date_to),
        **record_filters(updated_since, disputed),
    )
    return await LISTING.page(request, filters, limit=limit, cursor=cursor, sort=sort)


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/negotiations",
        tags=["negotiations"],
        route_handlers=[
            list_negotiations,
            *record_handlers(
                TABLE,
                create_example=CREATE_EXAMPLE,
                patch_example=PATCH_EXAMPLE,
                name="Negotiation",
                patch_type=NegotiationPatch,
                referenced_by="delegations, rounds or memoranda",
                embeds=EMBEDS,
            ),
            claims.about(TABLE, "Negotiation"),
        ],
    )
