"""Bulk exports under ``/v1/export``: every record of a resource as a file, a Frictionless Data
Package (v2) describing those files, and the people side as one Popolo JSON document.

The Data Package is derived, not written by hand: each resource's Table Schema comes from its
record struct (the CSV's columns are the struct's fields in declaration order, see
``service.core.bulk``) and its foreign keys from PostgreSQL's catalog of the record tables'
constraints, so neither can drift from what the CSV files hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
import msgspec.inspect as mi
from litestar import Request, Response, get
from litestar.datastructures import ResponseHeader
from litestar.openapi.spec import (
    OpenAPIResponse,
    Operation,
    Reference,
    Schema,
)
from litestar.params import PathParameter
from msgspec import UNSET, UnsetType

from service import __version__
from service.core import bulk, catalog
from service.core.bulk import streamed
from service.core.database import Pool
from service.core.openapi import lines_content
from service.core.pagination import SEQ_HEADER
from service.core.problems import ProblemError, problem_responses
from service.core.replica import read_pool
from service.core.responses import Encoded
from service.core.routes import ResourceRouter
from service.core.tables import Bulk
from service.core.types import PARTIAL_DATE_PATTERN
from service.resources import popolo
from service.resources.registry import BULK

# --- structs -----------------------------------------------------------------------------------

PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"
TABLE_SCHEMA_PROFILE = "https://datapackage.org/profiles/2.0/tableschema.json"
DIALECT_PROFILE = "https://datapackage.org/profiles/2.0/tabledialect.json"

FieldType = Literal["string", "integer", "number", "boolean", "datetime", "array", "object", "any"]


class _Descriptor(msgspec.Struct, kw_only=True):
    """Frictionless descriptors leave out what does not apply (``UNSET``)."""


class FieldConstraints(_Descriptor, kw_only=True):
    required: bool | UnsetType = UNSET
    """The cell is never empty."""
    enum: list[str] | UnsetType = UNSET
    pattern: str | UnsetType = UNSET
    """The whole cell matches it (a pattern anchored at both ends)."""
    minLength: int | UnsetType = UNSET  # noqa: N815 (Table Schema's names)
    maxLength: int | UnsetType = UNSET  # noqa: N815
    minimum: int | UnsetType = UNSET
    maximum: int | UnsetType = UNSET


class TableField(_Descriptor, kw_only=True):
    """One column of a CSV file."""

    name: str
    type: FieldType
    format: str | UnsetType = UNSET
    """`uuid` for ids (Accord's ids are UUIDs)."""
    description: str | UnsetType = UNSET
    trueValues: list[str] | UnsetType = UNSET  # noqa: N815
    falseValues: list[str] | UnsetType = UNSET  # noqa: N815
    constraints: FieldConstraints | UnsetType = UNSET


class ForeignKeyReference(_Descriptor, kw_only=True):
    resource: str | UnsetType = UNSET
    """The resource referred to; absent when a column refers to its own resource."""
    fields: list[str]


class ForeignKey(_Descriptor, kw_only=True):
    fields: list[str]
    reference: ForeignKeyReference


class TableSchema(_Descriptor, kw_only=True):
    schema_: str = msgspec.field(default=TABLE_SCHEMA_PROFILE, name="$schema")
    fields: list[TableField]
    missingValues: list[str] = msgspec.field(default_factory=lambda: [""])  # noqa: N815
    """An empty cell is null."""
    primaryKey: list[str]  # noqa: N815
    foreignKeys: list[ForeignKey] | UnsetType = UNSET  # noqa: N815


class Dialect(_Descriptor, kw_only=True):
    """How the CSV files are written: RFC 4180, with a header row."""

    schema_: str = msgspec.field(default=DIALECT_PROFILE, name="$schema")
    header: bool = True
    delimiter: str = ","
    lineTerminator: str = "\r\n"  # noqa: N815
    quoteChar: str = '"'  # noqa: N815
    doubleQuote: bool = True  # noqa: N815


class DataResource(_Descriptor, kw_only=True):
    """One resource's records as a CSV file."""

    name: str
    type: Literal["table"] = "table"
    path: str
    """Relative to the descriptor: `GET /v1/export/{name}.csv`."""
    title: str
    format: Literal["csv"] = "csv"
    mediatype: str = "text/csv"
    encoding: str = "utf-8"
    dialect: Dialect = msgspec.field(default_factory=Dialect)
    schema: TableSchema


class License(_Descriptor, kw_only=True):
    name: str
    """An Open Definition / SPDX license id."""
    path: str | UnsetType = UNSET
    title: str | UnsetType = UNSET


class DataPackage(_Descriptor, kw_only=True):
    """A Frictionless Data Package (v2) describing every resource's CSV export."""

    schema_: str = msgspec.field(default=PROFILE, name="$schema")
    name: str
    title: str
    description: str
    version: str
    """`{service version}+seq.{n}`: the change-log position the package is consistent with."""
    created: str
    licenses: list[License]
    accord_seq: int = msgspec.field(name="accord:seq")
    """The change-log position (`Accord-Seq`) the schema was read at."""
    resources: list[DataResource]


# --- the package -------------------------------------------------------------------------------

_NAMES_BY_TABLE = {table.table: name for name, table in BULK.items()}

LICENSES = [
    License(
        name="CC-BY-4.0",
        path="https://creativecommons.org/licenses/by/4.0/",
        title="Creative Commons Attribution 4.0",
    )
]


def _unwrap(info: mi.Type) -> tuple[mi.Type, bool]:
    """The type a cell holds (constraints and all), and whether it may be empty (``X | None``;
    msgspec leaves an ``UNSET`` alternative out of the union itself)."""
    if isinstance(info, mi.Metadata):
        return _unwrap(info.type)
    if isinstance(info, mi.UnionType):
        rest = [_unwrap(t)[0] for t in info.types if not isinstance(t, mi.NoneType)]
        nullable = len(rest) < len(info.types)
        if len(rest) == 1:
            return rest[0], nullable
        return mi.UnionType(tuple(rest)), nullable
    return info, False


def _anchored(pattern: str) -> str:
    """A pattern without the ``^…$`` that JSON Schema needs: a Table Schema pattern matches
    the whole cell (XML Schema's rule), so the anchors would be literal characters there."""
    return pattern.removeprefix("^").removesuffix("$")


def table_field(field: mi.Field) -> TableField:
    """The Table Schema of one column, from the record struct's field."""
    info, nullable = _unwrap(field.type)
    constraints: dict[str, Any] = {"required": True} if field.required and not nullable else {}
    kind: FieldType = "any"
    extra: dict[str, Any] = {}
    if isinstance(info, mi.UUIDType):
        kind, extra["format"] = "string", "uuid"
    elif isinstance(info, mi.BoolType):
        kind, extra["trueValues"], extra["falseValues"] = "boolean", ["true"], ["false"]
    elif isinstance(info, mi.IntType):
        kind = "integer"
        constraints.update(minimum=info.ge, maximum=info.le)
    elif isinstance(info, mi.DateTimeType):
        kind = "datetime"
    elif isinstance(info, mi.LiteralType) and all(isinstance(v, str) for v in info.values):
        kind, constraints["enum"] = "string", [str(v) for v in info.values]
    elif isinstance(info, mi.StrType):
        kind = "string"
        constraints.update(minLength=info.min_length, maxLength=info.max_length)
        if info.pattern == PARTIAL_DATE_PATTERN:
            constraints["pattern"] = _anchored(info.pattern)
            extra["description"] = "A partial date: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`."
    elif isinstance(info, mi.ListType | mi.SetType | mi.TupleType | mi.VarTupleType):
        kind, extra["description"] = "array", "JSON text."
    elif isinstance(info, mi.StructType | mi.DictType | mi.TypedDictType | mi.DataclassType):
        kind, extra["description"] = "object", "JSON text."
    known = {name: value for name, value in constraints.items() if value is not None}
    if known:
        extra["constraints"] = FieldConstraints(**known)
    return TableField(name=field.name, type=kind, **extra)


def table_schema(table: Bulk, references: dict[str, str]) -> TableSchema:
    """A resource's Table Schema: one field per record field, in declaration order (the CSV's
    columns); ``references`` maps its columns that are foreign keys to the resource they
    refer to."""
    info = mi.type_info(table.record)
    assert isinstance(info, mi.StructType)
    fields = [table_field(f) for f in info.fields]
    name = _NAMES_BY_TABLE[table.table]
    keys = [
        ForeignKey(
            fields=[column],
            reference=ForeignKeyReference(
                resource=UNSET if target == name else target, fields=["id"]
            ),
        )
        for column, target in references.items()
        if column in table.record.__struct_fields__
    ]
    return TableSchema(fields=fields, primaryKey=list(table.key), foreignKeys=keys or UNSET)


async def datapackage(pool: Pool) -> tuple[DataPackage, int]:
    """The Data Package of every resource's CSV export, and the change-log position it was
    read at."""
    async with pool.acquire() as conn, bulk.snapshot(conn) as seq:
        found = {
            table.table: await catalog.constraints(conn, table.table) for table in BULK.values()
        }
    # Every one-column foreign key of the record tables to another record table.
    references: dict[str, dict[str, str]] = {}
    for table, constraints in found.items():
        for con in sorted(constraints, key=lambda con: list(con["cols"])):
            target = _NAMES_BY_TABLE.get(con["target"])
            if con["contype"] == "f" and len(con["cols"]) == 1 and target is not None:
                references.setdefault(table, {})[con["cols"][0]] = target
    resources = [
        DataResource(
            name=name,
            path=f"{name}.csv",
            title=name.replace("-", " ").capitalize(),
            schema=table_schema(table, references.get(table.table, {})),
        )
        for name, table in BULK.items()
    ]
    package = DataPackage(
        name="accord",
        title="Accord: structured diplomatic-event data",
        description="Every record Accord keeps, one CSV file per resource (RFC 4180, a header "
        "row, the columns of the record as `GET /v1/{resource}/{id}` returns it; lists and "
        "objects as JSON text, an empty cell for null).",
        version=f"{__version__}+seq.{seq}",
        created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        licenses=LICENSES,
        accord_seq=seq,
        resources=resources,
    )
    return package, seq


# --- handlers ----------------------------------------------------------------------------------

DATAPACKAGE_MEDIA_TYPE = "application/json"


@get(
    "/datapackage.json",
    operation_id="getDataPackage",
    summary="The Data Package describing every CSV export",
    description="A Frictionless Data Package (v2): one resource per collection whose `path` "
    "(`{name}.csv`, relative to this descriptor) is `GET /v1/export/{name}.csv`, with its "
    "Table Schema — every column's type and constraints, `primaryKey` `id` (a memorandum "
    "version's: `memorandum_id`, `number`), and a foreign key "
    "for every column that refers to another record — and the CSV dialect. `version` and "
    "`accord:seq` give the change-log position it was read at (`Accord-Seq`). Read it with "
    "any Data Package tool, e.g. `frictionless validate URL`.",
    response_headers=[SEQ_HEADER],
    responses=problem_responses(),
)
async def get_datapackage(request: Request[Any, Any, Any]) -> Response[DataPackage]:
    package, seq = await datapackage(await read_pool(request.scope))
    return Encoded(package, headers={"Accord-Seq": str(seq)})


POPOLO_DISPOSITION = ResponseHeader(
    name="Content-Disposition",
    description='`attachment; filename="accord-popolo.json"`.',
    required=True,
    documentation_only=True,
)


@get(
    "/popolo",
    operation_id="getPopolo",
    summary="The people side as one Popolo JSON document",
    description="Officials as `persons` (other names with their language, the Wikidata id "
    "among `identifiers`), organizations (`classification` is the kind, `parent_id`) and "
    "delegations (`classification: delegation`) as `organizations`, countries as `areas`, "
    "`posts`, `memberships` — one per tenure (`post_id`; `start_date`/`end_date` at the "
    "precision of the role changes that bound it, `end_date` being the last day held, so the "
    "day before a dismissal) and one per delegation member (`on_behalf_of_id` the party, "
    "`role` the delegation role, `legislative_period_id` the negotiation) — and negotiations "
    "and their rounds as `events` (`parent_id`). Every id is the Accord record's. Streamed "
    "from one snapshot; `Accord-Seq` is the change-log position it reflects. See "
    "https://www.popoloproject.com/specs/.",
    response_headers=[SEQ_HEADER, POPOLO_DISPOSITION],
    responses=problem_responses(),
)
async def get_popolo() -> Response[popolo.PopoloDocument]:
    return streamed(
        popolo.popolo_chunks, media_type=popolo.MEDIA_TYPE, filename="accord-popolo.json"
    )


FILE_PATTERN = r"^[a-z][a-z-]*\.(ndjson|csv)$"

FileName = Annotated[
    str,
    PathParameter(
        pattern=FILE_PATTERN,
        max_length=100,
        description="`{name}.ndjson` or `{name}.csv`, `name` being a collection: "
        + ", ".join(f"`{name}`" for name in BULK)
        + ".",
    ),
]

DISPOSITION_HEADER = ResponseHeader(
    name="Content-Disposition",
    description='`attachment; filename="{name}.ndjson"` (or `.csv`): the file to save it as.',
    required=True,
    documentation_only=True,
)


@dataclass
class _NdjsonOrCsv(Operation):
    """The contract of ``exportRecords``: its 200 is NDJSON (each line a record of the
    resource named) or CSV. Litestar documents one media type per response; this is its
    documented way to change an operation."""

    def __post_init__(self) -> None:
        ok = (self.responses or {})["200"]
        assert isinstance(ok, OpenAPIResponse)
        records: list[Schema | Reference] = [
            Reference(ref=f"#/components/schemas/{table.record.__name__}")
            for table in BULK.values()
        ]
        ok.content = lines_content(
            Schema(one_of=records),
            "One record per line, each exactly as a GET of it returns it (a record of the "
            "collection the file is named after).",
        )


@get(
    "/{file:str}",
    operation_id="exportRecords",
    summary="Every record of a collection, as one NDJSON or CSV file",
    description="`/v1/export/role-changes.ndjson`, `/v1/export/role-changes.csv`: every "
    "record, in id order, streamed (no page limit), read in one snapshot whose change-log "
    "position is `Accord-Seq`: follow `/v1/changes?since=` from it to keep the copy current "
    "without a gap. The same as listing the collection with `Accept: application/x-ndjson` "
    "or `text/csv` and no filter. An unknown collection is a 404.",
    response_headers=[SEQ_HEADER, DISPOSITION_HEADER],
    responses=problem_responses(404),
    operation_class=_NdjsonOrCsv,
)
async def export_records(file: FileName) -> Response[str]:
    name, _, extension = file.rpartition(".")
    table = BULK.get(name)
    if table is None or extension not in bulk.MEDIA_TYPES:
        raise ProblemError(
            404,
            "not-found",
            f"No export {file!r}: the files are `{{name}}.ndjson` and `{{name}}.csv` for "
            f"{', '.join(BULK)}.",
        )
    format: bulk.Format = "csv" if extension == "csv" else "ndjson"
    encoder, produce = bulk.of_table(table, format)
    return bulk.streamed(produce, media_type=encoder.media_type, filename=file)


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/export", tags=["export"], route_handlers=[export_records, get_datapackage, get_popolo]
    )
