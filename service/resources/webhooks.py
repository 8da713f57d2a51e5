"""Webhooks, for a key with the ``admin`` scope: endpoints that receive every change (or the
collections and actions they choose) as signed HTTP POSTs, following Standard Webhooks 1.0.
Make one (its signing secret is shown in that one response), list, read, change, delete;
follow its deliveries and retry one. The body of a delivery is the change item
``/v1/changes`` serves; how deliveries are queued and sent is ``service.core.delivery``, and
the check on their URLs ``service.core.ssrf``."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.enums import ParamType
from litestar.openapi.spec import (
    Example,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Schema,
)
from litestar.params import Body, PathParameter, QueryParameter

from service.core import delivery, ssrf
from service.core.auth import ADMIN_ACTION, ADMIN_READ, ADMIN_WRITE, WRITE_SECURITY
from service.core.database import pool_of, transaction
from service.core.idempotency import REPLAYED_HEADER, IdempotencyKey, remember, replay
from service.core.pagination import PAGE_HEADERS, CursorParam, Limit, Listing, Page, SortKey
from service.core.problems import (
    WRITE_STATUSES,
    FieldError,
    ProblemError,
    not_found,
    problem_answer,
    problem_responses,
)
from service.core.records import (
    ETAG_HEADER,
    LOCATION_HEADER,
    IfMatch,
    check_if_match,
    etag,
    patch_of,
    patched,
)
from service.core.replica import read_pool
from service.core.responses import Encoded
from service.core.routes import MERGE_PATCH, ResourceRouter
from service.core.tables import row_to
from service.core.types import NO_NUL_PATTERN, Url
from service.resources.changes import CHANGE_TYPES, Action, Resource
from service.settings import Settings

# --- structs -----------------------------------------------------------------------------------

WebhookUrl = Annotated[
    Url,
    msgspec.Meta(
        description="Where deliveries are POSTed. It must be https and must not resolve to a "
        "loopback, private, link-local or cloud metadata address (a server with "
        "`ACCORD_WEBHOOK_ALLOW_PRIVATE` also accepts http, loopback and private ones): 422 "
        "otherwise. Checked again before every delivery."
    ),
]
Resources = Annotated[
    list[Resource],
    msgspec.Meta(min_length=1, max_length=13, description="Only changes to these collections."),
]
Actions = Annotated[
    list[Action], msgspec.Meta(min_length=1, max_length=3, description="Only these actions.")
]
Description = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=NO_NUL_PATTERN)]

TURNED_OFF = "turned off by an administrator"


class WebhookCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new webhook: where to send changes, and which ones."""

    url: WebhookUrl
    resources: Resources | None = None
    """Absent: every collection."""
    actions: Actions | None = None
    """Absent: creates, updates and deletes."""
    description: Description | None = None
    """What it is for; shown in lists."""
    enabled: bool = True
    """False pauses deliveries: changes wait, in order, until it is enabled again."""


WebhookPatch = patch_of(WebhookCreate)


class Webhook(msgspec.Struct, kw_only=True):
    """A webhook as Accord keeps it: never its secret."""

    id: UUID
    url: str
    resources: list[Resource] | None
    actions: list[Action] | None
    description: str | None
    enabled: bool
    disabled_reason: str | None
    """Why deliveries stopped: the endpoint answered 410, a delivery ran out of retries, the
    URL failed the address check, or an administrator turned it off. Enabling it again
    (`PATCH` with `enabled: true`) resumes its deliveries where they stopped."""
    created_at: datetime
    updated_at: datetime
    version: int


class WebhookMade(Webhook, kw_only=True):
    """A new webhook with its signing secret: the only time the secret is shown."""

    secret: str
    """`whsec_…` (Standard Webhooks): the key a receiver verifies each delivery with, e.g.
    `standardwebhooks.Webhook(secret).verify(body, headers)`. Store it now."""


class WebhookPage(Page[Webhook]):
    """A page of webhooks (never their secrets)."""


DeliveryState = Literal["pending", "succeeded", "failed"]


class Delivery(msgspec.Struct, kw_only=True):
    """One change sent (or to be sent) to one webhook, with how its attempts went."""

    id: UUID
    """Sent as `webhook-id`, the same on every attempt: a receiver can skip a repeat."""
    webhook_id: UUID
    seq: int
    """The change's number in the change log."""
    resource: Resource
    record_id: UUID
    action: Action
    state: DeliveryState
    """`pending` until a 2xx answer (`succeeded`) or until it fails for good (`failed`: a 410,
    a refused URL, or every retry used up)."""
    attempts: int
    next_attempt_at: datetime | None
    """When the next attempt is due, while pending (a disabled webhook's wait for it to be
    enabled). Attempts follow the retry schedule: at once, then after 5 s, 5 min, 30 min,
    2 h, 5 h, 10 h, 14 h, 20 h and 24 h (±10 %), or later when the endpoint's answer asks
    so with `Retry-After`."""
    last_attempt_at: datetime | None
    response_status: int | None
    """The status of the last answer (none when there was no answer)."""
    latency_ms: int | None
    """How long the last attempt took."""
    error: str | None
    """What went wrong on the last attempt, if it failed."""
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(Page[Delivery]):
    """A page of a webhook's deliveries."""


# --- queries -----------------------------------------------------------------------------------

_COLUMNS = """id, url, resources, actions, description, enabled, disabled_reason, created_at,
              updated_at, version"""
LISTING = Listing(
    page_type=WebhookPage,
    name="webhooks",
    select=f"select {_COLUMNS} from webhooks",
    sorts={"id": SortKey((("id", "id", UUID),))},
    default_sort="id",
    make=row_to(Webhook),
    filters={"enabled": "enabled = {0}"},
)
_GET = f"{LISTING.select} where id = $1"
_LOCK = f"{_GET} for update"
# A new webhook starts at the end of the change log: it gets the changes made after it.
_INSERT = f"""insert into webhooks (url, resources, actions, description, enabled,
                                    disabled_reason, secret, queued_through)
              select $1, $2, $3, $4, $5, $6, $7, last_seq from change_log
              returning {_COLUMNS}"""
_UPDATE = f"""update webhooks
                 set url = $2, resources = $3, actions = $4, description = $5, enabled = $6,
                     disabled_reason = $7, version = version + 1, updated_at = now()
               where id = $1
           returning {_COLUMNS}"""

_SEQ = (("seq", "seq", int), ("id", "id", UUID))
_DELIVERY_COLUMNS = """id, webhook_id, seq, resource, record_id, action, state, attempts,
                       next_attempt_at, last_attempt_at, response_status, latency_ms, error,
                       created_at, delivered_at"""
DELIVERIES = Listing(
    page_type=DeliveryPage,
    name="deliveries",
    select=f"select {_DELIVERY_COLUMNS} from webhook_deliveries",
    sorts={"seq": SortKey(_SEQ), "-seq": SortKey(_SEQ, descending=True)},
    default_sort="-seq",
    make=row_to(Delivery),
    filters={"webhook_id": "webhook_id = {0}", "state": "state = {0}"},
)
_LOCK_DELIVERY = """select d.state, coalesce(d.leased_until > now(), false) as in_flight,
                           w.enabled
                      from webhook_deliveries d join webhooks w on w.id = d.webhook_id
                     where d.id = $2 and d.webhook_id = $1
                       for update of d"""
_RETRY_NOW = f"""update webhook_deliveries
                    set state = 'pending', next_attempt_at = now(), step = 0
                  where id = $1
              returning {_DELIVERY_COLUMNS}"""

WebhookId = Annotated[UUID, PathParameter(description="The webhook's id.")]
DeliveryId = Annotated[UUID, PathParameter(description="The delivery's id (its `webhook-id`).")]

CREATE_EXAMPLE: dict[str, Any] = {
    "url": "https://sync.example.org/accord/webhook",
    "resources": ["negotiations", "rounds", "agreements"],
    "description": "mirror of the negotiation tracker",
}
PATCH_EXAMPLE: dict[str, Any] = {"enabled": True}

# --- handlers ----------------------------------------------------------------------------------


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _check_url(request: Request[Any, Any, Any], url: str) -> None:
    """422 unless the URL passes the address check (before any transaction: a name may take
    seconds to resolve)."""
    try:
        await ssrf.check(url, allow_private=_settings(request).webhook_allow_private)
    except ssrf.UnsafeUrlError as exc:
        raise ProblemError(
            422,
            "unsafe-url",
            f"Accord will not send webhooks to this URL: {exc}.",
            errors=[FieldError(message=str(exc), field="url", source="body")],
        ) from None


def _check_lists(data: WebhookCreate) -> None:
    for field in ("resources", "actions"):
        values = getattr(data, field)
        if values is not None and len(set(values)) != len(values):
            raise ProblemError(422, "listed-twice", f"`{field}` names the same value twice.")


def _tagged(webhook: Webhook, **headers: str) -> dict[str, str]:
    return {"ETag": etag(webhook.version), **headers}


@post(
    "/",
    operation_id="createWebhook",
    summary="Make a webhook",
    description="Needs the `admin` scope. From now on every change (or those to `resources` "
    "and of `actions`) is POSTed to `url` as the change item `/v1/changes` serves, signed "
    "as Standard Webhooks 1.0 says (see the contract's `webhooks`). The answer holds the "
    "signing `secret`, shown this once. A retry with the same `Idempotency-Key` makes no "
    "second webhook: it gets a 409 naming the one made.",
    guards=ADMIN_WRITE,
    security=WRITE_SECURITY,
    response_headers=[ETAG_HEADER, LOCATION_HEADER, REPLAYED_HEADER],
    responses=problem_responses(409, 422, *WRITE_STATUSES),
)
async def create_webhook(
    request: Request[Any, Any, Any],
    data: Annotated[
        WebhookCreate,
        Body(examples=[Example(summary="A mirror of the talks", value=CREATE_EXAMPLE)]),
    ],
    idempotency_key: IdempotencyKey = None,
) -> Response[WebhookMade]:
    _check_lists(data)
    await _check_url(request, data.url)
    secret = secrets.token_bytes(32)
    async with transaction(pool_of(request)) as conn:
        stored = await replay(conn, request, idempotency_key)
        if stored is not None:
            return stored
        row = await conn.fetchrow(
            _INSERT,
            data.url,
            data.resources,
            data.actions,
            data.description,
            data.enabled,
            None if data.enabled else TURNED_OFF,
            secret,
        )
        assert row is not None
        webhook = LISTING.make(row)
        # What a retry gets: not the secret (shown once), but which webhook it made.
        await remember(
            conn,
            request,
            idempotency_key,
            problem_answer(
                request,
                409,
                "webhook-already-made",
                f"This Idempotency-Key already made webhook {webhook.id}; its secret was "
                "shown once. Delete that webhook if its secret was lost, and make another.",
            ),
        )
    made = WebhookMade(**msgspec.structs.asdict(webhook), secret=delivery.secret_text(secret))
    location = f"{request.url.path.rstrip('/')}/{webhook.id}"
    return Encoded(made, status_code=201, headers=_tagged(webhook, Location=location))


@get(
    "/",
    operation_id="listWebhooks",
    summary="List webhooks",
    description="Needs the `admin` scope. Never shows secrets. `enabled=false` lists those "
    "whose deliveries stopped, with the reason. Cursor-paginated.",
    guards=ADMIN_READ,
    security=WRITE_SECURITY,
    response_headers=PAGE_HEADERS,
    responses=problem_responses(401, 403),
)
async def list_webhooks(
    request: Request[Any, Any, Any],
    enabled: Annotated[
        bool | None, QueryParameter(description="Only webhooks delivering (`true`) or not.")
    ] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[WebhookPage]:
    return await LISTING.page(request, LISTING.where(enabled=enabled), limit=limit, cursor=cursor)


@get(
    "/{id:uuid}",
    operation_id="getWebhook",
    summary="Get a webhook",
    description="Needs the `admin` scope. Never shows its secret.",
    guards=ADMIN_READ,
    security=WRITE_SECURITY,
    response_headers=[ETAG_HEADER],
    responses=problem_responses(401, 403, 404),
)
async def get_webhook(request: Request[Any, Any, Any], id: WebhookId) -> Response[Webhook]:
    row = await (await read_pool(request.scope)).fetchrow(_GET, id)
    if row is None:
        raise not_found("webhook", id)
    webhook = LISTING.make(row)
    return Encoded(webhook, headers=_tagged(webhook))


@patch(
    "/{id:uuid}",
    operation_id="updateWebhook",
    summary="Change a webhook (JSON merge patch)",
    description="Needs the `admin` scope. RFC 7396, validated like a create; a new `url` is "
    "checked like a new webhook's. `enabled: true` resumes a webhook whose deliveries "
    "stopped, where they stopped; `enabled: false` pauses it. Send `If-Match` with the ETag "
    "you read (412 if it changed meanwhile).",
    guards=ADMIN_WRITE,
    security=WRITE_SECURITY,
    response_headers=[ETAG_HEADER],
    responses=problem_responses(404, 412, 422, *WRITE_STATUSES),
)
async def update_webhook(
    request: Request[Any, Any, Any],
    id: WebhookId,
    data: Annotated[
        WebhookPatch,  # type: ignore[valid-type]
        Body(media_type=MERGE_PATCH, examples=[Example(summary="Resume", value=PATCH_EXAMPLE)]),
    ],
    if_match: IfMatch = None,
) -> Response[Webhook]:
    url = getattr(data, "url", msgspec.UNSET)
    if isinstance(url, str):
        await _check_url(request, url)
    async with transaction(pool_of(request)) as conn:
        row = await conn.fetchrow(_LOCK, id)
        if row is None:
            raise not_found("webhook", id)
        check_if_match(if_match, row["version"])
        current = LISTING.make(row)
        changed = patched(current, data, WebhookCreate)
        _check_lists(changed)
        reason = None if changed.enabled else (current.disabled_reason or TURNED_OFF)
        row = await conn.fetchrow(
            _UPDATE,
            id,
            changed.url,
            changed.resources,
            changed.actions,
            changed.description,
            changed.enabled,
            reason,
        )
        assert row is not None
    webhook = LISTING.make(row)
    return Encoded(webhook, headers=_tagged(webhook))


@delete(
    "/{id:uuid}",
    operation_id="deleteWebhook",
    summary="Delete a webhook",
    description="Needs the `admin` scope. Its pending deliveries are dropped with it (an "
    "attempt in flight may still arrive). Send `If-Match` to be sure of what you delete.",
    guards=ADMIN_WRITE,
    security=WRITE_SECURITY,
    responses=problem_responses(404, 412, *WRITE_STATUSES),
)
async def delete_webhook(
    request: Request[Any, Any, Any], id: WebhookId, if_match: IfMatch = None
) -> None:
    async with transaction(pool_of(request)) as conn:
        row = await conn.fetchrow(_LOCK, id)
        if row is None:
            raise not_found("webhook", id)
        check_if_match(if_match, row["version"])
        await conn.execute("delete from webhooks where id = $1", id)


@get(
    "/{id:uuid}/deliveries",
    operation_id="listWebhookDeliveries",
    summary="A webhook's deliveries",
    description="Needs the `admin` scope. Each change sent or to be sent, newest first "
    "(`sort=seq`: oldest first): its state, attempts, the last answer's status and latency, "
    "the last error and when the next attempt is due. Finished deliveries are kept as long "
    "as the change log (`ACCORD_CHANGES_RETENTION_DAYS`). Cursor-paginated.",
    guards=ADMIN_READ,
    security=WRITE_SECURITY,
    response_headers=PAGE_HEADERS,
    responses=problem_responses(401, 403, 404),
)
async def list_webhook_deliveries(
    request: Request[Any, Any, Any],
    id: WebhookId,
    # `state` is a name Litestar keeps for the application's state.
    delivery_state: Annotated[
        DeliveryState | None, QueryParameter(name="state", description="Only these.")
    ] = None,
    sort: Annotated[
        Literal["seq", "-seq"], QueryParameter(description="By change number.")
    ] = "-seq",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[DeliveryPage]:
    filters = DELIVERIES.where(webhook_id=id, state=delivery_state)

    async def exists() -> bool:
        pool = await read_pool(request.scope)
        found = await pool.fetchval("select true from webhooks where id = $1", id)
        return found is not None

    return await DELIVERIES.page_of_found(
        request,
        filters,
        exists=exists,
        missing=lambda: not_found("webhook", id),
        limit=limit,
        cursor=cursor,
        sort=sort,
    )


@post(
    "/{id:uuid}/deliveries/{delivery_id:uuid}/retry",
    operation_id="retryWebhookDelivery",
    summary="Send a delivery again",
    description="Needs the `admin` scope. Due at once, with a fresh retry schedule and the "
    "same `webhook-id`: a failed delivery is tried again, a succeeded one is sent again "
    "(a receiver replaying what it lost), a pending one stops waiting. It goes before the "
    "webhook's later deliveries. 409 while an attempt is in flight, or while the webhook is "
    "disabled (enable it first).",
    status_code=202,
    guards=ADMIN_ACTION,
    security=WRITE_SECURITY,
    responses=problem_responses(401, 403, 404, 409, 429),
)
async def retry_webhook_delivery(
    request: Request[Any, Any, Any], id: WebhookId, delivery_id: DeliveryId
) -> Response[Delivery]:
    async with transaction(pool_of(request)) as conn:
        row = await conn.fetchrow(_LOCK_DELIVERY, id, delivery_id)
        if row is None:
            raise not_found("delivery of this webhook", delivery_id)
        if row["in_flight"] and row["state"] == "pending":
            raise ProblemError(
                409, "in-flight", "An attempt of this delivery is in flight; ask again shortly."
            )
        if not row["enabled"]:
            raise ProblemError(
                409,
                "webhook-disabled",
                "This webhook is disabled; enable it (PATCH `enabled: true`) first.",
            )
        row = await conn.fetchrow(_RETRY_NOW, delivery_id)
        assert row is not None
    return Encoded(DELIVERIES.make(row), status_code=202)


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/webhooks",
        tags=["webhooks"],
        route_handlers=[
            create_webhook,
            list_webhooks,
            get_webhook,
            update_webhook,
            delete_webhook,
            list_webhook_deliveries,
            retry_webhook_delivery,
        ],
    )


# --- the contract's `webhooks`: what a receiver gets -------------------------------------------

_DELIVERY_HEADERS = {
    "webhook-id": "The delivery's id: the same on every attempt, so a receiver can skip a "
    "repeat (`GET /v1/webhooks/{id}/deliveries` lists it).",
    "webhook-timestamp": "When this attempt was signed, in seconds since the epoch; refuse "
    "one far from your clock (replays).",
    "webhook-signature": "`v1,` and the base64 HMAC-SHA256, keyed with the webhook's "
    "secret (base64 after `whsec_`), of `{webhook-id}.{webhook-timestamp}.{body}`.",
}


def receiver_contract() -> dict[str, PathItem | Reference]:
    """The contract's top-level ``webhooks`` (OpenAPI 3.1): the request Accord sends a
    webhook, whose body is one of the change item schemas ``/v1/changes`` pages hold, told
    apart by ``resource``."""
    # ``finish`` names `resource` as the discriminator, as on the change log's pages.
    payload = Schema(
        one_of=[
            Reference(ref=f"#/components/schemas/{change.__name__}")
            for change in CHANGE_TYPES.values()
        ]
    )
    operation = Operation(
        operation_id="receiveChange",
        tags=["webhooks"],
        summary="A change, delivered to a webhook",
        description="Accord POSTs each change a webhook wants, in the order of the change "
        "log, one at a time per webhook, signed as Standard Webhooks 1.0 says: verify with "
        "any Standard Webhooks library (`standardwebhooks.Webhook(secret).verify(body, "
        "headers)` in Python) before trusting it. Answer any 2xx within 10 s to acknowledge "
        "it; anything else, or no answer, is retried (at once, then after 5 s, 5 min, 30 min, "
        "2 h, 5 h, 10 h, 14 h, 20 h and 24 h, ±10 %; later if `Retry-After` asks); when the "
        "retries run out the webhook is disabled. Redirects are not followed.",
        parameters=[
            Parameter(
                name=name,
                param_in=ParamType.HEADER,
                required=True,
                description=description,
                schema=Schema(type=OpenAPIType.STRING),
            )
            for name, description in _DELIVERY_HEADERS.items()
        ],
        request_body=RequestBody(
            required=True,
            content={"application/json": OpenAPIMediaType(schema=payload)},
        ),
        responses={
            "200": OpenAPIResponse(description="Any 2xx acknowledges the delivery."),
            "410": OpenAPIResponse(
                description="The receiver wants no more: Accord disables the webhook."
            ),
        },
        security=[],
    )
    return {"change": PathItem(post=operation)}
