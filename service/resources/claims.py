"""Claims: attributed assertions about a record ("the 1,000-body handover falls under the
Istanbul agreements"), each with its claimant, stance, the statement that made it and its
sources. Claims that affirm and deny the same thing make their subject **disputed**; every
resource serves the claims about a record at ``/{id}/claims``."""

# No ``from __future__ import annotations``: ``about`` makes a Litestar handler whose
# annotations Litestar reads at runtime.

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Request, Response
from litestar.handlers import HTTPRouteHandler
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
from service.core.routes import ResourceRouter, record_handlers, sub_collection
from service.core.tables import Table, record_filters
from service.core.types import NO_NUL_PATTERN, Citations, Note

# --- structs -----------------------------------------------------------------------------------

Predicate = Literal[
    "falls_under_agreement",
    "held_post",
    "attended_round",
    "headed_delegation",
    "authored",
    "quantity",
    "date",
    "status",
]
Stance = Literal["affirms", "denies"]
ObjectValue = Annotated[str, msgspec.Meta(max_length=900, pattern=NO_NUL_PATTERN)] | int | bool
"""A value a claim asserts: a number (`quantity`) or a word or partial date (`status`,
`date`); PostgreSQL checks which one a predicate takes, and bounds the value as stored JSON
to 1,000 characters (900 leave room for its quotes and escapes)."""


class ClaimCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Who asserts (or denies) what about a record. The predicate says what the object must
    be: `falls_under_agreement` an agreement, `held_post` a post, `attended_round` a round,
    `headed_delegation` a delegation, `authored` a memorandum (each by `object_id`);
    `quantity` a number, `date` a partial date and `status` a word (as `object_value`)."""

    subject_id: UUID
    """The record the claim is about, of any resource."""
    predicate: Predicate
    object_id: UUID | None = None
    object_value: ObjectValue | None = None
    claimant_official_id: UUID | None = None
    claimant_organization_id: UUID | None = None
    """Exactly one claimant: an official, or an organization speaking as a body."""
    stance: Stance
    statement_id: UUID | None = None
    """The statement in which the claimant made it."""
    citations: Citations = msgspec.field(default_factory=list)
    note: Note | None = None


ClaimPatch = patch_of(ClaimCreate)


class Claim(ClaimCreate, kw_only=True, forbid_unknown_fields=False):
    id: UUID
    version: int
    """Revision number, +1 on every change; the ETag carries it."""
    created_at: datetime
    updated_at: datetime
    subject_kind: str
    """The subject's resource, singular (`exchange`); read-only."""
    disputed: bool
    """True while claims about this claim disagree; read-only."""


class ClaimPage(Page[Claim]):
    """A page of claims."""


# --- queries -----------------------------------------------------------------------------------

TABLE = Table(
    table="claims",
    label="claim",
    columns="id, version, created_at, updated_at, subject_id, predicate, object_id, "
    "object_value, claimant_official_id, claimant_organization_id, stance, statement_id, note",
    record=Claim,
    create=ClaimCreate,
    writes=(
        "subject_id",
        "predicate",
        "object_id",
        "object_value",
        "claimant_official_id",
        "claimant_organization_id",
        "stance",
        "statement_id",
        "note",
    ),
    params=lambda c: (
        c.subject_id,
        c.predicate,
        c.object_id,
        c.object_value,
        c.claimant_official_id,
        c.claimant_organization_id,
        c.stance,
        c.statement_id,
        c.note,
    ),
    derived={"subject_kind": "(select kind from accord_records where id = claims.subject_id)"},
)

LISTING = TABLE.listing(
    ClaimPage,
    name="claims",
    sorts=standard_sorts(),
    filters={
        "subject_id": "subject_id = {0}",
        "predicate": "predicate = {0}",
        "object_id": "object_id = {0}",
        "stance": "stance = {0}",
        "statement_id": "statement_id = {0}",
        "claimant_official_id": "claimant_official_id = {0}",
        "claimant_organization_id": "claimant_organization_id = {0}",
    },
)
ABOUT = TABLE.listing(
    ClaimPage,
    name="claims-about",
    sorts=standard_sorts(),
    filters={"subject_id": "subject_id = {0}"},
)

CREATE_EXAMPLE: dict[str, Any] = {
    "subject_id": "0193a0a9-0000-7000-8000-000000000005",
    "predicate": "falls_under_agreement",
    "object_id": "0193a0a8-0000-7000-8000-000000000003",
    "claimant_official_id": "0193a0a1-0000-7000-8000-000000000001",
    "stance": "affirms",
}
PATCH_EXAMPLE: dict[str, Any] = {"note": "Said on Telegram."}

# --- handlers ----------------------------------------------------------------------------------


@public_collection(
    LISTING,
    operation_id="listClaims",
    summary="List claims",
    description="Filter by subject, predicate, object, stance, statement and claimant. "
    "Cursor-paginated.",
)
async def list_claims(
    request: Request[Any, Any, Any],
    subject_id: Annotated[UUID | None, QueryParameter()] = None,
    predicate: Annotated[Predicate | None, QueryParameter()] = None,
    object_id: Annotated[UUID | None, QueryParameter()] = None,
    stance: Annotated[Stance | None, QueryParameter()] = None,
    statement_id: Annotated[UUID | None, QueryParameter()] = None,
    claimant_official_id: Annotated[UUID | None, QueryParameter()] = None,
    claimant_organization_id: Annotated[UUID | None, QueryParameter()] = None,
    updated_since: UpdatedSince = None,
    disputed: DisputedQuery = None,
    sort: Annotated[Literal["id"], QueryParameter()] = "id",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[ClaimPage]:
    filters = LISTING.where(
        subject_id=subject_id,
        predicate=predicate,
        object_id=object_id,
        stance=stance,
        statement_id=statement_id,
        claimant_official_id=claimant_official_id,
        claimant_organization_id=claimant_organization_id,
        **record_filters(updated_since, disputed),
    )
    return await LISTING.page(request, filters, limit=limit, cursor=cursor, sort=sort)


def about(table: Table[Any, Any], name: str) -> HTTPRouteHandler:
    """``GET /{id}/claims`` for a resource: the claims about one of its records."""
    return sub_collection(
        table,
        ABOUT,
        path="claims",
        key="subject_id",
        operation_id=f"list{name}Claims",
        summary=f"Claims about {table.a_label}",
        description="Every claim whose subject it is, affirming or denying; the record is "
        "`disputed` while two of them disagree on the same predicate and object. "
        "Cursor-paginated.",
    )


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/claims",
        tags=["claims"],
        route_handlers=[
            list_claims,
            *record_handlers(
                TABLE,
                create_example=CREATE_EXAMPLE,
                patch_example=PATCH_EXAMPLE,
                name="Claim",
                patch_type=ClaimPatch,
                referenced_by="other claims",
            ),
            about(TABLE, "Claim"),
        ],
    )
