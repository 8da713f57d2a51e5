"""API keys over the API, for a key with the ``admin`` scope: make one (its secret is shown in
that one response), list them, read one, revoke one. The same operations as ``accord keys``
on the command line, which makes the first admin key."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.openapi.spec import Example
from litestar.params import Body, PathParameter, QueryParameter

from service.core import auth
from service.core.auth import ADMIN_READ, ADMIN_WRITE, WRITE_SECURITY, ApiKey, Scope
from service.core.database import pool_of, transaction
from service.core.idempotency import REPLAYED_HEADER, IdempotencyKey, remember, replay
from service.core.pagination import PAGE_HEADERS, CursorParam, Limit, Listing, Page, standard_sorts
from service.core.problems import (
    WRITE_STATUSES,
    ProblemError,
    not_found,
    problem_answer,
    problem_responses,
)
from service.core.records import LOCATION_HEADER
from service.core.replica import read_pool
from service.core.responses import Encoded
from service.core.routes import ResourceRouter
from service.core.tables import row_to
from service.core.types import NO_NUL_PATTERN

# --- structs -----------------------------------------------------------------------------------


class ApiKeyCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new API key: who or what it is for, what it may do, and how long it lasts."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_NUL_PATTERN)]
    """Who or what uses it (a pipeline, a person); shown in lists, never secret."""
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1, max_length=2)]
    """`write`: create, change and delete records; `admin`: manage API keys."""
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None
    """Days until it stops working; none: until revoked."""


class ApiKeyMade(ApiKey, kw_only=True):
    """A new key with its token: the only time the token is shown."""

    token: str
    """`Authorization: Bearer <token>`. Accord keeps only a digest: store it now."""


class ApiKeyPage(Page[ApiKey]):
    """A page of API keys (never their secrets)."""


# --- queries -----------------------------------------------------------------------------------

LISTING = Listing(
    page_type=ApiKeyPage,
    name="keys",
    select=auth.SELECT_KEYS,
    sorts=standard_sorts(),
    default_sort="id",
    make=row_to(ApiKey),
    filters={
        "usable": "revoked_at is null and coalesce(expires_at > now(), true)",
        "unusable": "not (revoked_at is null and coalesce(expires_at > now(), true))",
    },
)

KeyId = Annotated[UUID, PathParameter(description="The API key's id (not its secret).")]

CREATE_EXAMPLE: dict[str, Any] = {
    "name": "nightly import from the news pipeline",
    "scopes": ["write"],
    "expires_in_days": 90,
}

# --- handlers ----------------------------------------------------------------------------------


@post(
    "/",
    operation_id="createApiKey",
    summary="Make an API key",
    description="Needs the `admin` scope. The answer holds the key's `token`, shown this once "
    "(Accord keeps a SHA-256 digest only). A retry with the same `Idempotency-Key` makes no "
    "second key: it gets a 409 naming the key already made, since the token cannot be shown "
    "again (revoke that key and make another if the first answer was lost).",
    guards=ADMIN_WRITE,
    security=WRITE_SECURITY,
    response_headers=[LOCATION_HEADER, REPLAYED_HEADER],
    responses=problem_responses(409, 422, *WRITE_STATUSES),
)
async def create_api_key(
    request: Request[Any, Any, Any],
    data: Annotated[
        ApiKeyCreate, Body(examples=[Example(summary="A pipeline's key", value=CREATE_EXAMPLE)])
    ],
    idempotency_key: IdempotencyKey = None,
) -> Response[ApiKeyMade]:
    if len(set(data.scopes)) != len(data.scopes):
        raise ProblemError(422, "listed-twice", "`scopes` names the same scope twice.")
    expires = timedelta(days=data.expires_in_days) if data.expires_in_days else None
    async with transaction(pool_of(request)) as conn:
        stored = await replay(conn, request, idempotency_key)
        if stored is not None:
            return stored
        key, token = await auth.create_key(conn, data.name, data.scopes, expires)
        location = f"{request.url.path.rstrip('/')}/{key.id}"
        made = ApiKeyMade(**msgspec.structs.asdict(key), token=token)
        # What a retry gets: not the token (never stored), but which key it made.
        await remember(
            conn,
            request,
            idempotency_key,
            problem_answer(
                request,
                409,
                "key-already-made",
                f"This Idempotency-Key already made API key {key.id}; its token was shown "
                "once. Revoke that key if its token was lost, and make another.",
            ),
        )
    return Encoded(made, status_code=201, headers={"Location": location})


@get(
    "/",
    operation_id="listApiKeys",
    summary="List API keys",
    description="Needs the `admin` scope. Never shows secrets. `usable=true` lists the keys "
    "that work now; `usable=false` those revoked or expired. Cursor-paginated.",
    guards=ADMIN_READ,
    security=WRITE_SECURITY,
    response_headers=PAGE_HEADERS,
    responses=problem_responses(401, 403, 422),
)
async def list_api_keys(
    request: Request[Any, Any, Any],
    usable: Annotated[
        bool | None, QueryParameter(description="Only keys that work now (`true`) or not.")
    ] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[ApiKeyPage]:
    filters = LISTING.where(usable=usable is True, unusable=usable is False)
    return await LISTING.page(request, filters, limit=limit, cursor=cursor)


@get(
    "/{id:uuid}",
    operation_id="getApiKey",
    summary="Get an API key",
    description="Needs the `admin` scope. Never shows its secret.",
    guards=ADMIN_READ,
    security=WRITE_SECURITY,
    responses=problem_responses(401, 403, 404),
)
async def get_api_key(request: Request[Any, Any, Any], id: KeyId) -> Response[ApiKey]:
    pool = await read_pool(request.scope)
    row = await pool.fetchrow(f"{LISTING.select} where id = $1", id)
    if row is None:
        raise not_found("API key", id)
    return Encoded(LISTING.make(row))


@delete(
    "/{id:uuid}",
    operation_id="revokeApiKey",
    summary="Revoke an API key",
    description="Needs the `admin` scope. The key is refused from the next request on, in "
    "every process; it stays listed, with `revoked_at`. Revoking a revoked key changes "
    "nothing.",
    guards=ADMIN_WRITE,
    security=WRITE_SECURITY,
    responses=problem_responses(404, *WRITE_STATUSES),
)
async def revoke_api_key(request: Request[Any, Any, Any], id: KeyId) -> None:
    async with transaction(pool_of(request)) as conn:
        if not await auth.revoke_key(conn, id) and not await conn.fetchval(
            "select true from api_keys where id = $1", id
        ):
            raise not_found("API key", id)


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/keys",
        tags=["keys"],
        route_handlers=[create_api_key, list_api_keys, get_api_key, revoke_api_key],
    )
