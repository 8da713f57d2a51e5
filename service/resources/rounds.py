"""Rounds: a meeting of a negotiation — its ordinal, status, venue and dates, the mediators
and delegations present, its agenda (free text and memoranda to discuss) and its outcome. A
read shows who headed each delegation present at the round."""

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
    SortKey,
    public_collection,
    standard_sorts,
)
from service.core.params import CountryQuery, DateFrom, DateTo, DisputedQuery, UpdatedSince
from service.core.records import patch_of
from service.core.routes import ResourceRouter, record_handlers
from service.core.tables import Link, Table, record_filters
from service.core.types import (
    Citations,
    CountryCode,
    Name,
    Note,
    PartialDate,
    Text,
    date_range,
    parse_partial_date,
)
from service.resources import claims

# --- structs -----------------------------------------------------------------------------------

RoundStatus = Literal["proposed", "awaited", "scheduled", "held", "postponed", "cancelled"]


class Venue(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    city: Name | None = None
    country_code: CountryCode | None = None
    place: Name | None = None
    """The building or site, e.g. `Çırağan Palace`."""


class AgendaItem(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Something to discuss: a memorandum of the same negotiation, a free-text item, or a
    memorandum with a remark. At least one of the two."""

    memorandum_id: UUID | None = None
    item: Text | None = None


class RoundCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A round of a negotiation. A held round has its start day; a held or cancelled round
    keeps that status (record a new round instead)."""

    negotiation_id: UUID
    ordinal: Annotated[int, msgspec.Meta(ge=1, le=10000)]
    """1 for the first round; unique within the negotiation."""
    status: RoundStatus
    venue: Venue | None = None
    start_date: PartialDate | None = None
    """As precise as known: a planned round may have only a month or a year."""
    end_date: PartialDate | None = None
    mediators: Annotated[list[UUID], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )
    """Organizations mediating or hosting at this round."""
    delegation_ids: Annotated[list[UUID], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )
    """The delegations (of this negotiation) present."""
    agenda: Annotated[list[AgendaItem], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list
    )
    outcome: Text | None = None
    citations: Citations = msgspec.field(default_factory=list)
    note: Note | None = None


RoundPatch = patch_of(RoundCreate)


class HeadAtRound(msgspec.Struct, kw_only=True):
    official_id: UUID
    name: str


class DelegationAtRound(msgspec.Struct, kw_only=True):
    """A delegation present and who headed it on the round's start day (today for a round
    not yet dated)."""

    delegation_id: UUID
    party_id: UUID
    heads: list[HeadAtRound]


class Round(RoundCreate, kw_only=True, forbid_unknown_fields=False):
    id: UUID
    version: int
    """Revision number, +1 on every change; the ETag carries it."""
    created_at: datetime
    updated_at: datetime
    disputed: bool
    """True while claims about it disagree (see its `claims`); read-only."""
    delegations_present: list[DelegationAtRound]
    """Derived from `delegation_ids` and the delegations' members; read-only."""


class RoundPage(Page[Round]):
    """A page of rounds."""


# --- queries -----------------------------------------------------------------------------------


def _params(r: RoundCreate) -> tuple[Any, ...]:
    venue = r.venue or Venue()
    return (
        r.negotiation_id,
        r.ordinal,
        r.status,
        venue.city,
        venue.country_code,
        venue.place,
        *parse_partial_date(r.start_date, "start_date"),
        *parse_partial_date(r.end_date, "end_date"),
        r.outcome,
        r.note,
    )


_DELEGATIONS_PRESENT = """(
select coalesce(jsonb_agg(jsonb_build_object(
           'delegation_id', d.id, 'party_id', d.party_id,
           'heads', (select coalesce(jsonb_agg(jsonb_build_object('official_id', o.id,
                                                                  'name', o.name)
                                               order by m.position), '[]'::jsonb)
                       from delegation_members m join officials o on o.id = m.official_id
                      where m.delegation_id = d.id and m.role = 'head'
                        and m.period @> coalesce(rounds.start_date, current_date)))
           order by rd.position), '[]'::jsonb)
  from round_delegations rd join delegations d on d.id = rd.delegation_id
 where rd.round_id = rounds.id)"""

TABLE = Table(
    table="rounds",
    label="round",
    columns="id, version, created_at, updated_at, negotiation_id, ordinal, status, "
    "case when num_nonnulls(venue_city, venue_country_code, venue_place) > 0 then "
    "jsonb_build_object('city', venue_city, 'country_code', venue_country_code, "
    "'place', venue_place) end as venue, "
    "accord_partial_date(start_date, start_precision) as start_date, "
    "accord_partial_date(end_date, end_precision) as end_date, outcome, note",
    record=Round,
    create=RoundCreate,
    writes=(
        "negotiation_id",
        "ordinal",
        "status",
        "venue_city",
        "venue_country_code",
        "venue_place",
        "start_date",
        "start_precision",
        "end_date",
        "end_precision",
        "outcome",
        "note",
    ),
    params=_params,
    links=(
        Link.of_ids(
            "mediators", table="round_mediators", parent="round_id", column="organization_id"
        ),
        Link.of_ids(
            "delegation_ids", table="round_delegations", parent="round_id", column="delegation_id"
        ),
        Link(
            field="agenda",
            table="round_agenda",
            parent="round_id",
            columns=(("memorandum_id", "uuid"), ("item", "text")),
            item="jsonb_build_object('memorandum_id', l.memorandum_id, 'item', l.item)",
        ),
    ),
    derived={"delegations_present": _DELEGATIONS_PRESENT},
)

_IN_NEGOTIATION_ORDER = SortKey(
    (
        ("negotiation_id", "negotiation_id", UUID),
        ("ordinal", "ordinal", int),
        ("id", "id", UUID),
    )
)

LISTING = TABLE.listing(
    RoundPage,
    name="rounds",
    sorts={**standard_sorts(), "ordinal": _IN_NEGOTIATION_ORDER},
    filters={
        "negotiation_id": "negotiation_id = {0}",
        "status": "status = {0}",
        "venue_country_code": "venue_country_code = {0}",
        "from": "coalesce(accord_last_day(end_date, end_precision), "
        "accord_last_day(start_date, start_precision)) >= {0}",
        "to": "start_date <= {0}",
    },
)

CREATE_EXAMPLE: dict[str, Any] = {
    "negotiation_id": "0193a0a4-0000-7000-8000-000000000001",
    "ordinal": 4,
    "status": "proposed",
    "venue": {"city": "Istanbul", "country_code": "TR"},
    "start_date": "2025-08",
    "agenda": [{"item": "Procedures agreed in Istanbul"}],
}
PATCH_EXAMPLE: dict[str, Any] = {"status": "postponed", "note": "Awaiting Ukraine's proposals."}

# --- handlers ----------------------------------------------------------------------------------


@public_collection(
    LISTING,
    operation_id="listRounds",
    summary="List rounds",
    description="Filter by negotiation, status, venue country and a date range (rounds "
    "under way at some time in it; `from`/`to` may be partial). `sort=ordinal` lists each "
    "negotiation's rounds in order. Cursor-paginated.",
)
async def list_rounds(
    request: Request[Any, Any, Any],
    negotiation_id: Annotated[UUID | None, QueryParameter()] = None,
    status: Annotated[RoundStatus | None, QueryParameter()] = None,
    venue_country_code: CountryQuery = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    updated_since: UpdatedSince = None,
    disputed: DisputedQuery = None,
    sort: Annotated[Literal["id", "ordinal"], QueryParameter()] = "id",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[RoundPage]:
    filters = LISTING.where(
        negotiation_id=negotiation_id,
        status=status,
        venue_country_code=venue_country_code,
        **date_range(date_from, date_to),
        **record_filters(updated_since, disputed),
    )
    return await LISTING.page(request, filters, limit=limit, cursor=cursor, sort=sort)


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/rounds",
        tags=["rounds"],
        route_handlers=[
            list_rounds,
            *record_handlers(
                TABLE,
                create_example=CREATE_EXAMPLE,
                patch_example=PATCH_EXAMPLE,
                name="Round",
                patch_type=RoundPatch,
                referenced_by="memoranda, agreements or delegation members",
            ),
            claims.about(TABLE, "Round"),
        ],
    )
