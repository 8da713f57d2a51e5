"""The single-record operations every resource offers (get, create, merge-patch, delete, and
the record's history), made once from a resource's ``Table``; writes pass the API-key guards
and a create honours ``Idempotency-Key``. A resource module adds its list operation and
anything particular to it; the standard operations are the same everywhere. Every resource
mounts its handlers with ``ResourceRouter``, whose paths answer ``OPTIONS`` truthfully."""

# No ``from __future__ import annotations`` here: Litestar reads these handlers' annotations at
# runtime, and each generated handler's body and return types are set per resource below.

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, TypeVar
from uuid import UUID

import msgspec
from litestar import Litestar, Request, Response, Router, delete, get, patch, post, route
from litestar._asgi.utils import is_valid_host
from litestar.enums import HttpMethod, ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.middleware._internal.exceptions import ExceptionHandlerMiddleware
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, QueryParameter
from litestar.routes import HTTPRoute
from litestar.types import (
    ASGIApp,
    HTTPRequestEvent,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)
from litestar.utils.scope.state import ScopeState

from service.core import history
from service.core.auth import WRITE, WRITE_CHECKS, WRITE_SECURITY
from service.core.compression import Compression
from service.core.database import Connection, pool_in, pool_of, transaction
from service.core.idempotency import REPLAYED_HEADER, IdempotencyKey, remember, replay
from service.core.pagination import PAGE_HEADERS, CursorParam, Limit, Listing, Page
from service.core.problems import WRITE_STATUSES, problem_responses
from service.core.records import (
    ETAG_HEADER,
    IF_MATCH_MAX,
    IF_NONE_MATCH_MAX,
    LOCATION_HEADER,
    IfMatch,
    IfNoneMatch,
    RecordId,
    created,
    written,
)
from service.core.replica import Reads, committed, read_pool
from service.core.responses import Encoded
from service.core.tables import Embed, Table, page_of_existing

R = TypeVar("R", bound=msgspec.Struct)
C = TypeVar("C", bound=msgspec.Struct)
P = TypeVar("P", bound=Page[Any])

MERGE_PATCH = "application/merge-patch+json"
NOT_MODIFIED = ResponseSpec(
    data_container=None, description="`If-None-Match` matched: the copy you have is current."
)


class ResourceRouter(Router):
    """A ``Router`` whose every path answers ``OPTIONS`` with all the methods it has.

    Litestar 2 makes a path's ``OPTIONS`` handler when the first handler on that path is
    registered and keeps it when more come, so a path whose handlers are registered one by
    one (a resource's list and create; its get, patch and delete) answered ``Allow`` with the
    first one's methods only (litestar#4169, fixed in Litestar 3). Registered first, these
    handlers stop Litestar from making its own, and they know every handler of the router."""

    def __init__(
        self, path: str, *, route_handlers: Sequence[HTTPRouteHandler], **config: Any
    ) -> None:
        methods: dict[str, set[str]] = defaultdict(lambda: {HttpMethod.OPTIONS})
        for handler in route_handlers:
            for handler_path in handler.paths:
                methods[handler_path] |= handler.http_methods
        options = [_options(at, ", ".join(sorted(found))) for at, found in methods.items()]
        super().__init__(path, route_handlers=[*options, *route_handlers], **config)


def _options(path: str, allow: str) -> HTTPRouteHandler:
    def answer_options() -> Response[None]:
        return Encoded(None, status_code=204, headers={"Allow": allow})

    return route(
        path, http_method=HttpMethod.OPTIONS, include_in_schema=False, sync_to_thread=False
    )(answer_options)


def _typed(handler: Callable[..., Any], **annotations: Any) -> Callable[..., Any]:
    handler.__annotations__ = {**handler.__annotations__, **annotations}
    return handler


READ_BY_ID = "accord_read_by_id"
"""The key in a record's GET handler's ``opt`` that names its table, for ``ReadsById``."""


class ReadsById:
    """Reads by id without Litestar: its router, its per-request parameter machinery and the
    wrappers around them cost a read more than the read itself (README, "Performance").

    The app's outermost layer but the request log: a `GET /v1/<collection>/<id>` of a
    record whose GET handler names its table (``READ_BY_ID``), with nothing else to parse or
    to answer for — no query string, at most one `If-None-Match` within its documented
    length, no `Origin` (CORS answers only a request that has one), a `Host` the router
    takes, no replica to choose (``CommitPosition`` retries a replica's failure) — is
    answered here with the ``Table.read`` the handler calls: the scope gets what the router
    would give it (the handler, the path template the log and metrics name, the `{id}`), a
    problem (a 404) comes from the app's exception handlers as Litestar would make it, and
    the body is compressed as ``compression`` compresses every answer. Anything else goes on
    to ``compression`` and on through it to Litestar, the router and the handler, which
    validate and answer it. With tracing on every request goes on (its spans are made inside
    Litestar)."""

    def __init__(self, compression: Compression, litestar: Litestar) -> None:
        self.app: ASGIApp = compression
        self.compression = compression
        self.reads: Reads = litestar.state.reads
        router = litestar.asgi_router
        # Litestar's own handling of an exception a handler raised (problem details).
        self.problems = ExceptionHandlerMiddleware(app=router, debug=None)
        self.routes: dict[str, tuple[Table[Any, Any], HTTPRouteHandler, str, Any]] = {}
        """The path up to the id → the table, and what the router puts in the scope."""
        for found in litestar.routes:
            if not isinstance(found, HTTPRoute):
                continue
            for handler in found.route_handlers:
                table = handler.opt.get(READ_BY_ID)
                if table is None or not isinstance(handler, HTTPRouteHandler):
                    continue
                prefix = found.path.removesuffix("{id:uuid}")
                # What Litestar's router makes of such a path, asked once.
                _, routed, _, _, template = router.handle_routing(f"{prefix}{UUID(int=0)}", "GET")
                assert routed is handler, found.path
                handlers = handler.resolve_exception_handlers()
                self.routes[prefix] = (table, handler, template, handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = ident = None
        if scope["type"] == ScopeType.HTTP and scope["method"] == "GET":
            prefix, _, last = scope["path"].rpartition("/")
            found = self.routes.get(prefix + "/")
        if found is not None and not scope.get("root_path") and self.reads.replica is None:
            plain, if_none_match, accept_encoding = _plain(scope)
            if plain:
                try:  # noqa: SIM105  # (suppress() costs a read more)
                    ident = UUID(last)
                except ValueError:
                    pass  # for the router, which answers 404
        if found is None or ident is None:
            await self.app(scope, receive, send)
            return
        table, handler, template, handlers = found
        scope["route_handler"] = handler
        scope["path_template"] = template
        scope["path_params"] = {"id": ident}  # type: ignore[dict-item]  # parsed, as Litestar's
        if accept_encoding is not None:
            send = self.compression.sending(send, accept_encoding, scope)
        try:
            response = await table.read(self.reads.primary, ident, if_none_match)
        except Exception as exc:  # answered as Litestar's exception middleware answers it
            litestar: Litestar = scope["litestar_app"]
            for hook in litestar.after_exception:
                await hook(exc, scope)
            ScopeState.from_scope(scope).exception_handlers = handlers
            await self.problems.handle_request_exception(litestar, scope, receive, send, exc)
            return
        await response(scope, receive, send)


def _plain(scope: Scope) -> tuple[bool, str | None, bytes | None]:
    """Whether a read has nothing to parse but its `{id}` and nothing for CORS to answer; its
    `If-None-Match` and its `Accept-Encoding`, if it has them."""
    if scope["query_string"]:
        return False, None, None
    found = None
    accept_encoding = None
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            if found is not None or len(value) > IF_NONE_MATCH_MAX:
                return False, None, None
            found = value.decode("latin-1")
        elif name == b"accept-encoding":
            accept_encoding = value
        elif name == b"origin" or (name == b"host" and not is_valid_host(value)):
            return False, None, None
    return True, found, accept_encoding


def plain_writes(
    body: type[msgspec.Struct],
    write: Callable[[Scope, Any, str | None], Awaitable[Encoded[Any]]],
) -> DefineMiddleware:
    """Route middleware for a create or a merge patch: ``PlainWrite``."""
    return DefineMiddleware(PlainWrite, body=body, write=write)


class PlainWrite:
    """A create or a merge patch without Litestar's per-request parameter machinery (the
    request's kwargs, the signature model converting the body, a copy of the route handler
    for the guard), which cost a write ~300k instructions (README, "Performance"):
    when there is nothing to parse but the `{id}` and a body that decodes, strictly, into
    the operation's struct — no query string, no `Idempotency-Key`, at most one `If-Match`
    within its documented length, a `Content-Length` within the body limit — this runs the
    guard's checks (``auth.WRITE_CHECKS``) and the same write the handler runs. Anything
    else goes on to the handler, the body replayed, which validates and answers it as
    always (a body Litestar's lenient conversion accepts and this refuses included). A plain
    ASGI app, as ``pagination.PlainPage`` is."""

    def __init__(
        self,
        app: ASGIApp,
        body: type[msgspec.Struct],
        write: Callable[[Scope, Any, str | None], Awaitable[Encoded[Any]]],
    ) -> None:
        self.app = app
        self.decode = msgspec.json.Decoder(body).decode
        self.write = write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plain, if_match = _plain_write(scope)
        if not plain:
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        try:
            data = self.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError):
            await self.app(scope, _replay(body, receive), send)
            return
        await WRITE_CHECKS(scope)
        response = await self.write(scope, data, if_match)
        await response(scope, receive, send)


def _plain_write(scope: Scope) -> tuple[bool, str | None]:
    """Whether a write has nothing for Litestar to parse but its `{id}` and its body, and
    its `If-Match` if it has one."""
    if scope["query_string"]:
        return False, None
    if_match = None
    length = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = value
        elif name == b"if-match":
            if if_match is not None or len(value) > IF_MATCH_MAX:
                return False, None
            if_match = value.decode("latin-1")
        elif name == b"idempotency-key":
            return False, None
    handler = scope["route_handler"]
    limit = handler.resolve_request_max_body_size() if isinstance(handler, HTTPRouteHandler) else 0
    if length is None or not length.isdigit() or (limit and int(length) > limit):
        return False, None
    return True, if_match


async def _read(receive: Receive) -> bytes:
    """The whole body (its length is known and within the limit)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the handler: ``body`` again, then what the client sends next."""
    replayed = False

    async def again() -> ReceiveMessage:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        message: HTTPRequestEvent = {"type": "http.request", "body": body, "more_body": False}
        return message

    return again


def record_handlers(
    table: Table[R, C],
    *,
    name: str,
    patch_type: type[msgspec.Struct],
    referenced_by: str,
    create_example: dict[str, Any],
    patch_example: dict[str, Any],
    embeds: Sequence[Embed] = (),
) -> list[HTTPRouteHandler]:
    """``GET``/``PATCH``/``DELETE /{id}``, ``GET /{id}/history`` and ``POST /`` for one
    resource. ``name`` is the record's name in operation ids (``Organization`` →
    ``getOrganization``); ``referenced_by`` says what blocks a delete; the examples (from the
    worked example) show in the contract and prefill Swagger UI's "Try it out"; ``embeds`` are
    what the GET can embed on request (``?include=rounds,delegations``)."""
    by_name = {embed.field: embed for embed in embeds}

    async def get_record(
        request: Request[Any, Any, Any], id: RecordId, if_none_match: IfNoneMatch = None
    ) -> Any:
        return await table.read(await read_pool(request.scope), id, if_none_match)

    async def get_record_with(
        request: Request[Any, Any, Any],
        id: RecordId,
        if_none_match: IfNoneMatch = None,
        include: str | None = None,
    ) -> Any:
        wanted = [by_name[field] for field in dict.fromkeys(include.split(","))] if include else []
        return await table.read(await read_pool(request.scope), id, if_none_match, wanted)

    async def inserted(conn: Connection, scope: Scope, data: Any) -> Encoded[Any]:
        item, tag = await table.insert(conn, data, scope["state"]["api_key_id"])
        return created(scope, item, tag)

    async def create_record(
        request: Request[Any, Any, Any], data: Any, idempotency_key: IdempotencyKey = None
    ) -> Any:
        async with transaction(pool_of(request), then=committed(request.scope)) as conn:
            stored = await replay(conn, request, idempotency_key)
            if stored is not None:
                return stored
            response = await inserted(conn, request.scope, data)
            await remember(conn, request, idempotency_key, response)
        return response

    async def create_plain(scope: Scope, data: Any, _: str | None) -> Encoded[Any]:
        async with transaction(pool_in(scope), then=committed(scope)) as conn:
            return await inserted(conn, scope, data)

    async def updated(scope: Scope, ident: UUID, data: Any, if_match: str | None) -> Encoded[Any]:
        async with transaction(pool_in(scope), then=committed(scope)) as conn:
            actor = scope["state"]["api_key_id"]
            item, tag = await table.update(conn, ident, data, if_match, actor)
        return written(item, tag)

    async def update_record(
        request: Request[Any, Any, Any], id: RecordId, data: Any, if_match: IfMatch = None
    ) -> Any:
        return await updated(request.scope, id, data, if_match)

    async def update_plain(scope: Scope, data: Any, if_match: str | None) -> Encoded[Any]:
        ident: UUID = scope["path_params"]["id"]  # type: ignore[assignment]  # parsed
        return await updated(scope, ident, data, if_match)

    async def delete_record(
        request: Request[Any, Any, Any], id: RecordId, if_match: IfMatch = None
    ) -> None:
        async with transaction(pool_of(request), then=committed(request.scope)) as conn:
            await table.delete(conn, id, if_match, request.state.api_key_id)

    response = Response[table.record]  # type: ignore[name-defined]
    getter = _typed(get_record, **{"return": response})
    description = None
    if embeds:
        choice = "|".join(by_name)
        getter = _typed(
            get_record_with,
            include=Annotated[
                str | None,
                QueryParameter(
                    pattern=f"^({choice})(,({choice}))*$",
                    max_length=200,
                    description=f"Comma-separated: {', '.join(f'`{f}`' for f in by_name)}.",
                ),
            ],
            **{"return": response},
        )
        description = (
            f"`include` embeds related records ({', '.join(by_name)}), one query for each "
            "kind whatever their number; the ETag then covers them too."
        )
    return [
        get(
            "/{id:uuid}",
            operation_id=f"get{name}",
            name=f"get{name}",
            summary=f"Get {table.a_label}",
            description=description,
            response_headers=[ETAG_HEADER],
            responses={**problem_responses(404), 304: NOT_MODIFIED},
            opt={READ_BY_ID: table},
        )(getter),
        post(
            "/",
            operation_id=f"create{name}",
            name=f"create{name}",
            summary=f"Create {table.a_label}",
            description="201 with `Location` and `ETag`. Send an `Idempotency-Key` to make "
            "retries safe: a retry gets the first answer again (marked "
            "`Idempotent-Replayed: true`) and writes nothing.",
            response_headers=[ETAG_HEADER, LOCATION_HEADER, REPLAYED_HEADER],
            responses=problem_responses(409, 422, *WRITE_STATUSES),
            guards=WRITE,
            security=WRITE_SECURITY,
            middleware=[plain_writes(table.create, create_plain)],
        )(
            _typed(
                create_record,
                data=Annotated[
                    table.create,
                    Body(
                        examples=[Example(summary="From the worked example", value=create_example)]
                    ),
                ],
                **{"return": response},
            )
        ),
        patch(
            "/{id:uuid}",
            operation_id=f"update{name}",
            name=f"update{name}",
            summary=f"Change {table.a_label} (JSON merge patch)",
            description="RFC 7396: members present replace, `null` removes an optional "
            "member, lists are replaced whole. Validated like a create. Send `If-Match` with "
            "the ETag you read to be sure no one changed it meanwhile (412 otherwise).",
            response_headers=[ETAG_HEADER],
            responses=problem_responses(404, 409, 412, 422, *WRITE_STATUSES),
            guards=WRITE,
            security=WRITE_SECURITY,
            middleware=[plain_writes(patch_type, update_plain)],
        )(
            _typed(
                update_record,
                data=Annotated[
                    patch_type,
                    Body(
                        media_type=MERGE_PATCH,
                        examples=[Example(summary="A merge patch", value=patch_example)],
                    ),
                ],
                **{"return": response},
            )
        ),
        sub_collection(
            table,
            history.LISTING,
            path="history",
            key="record_id",
            operation_id=f"list{name}History",
            summary=f"Every change to {table.a_label}",
            description="Each create, update and delete made through the API, oldest first: "
            "when, by which API key, and every field it changed, before and after. Stays "
            "readable after a delete. Cursor-paginated.",
        ),
        delete(
            "/{id:uuid}",
            operation_id=f"delete{name}",
            name=f"delete{name}",
            summary=f"Delete {table.a_label}",
            description=f"204; 409 while {referenced_by} refer to it.",
            responses=problem_responses(404, 409, 412, *WRITE_STATUSES),
            guards=WRITE,
            security=WRITE_SECURITY,
        )(delete_record),
    ]


def sub_collection(
    table: Table[Any, Any],
    listing: Listing[P],
    *,
    path: str,
    key: str,
    operation_id: str,
    summary: str,
    description: str,
) -> HTTPRouteHandler:
    """``GET /{id}/<path>``: a page of what belongs to one record (its history, its claims,
    a memorandum's versions, who cites a source), the listing filtered by ``key`` = the id;
    404 when the record does not exist and nothing is found."""

    async def list_sub_collection(
        request: Request[Any, Any, Any],
        id: RecordId,
        limit: Limit = 50,
        cursor: CursorParam = None,
    ) -> Any:
        filters = listing.where(**{key: id})
        return await page_of_existing(
            request, listing, filters, table, id, limit=limit, cursor=cursor
        )

    return get(
        f"/{{id:uuid}}/{path}",
        operation_id=operation_id,
        name=operation_id,
        summary=summary,
        description=description,
        response_headers=PAGE_HEADERS,
        responses=problem_responses(404),
    )(_typed(list_sub_collection, **{"return": Response[listing.page_type]}))  # type: ignore[name-defined]
