"""The import engine: many records of any resources in one transaction, validated exactly as
the API validates one, loaded set-based.

An import reads sources — a resource name and its lines (NDJSON bytes, CSV records or records
already parsed, e.g. from Popolo) — into staging tables by binary ``COPY`` while it parses, each
line decoded into the resource's *import struct* (its create struct, plus the ``id``,
``version`` and timestamps an export carries) and put through the resource's ``params`` (the
API's own rules). Then set-based SQL finds every bad line at once — duplicate ids, references
found neither in the database nor in the import (the foreign keys of the record tables and of
their lists, read from PostgreSQL's catalog), the tables' CHECK constraints, unique
constraints — and, unless the import is partial, stops there: nothing is written. Otherwise
it writes every resource in ``registry.TABLES`` order (whatever order the sources came in):
new ids inserted with their version and timestamps as given (so an export re-imported reads
back byte for byte), existing ids updated only where something differs (version + 1),
the lists of written records replaced, and one history row per written record — the change
log — in one statement at the end, numbered as the API numbers its writes. Anything a set-based
check cannot see (a trigger's rule, an exclusion constraint) fails the whole transaction with
the API's problem for it.

Rows only ever added to a record (``tables.Appended``: a memorandum's versions) go through
the same phases, keyed by their record and number instead of an id: a stored one may only be
repeated exactly (``unchanged``), never changed, and the records that gain some get an update
in the history, as when the API adds one.

One import runs at a time (a transaction-level advisory lock): two imports would otherwise
contend for the same rows and the change log's counter row for their whole length."""

from __future__ import annotations

import asyncio
import csv
import gc
import re
import time
import types
import typing
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec

from service.core import catalog, metrics
from service.core.bulk import Format
from service.core.database import AnyConnection
from service.core.problems import FieldError, ProblemError, problem_from_postgres
from service.core.tables import Appended, Bulk, Link, Table

BATCH = 10_000
"""Lines parsed between two COPYs: large enough that a COPY's round trips do not count, small
enough that PostgreSQL stores one batch while Python parses the next."""
PARSED = 1000
"""Lines parsed together: what they share is looked up once, and a server's other requests
wait for one such batch at most (≈ 10 ms)."""
LISTED_ERRORS = 1000
"""Bad lines listed in a report (all are counted)."""
LOCK_KEY = 0x61636364_696D7074  # "accdimpt"
"""The advisory lock that makes imports take turns."""
_KEPT = ("id", "version", "created_at", "updated_at")
"""What an import line may carry besides the create fields, kept when the record is created."""

Raw = bytes | dict[str, Any]
"""One line: NDJSON bytes, or a record already parsed (CSV, Popolo)."""


# --- report --------------------------------------------------------------------------------------


class ResourceReport(msgspec.Struct, kw_only=True):
    """What an import did (or, in a dry run, would do) with one resource's lines."""

    created: int = 0
    updated: int = 0
    """Existing ids whose values differed: version + 1, a history entry."""
    unchanged: int = 0
    """Existing ids whose values were the same: nothing written."""
    rejected: int = 0
    """Bad lines (and, in a partial import, lines referring to them): not written."""
    errors: list[FieldError] = msgspec.field(default_factory=list)
    """Each bad line's errors, in line order (the first 1000 of the import)."""


class PhaseSeconds(msgspec.Struct, kw_only=True):
    """Where the time went: Python's part (parse), PostgreSQL's (the rest)."""

    parse: float = 0.0
    """Decoding and validating lines (Python), copy waits excluded."""
    copy: float = 0.0
    """Waiting for COPY into the staging tables beyond what parsing overlapped."""
    checks: float = 0.0
    """Set-based checks: duplicates, references, CHECK and unique constraints."""
    write: float = 0.0
    """Inserts and updates of the records and their lists (and their triggers)."""
    history: float = 0.0
    """The history (change log) rows."""
    indexes: float = 0.0
    """Building the indexes and constraints (unique, exclusion, foreign keys) of the tables that
    were empty when the import began, which are loaded without them."""
    total: float = 0.0


class ImportReport(msgspec.Struct, kw_only=True):
    """The outcome of an import."""

    resources: dict[str, ResourceReport]
    """By collection name (`role-changes`), in the order written."""
    rows: int
    """Lines read, good and bad."""
    error_count: int
    """Bad lines in all (only the first 1000 are listed)."""
    last_seq: int
    """The change log's last `seq` after the import (before it, in a dry run or on errors)."""
    dry_run: bool
    partial: bool
    seconds: PhaseSeconds


class BadLinesError(Exception):
    """Bad lines in an import that is not partial, or only bad lines: nothing was written."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"{report.error_count} bad lines")
        self.report = report

    def problem(self) -> ProblemError:
        errors = [error for rep in self.report.resources.values() for error in rep.errors]
        listed = len(errors)
        more = f" (the first {listed} listed)" if listed < self.report.error_count else ""
        return ProblemError(
            422,
            "invalid-import",
            f"{self.report.error_count} bad lines{more}; nothing was imported.",
            errors=errors,
        )


# --- import structs ----------------------------------------------------------------------------


def import_struct(table: Table[Any, Any]) -> type[msgspec.Struct]:
    """A resource's create struct (same fields, types and rules, unknown fields refused), plus
    what an export line carries besides: ``id``, ``version``, ``created_at``, ``updated_at``
    (kept when creating) and the read-only values (``disputed``, derived lists) accepted and
    ignored, since they are computed from other records."""
    kept: list[tuple[str, Any, Any]] = [
        ("id", UUID | None, None),
        ("version", Annotated[int, msgspec.Meta(ge=1)] | None, None),
        ("created_at", datetime | None, None),
        ("updated_at", datetime | None, None),
    ]
    ignored = [(name, Any, None) for name in _ignored(table)]
    return msgspec.defstruct(
        f"{table.create.__name__.removesuffix('Create')}Import",
        [*kept, *ignored],
        bases=(table.create,),
        kw_only=True,
        forbid_unknown_fields=True,
        module=table.create.__module__,
        # Decoded lines cannot refer to themselves: the cycle collector need not track them
        # (it would walk every staged line of a batch, again and again).
        gc=False,
    )


def _ignored(table: Table[Any, Any]) -> list[str]:
    """The record's read-only fields (``disputed``, derived lists)."""
    create_fields = set(table.create.__struct_fields__)
    return [
        name
        for name in table.record.__struct_fields__
        if name not in create_fields and name not in _KEPT
    ]


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`$")


def validation_error(exc: msgspec.ValidationError, line: int) -> FieldError:
    """A msgspec error as the API reports it: the message and the dotted path of the field."""
    text = str(exc)
    found = _AT.match(text)
    message, path = (found["message"], found["path"]) if found else (text, None)
    name = path.lstrip(".") if path else None
    unknown = _UNKNOWN.match(message)
    if unknown:
        name = f"{name}.{unknown['name']}" if name else unknown["name"]
    return FieldError(message=message, field=name or None, source="body", line=line)


# --- line sources ------------------------------------------------------------------------------


@dataclass(slots=True)
class Source:
    """One resource's lines: ``lines`` yields ``(line number, line)``; ``name`` (a file name)
    is for messages."""

    resource: str
    lines: AsyncIterable[tuple[int, Raw | FieldError]]
    name: str = ""


def lines_in(
    format: Format, chunks: AsyncIterable[bytes], table: Bulk
) -> AsyncIterator[tuple[int, Raw | FieldError]]:
    """The lines of a body in ``format``: NDJSON lines, or CSV records of ``table``'s fields.
    How ``accord import`` (by a file's extension) and ``POST /v1/imports`` (by its
    ``Content-Type``) read what they are given."""
    return ndjson_lines(chunks) if format == "ndjson" else csv_records(chunks, table)


async def ndjson_lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[tuple[int, Raw | FieldError]]:
    """NDJSON: one record per ``\n``-terminated line, numbered from 1; blank lines skipped; a
    line that is not UTF-8 is an error (msgspec would take its bytes into strings as they are).
    The lines of each chunk are checked together, line by line only when they fail."""
    number = 0
    rest = b""
    async for chunk in chunks:
        if not chunk:
            continue
        # A byte order mark, as some editors write, is not part of the first line.
        start = chunk.removeprefix(b"\xef\xbb\xbf") if number == 0 and not rest else chunk
        lines = (rest + start).split(b"\n")
        rest = lines.pop()
        try:
            b"".join(lines).decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        for line in lines:
            number += 1
            if line.strip():
                yield number, line if valid else _utf8(number, line)
    if rest.strip():
        yield number + 1, _utf8(number + 1, rest)


def _utf8(number: int, line: bytes) -> bytes | FieldError:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8: {exc.reason} at byte {exc.start + 1}"
        return FieldError(message=message, source="body", line=number)
    return line


async def csv_records(
    chunks: AsyncIterable[bytes], table: Bulk
) -> AsyncIterator[tuple[int, Raw | FieldError]]:
    """CSV as the export writes it (RFC 4180, a header of field names): each record as the
    dict its NDJSON line would decode to, numbered by the line where it starts. An empty cell
    is an absent value; lists and objects are their JSON text; the rest is converted from text
    by the import struct (``strict=False``: ints and bools from their text)."""
    structured = _structured_fields(table)
    bad_lines: dict[int, FieldError] = {}

    async def text_lines() -> AsyncIterator[str]:
        number = 0
        async for raw in ndjson_lines_all(chunks):
            number += 1
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad_lines[number] = FieldError(
                    message=f"not UTF-8: {exc.reason} at byte {exc.start}", source="body"
                )
                yield raw.decode("utf-8", errors="replace")

    reader = _AsyncCsv(text_lines())
    header: list[str] | None = None
    async for start, end, cells in reader:
        if isinstance(cells, str):
            yield start, FieldError(message=cells, source="body", line=start)
            if header is None:
                return
            continue
        if header is None:
            # A byte order mark, as some spreadsheets write, is not part of the first name.
            header = [cells[0].removeprefix("\ufeff"), *cells[1:]] if cells else cells
            problem = _header_problem(header, table)
            if problem is not None:
                yield 1, FieldError(message=problem, source="body", line=1)
                return
            continue
        broken = next((bad_lines[n] for n in range(start, end + 1) if n in bad_lines), None)
        if broken is not None:
            yield start, FieldError(message=broken.message, source="body", line=start)
            continue
        yield start, _csv_record(header, cells, structured, start)


def _header_problem(header: list[str], table: Bulk) -> str | None:
    """What is wrong with a CSV header: columns the record lacks, required ones missing."""
    record_fields = set(table.record.__struct_fields__)
    problems = [f"unknown column {name!r}" for name in header if name not in record_fields]
    problems += [
        f"missing column {name!r}"
        for name, required in _required_fields(table).items()
        if required and name not in header
    ]
    if len(set(header)) != len(header):
        problems.append("a column named twice")
    return "; ".join(problems) or None


def _csv_record(
    header: list[str], cells: list[str], structured: set[str], start: int
) -> dict[str, Any] | FieldError:
    """A CSV record's cells as the dict its NDJSON line would decode to."""
    if len(cells) != len(header):
        message = f"{len(cells)} cells, the header has {len(header)}"
        return FieldError(message=message, source="body", line=start)
    record: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        if cell == "":
            continue
        if name in structured:
            try:
                record[name] = msgspec.json.decode(cell)
            except msgspec.DecodeError:
                return FieldError(message="not JSON text", field=name, source="body", line=start)
        else:
            record[name] = cell
    return record


async def ndjson_lines_all(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Every line of a byte stream, blank ones included (CSV counts them)."""
    rest = b""
    async for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest


class _AsyncCsv:
    """``csv.reader`` over text lines that arrive asynchronously: yields (first line, last
    line, cells) per record; a quoted cell may span lines."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self.lines = lines

    async def __aiter__(self) -> AsyncIterator[tuple[int, int, list[str] | str]]:
        pending: list[str] = []
        number = 0
        start = 1
        async for line in self.lines:
            number += 1
            pending.append(line)
            # A record is complete when its quotes balance.
            if sum(part.count('"') for part in pending) % 2:
                continue
            text = "".join(pending)
            pending = []
            if not text.strip("\r\n"):
                start = number + 1
                continue
            yield start, number, _cells(text)
            start = number + 1
        if pending:
            yield start, number, _cells("".join(pending))


def _cells(text: str) -> list[str] | str:
    """One CSV record's cells, or what is wrong with it."""
    try:
        return next(csv.reader([text], strict=True), [])
    except csv.Error as exc:
        return f"not CSV: {exc}"


def _unwrap(kind: Any) -> Any:
    """The type inside ``Annotated`` and ``X | None``."""
    while True:
        origin = typing.get_origin(kind)
        if origin is Annotated:
            kind = typing.get_args(kind)[0]
            continue
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if origin in (typing.Union, types.UnionType) and len(args) == 1:
            kind = args[0]
            continue
        return kind


def _structured_fields(table: Bulk) -> set[str]:
    """Fields written in a CSV cell as JSON text: lists, objects and structs."""
    hints = typing.get_type_hints(table.record, include_extras=True)
    found = set()
    for name, hint in hints.items():
        kind = _unwrap(hint)
        origin = typing.get_origin(kind) or kind
        if origin in (list, dict, tuple) or (
            isinstance(origin, type) and issubclass(origin, msgspec.Struct)
        ):
            found.add(name)
    return found


def _required_fields(table: Bulk) -> dict[str, bool]:
    info = msgspec.inspect.type_info(table.create)
    assert isinstance(info, msgspec.inspect.StructType)
    return {f.name: f.required for f in info.fields}


async def file_chunks(
    path: str, size: int = 1 << 20, progress: Callable[[int], None] | None = None
) -> AsyncIterator[bytes]:
    """A file's bytes in chunks (``progress`` told each chunk's size)."""
    with open(path, "rb") as handle:  # noqa: ASYNC230  # local file, read in chunks
        while chunk := handle.read(size):
            if progress is not None:
                progress(len(chunk))
            yield chunk
            await asyncio.sleep(0)


# --- staging -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Staged:
    """One resource in an import: its staging tables and what its lines came to."""

    name: str
    table: Bulk
    decode: Callable[[bytes], Any]
    convert: Callable[[Any], Any]
    staging: str
    columns: list[str]
    link_staging: dict[str, str]
    source: str = ""
    lines: int = 0
    report: ResourceReport = field(default_factory=ResourceReport)
    bad: dict[int, list[FieldError]] = field(default_factory=dict)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    link_rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)


def _stage_name(table: str) -> str:
    return f"import_{table}"


async def _column_types(conn: AnyConnection, table: str) -> dict[str, str]:
    rows = await conn.fetch(
        """select a.attname, format_type(a.atttypid, a.atttypmod) as type
             from pg_attribute a
            where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped""",
        table,
    )
    return {row["attname"]: row["type"] for row in rows}


async def _create_staging(conn: AnyConnection, name: str, table: Bulk) -> _Staged:
    types = await _column_types(conn, table.table)
    if isinstance(table, Appended):
        kind: type[msgspec.Struct] = table.create
        columns = ["line", *table.writes]
        typed = {"line": "integer", **{c: types[c] for c in table.writes}}
    else:
        kind = import_struct(table)
        writes = _writes(table)
        columns = ["line", *_KEPT, *writes, "doc"]
        typed = {"line": "integer", **{c: types[c] for c in (*_KEPT, *writes)}, "doc": "jsonb"}
    staging = _stage_name(table.table)
    await conn.execute(
        f"create temp table {staging} ({', '.join(f'{c} {typed[c]}' for c in columns)}) "
        "on commit drop"
    )
    link_staging = {}
    for link in table.links:
        link_types = await _column_types(conn, link.table)
        link_columns = ["line", link.parent, "position", *(c for c, _ in link.columns)]
        spec = ", ".join(
            f"{c} {'integer' if c in ('line', 'position') else link_types[c]}" for c in link_columns
        )
        link_name = f"import_{table.table}_{link.table}"
        await conn.execute(f"create temp table {link_name} ({spec}) on commit drop")
        link_staging[link.field] = link_name
    decoder = msgspec.json.Decoder(kind)
    kept = set(kind.__struct_fields__) - set(_ignored(table) if isinstance(table, Table) else ())

    def convert(value: dict[str, Any]) -> Any:
        # Read-only values are ignored whatever they hold (a CSV cell is text).
        return msgspec.convert(
            {k: v for k, v in value.items() if k in kept or k not in kind.__struct_fields__},
            kind,
            strict=False,
        )

    return _Staged(
        name=name,
        table=table,
        decode=decoder.decode,
        convert=convert,
        staging=staging,
        columns=columns,
        link_staging=link_staging,
        link_rows={link.field: [] for link in table.links},
    )


def _writes(table: Table[Any, Any]) -> list[str]:
    found = re.search(r"^insert into \w+ \(([^)]*)\)", table.insert_sql)
    assert found is not None
    return [c.strip() for c in found[1].split(",")]


def _parse(staged: _Staged, lines: list[tuple[int, Raw | FieldError]]) -> None:
    """Lines → their staging rows and link rows, or their errors. A batch at a time: the
    per-line work is the line's own, what every line shares is looked up once."""
    staged.lines += len(lines)
    table = staged.table
    decode = staged.decode
    params = table.params
    rows = staged.rows
    appended = isinstance(table, Appended)
    links = [(link, link.field, staged.link_rows[link.field]) for link in table.links]
    fields = table.create.__struct_fields__
    for number, raw in lines:
        if isinstance(raw, bytes):
            try:
                item = decode(raw)
            except msgspec.DecodeError as exc:
                _reject(staged, number, [_decode_error(exc, number, raw)])
                continue
        else:
            item = _converted(staged, number, raw)
            if item is None:
                continue
        try:
            values = params(item)
            # Most lists are empty: their rows are made only for those that are not.
            listed = [
                (out, [link.values(element) for element in elements])
                for link, name, out in links
                if (elements := getattr(item, name))
            ]
        except ProblemError as exc:
            errors = exc.errors or [FieldError(message=exc.detail, source="body")]
            _reject(staged, number, [msgspec.structs.replace(e, line=number) for e in errors])
            continue
        if appended:
            rows.append((number, *values))
            continue
        ident = item.id
        rows.append(
            (
                number,
                ident,
                item.version,
                item.created_at,
                item.updated_at,
                *values,
                _created(item, fields),
            )
        )
        for out, link_rows in listed:
            for position, link_values in enumerate(link_rows, 1):
                out.append((number, ident, position, *link_values))


def _converted(staged: _Staged, number: int, raw: dict[str, Any] | FieldError) -> Any:
    """A record already parsed (CSV, Popolo) as the import struct, or None when it is bad."""
    if isinstance(raw, FieldError):
        _reject(staged, number, [raw])
        return None
    try:
        return staged.convert(raw)
    except msgspec.ValidationError as exc:
        _reject(staged, number, [validation_error(exc, number)])
        return None


def _decode_error(exc: msgspec.DecodeError, number: int, raw: bytes) -> FieldError:
    """What is wrong with a line msgspec could not decode: a rule it breaks, or not JSON (or
    not UTF-8)."""
    if isinstance(exc, msgspec.ValidationError):
        return validation_error(exc, number)
    message = f"not JSON: {exc}"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        message = f"not UTF-8: {bad.reason} at byte {bad.start}"
    return FieldError(message=message, source="body", line=number)


_encode = msgspec.json.Encoder().encode


class _Set(msgspec.Struct, gc=False):
    """One field's change when a record is created: ``{"before": null, "after": value}``."""

    before: None
    after: Any


def _created(item: Any, fields: tuple[str, ...]) -> msgspec.Raw:
    """The line's history ``changes`` should it create its record — each create field it sets,
    before null — as ``history.changes_between`` gives them for a create through the API. Made
    here, where it is one dict per line, rather than in SQL, where it is a function call per
    field (tens of µs a row as a generated column filled during the COPY); an update compares
    the stored record with the ``after`` values. Encoded at once: bytes are no work for the
    cycle collector, where a dict of dicts per staged row gave it seven objects to scan."""
    # The import struct's fields start with the create struct's, in order.
    values = msgspec.structs.astuple(item)
    return msgspec.Raw(
        _encode(
            {
                name: _Set(None, value)
                for name, value in zip(fields, values, strict=False)
                if value is not None
            }
        )
    )


def _reject(staged: _Staged, number: int, errors: list[FieldError]) -> None:
    staged.bad.setdefault(number, []).extend(errors)


# --- the import ----------------------------------------------------------------------------------


async def run(
    conn: AnyConnection,
    sources: Sequence[Source],
    *,
    tables: Mapping[str, Bulk],
    partial: bool = False,
    dry_run: bool = False,
    actor: UUID | None = None,
) -> ImportReport:
    """Import ``sources`` on ``conn`` in one transaction of its own. Raises ``BadLinesError``
    (nothing written) when lines are bad and the import is not partial, ``ProblemError`` for
    what the write itself met (a trigger's rule, an exclusion constraint: nothing written)."""
    seen = [source.resource for source in sources]
    for source in sources:
        if source.resource not in tables:
            raise ProblemError(
                422, "unknown-resource", f"No resource {source.resource!r} to import into."
            )
    if len(set(seen)) != len(seen):
        raise ProblemError(
            422, "resource-twice", "Each resource may come from one source in an import."
        )
    transaction = conn.transaction()
    await transaction.start()
    try:
        report = await _run(conn, sources, tables, partial, dry_run, actor)
    except BaseException:
        await transaction.rollback()
        raise
    if dry_run:
        await transaction.rollback()
    else:
        await transaction.commit()
        metrics.CHANGES_WRITTEN.inc(
            sum(each.created + each.updated for each in report.resources.values())
        )
    return report


async def _run(
    conn: AnyConnection,
    sources: Sequence[Source],
    tables: Mapping[str, Bulk],
    partial: bool,
    dry_run: bool,
    actor: UUID | None,
) -> ImportReport:
    started = time.perf_counter()
    seconds = PhaseSeconds()
    await _session_settings(conn)
    if not await conn.fetchval("select pg_try_advisory_xact_lock($1)", LOCK_KEY):
        raise ProblemError(409, "import-running", "Another import is running; retry when it ends.")
    last_seq_before: int = await conn.fetchval("select last_seq from change_log")

    order = {name: i for i, name in enumerate(tables)}
    staged: dict[str, _Staged] = {}
    for source in sorted(sources, key=lambda s: order[s.resource]):
        staged[source.resource] = await _create_staging(
            conn, source.resource, tables[source.resource]
        )
        staged[source.resource].source = source.name

    with fewer_collections():
        await _stage(conn, sources, staged, seconds)

    checks_started = time.perf_counter()
    await _prepare(conn, staged)
    checks = await _checks(conn, staged, tables)
    await _check_all(conn, staged, checks)
    if partial:
        # Drop the bad lines, then again those that referred to a dropped one, until none do.
        while True:
            dropped = await _drop_bad(conn, staged)
            if not dropped:
                break
            await _check_all(conn, staged, [c for c in checks if c.reference])
    seconds.checks = time.perf_counter() - checks_started

    error_count = sum(len(s.bad) for s in staged.values())
    _list_errors(staged)
    lines = sum(target.lines for target in staged.values())
    # A partial import with no good line (a CSV whose header is wrong, a body of one bad
    # line) has nothing to load: it fails as a whole.
    if error_count and (not partial or error_count == lines):
        seconds.total = time.perf_counter() - started
        raise BadLinesError(
            _report(staged, last_seq_before, dry_run, partial, seconds, error_count)
        )

    write_started = time.perf_counter()
    try:
        deferred = await _defer_indexes(conn, _written_tables(staged))
        for target in staged.values():
            if isinstance(target.table, Appended):
                await _write_appended(conn, target, target.table)
            else:
                await _write_records(conn, target)
        for target in staged.values():
            await _write_links(conn, target)
        seconds.write = time.perf_counter() - write_started
        history_started = time.perf_counter()
        last_seq = await _write_history(conn, staged, actor, last_seq_before)
        seconds.history = time.perf_counter() - history_started
        indexes_started = time.perf_counter()
        for statement in deferred:
            await conn.execute(statement)
        seconds.indexes = time.perf_counter() - indexes_started
    except asyncpg.PostgresError as exc:
        raise problem_from_postgres(exc) from exc
    seconds.total = time.perf_counter() - started
    return _report(
        staged,
        last_seq_before if dry_run else last_seq,
        dry_run,
        partial,
        seconds,
        error_count,
    )


async def _session_settings(conn: AnyConnection) -> None:
    """The import transaction's own settings (``set local``: they end with it)."""
    # A large import outlives the pool's per-statement limits.
    await conn.execute("set local statement_timeout = 0")
    await conn.execute("set local idle_in_transaction_session_timeout = 0")
    # Staging tables have no statistics until analyzed, and the estimates made without them
    # set off JIT compilation, which costs more than the statements (0.6 s for a few rows).
    await conn.execute("set local jit = off")
    # Sorts and hashes over the whole import (duplicates, anti-joins, numbering) in memory.
    await conn.execute("set local work_mem = '256MB'")
    # Index builds of tables that were empty (``_defer_indexes``) sort in memory too.
    await conn.execute("set local maintenance_work_mem = '512MB'")
    await _more_temp_buffers(conn)


@dataclass(slots=True)
class _Parsing:
    """Imports of this process parsing now (``fewer_collections``), and the collector's
    thresholds before the first of them began."""

    count: int = 0
    threshold: tuple[int, ...] = ()


_PARSING = _Parsing()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The cycle collector runs less often while an import parses (never less than every
    50,000 objects). Parsing makes a few objects per line, each of which counts towards the
    collector's next run; at its usual threshold (700) it runs every few dozen lines and took
    a third of the parse time.

    The threshold is the process's (Python has no other), so it holds for every coroutine
    of the process while it is raised: it is raised for the parse of an import only, and put
    back as it was when the parse ends, by error or cancellation too. Imports that parse at
    once in one process (into different databases) share one raise: the first raises it,
    the last puts it back."""
    if _PARSING.count == 0:
        _PARSING.threshold = usual = gc.get_threshold()
        gc.set_threshold(max(usual[0], 50_000), *usual[1:])
    _PARSING.count += 1
    try:
        yield
    finally:
        _PARSING.count -= 1
        if _PARSING.count == 0:
            gc.set_threshold(*_PARSING.threshold)


async def _more_temp_buffers(conn: AnyConnection) -> None:
    """Room for the staging tables in memory (the default, 8 MB, sends a large import's staging
    to disk and back; they are allocated as used). A session may set it only before it first
    uses a temporary table, so it is set for the session; a connection that used temporary
    tables before keeps what it had."""
    try:
        async with conn.transaction():
            await conn.execute("set temp_buffers = '512MB'")
    except asyncpg.InvalidParameterValueError:
        pass


async def _stage(
    conn: AnyConnection,
    sources: Sequence[Source],
    staged: dict[str, _Staged],
    seconds: PhaseSeconds,
) -> None:
    """Parse every line into the staging tables, COPYing batch by batch."""
    copying: asyncio.Task[None] | None = None
    for source in sources:
        target = staged[source.resource]
        parse_started = time.perf_counter()
        pending: list[tuple[int, Raw | FieldError]] = []
        async for line in source.lines:
            pending.append(line)
            if len(pending) < PARSED:
                continue
            _parse(target, pending)
            pending = []
            if len(target.rows) >= BATCH:
                seconds.parse += time.perf_counter() - parse_started
                copying = await _flush(conn, target, copying, seconds)
                parse_started = time.perf_counter()
        _parse(target, pending)
        seconds.parse += time.perf_counter() - parse_started
        copying = await _flush(conn, target, copying, seconds)
    if copying is not None:
        waited = time.perf_counter()
        await copying
        seconds.copy += time.perf_counter() - waited


async def _flush(
    conn: AnyConnection,
    target: _Staged,
    copying: asyncio.Task[None] | None,
    seconds: PhaseSeconds,
) -> asyncio.Task[None] | None:
    """Start COPYing ``target``'s parsed rows once the previous COPY is done, and return
    without waiting for it: PostgreSQL stores one batch while Python parses the next."""
    if copying is not None:
        waited = time.perf_counter()
        await copying
        seconds.copy += time.perf_counter() - waited
    if not target.rows and not any(target.link_rows.values()):
        return None
    rows, target.rows = target.rows, []
    links = {name: rows_ for name, rows_ in target.link_rows.items() if rows_}
    target.link_rows = {name: [] for name in target.link_rows}

    async def copy() -> None:
        await conn.copy_records_to_table(target.staging, records=rows, columns=target.columns)
        for link in target.table.links:
            if link.field in links:
                columns = ["line", link.parent, "position", *(c for c, _ in link.columns)]
                await conn.copy_records_to_table(
                    target.link_staging[link.field], records=links[link.field], columns=columns
                )

    task = asyncio.ensure_future(copy())
    # Let the COPY send its rows before parsing takes the event loop again.
    for _ in range(4):
        await asyncio.sleep(0)
    return task


async def _prepare(conn: AnyConnection, staged: dict[str, _Staged]) -> None:
    """Ids for lines that had none (and their list rows), indexes, statistics."""
    for target in staged.values():
        if isinstance(target.table, Table):
            await conn.execute(f"update {target.staging} set id = accord_uuid7() where id is null")
        await conn.execute(f"create index on {target.staging} ({', '.join(target.table.key)})")
        await conn.execute(f"create index on {target.staging} (line)")
        # Not ``doc``: its statistics serve no query, and computing them reads every document.
        columns = ", ".join(c for c in target.columns if c != "doc")
        await conn.execute(f"analyze {target.staging} ({columns})")
        for link in target.table.links:
            name = target.link_staging[link.field]
            await conn.execute(
                f"update {name} l set {link.parent} = s.id from {target.staging} s "
                f"where l.{link.parent} is null and s.line = l.line"
            )
            await conn.execute(f"create index on {name} ({link.parent})")
            await conn.execute(f"analyze {name}")


# --- checks --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Check:
    """A query over a resource's staging that returns the bad lines: ``(line, field,
    message)`` rows."""

    resource: str
    sql: str
    reference: bool = False
    """A reference check: run again after a partial import drops lines."""


def _field_of(target: _Staged, column: str) -> str:
    """The API's name for a record table's column (``effective_precision`` →
    ``effective_date``, ``venue_city`` → ``venue``, ``statement_date`` → ``date``)."""
    fields = target.table.create.__struct_fields__
    if column in fields:
        return column
    stem = column.rsplit("_", 1)[0]
    for name in fields:
        if name in (stem, f"{stem}_date"):
            return str(name)
    if column.endswith(("_date", "_precision")) and "date" in fields:
        return "date"
    return column


def _field_sql(target: _Staged, column: str, link: Link | None) -> str:
    """SQL for the field a staged row's error names: ``citations[2].source_id`` in a list."""
    if link is None:
        return _literal(_field_of(target, column))
    member = f".{column}" if len(link.columns) > 1 else ""
    return f"'{link.field}[' || (s.position - 1) || ']{member}'"


async def _checks(
    conn: AnyConnection, staged: dict[str, _Staged], tables: Mapping[str, Bulk]
) -> list[_Check]:
    """Every check the staged rows must pass, from PostgreSQL's catalog: each resource's
    duplicate ids, its table's and its lists' foreign keys, CHECK and unique constraints."""
    checks: list[_Check] = []
    by_table = {t.table: name for name, t in tables.items()}
    for name, target in staged.items():
        s = target.staging
        if isinstance(target.table, Appended):
            checks.extend(_appended_checks(name, target.table, s))
        else:
            checks.append(
                _Check(
                    name,
                    f"select s.line, 'id', 'id ' || s.id || ' is also on line ' || s.first "
                    f"from (select line, id, min(line) over (partition by id) as first "
                    f"from {s}) s where s.line > s.first",
                )
            )
            checks.append(
                _Check(
                    name,
                    f"select s.line, 'id', 'id ' || s.id || ' is a ' || r.kind || ', not a "
                    f"{target.table.kind}' from {s} s join accord_records r on r.id = s.id "
                    f"where r.kind <> '{target.table.kind}'",
                )
            )
        relations: list[tuple[str, str, Link | None]] = [(target.table.table, s, None)]
        relations += [
            (link.table, target.link_staging[link.field], link) for link in target.table.links
        ]
        for real, stage, link in relations:
            constraints = await catalog.constraints(conn, real)
            staged_columns = (
                set(target.columns)
                if link is None
                else {"line", link.parent, "position", *(c for c, _ in link.columns)}
            )
            for con in constraints:
                cols: list[str] = list(con["cols"])
                if con["contype"] == "f":
                    if link is not None and cols == [link.parent]:
                        continue  # the list's rows belong to the record staged with them
                    checks.append(
                        _reference_check(name, target, stage, link, cols, con, staged, by_table)
                    )
                elif con["contype"] == "c":
                    expression = con["def"].removeprefix("CHECK ").removesuffix(" NOT VALID")
                    if not cols or not set(cols) <= staged_columns:
                        continue
                    checks.append(
                        _Check(
                            name,
                            f"select s.line, {_field_sql(target, cols[0], link)},"
                            f" 'breaks the rule {con['conname']}: ' || "
                            f"{_literal(con['def'])} from {stage} s "
                            f"where not coalesce({expression}, true)",
                        )
                    )
                elif con["contype"] == "u" and all(c in staged_columns for c in cols):
                    checks.extend(_unique_checks(name, target, stage, real, link, cols, con))
    return checks


def _appended_checks(name: str, table: Appended[Any], s: str) -> list[_Check]:
    """Rows only ever added (a memorandum's versions): a key twice in the import, or a key
    already stored with other values — such a row never changes, so a line may only repeat
    it exactly (``unchanged``)."""
    owner, number = table.key
    key = f"s.{owner} || ' number ' || s.{number}"
    compared = [c for c in table.writes if c not in (*table.key, "created_at")]
    differs = " or ".join(f"t.{c} is distinct from s.{c}" for c in compared)
    return [
        _Check(
            name,
            f"select s.line, '{number}', '{table.label} ' || {key} || ' is also on line ' "
            f"|| s.first from (select line, {owner}, {number}, min(line) over "
            f"(partition by {owner}, {number}) as first from {s}) s where s.line > s.first",
        ),
        _Check(
            name,
            f"select s.line, '{number}', '{table.label} ' || {key} || ' is stored with other "
            f"values; it never changes (add one with another number instead)' "
            f"from {s} s join {table.table} t using ({owner}, {number}) "
            f"where {differs} or t.created_at <> coalesce(s.created_at, t.created_at)",
        ),
    ]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _reference_check(
    name: str,
    target: _Staged,
    stage: str,
    link: Link | None,
    cols: list[str],
    con: asyncpg.Record,
    staged: dict[str, _Staged],
    by_table: dict[str, str],
) -> _Check:
    """Lines whose reference is found neither in the database nor among the staged rows."""
    refcols: list[str] = list(con["refcols"])
    referenced: str = con["target"]
    present = " and ".join(f"s.{c} is not null" for c in cols)
    match = " and ".join(f"t.{r} = s.{c}" for c, r in zip(cols, refcols, strict=True))
    # Where the referenced row may be: stored, or staged in this import. Each is a NOT EXISTS
    # of its own (an anti-join), which PostgreSQL runs as one hash join over the whole import.
    places = [referenced]
    if referenced == "accord_records":
        places += [o.staging for o in staged.values() if isinstance(o.table, Table)]
    elif referenced in by_table and by_table[referenced] in staged:
        places.append(staged[by_table[referenced]].staging)
    else:
        # A list table of a staged resource (a delegation's party among its negotiation's).
        places += [
            other.link_staging[other_link.field]
            for other in staged.values()
            for other_link in other.table.links
            if other_link.table == referenced
        ]
    if referenced == "accord_records":
        absent = [
            f"not exists (select from {place} t where t.id = s.{cols[0]})" for place in places
        ]
    else:
        absent = [f"not exists (select from {place} t where {match})" for place in places]
    # A composite reference (a memorandum's round, of its negotiation) is named by its own
    # column rather than the shared one.
    column = next((c for c in cols if c != "negotiation_id"), cols[0])
    field_name = _field_sql(target, column, link)
    shown = " || ', ' || ".join(f"coalesce(s.{c}::text, 'null')" for c in cols)
    what = f"{referenced} ({', '.join(refcols)})"
    sql = (
        f"select s.line, {field_name}, 'refers to ' || {shown} || ', found neither in "
        f"{what} nor in this import' from {stage} s where {present} and " + " and ".join(absent)
    )
    return _Check(name, sql, reference=True)


def _unique_checks(
    name: str,
    target: _Staged,
    stage: str,
    real: str,
    link: Link | None,
    cols: list[str],
    con: asyncpg.Record,
) -> list[_Check]:
    """A unique constraint: twice in the import, or already taken by a stored record that the
    import does not rewrite."""
    field_name = _field_sql(target, cols[-1], link)
    present = " and ".join(f"s.{c} is not null" for c in cols)
    same = " and ".join(f"o.{c} = s.{c}" for c in cols)
    listed = ", ".join(cols)
    checks = [
        _Check(
            name,
            f"select s.line, {field_name}, '({listed}) also on line ' || s.first "
            f"from (select *, min(line) over (partition by {listed}) as first from {stage} s "
            f"where {present}) s where s.line > s.first",
        )
    ]
    if link is None:
        checks.append(
            _Check(
                name,
                f"select s.line, {field_name}, 'breaks {con['conname']}: ({listed}) is "
                f"taken by ' || o.id from {stage} s join {real} o on {same} "
                f"where {present} and o.id <> s.id "
                f"and not exists (select from {stage} w where w.id = o.id)",
            )
        )
    return checks


async def _check_all(conn: AnyConnection, staged: dict[str, _Staged], checks: list[_Check]) -> None:
    for check in checks:
        target = staged[check.resource]
        for row in await conn.fetch(check.sql):
            error = FieldError(message=row[2], field=row[1], source="body", line=row[0])
            known = target.bad.setdefault(row[0], [])
            if error not in known:
                known.append(error)


async def _drop_bad(conn: AnyConnection, staged: dict[str, _Staged]) -> int:
    """Remove the staged rows of bad lines; how many were still there."""
    dropped = 0
    for target in staged.values():
        lines = list(target.bad)
        if not lines:
            continue
        status = await conn.execute(
            f"delete from {target.staging} where line = any($1::integer[])", lines
        )
        dropped += int(status.split()[-1])
        for name in target.link_staging.values():
            await conn.execute(f"delete from {name} where line = any($1::integer[])", lines)
    return dropped


def _list_errors(staged: dict[str, _Staged]) -> None:
    room = LISTED_ERRORS
    for target in staged.values():
        target.report.rejected = len(target.bad)
        for line in sorted(target.bad):
            if room <= 0:
                return
            target.report.errors.extend(target.bad[line])
            room -= 1


def _report(
    staged: dict[str, _Staged],
    last_seq: int,
    dry_run: bool,
    partial: bool,
    seconds: PhaseSeconds,
    error_count: int,
) -> ImportReport:
    return ImportReport(
        resources={name: target.report for name, target in staged.items()},
        rows=sum(target.lines for target in staged.values()),
        error_count=error_count,
        last_seq=last_seq,
        dry_run=dry_run,
        partial=partial,
        seconds=msgspec.structs.replace(
            seconds, **{k: round(getattr(seconds, k), 3) for k in seconds.__struct_fields__}
        ),
    )


# --- writing -----------------------------------------------------------------------------------

DERIVED = ("accord_records", "tenures", "timeline", "history")
"""Tables an import's writes fill besides the records' and their lists': the registry, what
the triggers derive, the change log."""


def _written_tables(staged: dict[str, _Staged]) -> list[str]:
    tables = [target.table.table for target in staged.values()]
    tables += [link.table for target in staged.values() for link in target.table.links]
    return list(dict.fromkeys([*tables, *DERIVED]))


async def _defer_indexes(conn: AnyConnection, tables: list[str]) -> list[str]:
    """A table empty when the import starts is loaded as ``pg_restore`` loads one: its
    secondary indexes, its unique and exclusion constraints and its foreign keys are dropped
    before the writes and made again after them, in the same transaction (a bulk build sorts
    once and a foreign key added is checked by one join, where the inserts would each descend
    every index — GIN and GiST at tens of microseconds a row — and look up what they refer
    to). The primary key stays (the writes join on it, foreign keys point at it), as do
    indexes that foreign keys rely on. Returns the statements that make them again, indexes
    first: a violation they find (two holders of a one-holder post) fails the import as the
    insert would have, with the constraint's name. The locks last until the import ends:
    ACCESS EXCLUSIVE on each such table (reads and writes of it wait, as for a restore), SHARE
    ROW EXCLUSIVE on the tables their foreign keys refer to (writes to them wait)."""
    rebuild: list[str] = []
    checked: list[str] = []
    for table in tables:
        if await conn.fetchval(f"select exists (select from {table})"):
            continue
        rows = await conn.fetch(
            """select i.indexrelid::regclass::text as index, pg_get_indexdef(i.indexrelid) as def,
                      c.conname, pg_get_constraintdef(c.oid) as condef
                 from pg_index i
                 left join pg_constraint c
                        on c.conindid = i.indexrelid and c.conrelid = i.indrelid
                       and c.contype in ('u', 'x')
                where i.indrelid = $1::regclass and not i.indisprimary
                  and not exists (select from pg_constraint f
                                   where f.contype = 'f' and f.conindid = i.indexrelid)
                order by i.indexrelid""",
            table,
        )
        for row in rows:
            if row["conname"] is not None:
                await conn.execute(f'alter table {table} drop constraint "{row["conname"]}"')
                rebuild.append(
                    f'alter table {table} add constraint "{row["conname"]}" {row["condef"]}'
                )
            else:
                await conn.execute(f"drop index {row['index']}")
                rebuild.append(row["def"])
        for row in await conn.fetch(
            """select conname, pg_get_constraintdef(oid) as condef from pg_constraint
                where conrelid = $1::regclass and contype = 'f' order by oid""",
            table,
        ):
            await conn.execute(f'alter table {table} drop constraint "{row["conname"]}"')
            checked.append(f'alter table {table} add constraint "{row["conname"]}" {row["condef"]}')
    return rebuild + checked


async def _write_records(conn: AnyConnection, target: _Staged) -> None:
    """Insert the new ids and update the changed ones; record which were written, and the
    changes history keeps for each, in ``import_written_<table>``."""
    table = target.table
    assert isinstance(table, Table)
    s = target.staging
    written = f"import_written_{table.table}"
    fields = list(table.create.__struct_fields__)
    writes = _writes(table)
    await conn.execute(
        f"create temp table {written} (line integer, id uuid, operation text, version integer, "
        "changes jsonb) on commit drop"
    )
    # Updates first: what differs between the stored record, as the API reads it, and the line.
    # Only the create fields count; jsonb compares values, not spellings, and a member that is
    # null counts as absent (as in the structs both decode to).
    await conn.execute(
        f"""insert into {written} (line, id, operation, version, changes)
            select s.line, s.id, 'update', cur.version + 1, d.changes
              from {s} s
              join ({table.select}) cur on cur.id = s.id
             cross join lateral (select to_jsonb(cur) as old) o
             cross join lateral (
                   select jsonb_object_agg(k, jsonb_build_object(
                              'before', coalesce(o.old -> k, 'null'),
                              'after', coalesce(s.doc -> k -> 'after', 'null'))) as changes
                     from unnest($1::text[]) k
                    where jsonb_strip_nulls(coalesce(o.old -> k, 'null'))
                          <> jsonb_strip_nulls(coalesce(s.doc -> k -> 'after', 'null'))) d
             where d.changes is not null""",
        fields,
    )
    updated = await conn.fetchval(f"select count(*) from {written}")
    existing = await conn.fetchval(
        f"select count(*) from {s} s where exists (select from {table.table} t where t.id = s.id)"
    )
    target.report.updated = updated
    target.report.unchanged = existing - updated
    if updated:
        assignments = ", ".join(f"{c} = s.{c}" for c in writes)
        await conn.execute(
            f"update {table.table} t set {assignments}, version = t.version + 1, "
            f"updated_at = now() from {written} w join {s} s on s.line = w.line "
            "where t.id = w.id"
        )
    status = await conn.execute(
        f"""insert into {written} (line, id, operation, version, changes)
            select s.line, s.id, 'create', coalesce(s.version, 1), s.doc
              from {s} s
             where not exists (select from {table.table} t where t.id = s.id)"""
    )
    target.report.created = int(status.split()[-1])
    # Statistics, so the joins with the staged rows below (and the history's) are hash joins,
    # not an index lookup per line.
    await conn.execute(f"analyze {written} (line, id, operation)")
    if target.report.created:
        columns = ", ".join(["id", "version", "created_at", "updated_at", *writes])
        values = ", ".join(
            [
                "s.id",
                "coalesce(s.version, 1)",
                "coalesce(s.created_at, now())",
                "coalesce(s.updated_at, s.created_at, now())",
                *(f"s.{c}" for c in writes),
            ]
        )
        await conn.execute(
            f"insert into {table.table} ({columns}) select {values} from {written} w "
            f"join {s} s on s.line = w.line where w.operation = 'create'"
        )


async def _write_appended(conn: AnyConnection, target: _Staged, table: Appended[Any]) -> None:
    """Insert the rows not stored yet (a stored one is the same: the checks saw to it), and
    record for the history one update of each record that gained some — its version as it
    is, ``changes`` its newest row's number before and after — as the API's addition of one
    does."""
    s = target.staging
    owner, number = table.key
    written = f"import_written_{table.table}"
    await conn.execute(
        f"create temp table {written} (line integer, id uuid, operation text, version integer, "
        "changes jsonb) on commit drop"
    )
    new = (
        f"select * from {s} s where not exists (select from {table.table} t "
        f"where t.{owner} = s.{owner} and t.{number} = s.{number})"
    )
    await conn.execute(
        f"""insert into {written} (line, id, operation, version, changes)
            select min(n.line), n.{owner}, 'update', o.version,
                   jsonb_build_object('{table.latest}', jsonb_build_object(
                       'before', (select max(t.{number}) from {table.table} t
                                   where t.{owner} = n.{owner}),
                       'after', greatest(max(n.{number}), (select max(t.{number})
                                  from {table.table} t where t.{owner} = n.{owner}))))
              from ({new}) n join {table.owner.table} o on o.id = n.{owner}
             group by n.{owner}, o.version"""
    )
    columns = ", ".join(table.writes)
    values = ", ".join(
        "coalesce(s.created_at, now())" if c == "created_at" else f"s.{c}" for c in table.writes
    )
    status = await conn.execute(
        f"insert into {table.table} ({columns}) select {values} from ({new}) s order by s.line"
    )
    target.report.created = int(status.split()[-1])
    target.report.unchanged = await conn.fetchval(f"select count(*) from {s}") - (
        target.report.created
    )


async def _write_links(conn: AnyConnection, target: _Staged) -> None:
    """The lists of the records written, replaced whole (after every resource's records, so
    a list may name a record of a resource written later: a round's agenda, its memoranda)."""
    written = f"import_written_{target.table.table}"
    for link in target.table.links:
        if target.report.updated:
            await conn.execute(
                f"delete from {link.table} l using {written} w "
                f"where w.operation = 'update' and l.{link.parent} = w.id"
            )
        if not (target.report.updated or target.report.created):
            continue
        names = ", ".join(c for c, _ in link.columns)
        await conn.execute(
            f"insert into {link.table} ({link.parent}, position, {names}) "
            f"select l.{link.parent}, l.position, {', '.join(f'l.{c}' for c, _ in link.columns)} "
            f"from {target.link_staging[link.field]} l join {written} w on w.line = l.line"
        )


async def _write_history(
    conn: AnyConnection, staged: dict[str, _Staged], actor: UUID | None, last_seq: int
) -> int:
    """One history row — one numbered change — per record written, in one statement that
    advances the change log's counter once by their number (its row lock, held to commit,
    numbers changes in commit order as every write's does).

    Each row's id is a UUIDv7 made from its number rather than by ``accord_uuid7()``: the
    statement's millisecond and 12 random bits, then the variant and the number (62 bits), so
    it is unique as the number is and ordered by it. ``accord_uuid7()`` cost 5 µs a row, most
    of it ``gen_random_uuid()``'s strong random bytes — a third of the history's time."""
    parts = [
        f"select {i} as resource, w.line, w.id, '{target.table.kind}' as kind, w.operation, "
        f"w.version, w.changes from import_written_{target.table.table} w"
        for i, target in enumerate(staged.values())
        if target.report.created or target.report.updated
    ]
    if not parts:
        return last_seq
    union = " union all ".join(parts)
    seq: int = await conn.fetchval(
        f"""with written as ({union}),
                 numbered as (update change_log
                                 set last_seq = last_seq + (select count(*) from written)
                               returning last_seq),
                 head as (
                   select lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint),
                               12, '0')
                          || '7' || lpad(to_hex((random() * 4095)::integer), 3, '0') as hex),
                 inserted as (
                   insert into history (id, seq, record_id, kind, operation, api_key_id,
                                        version, changes)
                   select (h.hex || to_hex(x'8000000000000000'::bigint | w.seq))::uuid, w.seq,
                          w.id, w.kind, w.operation, $1::uuid, w.version, w.changes
                     from (select w.*, n.last_seq - (select count(*) from written)
                                       + row_number() over (order by w.resource, w.line) as seq
                             from written w, numbered n) w, head h
                   returning 1)
            select last_seq from numbered, (select count(*) from inserted) i""",
        actor,
    )
    return seq


def lines_of(records: Iterable[dict[str, Any]]) -> AsyncIterator[tuple[int, Raw | FieldError]]:
    """Records already parsed (a Popolo conversion's), numbered from 1, as an import source."""

    async def numbered() -> AsyncIterator[tuple[int, Raw | FieldError]]:
        for number, record in enumerate(records, 1):
            yield number, record

    return numbered()


def summary(report: ImportReport) -> str:
    """The report for people: per resource, then the totals and the phases."""
    lines = []
    for name, counts in report.resources.items():
        lines.append(
            f"{name:>14}: {counts.created} created, {counts.updated} updated, "
            f"{counts.unchanged} unchanged, {counts.rejected} rejected"
        )
    s = report.seconds
    rate = report.rows / s.total if s.total else 0.0
    if report.error_count and (not report.partial or report.error_count == report.rows):
        outcome = "nothing imported"
    elif report.dry_run:
        outcome = "dry run: nothing written"
    else:
        outcome = f"change log at {report.last_seq}"
    lines.append(
        f"{report.rows} lines, {report.error_count} bad; {outcome}; {s.total:.2f} s "
        f"({rate:,.0f} rows/s: parse {s.parse:.2f}, copy {s.copy:.2f}, checks {s.checks:.2f}, "
        f"write {s.write:.2f}, history {s.history:.2f}, indexes {s.indexes:.2f})"
    )
    return "\n".join(lines)
