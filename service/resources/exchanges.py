"""Exchanges: humanitarian transfers — prisoner exchanges, repatriations of bodies, returns of
civilians — with their date, direction, count, batch within a series, and the agreement they
fall under (which claims may dispute)."""

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
from service.core.tables import Table, record_filters
from service.core.types import (
    NO_NUL_PATTERN,
    Citations,
    Name,
    Note,
    PartialDate,
    date_range,
    parse_partial_date,
)
from service.resources import claims

# --- structs -----------------------------------------------------------------------------------

ExchangeKind = Literal["prisoner_exchange", "repatriation_of_bodies", "civilian_return"]


class ExchangeCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A transfer of people or remains from one party to another. Deliveries of one series
    (the 5,000 bodies that arrived in four) share `series` and are numbered by
    `batch_number`."""

    kind: ExchangeKind
    date: PartialDate | None = None
    from_party_id: UUID
    to_party_id: UUID
    # gt=-1 rather than ge=0: Litestar leaves a zero bound of an optional field out of the
    # contract, which would then allow negative counts.
    quantity: Annotated[int, msgspec.Meta(gt=-1, le=1_000_000)] | None = None
    quantity_estimated: bool = False
    """True when `quantity` is an estimate or a share of a reported total, not a count."""
    series: Name | None = None
    batch_number: Annotated[int, msgspec.Meta(ge=1, le=10000)] | None = None
    """Which delivery of its series; unique within the series."""
    agreement_id: UUID | None = None
    """The agreement it falls under, as recorded; claims may affirm or deny it."""
    citations: Citations = msgspec.field(default_factory=list)
    note: Note | None = None


ExchangePatch = patch_of(ExchangeCreate)


class Exchange(ExchangeCreate, kw_only=True, forbid_unknown_fields=False):
    id: UUID
    version: int
    """Revision number, +1 on every change; the ETag carries it."""
    created_at: datetime
    updated_at: datetime
    negotiation_id: UUID | None
    """The negotiation of its agreement; read-only."""
    disputed: bool
    """True while claims about it disagree (see its `claims`); read-only."""


class ExchangePage(Page[Exchange]):
    """A page of exchanges."""


# --- queries -----------------------------------------------------------------------------------

TABLE = Table(
    table="exchanges",
    label="exchange",
    columns="id, version, created_at, updated_at, kind, "
    "accord_partial_date(exchange_date, exchange_precision) as date, from_party_id, "
    "to_party_id, quantity, quantity_estimated, series, batch_number, agreement_id, note",
    record=Exchange,
    create=ExchangeCreate,
    writes=(
        "kind",
        "exchange_date",
        "exchange_precision",
        "from_party_id",
        "to_party_id",
        "quantity",
        "quantity_estimated",
        "series",
        "batch_number",
        "agreement_id",
        "note",
    ),
    params=lambda e: (
        e.kind,
        *parse_partial_date(e.date, "date"),
        e.from_party_id,
        e.to_party_id,
        e.quantity,
        e.quantity_estimated,
        e.series,
        e.batch_number,
        e.agreement_id,
        e.note,
    ),
    derived={
        "negotiation_id": "(select r.negotiation_id from agreements a "
        "join rounds r on r.id = a.round_id where a.id = exchanges.agreement_id)"
    },
)

LISTING = TABLE.listing(
    ExchangePage,
    name="exchanges",
    sorts=standard_sorts(),
    filters={
        "kind": "kind = {0}",
        "from_party_id": "from_party_id = {0}",
        "to_party_id": "to_party_id = {0}",
        "agreement_id": "agreement_id = {0}",
        "negotiation_id": "agreement_id in (select a.id from agreements a "
        "join rounds r on r.id = a.round_id where r.negotiation_id = {0})",
        "series": "series = {0}",
        "from": "accord_last_day(exchange_date, exchange_precision) >= {0}",
        "to": "exchange_date <= {0}",
    },
)

CREATE_EXAMPLE: dict[str, Any] = {
    "kind": "repatriation_of_bodies",
    "date": "2025-07",
    "from_party_id": "0193a0a0-0000-7000-8000-000000000001",
    "to_party_id": "0193a0a0-0000-7000-8000-000000000002",
    "quantity": 1000,
}
PATCH_EXAMPLE: dict[str, Any] = {"note": "Received by the Coordination Headquarters."}

# --- handlers ----------------------------------------------------------------------------------


@public_collection(
    LISTING,
    operation_id="listExchanges",
    summary="List exchanges",
    description="Filter by kind, from-party, to-party, agreement, negotiation, series and a "
    "date range (`from`/`to` may be partial). Cursor-paginated.",
)
async def list_exchanges(
    request: Request[Any, Any, Any],
    kind: Annotated[ExchangeKind | None, QueryParameter()] = None,
    from_party_id: Annotated[UUID | None, QueryParameter()] = None,
    to_party_id: Annotated[UUID | None, QueryParameter()] = None,
    agreement_id: Annotated[UUID | None, QueryParameter()] = None,
    negotiation_id: Annotated[UUID | None, QueryParameter()] = None,
    series: Annotated[
        str | None, QueryParameter(min_length=1, max_length=300, pattern=NO_NUL_PATTERN)
    ] = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    updated_since: UpdatedSince = None,
    disputed: DisputedQuery = None,
    sort: Annotated[Literal["id"], QueryParameter()] = "id",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[ExchangePage]:
    filters = LISTING.where(
        kind=kind,
        from_party_id=from_party_id,
        to_party_id=to_party_id,
        agreement_id=agreement_id,
        negotiation_id=negotiation_id,
        series=series,
        **date_range(date_from, date_to),
        **record_filters(updated_since, disputed),
    )
    return await LISTING.page(request, filters, limit=limit, cursor=cursor, sort=sort)


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/exchanges",
        tags=["exchanges"],
        route_handlers=[
            list_exchanges,
            *record_handlers(
                TABLE,
                create_example=CREATE_EXAMPLE,
                patch_example=PATCH_EXAMPLE,
                name="Exchange",
                patch_type=ExchangePatch,
                referenced_by="statements or claims",
            ),
            claims.about(TABLE, "Exchange"),
        ],
    )
