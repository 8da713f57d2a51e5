"""RFC 9457 problem details: the one error shape, the one mapping from exceptions to it,
and the OpenAPI documentation every operation uses for its error responses."""

from __future__ import annotations

import asyncio
import logging
from enum import Enum
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from service.core import metrics
from service.core.logs import problem_noted
from service.core.responses import Encoded

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = "2"

log = logging.getLogger("accord.problems")


class FieldError(msgspec.Struct, omit_defaults=True):
    """One failing part of a request."""

    message: str
    field: str | None = None
    """Dotted path of the failing field or the name of the failing parameter."""
    source: str | None = None
    """Where the field was: body, query, path or header."""
    line: int | None = None
    """In an import: the line of the body (or file) the error is on, from 1."""


class Problem(msgspec.Struct, omit_defaults=True, kw_only=True):
    """An RFC 9457 problem detail; ``type`` is a URI reference naming the kind of problem."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str
    """The request's id, as its `X-Request-ID` header and every log line of it name it: quote
    it when reporting a problem."""
    errors: list[FieldError] | None = None
    current_seq: int | None = None
    """On a 410 from `/v1/changes`: where the change log ends now."""


_TITLES: dict[int, str] = {
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ProblemError(Exception):
    """Raised anywhere to answer with a problem detail."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        current_seq: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.errors = errors
        self.headers = headers
        self.current_seq = current_seq


def not_found(what: str, ident: object) -> ProblemError:
    return ProblemError(404, "not-found", f"No {what} with id {ident}.")


def _problem(
    request: Request[Any, Any, Any],
    status: int,
    kind: str,
    detail: str | None,
    errors: list[FieldError] | None = None,
) -> Problem:
    problem_type = "about:blank" if kind == "about:blank" else f"/problems/{kind}"
    return Problem(
        type=problem_type,
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=problem_noted(problem_type),
        errors=errors,
    )


def _problem_response(
    request: Request[Any, Any, Any],
    status: int,
    kind: str,
    detail: str | None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    body = _problem(request, status, kind, detail, errors)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_answer(
    request: Request[Any, Any, Any], status: int, kind: str, detail: str
) -> Encoded[Problem]:
    """A problem detail as a response object, for an idempotent write to store as the answer
    its retries get."""
    body = _problem(request, status, kind, detail)
    return Encoded(body, status_code=status, media_type=PROBLEM_JSON)


def _validation_errors(extra: Any) -> list[FieldError] | None:
    if not isinstance(extra, list):
        return None
    errors = []
    for item in extra:
        if isinstance(item, dict):
            key = item.get("key")
            source = item.get("source")
            if isinstance(source, Enum):
                # Litestar names a parameter's place with ParamType, whose str() is
                # "ParamType.QUERY"; the client is told "query".
                source = source.value
            errors.append(
                FieldError(
                    message=str(item.get("message", "invalid")),
                    field=str(key) if key is not None else None,
                    source=str(source) if source else None,
                )
            )
    return errors or None


def _on_problem(request: Request[Any, Any, Any], exc: ProblemError) -> Response[Problem]:
    if exc.status == 503:
        metrics.UNAVAILABLE_RESPONSES.inc()
    body = _problem(request, exc.status, exc.kind, exc.detail, exc.errors)
    if exc.current_seq is not None:
        body.current_seq = exc.current_seq
    return Response(body, status_code=exc.status, media_type=PROBLEM_JSON, headers=exc.headers)


def _on_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    return _problem_response(
        request, 400, "invalid-request", exc.detail, _validation_errors(exc.extra)
    )


def _on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    headers = dict(exc.headers) if exc.headers else None
    return _problem_response(request, exc.status_code, "about:blank", exc.detail, None, headers)


# SQLSTATE classes and codes that carry a meaning for the client; the rest are our bugs (500).
_UNAVAILABLE = (
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.QueryCanceledError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)


def _constraint_detail(exc: asyncpg.PostgresError, fallback: str) -> str:
    detail = getattr(exc, "detail", None)
    constraint = getattr(exc, "constraint_name", None)
    parts = [fallback]
    if constraint:
        parts.append(f"constraint {constraint}")
    if detail:
        parts.append(str(detail))
    return "; ".join(parts)


_UNREACHABLE = (*_UNAVAILABLE, OSError, asyncpg.InternalClientError)


def trouble(exc: BaseException) -> str | None:
    """What kind of database trouble ``exc`` is (``accord_db_errors_total{kind}``), or
    ``None`` when it is what the client caused: a constraint or a value PostgreSQL refused."""
    if isinstance(exc, asyncpg.exceptions.QueryCanceledError | asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, asyncpg.exceptions.SerializationError):
        return "serialization"
    if isinstance(exc, asyncpg.exceptions.DeadlockDetectedError):
        return "deadlock"
    if isinstance(exc, _UNREACHABLE):
        return "unavailable"
    if isinstance(exc, asyncpg.PostgresError) and (exc.sqlstate or "").startswith("53"):
        return "resources"
    return None


def count_trouble(exc: BaseException) -> None:
    kind = trouble(exc)
    if kind is not None:
        metrics.DB_ERRORS.labels(kind).inc()


def problem_from_postgres(exc: asyncpg.PostgresError) -> ProblemError:
    """Translate what PostgreSQL refused into what the client did wrong (counting what is the
    database's trouble)."""
    count_trouble(exc)
    if isinstance(exc, asyncpg.UniqueViolationError):
        # Lists kept as rows (parties, signatories) name their uniqueness "<thing>_listed_once".
        if (getattr(exc, "constraint_name", None) or "").endswith("_listed_once"):
            return ProblemError(
                422, "listed-twice", _constraint_detail(exc, "The same item is listed twice")
            )
        return ProblemError(409, "duplicate", _constraint_detail(exc, "Already exists"))
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        # PostgreSQL reports the referencing table: on a delete, what still refers to the row.
        if "is still referenced" in str(getattr(exc, "detail", "") or ""):
            table = getattr(exc, "table_name", None) or "other records"
            message = f"Still referenced from {table}; delete or change those first"
        else:
            message = "Refers to a missing record"
        return ProblemError(409, "reference", _constraint_detail(exc, message))
    if isinstance(exc, asyncpg.ExclusionViolationError):
        return ProblemError(
            409, "overlap", _constraint_detail(exc, "Conflicts with stored records")
        )
    if isinstance(exc, asyncpg.CheckViolationError | asyncpg.NotNullViolationError):
        return ProblemError(422, "rule", _constraint_detail(exc, "Breaks a rule"))
    if isinstance(exc, asyncpg.RaiseError):
        # Our own triggers raise with a message meant for the client.
        return ProblemError(422, "rule", exc.args[0] if exc.args else "Breaks a rule")
    if isinstance(exc, _UNAVAILABLE):
        return unavailable()
    if isinstance(exc, asyncpg.DataError):
        return ProblemError(
            422, "unacceptable-value", f"PostgreSQL cannot accept a value (e.g. NUL in text): {exc}"
        )
    if exc.sqlstate and exc.sqlstate.startswith("53"):
        return unavailable()
    metrics.DB_ERRORS.labels("unexpected").inc()
    return ProblemError(500, "internal", "Unexpected database error.")


def unavailable() -> ProblemError:
    return ProblemError(
        503,
        "database-unavailable",
        "The database is unavailable; retry shortly.",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def _on_postgres(request: Request[Any, Any, Any], exc: asyncpg.PostgresError) -> Response[Problem]:
    problem = problem_from_postgres(exc)
    if problem.status == 500:
        log.exception("unmapped database error", exc_info=exc)
    return _on_problem(request, problem)


def _on_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.warning("database unreachable: %r", exc)
    count_trouble(exc)
    return _on_problem(request, unavailable())


def _on_too_deep(request: Request[Any, Any, Any], _: RecursionError) -> Response[Problem]:
    # msgspec's decoder gives up on absurdly nested JSON with a RecursionError.
    return _problem_response(request, 400, "invalid-request", "The JSON is nested too deeply.")


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.exception("unhandled error", exc_info=exc)
    return _problem_response(request, 500, "internal", "Unexpected error; it has been logged.")


exception_handlers: ExceptionHandlersMap = {
    ProblemError: _on_problem,
    ValidationException: _on_validation,
    HTTPException: _on_http,
    asyncpg.PostgresError: _on_postgres,
    asyncpg.InterfaceError: _on_unavailable,
    # asyncpg's protocol state breaks this way when the server goes away mid-request.
    asyncpg.InternalClientError: _on_unavailable,
    OSError: _on_unavailable,
    asyncio.TimeoutError: _on_unavailable,
    RecursionError: _on_too_deep,
    Exception: _on_unexpected,
}

_DESCRIPTIONS: dict[int, str] = {
    400: "The request breaks the contract (schema, types, formats, cursor).",
    401: "No valid API key: missing, unknown, expired or revoked (`WWW-Authenticate: Bearer`).",
    403: "The API key lacks the scope this operation needs.",
    413: "The body is larger than the service accepts (4 MiB).",
    429: "The API key made too many writes this minute; retry after `Retry-After` seconds.",
    415: "The body is not JSON (`application/json`, or `application/merge-patch+json` for "
    "`PATCH`).",
    404: "No such record.",
    409: "Conflicts with stored state (duplicate, missing or still-referenced record, overlap).",
    410: "`since` is outside the change log kept (older than the retention window, or past "
    "its end): list the collections again and follow from the new `Accord-Seq`.",
    412: "`If-Match` does not match the current ETag: the record changed since it was read.",
    422: "Fits the contract but breaks a rule it cannot express (e.g. an end before its start).",
    503: "The database is unavailable; retry after `Retry-After` seconds.",
}


PROBLEM_HEADERS: dict[int, dict[str, str]] = {
    401: {"WWW-Authenticate": '`Bearer realm="accord"`: the scheme the API key is sent with.'},
    429: {"Retry-After": "Seconds until the API key may write again."},
    503: {"Retry-After": "Seconds to wait before retrying."},
}
"""The headers a problem response of a status carries, as the contract documents them."""


WRITE_STATUSES = (401, 403, 413, 415, 429)
"""What any write can answer besides its own errors: it needs an API key with a scope, within
its rate limit, and a JSON body of bounded size."""


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses for the given error statuses (400 and 503 are always possible)."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_JSON,
            description=_DESCRIPTIONS[status],
            generate_examples=False,
        )
        for status in sorted({400, 503, *statuses})
    }
