"""Role changes: an appointment, dismissal, resignation, acting appointment or nomination of
an official to a post, with its status (proposed, announced, effective, withdrawn) and its
announced and effective dates, each as precise as it is known."""

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
    Page,
    SortKey,
    public_collection,
    standard_sorts,
)
from service.core.params import DateFrom, DateTo, DisputedQuery, UpdatedSince
from service.core.records import patch_of
from service.core.routes import ResourceRouter, record_handlers
from service.core.tables import Table, record_filters
from service.core.types import Citations, Note, PartialDate, date_range, parse_partial_date
from service.resources import claims

# --- structs -----------------------------------------------------------------------------------

RoleChangeKind = Literal[
    "appointment", "acting_appointment", "dismissal", "resignation", "nomination"
]
RoleChangeStatus = Literal["proposed", "announced", "effective", "withdrawn"]


class RoleChangeCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A change in who holds a post. Only `effective` appointments and acting appointments
    start a tenure and only `effective` dismissals and resignations end one; a `nomination`
    (a proposal to appoint) never does, whatever becomes of it."""

    official_id: UUID
    post_id: UUID
    kind: RoleChangeKind
    status: RoleChangeStatus
    effective_date: PartialDate | None = None
    """When it took (or takes) effect; required once `effective`."""
    announced_date: PartialDate | None = None
    """When it was made public; not after the effective date."""
    citations: Citations = msgspec.field(default_factory=list)
    note: Note | None = None


RoleChangePatch = patch_of(RoleChangeCreate)


class RoleChange(RoleChangeCreate, kw_only=True, forbid_unknown_fields=False):
    id: UUID
    version: int
    """Revision number, +1 on every change; the ETag carries it."""
    created_at: datetime
    updated_at: datetime
    disputed: bool
    """True while claims about it disagree (see its `claims`); read-only."""


class RoleChangePage(Page[RoleChange]):
    """A page of role changes."""


# --- queries -----------------------------------------------------------------------------------


def _params(change: RoleChangeCreate) -> tuple[Any, ...]:
    return (
        change.official_id,
        change.post_id,
        change.kind,
        change.status,
        *parse_partial_date(change.effective_date, "effective_date"),
        *parse_partial_date(change.announced_date, "announced_date"),
        change.note,
    )


TABLE = Table(
    table="role_changes",
    label="role change",
    columns="id, version, created_at, updated_at, official_id, post_id, kind, status, "
    "accord_partial_date(effective_date, effective_precision) as effective_date, "
    "accord_partial_date(announced_date, announced_precision) as announced_date, "
    "note, event_date",
    record=RoleChange,
    create=RoleChangeCreate,
    writes=(
        "official_id",
        "post_id",
        "kind",
        "status",
        "effective_date",
        "effective_precision",
        "announced_date",
        "announced_precision",
        "note",
    ),
    params=_params,
)

_BY_DATE = (("event_date", "event_date", date), ("id", "id", UUID))

LISTING = TABLE.listing(
    RoleChangePage,
    name="role-changes",
    sorts={
        **standard_sorts(),
        "date": SortKey(_BY_DATE),
        "-date": SortKey(_BY_DATE, descending=True),
    },
    filters={
        "official_id": "official_id = {0}",
        "post_id": "post_id = {0}",
        "kind": "kind = {0}",
        "status": "status = {0}",
        "from": "event_date >= {0}",
        "to": "event_date <= {0}",
        "dated": "event_date is not null",
    },
)

CREATE_EXAMPLE: dict[str, Any] = {
    "official_id": "0193a0a1-0000-7000-8000-000000000002",
    "post_id": "0193a0a2-0000-7000-8000-000000000002",
    "kind": "nomination",
    "status": "withdrawn",
    "announced_date": "2025-07",
    "note": "Proposed as ambassador to the U.S., then dropped.",
}
PATCH_EXAMPLE: dict[str, Any] = {"status": "effective", "effective_date": "2025-07-17"}

# --- handlers ----------------------------------------------------------------------------------


@public_collection(
    LISTING,
    operation_id="listRoleChanges",
    summary="List role changes",
    description="Filter by official, post, kind, status and a date range on the change's "
    "date (effective, else announced); `from`/`to` may be partial (`to=2025` means through "
    "2025-12-31). `sort=date` orders chronologically (changes with a date only). "
    "Cursor-paginated.",
)
async def list_role_changes(
    request: Request[Any, Any, Any],
    official_id: Annotated[UUID | None, QueryParameter()] = None,
    post_id: Annotated[UUID | None, QueryParameter()] = None,
    kind: Annotated[RoleChangeKind | None, QueryParameter()] = None,
    status: Annotated[RoleChangeStatus | None, QueryParameter()] = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    updated_since: UpdatedSince = None,
    disputed: DisputedQuery = None,
    sort: Annotated[Literal["id", "date", "-date"], QueryParameter()] = "id",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[RoleChangePage]:
    filters = LISTING.where(
        official_id=official_id,
        post_id=post_id,
        kind=kind,
        status=status,
        dated=sort != "id",
        **date_range(date_from, date_to),
        **record_filters(updated_since, disputed),
    )
    return await LISTING.page(request, filters, limit=limit, cursor=cursor, sort=sort)


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/role-changes",
        tags=["role-changes"],
        route_handlers=[
            list_role_changes,
            *record_handlers(
                TABLE,
                create_example=CREATE_EXAMPLE,
                patch_example=PATCH_EXAMPLE,
                name="RoleChange",
                patch_type=RoleChangePatch,
                referenced_by="tenures",
            ),
            claims.about(TABLE, "RoleChange"),
        ],
    )
