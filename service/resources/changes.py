"""The change feed: every create, update and delete made through the API, in the order the
writes committed, for applications that keep a copy of Accord's data. A client lists what it
wants (every collection answers with the `Accord-Seq` it is consistent with), then follows
``/v1/changes?since=`` from there: deletions included, nothing skipped, no gap. A position
older than the retention window is a 410: re-list and follow again.

The same endpoint streams the log as Server-Sent Events to a client that asks for
``text/event-stream``, resumable with ``Last-Event-ID``: see "the live stream" below.

The log is the history table (see ``service.core.history``), numbered in commit order."""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_right
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from urllib.parse import urlencode
from uuid import UUID

import asyncpg
import msgspec
from litestar import Request, Response, get
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import Stream

from service.core import bulk, delivery
from service.core.database import AnyConnection, Connection, Pool, pool_of
from service.core.notifications import RECONNECT_MAX_S, RECONNECT_MIN_S, UNREACHABLE, Broadcast
from service.core.openapi import lines_content
from service.core.pagination import PAGE_HEADERS, Limit
from service.core.problems import ProblemError, problem_responses
from service.core.replica import on_primary, read_pool
from service.core.responses import Encoded
from service.core.routes import ResourceRouter
from service.core.tables import Table
from service.resources.registry import TABLES

log = logging.getLogger("accord.changes")

FEED: dict[str, Table[Any, Any]] = TABLES
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

# The changes after $1 (from the horizon when null) of the kinds $2 and the operation $3 (all
# when null), oldest first.
_AFTER = """select seq, record_id, kind, operation, version, at from history
             where seq > coalesce($1::bigint, {horizon})
               and ($2::text[] is null or kind = any($2::text[]))
               and ($3::text is null or operation = $3::text)
             order by seq"""
# One statement: the log's end and horizon with the page, so `next_since` at the end of the log
# is exactly what this page saw. The counter's number is committed with the change it counts.
_PAGE = f"""select c.last_seq, c.horizon, h.seq, h.record_id, h.kind, h.operation, h.version,
                  h.at
             from change_log c
             left join lateral ({_AFTER.format(horizon="c.horizon")} limit $4) h on true
            order by h.seq"""  # noqa: S608 (composed of fixed text)
# Every change after $1, for an export: in its snapshot, the log holds exactly the changes up
# to the snapshot's `last_seq` (each is numbered and committed with the counter's row).
_ALL = _AFTER.format(horizon="(select horizon from change_log)")
_ENDS = "select last_seq, horizon from change_log"


_END = "select last_seq from change_log"


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


async def change_items(
    db: Pool | AnyConnection, rows: Sequence[asyncpg.Record], *, records: bool
) -> list[ChangeItem]:
    """History rows (seq, record_id, kind, operation, version, at) as change items, with each
    record as it is now when ``records`` (one query per kind of record); what the feed pages
    and webhook deliveries carry."""
    current: dict[UUID, Any] = {}
    if records:
        wanted: dict[str, list[UUID]] = {}
        for row in rows:
            if row["operation"] != "delete":
                wanted.setdefault(row["kind"], []).append(row["record_id"])
        for kind, ids in wanted.items():
            table = _BY_KIND[kind][1]
            current.update((r["id"], table.make(r)) for r in await db.fetch(table.many_sql, ids))
    return [
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


async def _render(conn: Connection, rows: Sequence[asyncpg.Record]) -> list[delivery.Rendered]:
    items = await change_items(conn, rows, records=True)
    return [
        delivery.Rendered(
            resource=_BY_KIND[row["kind"]][0],
            action=_ACTIONS[row["operation"]],
            body=msgspec.json.encode(item),
        )
        for row, item in zip(rows, items, strict=True)
    ]


WEBHOOK_FEED = delivery.Feed(
    kinds={resource: table.kind for resource, table in FEED.items()},
    operations={str(action): operation for action, operation in _OPERATIONS.items()},
    render=_render,
)
"""The feed as webhook deliveries carry it: each change item is the body of a delivery."""


def _filters(
    resources: Sequence[Resource] | None, action: Action | None
) -> tuple[list[str] | None, str | None]:
    """The history's kinds and operation that ``resource`` and ``action`` ask for."""
    kinds = [FEED[resource].kind for resource in resources] if resources else None
    return kinds, _OPERATIONS[action] if action else None


async def changes_page(
    pool: Pool,
    since: int | None,
    resources: Sequence[Resource] | None,
    action: Action | None,
    *,
    records: bool,
    limit: int,
) -> tuple[ChangePage, int]:
    """A page of changes after ``since`` and the log's end as it saw it."""
    kinds, operation = _filters(resources, action)
    rows = await pool.fetch(_PAGE, since, kinds, operation, limit + 1)
    last_seq, horizon = rows[0]["last_seq"], rows[0]["horizon"]
    if since is not None and not horizon <= since <= last_seq:
        raise gone(since, horizon, last_seq)
    rows = [row for row in rows if row["seq"] is not None]
    more = len(rows) > limit
    rows = rows[:limit]
    items = await change_items(pool, rows, records=records)
    next_since = rows[-1]["seq"] if more else last_seq
    return ChangePage(items=items, next_since=next_since, more=more), last_seq


async def changes_export(
    pool: Pool,
    since: int | None,
    resources: Sequence[Resource] | None,
    action: Action | None,
    *,
    records: bool,
    format: bulk.Format,
) -> Response[Any]:
    """Every change after ``since`` as NDJSON or CSV, streamed from one snapshot up to its
    ``last_seq`` (``Accord-Seq``): each item as the page has it, the records as they were in
    that snapshot. A position outside the log is a 410, before the export starts."""
    ends = await pool.fetchrow(_ENDS)
    assert ends is not None
    if since is not None and not ends["horizon"] <= since <= ends["last_seq"]:
        raise gone(since, ends["horizon"], ends["last_seq"])
    kinds, operation = _filters(resources, action)

    async def make_many(conn: AnyConnection, rows: Sequence[asyncpg.Record]) -> list[ChangeItem]:
        return await change_items(conn, rows, records=records)

    encoder = bulk.Encoder(format, Change)
    produce = bulk.rows_of(_ALL, (since, kinds, operation), None, encoder, make_many=make_many)
    return bulk.streamed(produce, media_type=encoder.media_type, filename=None, negotiated=True)


# --- the live stream ---------------------------------------------------------------------------

EVENT_STREAM = "text/event-stream"
STREAM_PAGE = 200
"""Changes one read of the log fetches, for a stream catching up or for the shared tail."""
TAIL_KEEP = 1000
"""Changes the shared tail keeps: a stream resuming within them is served from memory, one
further behind reads its own pages until it gets there."""
STREAM_POOL_SHARE = 4
"""Streams' own reads take at most a quarter of the pool at once (at least one connection),
so that however many streams connect or catch up, normal requests find the rest."""
HEARTBEAT = b": heartbeat\n\n"
EVENTS_DESCRIPTION = (
    "Server-Sent Events, one per change, oldest first: `id:` the change's `seq`, `event:` its "
    "`action` (`created`, `updated`, `deleted`), `data:` the change as JSON on one line (an "
    "item of the JSON page). A comment (`: heartbeat`) follows every "
    "`ACCORD_STREAM_HEARTBEAT_S` seconds (15) without an event. The stream does not end: "
    "reconnect with `Last-Event-ID` (an EventSource does it by itself) to resume after the "
    "last change received."
)

EXPORT_DESCRIPTION = (
    "Every change after `since` (`limit` does not apply), oldest first, one per line, each "
    "exactly as the JSON page has it, read in one snapshot: the last is the one `Accord-Seq` "
    "names, so following from it with `since` misses nothing."
)
EXPORT_CSV = (
    "Every change after `since`, as the NDJSON has them: " + bulk.CSV_CELLS + " The columns "
    "are `resource` and the change's fields; `record` is its JSON text."
)

_encode = msgspec.json.encode


def _event(item: ChangeItem) -> bytes:
    """One change as an event. Its id is its seq, which the client sends back as
    ``Last-Event-ID``; msgspec writes JSON on one line, so ``data`` needs no splitting."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (item.seq, item.action.encode(), _encode(item))


class Frame(msgspec.Struct, frozen=True):
    """A change the tail read, encoded once for every stream: with its record and without."""

    seq: int
    resource: str
    action: Action
    full: bytes
    bare: bytes


def _frame(item: ChangeItem) -> Frame:
    resource = type(item).__struct_config__.tag
    assert isinstance(resource, str)
    bare = msgspec.structs.replace(item, record=msgspec.UNSET)
    return Frame(item.seq, resource, item.action, _event(item), _event(bare))


class Query(msgspec.Struct, frozen=True):
    """What one stream asked for."""

    resources: tuple[Resource, ...] | None
    action: Action | None
    records: bool

    def wants(self, frame: Frame) -> bool:
        return (self.resources is None or frame.resource in self.resources) and (
            self.action is None or frame.action == self.action
        )


class Tail:
    """The end of the change log, read once per wake-up for all the streams of the process.

    Streams are many and mostly idle; a thousand of them each running a query on every change
    would take the pool from normal requests. So one reader (``follow``, a background job)
    reads what is new after every notification — once for all streams, records included —
    keeps the last ``TAIL_KEEP`` changes encoded as events, and wakes the streams, which pick
    what their filters want in Python and send the bytes as they are. A stream further
    behind (resuming from an old position) reads its own pages, holding pooled connections
    only while it reads and, with all other streams, never more than a quarter of the pool
    (``STREAM_POOL_SHARE``), until the tail covers its position. Records are as a GET
    returned them when the tail read them.

    The tail also reads every ``heartbeat`` seconds without a notification (one cheap query):
    a notification may be lost — while the listening connection reconnects, or when a pooler
    in transaction mode stands between — and the log, not the notification, is the truth.
    While no stream is open it reads nothing at all (a write costs every process one
    notification, no query); the first stream to open wakes it.

    ``epoch`` moves when every stream must end: at shutdown (``stop``: the server waits for
    responses to finish, and a stream never does) and when the log ends before where the
    tail had read (the database was restored from a backup): a client coming back then gets
    the 410."""

    def __init__(self, pool: Pool, signal: Broadcast, *, heartbeat: float) -> None:
        self.pool = pool
        self.signal = signal
        self.heartbeat = heartbeat
        self.moved = Broadcast()
        """Woken when the tail has read more, or ``epoch`` moved."""
        self.frames: list[Frame] = []
        self.start: int | None = None
        """``frames`` hold every change after ``start`` up to ``end``."""
        self.end: int | None = None
        self.epoch = 0
        self.stopped = False
        self.streams = 0
        """Streams open now."""
        self._slots = asyncio.Semaphore(max(1, pool.get_max_size() // STREAM_POOL_SHARE))

    async def follow(self) -> None:
        """The background job: read the log's end on every wake-up; runs until cancelled."""
        delay = RECONNECT_MIN_S
        while True:
            seen = self.signal.generation
            try:
                if self.streams:
                    await self._read()
                else:
                    self._forget()
            except UNREACHABLE as exc:
                log.warning("change stream: cannot read the log (%r); retrying", exc)
            except Exception:
                # A bug must not leave every stream of the process silent until a restart.
                log.exception("change stream: reading the log failed; retrying")
            else:
                delay = RECONNECT_MIN_S
                await self.signal.wait(seen, asyncio.get_running_loop().time() + self.heartbeat)
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    def _forget(self) -> None:
        """No stream is open: stop reading, so writes cost nothing more than a notification."""
        self.frames.clear()
        self.start = self.end = None

    async def _read(self) -> None:
        while True:
            if self.end is None:
                self.start = self.end = await self.pool.fetchval(_END)
                # Streams that read past the log themselves meanwhile look again.
                self.moved.wake()
            try:
                page, _ = await changes_page(
                    self.pool, self.end, None, None, records=True, limit=STREAM_PAGE
                )
            except ProblemError:
                self._forget()
                self.close()
                continue
            self._keep(page)
            if not page.more:
                return

    def _keep(self, page: ChangePage) -> None:
        self.frames.extend(_frame(item) for item in page.items)
        self.end = page.next_since
        excess = len(self.frames) - TAIL_KEEP
        if excess > 0:
            self.start = self.frames[excess - 1].seq
            del self.frames[:excess]
        if page.items:
            self.moved.wake()

    def close(self) -> None:
        """End every stream open now."""
        self.epoch += 1
        self.moved.wake()

    def stop(self) -> None:
        """End every stream, open now or opened later: the server is stopping."""
        self.stopped = True
        self.close()

    async def page(self, since: int | None, query: Query) -> tuple[ChangePage, int]:
        """A stream's own read of the log (a 410 when ``since`` is outside it)."""
        async with self._slots:
            return await changes_page(
                self.pool,
                since,
                query.resources,
                query.action,
                records=query.records,
                limit=STREAM_PAGE,
            )

    def _after(self, position: int, query: Query) -> tuple[bytes, int]:
        """What the tail holds after ``position`` for ``query``, and the position after it."""
        assert self.end is not None
        first = bisect_right(self.frames, position, key=_seq)
        chunk = b"".join(
            frame.full if query.records else frame.bare
            for frame in self.frames[first:]
            if query.wants(frame)
        )
        return chunk, max(position, self.end)

    def events(self, query: Query, first: ChangePage) -> AsyncIterator[bytes]:
        """One client's stream, from the page its request read on. It belongs to the epoch
        it was made in, not the one its first step runs in (a stop in between must end it).
        It runs until the client goes: Litestar then cancels it (or drops it, and the event
        loop closes it), and nothing of it is left — it holds no registration, only a
        count."""
        return self._events(query, first, self.epoch)

    async def _events(self, query: Query, first: ChangePage, epoch: int) -> AsyncIterator[bytes]:
        clock = asyncio.get_running_loop().time
        position, behind = first.next_since, first.more
        chunk = b"".join(_event(item) for item in first.items)
        quiet_since = clock()
        self.streams += 1
        if self.streams == 1:
            self.signal.wake()  # the reader starts following, as if notified
        try:
            while self.epoch == epoch and not self.stopped:
                if chunk:
                    yield chunk
                    quiet_since = clock()
                seen = self.moved.generation
                if behind or self.start is None or position < self.start:
                    try:
                        page, _ = await self.page(position, query)
                    except ProblemError:
                        return  # fell out of the log: the client's reconnection gets the 410
                    except UNREACHABLE:
                        page = None  # the database is away: wait for the tail, heartbeating
                    if page is not None:
                        position, behind = page.next_since, page.more
                        chunk = b"".join(_event(item) for item in page.items)
                        if chunk or behind:
                            continue
                else:
                    chunk, position = self._after(position, query)
                    if chunk:
                        continue
                woken = await self.moved.wait(seen, quiet_since + self.heartbeat)
                chunk = b"" if woken else HEARTBEAT
        finally:
            self.streams -= 1


def _seq(frame: Frame) -> int:
    return frame.seq


def _wants_events(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept")
    return (
        accept is not None
        and "event-stream" in accept
        and request.accept.best_match(["application/json", EVENT_STREAM]) == EVENT_STREAM
    )


async def _event_stream(
    request: Request[Any, Any, Any], since: int | None, query: Query
) -> Response[Any]:
    tail: Tail = request.app.state.changes_tail
    # Read first, so that a position outside the log is a 410 before the stream starts.
    first, last_seq = await tail.page(since, query)
    return Stream(
        tail.events(query, first),
        media_type=EVENT_STREAM,
        headers={
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx would otherwise hold events back
            "Accord-Seq": str(last_seq),
            "Vary": "Accept",
        },
    )


# --- handlers ----------------------------------------------------------------------------------

SEQ_MAX = 2**63 - 1
"""The largest position (PostgreSQL's bigint)."""
SinceQuery = Annotated[
    int | None,
    QueryParameter(
        # Not ge=0: Litestar leaves a constraint of 0 out of the contract (it tests truth).
        gt=-1,
        le=SEQ_MAX,
        description="Changes after this one: `next_since` of the previous page, or the "
        "`Accord-Seq` of a collection listed. Omitted: from the oldest change kept. Older "
        "than the retention window (or beyond the log's end): 410, re-list.",
    ),
]
LastEventId = Annotated[
    int | None,
    HeaderParameter(
        name="Last-Event-ID",
        gt=-1,  # not ge=0, as for since
        le=SEQ_MAX,
        description="The `seq` of the last change received, which an EventSource sends when "
        "it reconnects: like `since`, and it wins over it (the URL still has the first one).",
    ),
]


@dataclass
class _PageOrEvents(Operation):
    """The contract of ``listChanges``: its 200 is the JSON page or, for
    ``Accept: text/event-stream``, the event stream. Litestar documents one media type per
    response; this is its documented way to change an operation."""

    def __post_init__(self) -> None:
        ok = (self.responses or {})["200"]
        assert isinstance(ok, OpenAPIResponse)
        changes = Schema(
            one_of=[
                Reference(ref=f"#/components/schemas/{change.__name__}")
                for change in CHANGE_TYPES.values()
            ]
        )
        ok.content = {
            **(ok.content or {}),
            **lines_content(changes, EXPORT_DESCRIPTION, EXPORT_CSV),
            EVENT_STREAM: OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, description=EVENTS_DESCRIPTION)
            ),
        }


@get(
    "/",
    operation_id="listChanges",
    summary="Follow every change: creates, updates and deletes, in commit order",
    description="How an application keeps a copy of the data: list the collections it wants "
    "(each page carries `Accord-Seq`; keep the first page's), then follow this feed from "
    "there with `since`, applying each change by `version` (a change may repeat what the "
    "listing already showed; never does one go missing). Deleted records come as `deleted`. "
    "Changes are kept `ACCORD_CHANGES_RETENTION_DAYS` (default 30); a `since` older than "
    "that is a 410: list again and follow from the new `Accord-Seq`.\n\n"
    "With `Accept: text/event-stream` the same request is a live stream instead of a page: "
    "the changes after `since` (or `Last-Event-ID`), then each new one as it commits, as "
    "Server-Sent Events (see the `text/event-stream` response; `limit` does not apply). A "
    "position outside the log is a 410 before the stream starts.\n\n"
    "With `Accept: application/x-ndjson` or `text/csv` it is every change after `since` at "
    "once (`limit` does not apply), streamed from one snapshot: the last change is the one "
    "`Accord-Seq` names, so a copy catching up from far behind reads the log in one request "
    "and follows from there.",
    response_headers=PAGE_HEADERS,
    responses=problem_responses(410),
    operation_class=_PageOrEvents,
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
    last_event_id: LastEventId = None,
) -> Response[ChangePage]:
    if last_event_id is not None:
        since = last_event_id
    if _wants_events(request):
        resources = tuple(resource) if resource else None
        query = Query(resources=resources, action=action, records=include == "record")
        return await _event_stream(request, since, query)
    records = include == "record"
    format = bulk.asked_format(request.headers)
    if format is not None:
        return await changes_export(
            await read_pool(request.scope), since, resource, action, records=records, format=format
        )
    try:
        page, last_seq = await changes_page(
            await read_pool(request.scope), since, resource, action, records=records, limit=limit
        )
    except ProblemError as exc:
        if exc.status != 410 or on_primary(request.scope):
            raise
        # A replica behind the position the client has (from the primary, or from a replica
        # further ahead) is not where the log ends: the primary answers.
        page, last_seq = await changes_page(
            pool_of(request), since, resource, action, records=records, limit=limit
        )
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "since"]
    params.append(("since", str(page.next_since)))
    link = f'<{request.url.path}?{urlencode(params)}>; rel="next"'
    return Encoded(page, headers={"Link": link, "Accord-Seq": str(last_seq), "Vary": "Accept"})


def router() -> ResourceRouter:
    return ResourceRouter("/v1/changes", tags=["changes"], route_handlers=[list_changes])
