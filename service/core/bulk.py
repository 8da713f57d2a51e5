"""Bulk export: whole collections as NDJSON or CSV, streamed from a server-side cursor.

One module for the record encoders (an NDJSON line is exactly what ``GET`` of the record
returns; a CSV row follows the shared rules below) and for the streaming core, so the HTTP
exports, ``accord export`` and the data package write the same bytes.

An export reads in one ``repeatable read, read only`` transaction: every row comes from one
snapshot, and ``Accord-Seq`` (the change log's ``last_seq``, read first in that snapshot) is
exactly the position the export is consistent with — following ``/v1/changes?since=`` from
it misses nothing and repeats nothing that was already exported. Rows come from an asyncpg
cursor a batch at a time and each batch is encoded at once, so memory stays flat however many
rows there are; a client that goes away cancels the query."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Literal

import asyncpg
import msgspec
from litestar import Response
from litestar.types import Receive, Scope, Send

from service.core.database import AnyConnection
from service.core.replica import read_pool
from service.core.responses import quality

if TYPE_CHECKING:
    from service.core.tables import Bulk

log = logging.getLogger("accord.bulk")

Format = Literal["ndjson", "csv"]
NDJSON = "application/x-ndjson"
CSV = "text/csv; charset=utf-8"
MEDIA_TYPES: dict[Format, str] = {"ndjson": NDJSON, "csv": CSV}

CSV_CELLS = (
    "RFC 4180 CSV (CRLF line ends, quoted where needed): a header row of the fields in "
    "order, then a row per record. A cell: null → empty; text as it is; an integer in "
    "decimal; a boolean `true`/`false`; an id or an instant as the JSON has it; a list, an "
    "object or a fractional number as its compact JSON."
)
"""How a CSV export is written, for the contract."""

CHUNK = 64 * 1024
"""What one body message carries, roughly: big enough that a message costs little per row,
small enough that a batch in memory is nothing."""
FIRST_BATCH = 64
"""Rows in the first fetch: the first bytes go out after a few rows, not a full chunk."""
MAX_BATCH = 5000

# The change log's position, and JIT off for the transaction, in one round trip: a cursor's
# plan is costed for every row, so it always crosses `jit_above_cost`, and PostgreSQL
# compiled it at the first fetch — 0.75 s before the first of 100k role changes, for no
# faster rows after.
_SNAPSHOT = "select last_seq from change_log, set_config('jit', 'off', true)"

Produce = Callable[[AnyConnection], AsyncIterator[bytes]]
"""What an export sends: the body, in chunks, read on the connection it is given (inside the
export's snapshot)."""

# --- encoders ----------------------------------------------------------------------------------

_lines = msgspec.json.Encoder().encode_lines
_encode = msgspec.json.encode


def ndjson(items: Sequence[Any]) -> bytes:
    """One line per record, each exactly as ``GET`` of the record returns it."""
    return _lines(items)


# How each column's cells are written, from the values of ``msgspec.to_builtins`` (where ids
# and instants are already the text the JSON has). Written here rather than by the csv
# module, which spent 9 µs a role change deciding how to quote cells that never need it.
Cell = Callable[[Any], str]

_SAFE = (
    msgspec.inspect.IntType,
    msgspec.inspect.NoneType,
    msgspec.inspect.UUIDType,
    msgspec.inspect.DateTimeType,
    msgspec.inspect.DateType,
    msgspec.inspect.TimeType,
    msgspec.inspect.DecimalType,
)
_SPECIAL = (",", '"', "\r", "\n")


def quoted(text: str) -> str:
    """A text cell, RFC 4180: quoted when it holds a comma, a quote or a line break (its
    quotes doubled), else as it is — what the csv module writes (``QUOTE_MINIMAL``)."""
    if '"' in text:
        return '"' + text.replace('"', '""') + '"'
    if "," in text or "\n" in text or "\r" in text:
        return '"' + text + '"'
    return text


def _safe_cell(value: Any) -> str:
    """An id, an instant, an int, a literal that needs no quotes, or null."""
    return "" if value is None else str(value)


def _text_cell(value: Any) -> str:
    return "" if value is None else quoted(value)


def _any_cell(value: Any) -> str:
    """A boolean as true/false, a list, an object or a fractional number as its compact JSON,
    text and ints as they are."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is str:
        return quoted(value)
    if type(value) is int:
        return str(value)
    return quoted(_encode(value).decode())


def _kind(kind: msgspec.inspect.Type) -> Cell:
    """How a field's cells are written, by its type."""
    if isinstance(kind, msgspec.inspect.Metadata):
        return _kind(kind.type)
    if isinstance(kind, msgspec.inspect.UnionType):
        kinds = {_kind(member) for member in kind.types}
        return kinds.pop() if len(kinds) == 1 else _any_cell
    if isinstance(kind, msgspec.inspect.LiteralType):
        if all(
            type(value) is int or (type(value) is str and not any(c in value for c in _SPECIAL))
            for value in kind.values
        ):
            return _safe_cell
        return _any_cell
    if isinstance(kind, _SAFE):
        return _safe_cell
    if isinstance(kind, msgspec.inspect.StrType):
        return _text_cell
    return _any_cell


@cache
def columns_of(item_type: Any) -> tuple[tuple[str, Cell], ...]:
    """The CSV columns of a record type, each with how its cells are written: the struct's
    fields in declaration order; for a tagged union (a change of any resource), its tag, then
    every member's fields in the order they first appear."""
    info = msgspec.inspect.type_info(item_type)
    members = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
    columns: dict[str, Cell] = {}
    for member in members:
        if not isinstance(member, msgspec.inspect.StructType):
            raise TypeError(f"not a record type: {item_type!r}")
        if member.tag_field is not None:
            columns.setdefault(member.tag_field, _text_cell)
        for field in member.fields:
            cell = _kind(field.type)
            known = columns.get(field.encode_name)
            columns[field.encode_name] = cell if known in (None, cell) else _any_cell
    return tuple(columns.items())


class CsvWriter:
    """CSV of one record type, RFC 4180 (CRLF, fields quoted when they hold a comma, a quote
    or a line break): a header of the column names, then a row per record. A cell: null →
    empty; text → itself; an int → decimal; a boolean → ``true``/``false``; an id or an
    instant → the text the JSON has; a list, an object or a struct → its compact JSON."""

    def __init__(self, item_type: Any) -> None:
        columns = columns_of(item_type)
        self.names = [name for name, _ in columns]
        self._cells = [cell for _, cell in columns]
        # A plain struct without UNSET fields (an embed not asked for) becomes a tuple of its
        # fields in column order; any other record a dict, looked up by column.
        self._tuples = (
            isinstance(item_type, type)
            and issubclass(item_type, msgspec.Struct)
            and not item_type.__struct_config__.tag
            and msgspec.UNSET not in item_type.__struct_defaults__
        )

    def header(self) -> bytes:
        return (",".join(quoted(name) for name in self.names) + "\r\n").encode()

    def rows(self, items: Sequence[Any]) -> bytes:
        cells = self._cells
        if self._tuples:
            astuple = msgspec.structs.astuple
            values = msgspec.to_builtins([astuple(item) for item in items])
        else:
            names = self.names
            values = [[r.get(name) for name in names] for r in msgspec.to_builtins(items)]
        lines = [",".join([cell(v) for cell, v in zip(cells, row)]) for row in values]  # noqa: B905
        lines.append("")
        return "\r\n".join(lines).encode()


class Encoder:
    """How a batch of records becomes bytes in one format: what goes first (the CSV header),
    then each batch."""

    def __init__(self, format: Format, item_type: Any) -> None:
        self.format = format
        self.media_type = MEDIA_TYPES[format]
        self._csv = CsvWriter(item_type) if format == "csv" else None

    def head(self) -> bytes:
        return self._csv.header() if self._csv is not None else b""

    def encode(self, items: Sequence[Any]) -> bytes:
        return self._csv.rows(items) if self._csv is not None else _lines(items)


MakeMany = Callable[[AnyConnection, Sequence[asyncpg.Record]], Awaitable[Sequence[Any]]]
"""Rows → their items, reading more on the connection (in the export's snapshot)."""


def rows_of(
    sql: str,
    args: Sequence[Any],
    make: Callable[[asyncpg.Record], Any] | None,
    encoder: Encoder,
    *,
    progress: Callable[[int], None] | None = None,
    make_many: MakeMany | None = None,
) -> Produce:
    """An export of what ``sql`` selects, each row made a record by ``make`` — or each batch
    by ``make_many``, which may read more on the connection (a change's record): read through a
    server-side cursor in batches sized so that each encodes to about ``CHUNK`` bytes (the
    first small, for a quick first byte). ``progress`` hears how many rows each batch had.

    The next batch is fetched while this one is encoded and sent, so PostgreSQL producing
    rows and Python encoding them overlap (on two cores, most of the time either takes);
    after ``make_many`` has read, since a connection runs one statement at a time."""

    async def produce(conn: AnyConnection) -> AsyncIterator[bytes]:
        head = encoder.head()
        if head:
            yield head
        cursor = await conn.cursor(sql, *args)
        asked = FIRST_BATCH
        fetching: asyncio.Future[list[asyncpg.Record]] | None = asyncio.ensure_future(
            cursor.fetch(asked)
        )
        size = FIRST_BATCH * 4  # what to fetch next, until a batch shows how big rows are
        try:
            while fetching is not None:
                rows = await fetching
                fetching = None
                if not rows:
                    return
                items = await make_many(conn, rows) if make_many is not None else None
                if len(rows) == asked:  # more may follow: fetch them meanwhile
                    asked = size
                    fetching = asyncio.ensure_future(cursor.fetch(asked))
                if items is None:
                    assert make is not None
                    items = [make(row) for row in rows]
                chunk = encoder.encode(items)
                if progress is not None:
                    progress(len(rows))
                yield chunk
                size = min(MAX_BATCH, max(FIRST_BATCH, CHUNK * len(rows) // max(len(chunk), 1)))
        finally:
            if fetching is not None:  # stopped early: the fetch in flight goes too
                fetching.cancel()
                await asyncio.gather(fetching, return_exceptions=True)

    return produce


def of_table(
    table: Bulk, format: Format, *, progress: Callable[[int], None] | None = None
) -> tuple[Encoder, Produce]:
    """Every record of ``table``, in the order of its key (the collection's own order: ids),
    as ``format``."""
    encoder = Encoder(format, table.record)
    sql = f"{table.select} order by {', '.join(table.key)}"
    return encoder, rows_of(sql, (), table.make, encoder, progress=progress)


# --- negotiation -------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def negotiate(accept: str) -> Format | None:
    """The export format an ``Accept`` header asks for, ``None`` for JSON: each of JSON, NDJSON
    and CSV gets the quality of the most specific range matching it (``q=0`` refuses it), the
    best wins, ties going to JSON then NDJSON; ``*/*`` (or nothing acceptable) is JSON. Clients
    send a handful of distinct values, so each is parsed once."""
    ranges: list[tuple[str, str, float]] = []
    for item in accept.lower().split(","):
        media, _, parameters = item.partition(";")
        main, _, sub = media.strip().partition("/")
        ranges.append((main, sub.strip(), quality(parameters)))

    def best_for(main: str, sub: str) -> float:
        best, specificity = 0.0, -1
        for r_main, r_sub, q in ranges:
            if r_main == main and r_sub == sub:
                rank = 2
            elif r_main == main and r_sub == "*":
                rank = 1
            elif r_main == "*" and r_sub == "*":
                rank = 0
            else:
                continue
            if rank > specificity:
                best, specificity = q, rank
        return best

    offers: list[tuple[float, Format | None]] = [
        (best_for("application", "json"), None),
        (best_for("application", "x-ndjson"), "ndjson"),
        (best_for("text", "csv"), "csv"),
    ]
    best_quality, best = max(offers, key=lambda offer: offer[0])  # max keeps the first of ties
    return best if best_quality > 0 else None


def asked_format(headers: Any) -> Format | None:
    """The export format a request's headers ask for (``None``: the JSON page). Most requests
    name neither NDJSON nor a ``text/`` type and are answered without parsing."""
    accept: str | None = headers.get("accept")
    if accept is None or ("ndjson" not in accept and "text/" not in accept):
        return None
    return negotiate(accept)


@contextlib.asynccontextmanager
async def snapshot(conn: AnyConnection) -> AsyncIterator[int]:
    """A ``repeatable read, read only`` transaction on ``conn``: every statement in it sees
    the same snapshot. Yields the change log's ``last_seq`` in that snapshot, the position an
    export read in it is consistent with."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        seq: int = await conn.fetchval(_SNAPSHOT)
        yield seq


# --- the streamed response ---------------------------------------------------------------------


class Streamed(Response[Any]):
    """An ASGI response that runs an export: see ``streamed``."""

    __slots__ = ("_extra", "_media_type", "_produce")

    def __init__(self, produce: Produce, media_type: str, headers: list[tuple[bytes, bytes]]):
        # Deliberately not Response.__init__ (as ``Encoded``): this is its own ASGI app.
        self._produce = produce
        self._media_type = media_type
        self._extra = headers

    def to_asgi_response(self, *_: Any, **__: Any) -> Streamed:  # type: ignore[override]
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pool = await read_pool(scope)
        # Failing here (the database away) is still an ordinary problem response: nothing
        # was sent yet. Leaving the snapshot after a cancelled fetch, asyncpg first waits for
        # the server to end the query, then rolls back.
        with contextlib.suppress(_ClientGoneError):
            async with pool.acquire() as conn, snapshot(conn) as seq:
                headers = [
                    (b"content-type", self._media_type.encode()),
                    (b"accord-seq", str(seq).encode()),
                    *self._extra,
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                if scope.get("method") == "HEAD":
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                elif not await _pump_until_gone(self._produce, conn, receive, send):
                    raise _ClientGoneError  # the snapshot is rolled back: the export did not end


class _ClientGoneError(Exception):
    """The client went away before the export's end."""


async def _pump_until_gone(
    produce: Produce, conn: AnyConnection, receive: Receive, send: Send
) -> bool:
    """Send what ``produce`` yields, then the end of the body, and say so; or stop it as soon
    as the client disconnects (cancelling a fetch makes asyncpg cancel the query on the
    server) and say that. An error raised while producing propagates, so the server aborts
    the response rather than end it as if it were complete."""

    async def pump() -> None:
        chunks = produce(conn)
        try:
            async for chunk in chunks:
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    pumping = asyncio.ensure_future(pump())
    watching = asyncio.ensure_future(gone())
    try:
        await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # this response cancelled (the server stopping): both go too
        for task in (pumping, watching):
            task.cancel()
        await asyncio.gather(pumping, watching, return_exceptions=True)
        raise
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watching
    if pumping.done():
        pumping.result()  # the export's own error, if any
        return True
    pumping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pumping
    log.info("export stopped: the client disconnected")
    return False


def streamed(
    produce: Produce, *, media_type: str, filename: str | None, negotiated: bool = False
) -> Response[Any]:
    """A response that runs ``produce`` on a pooled connection inside a ``repeatable read,
    read only`` transaction and streams what it yields, after headers carrying ``Accord-Seq``
    (the change log's ``last_seq`` in that same snapshot) and, with ``filename``, a
    ``Content-Disposition: attachment``. ``negotiated``: the URL also answers other media
    types (``Vary: Accept``). No ``Content-Length``: the body is chunked. The connection is
    released and the query stopped when the client disconnects."""
    headers: list[tuple[bytes, bytes]] = []
    if filename is not None:
        headers.append((b"content-disposition", f'attachment; filename="{filename}"'.encode()))
    if negotiated:
        headers.append((b"vary", b"Accept"))
    return Streamed(produce, media_type, headers)
