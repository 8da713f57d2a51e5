"""Tenures: who held which post from when to when. Derived, never written through the API:
PostgreSQL rebuilds them from effective role changes (see the foundation migration), refuses a
second simultaneous holder of a one-holder post, and answers "who held it on this date" from
an index. Served as ``/v1/posts/{id}/holders`` and ``/v1/officials/{id}/tenures``."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import msgspec

from service.core.pagination import Listing, Page, SortKey
from service.core.tables import row_to
from service.core.types import PartialDate

# --- structs -----------------------------------------------------------------------------------


class Tenure(msgspec.Struct, kw_only=True):
    """An official's time in a post, from the role change that began it to the one that ended
    it (none while it lasts). ``end`` is the first day the post was no longer held."""

    official_id: UUID
    official_name: str
    post_id: UUID
    post_title: str
    organization_id: UUID
    start: PartialDate
    end: PartialDate | None
    acting: bool
    start_change_id: UUID
    end_change_id: UUID | None


class TenurePage(Page[Tenure]):
    """A page of tenures."""


# --- queries -----------------------------------------------------------------------------------

_SELECT = """
select t.official_id, o.name as official_name, t.post_id, p.title as post_title,
       p.organization_id, t.acting, t.start_change_id, t.end_change_id,
       accord_partial_date(s.effective_date, s.effective_precision) as start,
       accord_partial_date(e.effective_date, e.effective_precision) as "end",
       lower(t.period) as start_day
  from tenures t
  join officials o on o.id = t.official_id
  join posts p on p.id = t.post_id
  join role_changes s on s.id = t.start_change_id
  left join role_changes e on e.id = t.end_change_id"""

_CHRONOLOGICAL = {
    "start": SortKey(
        (("lower(t.period)", "start_day", date), ("t.start_change_id", "start_change_id", UUID))
    )
}


def _tenure_listing(name: str, filters: dict[str, str]) -> Listing[TenurePage]:
    return Listing(
        page_type=TenurePage,
        name=name,
        select=_SELECT,
        sorts=_CHRONOLOGICAL,
        default_sort="start",
        make=row_to(Tenure),
        filters=filters,
    )


TENURES_OF_OFFICIAL = _tenure_listing("tenures-of-official", {"official_id": "t.official_id = {0}"})
HOLDERS_OF_POST = _tenure_listing(
    "holders-of-post", {"post_id": "t.post_id = {0}", "at": "t.period @> {0}::date"}
)
