"""The change feed: every create, update and delete made through the API, in the order the
writes committed, for applications that keep a copy of Accord's data. A client lists what it
wants (every collection answers with the `Accord-Seq` it is consistent with), then follows
``/v1/changes?since=`` from there: deletions included, nothing skipped, no gap. A position
older than the retention window is a 410: re-list and follow again.

The log is the history table (see ``service.core.history``), numbered in commit order."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from urllib.parse import urlencode
from uuid import UUID

import msgspec
from litestar import Request, Response, Router, get
from litestar.params import QueryParameter

from service.core.database import pool_of
from service.core.pagination import PAGE_HEADERS, Limit
from service.core.problems import ProblemError, problem_responses
from service.core.responses import Encoded
from service.core.tables import Table
from service.resources import (
    agreements,
    claims,
    delegations,
    exchanges,
    memoranda,
    negotiations,
    officials,
    organizations,
    posts,
    role_changes,
    rounds,
    sources,
    statements,
)

FEED: dict[str, Table[Any, Any]] = {
    "organizations": organizations.TABLE,
    "officials": officials.TABLE,
    "posts": posts.TABLE,
    "role-changes": role_changes.TABLE,
    "negotiations": negotiations.TABLE,
    "delegations": delegations.TABLE,
    "rounds": rounds.TABLE,
    "memoranda": memoranda.TABLE,
    "agreements": agreements.TABLE,
    "sources": sources.TABLE,
    "statements": statements.TABLE,
    "exchanges": exchanges.TABLE,
    "claims": claims.TABLE,
}
"""The collections whose changes the feed carries, by path name."""

_BY_KIND = {table.kind: (resource, table) for resource, table in FEED.items()}

# --- structs -----------------------------------------------------------------------------------

Action = Literal["created", "updated", "deleted"]
_ACTIONS: dict[str, Action] = {"create": "created", "update": "updated", "delete": "deleted"}
_OPERATIONS = {action: operation for operation, action in _ACTIONS.items()}
Resource = Literal[
    "organizations",
    "officials",
    "posts",
    "role-changes",
    "negotiations",
    "delegations",
    "rounds",
    "memoranda",
    "agreements",
    "sources",
    "statements",
    "exchanges",
    "claims",
]


class ChangeItem(msgspec.Struct, kw_only=True, tag_field="resource"):
    """One change to one record; `resource` (the collection's path name) says which kind of
    record `record` is."""

    seq: int
    """Its place in the log: changes are numbered in the order they committed."""
    id: UUID
    """The record's id."""
    action: Action
    version: int
    """The record's version after the change (the last one it had, for a delete)."""
    at: datetime


def _change_type(resource: str, table: Table[Any, Any]) -> type[Any]:
    change = msgspec.defstruct(
        f"{table.record.__name__}Change",
        [("record", table.record | msgspec.UnsetType, msgspec.UNSET)],
        bases=(ChangeItem,),
        tag=resource,
        kw_only=True,
        module=__name__,
    )
    change.__doc__ = (
        f"A change to a record of `{resource}`. `record` is the record as a GET returns it "
        "now: absent for a delete, with `include=none`, and once a later change has deleted it."
    )
    return change


CHANGE_TYPES = {resource: _change_type(resource, table) for resource, table in FEED.items()}
if TYPE_CHECKING:
    Change = ChangeItem
else:
    # One schema per collection, told apart by `resource`, so a client gets typed records.
    Change = Union[tuple(CHANGE_TYPES.values())]  # noqa: UP007


class ChangePage(msgspec.Struct, kw_only=True):
    """A page of the change log, oldest first."""

    items: list[Change]
    next_since: int
    """Pass as `since` for what follows. When `more` is false it is the end of the log as
    this page saw it, so a client polling from there misses nothing."""
    more: bool
    """True when more changes follow at once; false when the page reached the end of the log."""


# --- queries -----------------------------------------------------------------------------------

# One statement: the log's end and horizon with the page, so `next_since` at the end of the log
# is exactly what this page saw. The counter's number is committed with the change it counts.
_PAGE = """select c.last_seq, c.horizon, h.seq, h.record_id, h.kind, h.operation, h.version,
                  h.at
             from change_log c
             left join lateral (
                 select seq, record_id, kind, operation, version, at from history
                  where seq > coalesce($1::bigint, c.horizon)
                    and ($2::text[] is null or kind = any($2::text[]))
                    and ($3::text is null or operation = $3::text)
                  order by seq limit $4) h on true
            order by h.seq"""


def gone(since: int, horizon: int, last_seq: int) -> ProblemError:
    """410: ``since`` is outside the log this server keeps."""
    reason = (
        f"changes up to {horizon} are past the retention window"
        if since < horizon
        else f"the log ends at {last_seq} (was the database restored from a backup?)"
    )
    return ProblemError(
        410,
        "changes-gone",
        f"Cannot follow from {since}: {reason}. List the collections again and follow from "
        "the `Accord-Seq` of the first page listed.",
        current_seq=last_seq,
    )


async def changes_page(
    request: Request[Any, Any, Any],
    since: int | None,
    resources: list[Resource] | None,
    action: Action | None,
    *,
    records: bool,
    limit: int,
) -> tuple[ChangePage, int]:
    """A page of changes after ``since`` and the log's end as it saw it."""
    pool = pool_of(request)
    kinds = [FEED[resource].kind for resource in resources] if resources else None
    operation = _OPERATIONS[action] if action else None
    rows = await pool.fetch(_PAGE, since, kinds, operation, limit + 1)
    last_seq, horizon = rows[0]["last_seq"], rows[0]["horizon"]
    if since is not None and not horizon <= since <= last_seq:
        raise gone(since, horizon, last_seq)
    rows = [row for row in rows if row["seq"] is not None]
    more = len(rows) > limit
    rows = rows[:limit]
    current: dict[UUID, Any] = {}
    if records:
        wanted: dict[str, list[UUID]] = {}
        for row in rows:
            if row["operation"] != "delete":
                wanted.setdefault(row["kind"], []).append(row["record_id"])
        for kind, ids in wanted.items():
            table = _BY_KIND[kind][1]
            current.update((r["id"], table.make(r)) for r in await pool.fetch(table.many_sql, ids))
    items = [
        CHANGE_TYPES[_BY_KIND[row["kind"]][0]](
            seq=row["seq"],
            id=row["record_id"],
            action=_ACTIONS[row["operation"]],
            version=row["version"],
            at=row["at"],
            record=current.get(row["record_id"], msgspec.UNSET),
        )
        for row in rows
    ]
    next_since = rows[-1]["seq"] if more else last_seq
    return ChangePage(items=items, next_since=next_since, more=more), last_seq


# --- handlers ----------------------------------------------------------------------------------

SinceQuery = Annotated[
    int | None,
    QueryParameter(
        # Not ge=0: Litestar leaves a constraint of 0 out of the contract (it tests truth).
        gt=-1,
        description="Changes after this one: `next_since` of the previous page, or the "
        "`Accord-Seq` of a collection listed. Omitted: from the oldest change kept. Older "
        "than the retention window (or beyond the log's end): 410, re-list.",
    ),
]


@get(
    "/",
    operation_id="listChanges",
    summary="Follow every change: creates, updates and deletes, in commit order",
    description="How an application keeps a copy of the data: list the collections it wants "
    "(each page carries `Accord-Seq`; keep the first page's), then follow this feed from "
    "there with `since`, applying each change by `version` (a change may repeat what the "
    "listing already showed; never does one go missing). Deleted records come as `deleted`. "
    "Changes are kept `ACCORD_CHANGES_RETENTION_DAYS` (default 30); a `since` older than "
    "that is a 410: list again and follow from the new `Accord-Seq`.",
    response_headers=PAGE_HEADERS,
    responses=problem_responses(410),
)
async def list_changes(
    request: Request[Any, Any, Any],
    since: SinceQuery = None,
    resource: Annotated[
        list[Resource] | None,
        QueryParameter(description="Only changes to these collections (repeatable)."),
    ] = None,
    action: Annotated[Action | None, QueryParameter()] = None,
    include: Annotated[
        Literal["record", "none"],
        QueryParameter(description="`none`: leave out each change's `record`."),
    ] = "record",
    limit: Limit = 50,
) -> Response[ChangePage]:
    page, last_seq = await changes_page(
        request, since, resource, action, records=include == "record", limit=limit
    )
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "since"]
    params.append(("since", str(page.next_since)))
    link = f'<{request.url.path}?{urlencode(params)}>; rel="next"'
    return Encoded(page, headers={"Link": link, "Accord-Seq": str(last_seq)})


def router() -> Router:
    return Router("/v1/changes", tags=["changes"], route_handlers=[list_changes])
