"""Organizations: states, governments, ministries, agencies, media outlets, international
organisations — with their parent (Ministry of Defence → Ukraine)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Body, QueryParameter

from service.core.database import pool_of, transaction
from service.core.pagination import CursorParam, Limit, Listing, Page, SortKey
from service.core.problems import problem_responses
from service.core.records import (
    ETAG_HEADER,
    LOCATION_HEADER,
    IfMatch,
    IfNoneMatch,
    RecordId,
    created,
    patch_of,
    read,
    written,
)
from service.core.tables import Table
from service.core.types import CountryCode, Name, NameFilter, Note, OtherNames

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
    """The organization this one belongs to (a ministry's government or state)."""
    country_code: CountryCode | None = None
    other_names: OtherNames = msgspec.field(default_factory=list)
    note: Note | None = None


if TYPE_CHECKING:
    OrganizationPatch = msgspec.Struct
else:
    OrganizationPatch = patch_of(OrganizationCreate)


class Organization(OrganizationCreate, kw_only=True):
    id: UUID
    version: int
    """Revision number, +1 on every change; the ETag carries it."""
    created_at: datetime
    updated_at: datetime


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

LISTING = Listing(
    name="organizations",
    select=TABLE.select,
    sorts={
        "id": SortKey((("id", "id", UUID),)),
        "name": SortKey((("name", "name", str), ("id", "id", UUID))),
        "-name": SortKey((("name", "name", str), ("id", "id", UUID)), descending=True),
    },
    default_sort="id",
    make=TABLE.make,
)

NAME_MATCHES = "(search_names like accord_contains({0}) or accord_fold({0}) <% search_names)"

# --- handlers ----------------------------------------------------------------------------------

EXAMPLE_ID = "0193a0a0-0000-7000-8000-000000000002"


class OrganizationController(Controller):
    path = "/v1/organizations"
    tags = ["organizations"]

    @get(
        "/",
        operation_id="listOrganizations",
        summary="List organizations",
        description="Filter by kind, parent, country or any of their names (all scripts, "
        "accent- and case-insensitive, typo-tolerant). Cursor-paginated.",
        responses=problem_responses(422),
    )
    async def list_organizations(
        self,
        request: Request[Any, Any, Any],
        kind: Annotated[OrganizationKind | None, QueryParameter()] = None,
        parent_id: Annotated[UUID | None, QueryParameter()] = None,
        country_code: Annotated[CountryCode | None, QueryParameter()] = None,
        name: Annotated[
            NameFilter | None, QueryParameter(description="Matches any name or spelling.")
        ] = None,
        sort: Annotated[Literal["id", "name", "-name"], QueryParameter()] = "id",
        limit: Limit = 50,
        cursor: CursorParam = None,
    ) -> Response[Page[Organization]]:
        filters: list[tuple[str, Any]] = []
        if kind is not None:
            filters.append(("kind = {0}", kind))
        if parent_id is not None:
            filters.append(("parent_id = {0}", parent_id))
        if country_code is not None:
            filters.append(("country_code = {0}", country_code))
        if name is not None:
            filters.append((NAME_MATCHES, name))
        return await LISTING.page(request, filters, limit=limit, cursor=cursor, sort=sort)

    @get(
        "/{id:uuid}",
        operation_id="getOrganization",
        summary="Get an organization",
        response_headers=[ETAG_HEADER],
        responses=problem_responses(404),
    )
    async def get_organization(
        self, request: Request[Any, Any, Any], id: RecordId, if_none_match: IfNoneMatch = None
    ) -> Response[Organization]:
        return read(await TABLE.get(pool_of(request), id), if_none_match)

    @post(
        "/",
        operation_id="createOrganization",
        summary="Create an organization",
        response_headers=[ETAG_HEADER, LOCATION_HEADER],
        responses=problem_responses(409, 422),
    )
    async def create_organization(
        self, request: Request[Any, Any, Any], data: Annotated[OrganizationCreate, Body()]
    ) -> Response[Organization]:
        async with transaction(pool_of(request)) as conn:
            item = await TABLE.insert(conn, data)
        return created(request, item)

    @patch(
        "/{id:uuid}",
        operation_id="updateOrganization",
        summary="Change an organization (JSON merge patch)",
        response_headers=[ETAG_HEADER],
        responses=problem_responses(404, 409, 412, 422),
    )
    async def update_organization(
        self,
        request: Request[Any, Any, Any],
        id: RecordId,
        data: Annotated[OrganizationPatch, Body(media_type="application/merge-patch+json")],
        if_match: IfMatch = None,
    ) -> Response[Organization]:
        async with transaction(pool_of(request)) as conn:
            item = await TABLE.update(conn, id, data, if_match)
        return written(item)

    @delete(
        "/{id:uuid}",
        operation_id="deleteOrganization",
        summary="Delete an organization",
        description="409 while other records refer to it.",
        responses=problem_responses(404, 409, 412),
    )
    async def delete_organization(
        self, request: Request[Any, Any, Any], id: RecordId, if_match: IfMatch = None
    ) -> None:
        async with transaction(pool_of(request)) as conn:
            await TABLE.delete(conn, id, if_match)
