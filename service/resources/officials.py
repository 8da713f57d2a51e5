"""Officials: people, with their names in every script and transliteration, their Wikidata
id, and the career derived from their role changes (``/tenures``)."""

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
from service.core.params import DisputedQuery, NameQuery, UpdatedSince, WikidataQuery
from service.core.records import patch_of
from service.core.routes import ResourceRouter, record_handlers, sub_collection
from service.core.tables import NAME_MATCHES, Table, record_filters
from service.core.types import Citations, Name, Note, OtherNames, WikidataId
from service.resources import claims
from service.resources.tenures import TENURES_OF_OFFICIAL

# --- structs -----------------------------------------------------------------------------------


class OfficialCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A person who holds or held posts."""

    name: Name
    """The name most often used in English-language sources."""
    other_names: OtherNames = msgspec.field(default_factory=list)
    """Names in other scripts and transliterations (`Мединский`, `Medinskiy`)."""
    wikidata_id: WikidataId | None = None
    nationality_id: UUID | None = None
    """The state (an organization) whose national the official is."""
    citations: Citations = msgspec.field(default_factory=list)
    note: Note | None = None


OfficialPatch = patch_of(OfficialCreate)


class Official(OfficialCreate, kw_only=True, forbid_unknown_fields=False):
    id: UUID
    version: int
    """Revision number, +1 on every change; the ETag carries it."""
    created_at: datetime
    updated_at: datetime
    disputed: bool
    """True while claims about it disagree (see its `claims`); read-only."""


class OfficialPage(Page[Official]):
    """A page of officials."""


# --- queries -----------------------------------------------------------------------------------

TABLE = Table(
    table="officials",
    label="official",
    columns="id, version, created_at, updated_at, name, other_names, wikidata_id, "
    "nationality_id, note",
    record=Official,
    create=OfficialCreate,
    writes=("name", "other_names", "wikidata_id", "nationality_id", "note"),
    params=lambda o: (o.name, o.other_names, o.wikidata_id, o.nationality_id, o.note),
)

LISTING = TABLE.listing(
    OfficialPage,
    name="officials",
    sorts=standard_sorts(("name", str)),
    filters={
        "name": NAME_MATCHES,
        "nationality_id": "nationality_id = {0}",
        "wikidata_id": "wikidata_id = {0}",
    },
)

CREATE_EXAMPLE: dict[str, Any] = {
    "name": "Vladimir Medinsky",
    "other_names": [
        {"name": "Владимир Ростиславович Мединский", "lang": "ru"},
        {"name": "Vladimir Medinskiy", "lang": "ru-Latn"},
    ],
    "nationality_id": "0193a0a0-0000-7000-8000-000000000001",
    "note": "Head of the Russian delegation at the direct talks with Ukraine.",
}
PATCH_EXAMPLE: dict[str, Any] = {
    "wikidata_id": None,
    "note": "Also an aide to the President of Russia.",
}

# --- handlers ----------------------------------------------------------------------------------


@public_collection(
    LISTING,
    operation_id="listOfficials",
    summary="List officials",
    description="`name` matches the name and every other name in any script, ignoring case "
    "and accents and tolerating small spelling differences: `Medinskiy`, `Мединский` and "
    "`medinsky` all find Vladimir Medinsky. Cursor-paginated.",
)
async def list_officials(
    request: Request[Any, Any, Any],
    name: NameQuery = None,
    nationality_id: Annotated[UUID | None, QueryParameter()] = None,
    wikidata_id: WikidataQuery = None,
    updated_since: UpdatedSince = None,
    disputed: DisputedQuery = None,
    sort: Annotated[Literal["id", "name", "-name"], QueryParameter()] = "id",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[OfficialPage]:
    filters = LISTING.where(
        name=name,
        nationality_id=nationality_id,
        wikidata_id=wikidata_id,
        **record_filters(updated_since, disputed),
    )
    return await LISTING.page(request, filters, limit=limit, cursor=cursor, sort=sort)


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/officials",
        tags=["officials"],
        route_handlers=[
            list_officials,
            sub_collection(
                TABLE,
                TENURES_OF_OFFICIAL,
                path="tenures",
                key="official_id",
                operation_id="listOfficialTenures",
                summary="An official's career: posts held, with start and end",
                description="Derived from effective role changes, oldest first; a withdrawn "
                "proposal or a nomination never makes anyone a holder.",
            ),
            *record_handlers(
                TABLE,
                create_example=CREATE_EXAMPLE,
                patch_example=PATCH_EXAMPLE,
                name="Official",
                patch_type=OfficialPatch,
                referenced_by="role changes",
            ),
            claims.about(TABLE, "Official"),
        ],
    )
