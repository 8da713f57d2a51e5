"""``POST /v1/imports``: the import engine (service/core/imports.py) over HTTP. The body is
streamed into the import as it arrives — never held whole — in one transaction that a body
over the size cap or a client gone mid-upload rolls back."""

# No ``from __future__ import annotations``: Litestar reads the handler's annotations at runtime.

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar import Request, post
from litestar.exceptions import InternalServerException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.params import QueryParameter

from service.core import imports
from service.core.auth import BULK_WRITE, WRITE_SECURITY
from service.core.database import pool_of
from service.core.openapi import lines_content
from service.core.problems import (
    PROBLEM_JSON,
    WRITE_STATUSES,
    Problem,
    ProblemError,
    problem_responses,
)
from service.core.responses import Encoded
from service.core.routes import ResourceRouter
from service.resources import registry
from service.resources.changes import Resource

ImportResource = Literal[Resource, "memorandum-versions"]
"""What an import fills: a collection's records, or memoranda's versions."""

NDJSON = "application/x-ndjson"
CSV = "text/csv"

# --- the contract ------------------------------------------------------------------------------

_LINES = (
    "One record per line, each exactly as `GET /v1/{resource}/{id}` returns it (the NDJSON "
    "export's lines): `id`, `version`, `created_at` and `updated_at` are kept when the record "
    "is created and may be left out (a new id is made); read-only values (`disputed`, derived "
    "lists) are ignored."
)
_CSV = (
    "RFC 4180, a header of field names (the CSV export's): an empty cell is no value; lists "
    "and objects are their JSON text."
)


@dataclass
class _LinesBody(Operation):
    """The body is not one JSON document but NDJSON or CSV lines of the resource named by
    `?resource=`, which Litestar cannot describe from the handler; this is its documented way
    to change an operation."""

    def __post_init__(self) -> None:
        records: list[Schema | Reference] = [
            Reference(ref=f"#/components/schemas/{table.record.__name__}")
            for table in registry.BULK.values()
        ]
        self.request_body = RequestBody(
            required=True,
            description="The records, in the format `Content-Type` names.",
            content=lines_content(Schema(one_of=records), _LINES, _CSV),
        )


def _responses() -> dict[int, ResponseSpec]:
    responses = problem_responses(409, 422, *WRITE_STATUSES)
    own = {
        409: "Another import is running; retry when it ends.",
        413: "The body is larger than the service takes (`ACCORD_IMPORT_MAX_BYTES`, by "
        "default 1 GiB); nothing was imported.",
        415: "The body is neither NDJSON (`application/x-ndjson`) nor CSV (`text/csv`).",
        422: "Bad lines (each listed in `errors` with its `line` and `field`, the first 1000), "
        "or a rule the records break together (e.g. two holders of a one-holder post); "
        "nothing was imported.",
    }
    for status, description in own.items():
        responses[status] = ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_JSON,
            description=description,
            generate_examples=False,
        )
    return responses


# --- handlers ----------------------------------------------------------------------------------


async def _body(request: Request[Any, Any, Any], cap: int) -> AsyncIterator[bytes]:
    """The body as it arrives; a ProblemError once it passes ``cap`` or the client leaves,
    which rolls the import back."""
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > cap:
                raise _too_large(cap)
            yield chunk
    except InternalServerException:
        # Litestar's word for an http.disconnect before the body ended.
        raise ProblemError(
            400, "incomplete-body", "The body ended before it was complete; nothing was imported."
        ) from None


def _too_large(cap: int) -> ProblemError:
    return ProblemError(
        413, "too-large", f"The body is over {cap} bytes, the most an import takes here."
    )


@post(
    "/",
    operation_id="importRecords",
    summary="Import records of one resource (NDJSON or CSV)",
    description="Every line is validated as a create of the resource would be (the same "
    "errors), and references are checked against the stored records and the other lines "
    "(in any order); every bad line is reported at once (422, with `line` and `field`) and "
    "nothing is written — unless `partial`, which loads the good lines (and not those that "
    "refer to bad ones) and reports the rest. A line whose `id` exists updates that record "
    "if it differs (version + 1, a history entry, a change in `/v1/changes`); the same "
    "values leave it alone (`unchanged`). `dry_run` reports what would be created and "
    "updated and writes nothing. The body streams into one transaction: a body over the "
    "cap (413) or a client gone mid-upload leaves the database exactly as it was. One import "
    "runs at a time, whatever its resource (409 while another runs).",
    guards=BULK_WRITE,
    security=WRITE_SECURITY,
    status_code=200,
    responses=_responses(),
    request_max_body_size=None,
    operation_class=_LinesBody,
)
async def import_records(
    request: Request[Any, Any, Any],
    resource: Annotated[ImportResource, QueryParameter(description="What the lines are.")],
    partial: Annotated[
        bool, QueryParameter(description="Load the good lines, report the bad ones.")
    ] = False,
    dry_run: Annotated[
        bool, QueryParameter(description="Report what would be written; write nothing.")
    ] = False,
) -> Encoded[imports.ImportReport]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (NDJSON, CSV):
        raise ProblemError(
            415,
            "unsupported-media-type",
            f"The body must be {NDJSON} or {CSV}, not {media_type or 'untyped'}.",
        )
    cap: int = request.app.state.settings.import_max_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cap:
        raise _too_large(cap)
    chunks = _body(request, cap)
    lines = imports.lines_in(
        "ndjson" if media_type == NDJSON else "csv", chunks, registry.BULK[resource]
    )
    source = imports.Source(resource=resource, lines=lines, name=resource)
    async with pool_of(request).acquire() as conn:
        try:
            report = await imports.run(
                conn,
                [source],
                tables=registry.BULK,
                partial=partial,
                dry_run=dry_run,
                actor=request.state.api_key_id,
            )
        except imports.BadLinesError as failed:
            raise failed.problem() from None
    return Encoded(report)


def router() -> ResourceRouter:
    return ResourceRouter("/v1/imports", tags=["imports"], route_handlers=[import_records])
