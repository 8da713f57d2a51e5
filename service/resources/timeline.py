"""The timeline: one chronological feed across role changes, rounds, memorandum versions,
agreements, exchanges and statements. PostgreSQL keeps the feed in a table of its own (see the
timeline migration), refreshed in the transaction of every change it depends on, so a page is
one index scan at any depth."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Request, Response, Router, get
from litestar.params import QueryParameter

from service.core.pagination import LINK_HEADER, CursorParam, Limit, Listing, Page, SortKey
from service.core.params import DateFrom, DateTo
from service.core.problems import problem_responses
from service.core.tables import row_to
from service.core.types import PartialDate, date_range

# --- structs -----------------------------------------------------------------------------------

ItemKind = Literal[
    "role_change", "round", "memorandum_version", "agreement", "exchange", "statement"
]


class TimelineItem(msgspec.Struct, kw_only=True):
    """Something that happened, with its date as precise as it is known."""

    kind: ItemKind
    id: UUID
    """The record's id (for a memorandum version, the memorandum's)."""
    version_number: int | None
    """For a memorandum version: which one."""
    date: PartialDate
    title: str
    href: str
    """Where the record is served."""


class TimelinePage(Page[TimelineItem]):
    """A page of the timeline, oldest first."""


# --- queries -----------------------------------------------------------------------------------

LISTING = Listing(
    page_type=TimelinePage,
    name="timeline",
    select="""select t.kind, t.record_id as id, t.number, nullif(t.number, 0) as version_number,
       t.day, accord_partial_date(t.day, t.precision) as date,
       accord_timeline_title(t.kind, t.record_id, t.number) as title,
       case when t.kind = 'memorandum_version'
            then accord_href('memorandum', t.record_id) || '/versions/' || t.number
            else accord_href(t.kind, t.record_id) end as href
  from timeline t""",
    sorts={
        "date": SortKey(
            (
                ("t.day", "day", date),
                ("t.record_id", "id", UUID),
                ("t.number", "number", int),
            )
        )
    },
    default_sort="date",
    make=row_to(TimelineItem),
    filters={
        "negotiation_id": "t.negotiation_ids @> array[{0}::uuid]",
        "party_id": "t.party_ids @> array[{0}::uuid]",
        "official_id": "t.official_ids @> array[{0}::uuid]",
        "kind": "t.kind = {0}",
        "from": "accord_last_day(t.day, t.precision) >= {0}",
        "to": "t.day <= {0}",
    },
)

# --- handlers ----------------------------------------------------------------------------------


@get(
    "/",
    operation_id="listTimeline",
    summary="The timeline",
    description="Role changes, rounds, memorandum versions, agreements, exchanges and "
    "statements in date order (then by id), each with its kind, date (as precise as known), "
    "title and link; items without a date are left out. Filters: negotiation (including "
    "role changes of its delegates and statements about it), party (an organization or any "
    "organization under it), official, kind, date range. Cursor-paginated; pages stay "
    "stable when items share a date.",
    response_headers=[LINK_HEADER],
    responses=problem_responses(422),
)
async def list_timeline(
    request: Request[Any, Any, Any],
    negotiation_id: Annotated[UUID | None, QueryParameter()] = None,
    party_id: Annotated[UUID | None, QueryParameter()] = None,
    official_id: Annotated[UUID | None, QueryParameter()] = None,
    kind: Annotated[ItemKind | None, QueryParameter()] = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[TimelinePage]:
    filters = LISTING.where(
        negotiation_id=negotiation_id,
        party_id=party_id,
        official_id=official_id,
        kind=kind,
        **date_range(date_from, date_to),
    )
    return await LISTING.page(request, filters, limit=limit, cursor=cursor)


def router() -> Router:
    return Router("/v1/timeline", tags=["timeline"], route_handlers=[list_timeline])
