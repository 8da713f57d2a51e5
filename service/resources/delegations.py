"""Delegations: one party's team in one negotiation, and its members — officials with a
delegation role over dates or from one round to another. PostgreSQL refuses two heads of one
delegation at the same time and a delegation of an organization that is not a party."""

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
from service.core.params import DisputedQuery, UpdatedSince
from service.core.records import patch_of
from service.core.routes import ResourceRouter, record_handlers
from service.core.tables import Link, Table, record_filters
from service.core.types import Citations, Name, Note, PartialDate, parse_partial_date
from service.resources import claims

# --- structs -----------------------------------------------------------------------------------

DelegationRole = Literal["head", "deputy_head", "member", "adviser", "expert"]


class DelegationMember(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An official on the team, in a role, over a period: from `start_date`, else from the
    start of `from_round_id`, else from the beginning; to `end_date` (its last day), else to
    the end of `to_round_id`, else still on it. One head at a time."""

    official_id: UUID
    role: DelegationRole
    start_date: PartialDate | None = None
    end_date: PartialDate | None = None
    from_round_id: UUID | None = None
    """The first round (of the same negotiation) the official took part in this role."""
    to_round_id: UUID | None = None
    """The last round in this role."""
    note: Note | None = None


class DelegationCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A party's team in a negotiation; the party must be one of the negotiation's parties
    and has one delegation per negotiation."""

    negotiation_id: UUID
    party_id: UUID
    """The organization (a party of the negotiation) the team speaks for."""
    name: Name | None = None
    members: Annotated[list[DelegationMember], msgspec.Meta(max_length=200)] = msgspec.field(
        default_factory=list
    )
    citations: Citations = msgspec.field(default_factory=list)
    note: Note | None = None


DelegationPatch = patch_of(DelegationCreate)


class Delegation(DelegationCreate, kw_only=True, forbid_unknown_fields=False):
    id: UUID
    version: int
    """Revision number, +1 on every change; the ETag carries it."""
    created_at: datetime
    updated_at: datetime
    disputed: bool
    """True while claims about it disagree (see its `claims`); read-only."""


class DelegationPage(Page[Delegation]):
    """A page of delegations."""


# --- queries -----------------------------------------------------------------------------------


def _member_row(member: DelegationMember) -> tuple[Any, ...]:
    return (
        member.official_id,
        member.role,
        *parse_partial_date(member.start_date, "members.start_date"),
        *parse_partial_date(member.end_date, "members.end_date"),
        member.from_round_id,
        member.to_round_id,
        member.note,
    )


MEMBERS = Link(
    field="members",
    table="delegation_members",
    parent="delegation_id",
    columns=(
        ("official_id", "uuid"),
        ("role", "text"),
        ("start_date", "date"),
        ("start_precision", "text"),
        ("end_date", "date"),
        ("end_precision", "text"),
        ("from_round_id", "uuid"),
        ("to_round_id", "uuid"),
        ("note", "text"),
    ),
    item="jsonb_build_object('official_id', l.official_id, 'role', l.role, "
    "'start_date', accord_partial_date(l.start_date, l.start_precision), "
    "'end_date', accord_partial_date(l.end_date, l.end_precision), "
    "'from_round_id', l.from_round_id, 'to_round_id', l.to_round_id, 'note', l.note)",
    row=_member_row,
)

TABLE = Table(
    table="delegations",
    label="delegation",
    columns="id, version, created_at, updated_at, negotiation_id, party_id, name, note",
    record=Delegation,
    create=DelegationCreate,
    writes=("negotiation_id", "party_id", "name", "note"),
    params=lambda d: (d.negotiation_id, d.party_id, d.name, d.note),
    links=(MEMBERS,),
)

LISTING = TABLE.listing(
    DelegationPage,
    name="delegations",
    sorts=standard_sorts(),
    filters={
        "negotiation_id": "negotiation_id = {0}",
        "party_id": "party_id = {0}",
        "official_id": "id in (select delegation_id from delegation_members "
        "where official_id = {0})",
    },
)

CREATE_EXAMPLE: dict[str, Any] = {
    "negotiation_id": "0193a0a4-0000-7000-8000-000000000001",
    "party_id": "0193a0a0-0000-7000-8000-000000000002",
    "name": "Delegation of Ukraine",
    "members": [
        {
            "official_id": "0193a0a1-0000-7000-8000-000000000002",
            "role": "head",
            "from_round_id": "0193a0a5-0000-7000-8000-000000000001",
        }
    ],
}
PATCH_EXAMPLE: dict[str, Any] = {"note": "Reported by Anadolu Agency."}

# --- handlers ----------------------------------------------------------------------------------


@public_collection(
    LISTING,
    operation_id="listDelegations",
    summary="List delegations",
    description="Filter by negotiation, party, or an official among the members (in any "
    "role, at any time). Cursor-paginated.",
)
async def list_delegations(
    request: Request[Any, Any, Any],
    negotiation_id: Annotated[UUID | None, QueryParameter()] = None,
    party_id: Annotated[UUID | None, QueryParameter()] = None,
    official_id: Annotated[
        UUID | None, QueryParameter(description="An official who is or was a member.")
    ] = None,
    updated_since: UpdatedSince = None,
    disputed: DisputedQuery = None,
    sort: Annotated[Literal["id"], QueryParameter()] = "id",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[DelegationPage]:
    filters = LISTING.where(
        negotiation_id=negotiation_id,
        party_id=party_id,
        official_id=official_id,
        **record_filters(updated_since, disputed),
    )
    return await LISTING.page(request, filters, limit=limit, cursor=cursor, sort=sort)


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/delegations",
        tags=["delegations"],
        route_handlers=[
            list_delegations,
            *record_handlers(
                TABLE,
                create_example=CREATE_EXAMPLE,
                patch_example=PATCH_EXAMPLE,
                name="Delegation",
                patch_type=DelegationPatch,
                referenced_by="rounds",
            ),
            claims.about(TABLE, "Delegation"),
        ],
    )
