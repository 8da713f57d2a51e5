"""Organizations: states, governments, ministries, agencies, media outlets, international
organisations — with their parent (Ministry of Defence → Ukraine)."""

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
from service.core.params import CountryQuery, DisputedQuery, NameQuery, UpdatedSince
from service.core.records import patch_of
from service.core.routes import ResourceRouter, record_handlers
from service.core.tables import NAME_MATCHES, Table, record_filters
from service.core.types import Citations, CountryCode, Name, Note, OtherNames
from service.resources import claims

# --- structs -----------------------------------------------------------------------------------

OrganizationKind = Literal[
    "state",
    "government",
    "ministry",
    "agency",
    "media_outlet",
    "international_organization",
    "other",
]


class OrganizationCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A state, government body, agency, media outlet or international organisation."""

    name: Name
    kind: OrganizationKind
    parent_id: UUID | None = None
    """The organization this one belongs to (a ministry's state)."""
    country_code: CountryCode | None = None
    other_names: OtherNames = msgspec.field(default_factory=list)
    citations: Citations = msgspec.field(default_factory=list)
    note: Note | None = None


OrganizationPatch = patch_of(OrganizationCreate)


class Organization(OrganizationCreate, kw_only=True, forbid_unknown_fields=False):
    id: UUID
    version: int
    """Revision number, +1 on every change; the ETag carries it."""
    created_at: datetime
    updated_at: datetime
    disputed: bool
    """True while claims about it disagree (see its `claims`); read-only."""


class OrganizationPage(Page[Organization]):
    """A page of organizations."""


# --- queries -----------------------------------------------------------------------------------

TABLE = Table(
    table="organizations",
    label="organization",
    columns="id, version, created_at, updated_at, name, kind, parent_id, country_code, "
    "other_names, note",
    record=Organization,
    create=OrganizationCreate,
    writes=("name", "kind", "parent_id", "country_code", "other_names", "note"),
    params=lambda o: (o.name, o.kind, o.parent_id, o.country_code, o.other_names, o.note),
)

LISTING = TABLE.listing(
    OrganizationPage,
    name="organizations",
    sorts=standard_sorts(("name", str)),
    filters={
        "kind": "kind = {0}",
        "parent_id": "parent_id = {0}",
        "country_code": "country_code = {0}",
        "name": NAME_MATCHES,
    },
)

CREATE_EXAMPLE: dict[str, Any] = {
    "name": "Ministry of Defence of Ukraine",
    "kind": "ministry",
    "parent_id": "0193a0a0-0000-7000-8000-000000000002",
    "country_code": "UA",
    "other_names": [{"name": "Міністерство оборони України", "lang": "uk"}],
}
PATCH_EXAMPLE: dict[str, Any] = {"note": "Reported by Ukrainska Pravda.", "country_code": None}

# --- handlers ----------------------------------------------------------------------------------


@public_collection(
    LISTING,
    operation_id="listOrganizations",
    summary="List organizations",
    description="Filter by kind, parent, country or name (any name or spelling, in any "
    "script, ignoring case and accents, tolerating small misspellings). Cursor-paginated.",
)
async def list_organizations(
    request: Request[Any, Any, Any],
    kind: Annotated[OrganizationKind | None, QueryParameter()] = None,
    parent_id: Annotated[UUID | None, QueryParameter()] = None,
    country_code: CountryQuery = None,
    name: NameQuery = None,
    updated_since: UpdatedSince = None,
    disputed: DisputedQuery = None,
    sort: Annotated[Literal["id", "name", "-name"], QueryParameter()] = "id",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[OrganizationPage]:
    filters = LISTING.where(
        kind=kind,
        parent_id=parent_id,
        country_code=country_code,
        name=name,
        **record_filters(updated_since, disputed),
    )
    return await LISTING.page(request, filters, limit=limit, cursor=cursor, sort=sort)


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/organizations",
        tags=["organizations"],
        route_handlers=[
            list_organizations,
            *record_handlers(
                TABLE,
                create_example=CREATE_EXAMPLE,
                patch_example=PATCH_EXAMPLE,
                name="Organization",
                patch_type=OrganizationPatch,
                referenced_by="child organizations, officials or posts",
            ),
            claims.about(TABLE, "Organization"),
        ],
    )
