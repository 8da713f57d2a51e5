"""The application factory: all wiring lives here; nothing happens at import time."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager, suppress
from datetime import timedelta
from types import FrameType
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, Tag

from service import __version__, docs, health
from service.core import history, logs, metrics, traces, vary
from service.core.auth import CHANNEL as KEYS_CHANNEL
from service.core.auth import SECURITY_SCHEMES, KeyCache, WriteLimit
from service.core.compression import Compression
from service.core.database import create_pool
from service.core.delivery import Deliverer
from service.core.notifications import ChangeSignal
from service.core.openapi import StrictStructSchemaPlugin, finish, link_created_records
from service.core.pagination import CursorCodec
from service.core.problems import exception_handlers
from service.core.replica import CommitPosition, Reads, Replica
from service.core.routes import ReadsById
from service.embedded import resolve_url
from service.resources import ROUTERS, changes, webhooks
from service.settings import Settings

DESCRIPTION = """\
Structured diplomatic-event data: organizations, officials, the posts they hold and the role
changes that move them; negotiations, their delegations, rounds, memoranda and agreements;
humanitarian exchanges, statements, the sources every record cites and the claims that
dispute it — served as JSON from PostgreSQL.

Reads are public; writes need `Authorization: Bearer <API key>` with the `write` scope (use
"Authorize"; `accord serve` on the embedded database prints a development key); managing API
keys (`/v1/keys`) and webhooks (`/v1/webhooks`) needs the `admin` scope.

Conventions: collections are cursor-paginated (`limit`, `cursor`, `next_cursor`,
`Link: rel="next"`); single records carry an `ETag` (`If-None-Match` → 304, `If-Match` on
writes → 412); `PATCH` takes a JSON merge patch (RFC 7396); errors are RFC 9457
`application/problem+json` — 400 breaks the contract, 422 breaks a rule the contract cannot
express, 409 conflicts with stored records, 503 means retry after `Retry-After`. Dates of
historical facts may be partial (`2025`, `2025-07`, `2025-07-17`) and keep their precision.
"""

MAX_BODY = 4 * 1024 * 1024
"""Bytes a request body may have (413 beyond): room for a memorandum's full text."""

TAGS = [
    Tag(name="organizations", description="States, governments, ministries, agencies, media."),
    Tag(name="officials", description="People, with their names in every script."),
    Tag(name="posts", description="Positions that exist whoever holds them."),
    Tag(name="role-changes", description="Appointments, dismissals, proposals, withdrawals."),
    Tag(name="negotiations", description="Negotiation processes: parties, mediators, status."),
    Tag(name="delegations", description="A party's team in a negotiation, with its heads."),
    Tag(name="rounds", description="Rounds held, awaited or cancelled; venue, agenda, outcome."),
    Tag(name="memoranda", description="Documents a party drafts and exchanges, every version."),
    Tag(name="agreements", description="What a round agreed, with signatories and stage."),
    Tag(name="sources", description="Publications and posts facts come from; who cites them."),
    Tag(name="statements", description="What officials and bodies said, in their words."),
    Tag(name="exchanges", description="Prisoner exchanges, repatriations of bodies, returns."),
    Tag(name="claims", description="Who asserts or denies what; conflicts make a record disputed."),
    Tag(name="timeline", description="Everything dated, in one chronological feed."),
    Tag(name="search", description="Find anything by name, title or words."),
    Tag(name="changes", description="Every create, update and delete, to keep a copy in sync."),
    Tag(
        name="export",
        description="Everything at once: every collection as NDJSON or CSV, a Data Package of "
        "the CSV files, Popolo JSON.",
    ),
    Tag(
        name="imports", description="Records in bulk, NDJSON or CSV: validated first, all or none."
    ),
    Tag(name="keys", description="API keys, for a key with the `admin` scope."),
    Tag(
        name="webhooks",
        description="Changes POSTed to your endpoints, signed (Standard Webhooks 1.0), for a "
        "key with the `admin` scope.",
    ),
    Tag(name="health", description="Liveness and readiness."),
]


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Accord",
        version=__version__,
        description=DESCRIPTION,
        tags=TAGS,
        components=Components(security_schemes=SECURITY_SCHEMES),
        path="/docs",
        render_plugins=[JsonRenderPlugin(path="/openapi.json"), docs.OfflineSwagger(path="/")],
        create_examples=False,
        use_handler_docstrings=False,
    )


@asynccontextmanager
async def _background(job: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Runs ``job`` while the app serves; cancels it at shutdown."""
    task = asyncio.create_task(job)
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


@contextmanager
def _start_up_frozen() -> Iterator[None]:
    """What start-up made (the app, its routes and schemas, the modules) lives as long as the
    app: out of the collector's sight, a full collection while requests run scans only what
    they made (`bench --quick`, one run each, a quiet machine: a read by id's p99 at 32
    connections 22.4 → 11.8 ms, the floor's 7.6 and 9.6 ms). Collectable again once the app
    is done (tests make many apps in one process)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def _on_stop_signal(stop: Callable[[], None]) -> Iterator[None]:
    """Calls ``stop`` (on the event loop) when the server is told to stop, before the server's
    own handler. uvicorn finishes the responses in flight before it shuts the app down, and an
    event stream never finishes by itself, so without this a server with a stream open
    would never stop. Only where a server handles the signal itself (uvicorn installs its
    handlers in the main thread before the app starts); elsewhere — the test client runs the
    app in another thread — nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    chained: dict[int, Callable[[int, FrameType | None], Any]] = {
        number: handler
        for number in (signal.SIGINT, signal.SIGTERM)
        if callable(handler := signal.getsignal(number))
    }

    def handle(number: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(stop)
        chained[number](number, frame)

    for number in chained:
        signal.signal(number, handle)
    try:
        yield
    finally:
        for number, handler in chained.items():
            if signal.getsignal(number) is handle:
                signal.signal(number, handler)


def cors_config(origins: tuple[str, ...]) -> CORSConfig | None:
    """What a page on one of ``origins`` may do: call every method the API has, send the
    headers its operations take, read the headers its answers carry (tests/test_http.py
    holds both lists to the contract). No credentials: keys travel in ``Authorization``,
    which a page sets itself, and Accord sets no cookies, so ``*`` lets any page call the
    API, with the key it holds and no other."""
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "If-None-Match",
            "Idempotency-Key",
            "Last-Event-ID",
            logs.REQUEST_ID_HEADER,
            "Accord-Min-LSN",
        ],
        expose_headers=[
            "ETag",
            "Link",
            "Location",
            "Retry-After",
            "Idempotent-Replayed",
            "Accord-Seq",
            "Accord-LSN",
            "WWW-Authenticate",
            "Content-Disposition",
            logs.REQUEST_ID_HEADER,
        ],
        allow_credentials=False,
        # Browsers cache a preflight per URL, for at most two hours (Chromium).
        max_age=7200,
    )


def create_app(settings: Settings | None = None, *, measured: bool = True) -> Litestar:
    """The app; ``measured=False`` leaves metrics out (the benchmark's comparison)."""
    settings = settings or Settings.from_env()
    request_log = logs.configure(settings.log_format, settings.log_level)
    log = logging.getLogger("accord")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        url = await resolve_url(settings.database_url, settings.data_dir)
        pool = await create_pool(url, settings)
        log.info("pool opened", extra={"size": pool.get_size(), "max_size": pool.get_max_size()})
        try:
            secret = await pool.fetchval("select secret from accord_secret")
            if secret is None:
                raise RuntimeError("the database is not migrated: run `accord db migrate`")
            app.state.pool = pool
            replica = (
                Replica(settings.replica_database_url, settings, pool)
                if settings.replica_database_url
                else None
            )
            reads.start(pool, replica)
            app.state.cursors = CursorCodec(bytes(secret))
            app.state.rendered = settings.rendered_pages
            retention = timedelta(days=settings.changes_retention_days)
            notifications = ChangeSignal(
                settings.listen_url or url,
                check_every=settings.stream_heartbeat_s,
                connect_timeout=settings.acquire_timeout_s,
            )
            keys: KeyCache = app.state.key_cache
            notifications.also(KEYS_CHANNEL, keys.forget, keys.attached)
            tail = changes.Tail(pool, notifications, heartbeat=settings.stream_heartbeat_s)
            app.state.changes_tail = tail
            async with (
                _background(history.keep_horizon(pool, retention)),
                _background(notifications.listen()),
                _background(tail.follow()),
                _background(
                    metrics.watch(
                        pool, meters, webhooks=settings.webhook_concurrency > 0, reads=reads
                    )
                ),
                AsyncExitStack() as jobs,
            ):
                if replica is not None:
                    await replica.check()  # reads go to it from the first request, if it is up
                    jobs.push_async_callback(replica.close)
                    await jobs.enter_async_context(_background(replica.watch()))
                if settings.webhook_concurrency:
                    deliverer = Deliverer(pool, settings, changes.WEBHOOK_FEED)
                    await jobs.enter_async_context(_background(deliverer.run()))
                with _start_up_frozen(), _on_stop_signal(tail.stop):
                    yield
                log.info("shutdown")
        finally:
            await pool.close()
            log.info("pool closed")

    reads = Reads()
    meters = metrics.Meters()
    app = Litestar(
        route_handlers=[
            health.live,
            health.ready,
            docs.assets_router(),
            *(make() for make in ROUTERS),
            *([metrics.metrics] if measured and settings.metrics_port is None else []),
        ],
        lifespan=[lifespan],
        exception_handlers=exception_handlers,
        openapi_config=openapi_config(),
        cors_config=cors_config(settings.cors_origins),
        # CORS replaces a response's `Vary`: what it said is kept for `vary.Merged` below.
        middleware=[vary.Remembered()] if settings.cors_origins else [],
        plugins=[StrictStructSchemaPlugin(), *traces.plugins(settings)],
        # Ours (service.core.logs) instead of Litestar's, whose queue thread keeps writing to
        # the stream it found at start (pytest closes those: "--- Logging error ---").
        logging_config=None,
        request_max_body_size=MAX_BODY,
        state=State(
            {
                "write_limit": WriteLimit(settings.write_rate_limit),
                "key_cache": KeyCache(settings.key_cache_s),
                "settings": settings,
                "reads": reads,
                "meters": meters,
            }
        ),
    )
    link_created_records(app.openapi_schema)
    finish(app.openapi_schema, webhooks.receiver_contract())
    # Outside everything Litestar wraps around its router: so a read answered by route
    # middleware is compressed too, and compression's `Vary: Accept-Encoding` is added after
    # CORS sets `Vary: Origin` (which replaces any `Vary` already there). A read ReadsById
    # answers, outside it, is compressed by its `sending`.
    compression = Compression(CommitPosition(app.asgi_handler, reads))
    app.asgi_handler = compression
    if not settings.otel_exporter_otlp_endpoint:  # (a traced read's spans are made inside)
        app.asgi_handler = ReadsById(compression, app)
    if settings.cors_origins:
        # One `Vary` of what the answer said and what CORS and compression added.
        app.asgi_handler = vary.Merged(app.asgi_handler)
    # Outermost: the request's line and its metrics — its bytes as sent (compressed), the
    # status sent whoever made the response, its id on every answer.
    app.asgi_handler = logs.RequestLog(
        app.asgi_handler, request_log, meters.tallies if measured else None
    )
    return app
