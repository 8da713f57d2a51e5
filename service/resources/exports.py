"""Exports: every record of a resource as one file, `GET /v1/export/{name}.ndjson` or
`{name}.csv`, for each resource of the registry. The same stream a collection answers
``Accept: application/x-ndjson`` or ``text/csv`` with (see ``service.core.bulk``), with a file
name, so that a browser or ``curl -OJ`` saves it; ``accord export`` writes the same bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Response, get
from litestar.datastructures import ResponseHeader
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)
from litestar.params import PathParameter

from service.core import bulk
from service.core.pagination import SEQ_HEADER
from service.core.problems import ProblemError, problem_responses
from service.core.routes import ResourceRouter
from service.resources.registry import TABLES

# --- handlers ----------------------------------------------------------------------------------

FILE_PATTERN = r"^[a-z][a-z-]*\.(ndjson|csv)$"

FileName = Annotated[
    str,
    PathParameter(
        pattern=FILE_PATTERN,
        max_length=100,
        description="`{name}.ndjson` or `{name}.csv`, `name` being a collection: "
        + ", ".join(f"`{name}`" for name in TABLES)
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
            for table in TABLES.values()
        ]
        ok.content = {
            bulk.NDJSON: OpenAPIMediaType(
                schema=Schema(
                    one_of=records,
                    description="One record per line, each exactly as a GET of it returns it "
                    "(a record of the collection the file is named after).",
                )
            ),
            "text/csv": OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, description=bulk.CSV_CELLS)
            ),
        }


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
    table = TABLES.get(name)
    if table is None or extension not in bulk.MEDIA_TYPES:
        raise ProblemError(
            404,
            "not-found",
            f"No export {file!r}: the files are `{{name}}.ndjson` and `{{name}}.csv` for "
            f"{', '.join(TABLES)}.",
        )
    format: bulk.Format = "csv" if extension == "csv" else "ndjson"
    encoder, produce = bulk.of_table(table, format)
    return bulk.streamed(produce, media_type=encoder.media_type, filename=file)


def router() -> ResourceRouter:
    return ResourceRouter("/v1/export", tags=["export"], route_handlers=[export_records])
