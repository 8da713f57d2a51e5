"""Webhook delivery: the change log sent to each webhook endpoint as signed HTTP POSTs
(Standard Webhooks 1.0), from PostgreSQL, by a worker in every server process.

How a delivery comes to be. A write already records its changes, numbered in commit order, in
its own transaction (``service.core.history``); that log is the queue, so a write pays nothing
for webhooks, however many endpoints there are. Each endpoint has a cursor into the log
(``webhooks.queued_through``). The worker (``queue``) turns the changes past an endpoint's
cursor that it wants into delivery rows — the body rendered then, so every attempt sends the
same bytes — and moves the cursor in the same transaction; it keeps at most ``BACKLOG`` rows
pending per endpoint, so an endpoint that is down for days leaves the rest in the log, not in
a table. Nothing is lost: the log commits with the write, the cursor moves with the rows it
made, and a delivery row stays until it succeeds or fails for good. (The other way, a row per
endpoint and change inserted by a trigger in the write's transaction, is as durable, but makes
every write pay an insert and a filter per endpoint, and grows a table by a row per write for
as long as an endpoint is down.)

How one is sent, exactly once at a time. ``claim`` takes due deliveries in one short
transaction with ``FOR UPDATE SKIP LOCKED`` — only the first pending delivery of an endpoint,
and only while no other of its deliveries is being sent, so each endpoint gets its changes in
order and one at a time — and gives each a lease (``leased_until``, the HTTP timeout plus a
margin) before committing. The HTTP call is made with no pooled connection held and no
transaction open; the worker never lets it outlast the lease, so no other worker or replica
takes the delivery while it is in flight. The outcome is written in a second short statement,
only if the lease is still this worker's. A worker that dies mid-attempt leaves a lease that
runs out; the delivery is then retried by any worker (at least once, never concurrently).

Outcomes follow the Standard Webhooks recommendations: a 2xx delivered it; a 410 disables the
endpoint; anything else (another status, a redirect, a timeout, a refused connection) is
retried on ``SCHEDULE`` with ±10 % jitter, or later if the answer carries ``Retry-After``;
when the schedule runs out the delivery fails and the endpoint is disabled. Its pending
deliveries wait in order for it to be enabled again. A URL that fails the address check at
delivery (see ``service.core.ssrf``) is never called: the delivery fails and the endpoint is
disabled.

How the worker wakes: it polls, every ``POLL_EVERY`` (a second) while idle, sooner when a
retry falls due before that, and at once when one of its own attempts ends. Idle, that is
three small indexed queries a second per process, on pooled connections: no connection of its
own to LISTEN on."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpcore

from service import __version__
from service.core import metrics, ssrf
from service.core.database import Connection, Pool, transaction
from service.settings import Settings

log = logging.getLogger("accord.webhooks")

SCHEDULE = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
"""The delay before each attempt, as the Standard Webhooks spec suggests: the first at once,
the tenth about 3 days and 4 hours after it. ``ACCORD_WEBHOOK_RETRY_SCALE`` multiplies each."""
JITTER = 0.1
"""Each delay is moved by up to this fraction either way, so endpoints that failed together
are not retried together."""
MAX_RETRY_AFTER = SCHEDULE[-1]
"""The longest ``Retry-After`` honoured."""
LEASE_MARGIN = timedelta(seconds=5)
"""A lease lasts the HTTP timeout and this much more."""
POLL_EVERY = 1.0
RETRY_DATABASE_AFTER = 5.0
"""Seconds between tries while the database cannot be reached."""
BACKLOG = 100
"""Deliveries queued ahead per endpoint; the rest of its changes wait in the log."""
ENDPOINTS_PER_PASS = 20
"""Endpoints whose backlog one pass (one short transaction) fills."""
PRUNE_EVERY = timedelta(minutes=10)
RESPONSE_READ_LIMIT = 64 * 1024
"""Bytes of an answer read (and dropped) so its connection can be used again; an answer
longer than this closes its connection instead."""
USER_AGENT = f"Accord/{__version__} (webhooks)".encode()

_DB_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
_HTTP_ERRORS = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    OSError,
)


def secret_text(secret: bytes) -> str:
    """A signing key as Standard Webhooks shows it: ``whsec_`` and base64."""
    return "whsec_" + base64.b64encode(secret).decode()


def sign(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: ``v1,`` and the base64 HMAC-SHA256 of
    ``{id}.{timestamp}.{body}``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def retry_after(value: bytes | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (seconds or an HTTP date), at most
    ``MAX_RETRY_AFTER``; ``None`` when absent or unreadable."""
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER.total_seconds())


def next_delay(step: int, scale: float, asked: float | None = None) -> timedelta | None:
    """The wait before the next attempt after ``step`` failed ones (jittered and scaled, and at
    least what ``Retry-After`` asked for); ``None`` once the schedule has run out."""
    if step >= len(SCHEDULE):
        return None
    seconds = SCHEDULE[step].total_seconds() * scale * random.uniform(1 - JITTER, 1 + JITTER)
    return timedelta(seconds=max(seconds, asked or 0.0))


@dataclass(frozen=True, slots=True)
class Rendered:
    """A change as one delivery carries it."""

    resource: str
    action: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Feed:
    """What the worker needs of the change feed, which lives with the resources: the history
    kind and operation an endpoint's ``resources`` and ``actions`` name, and each change
    rendered as the body of its delivery (given history rows: seq, record_id, kind, operation,
    version, at)."""

    kinds: Mapping[str, str]
    operations: Mapping[str, str]
    render: Callable[[Connection, Sequence[asyncpg.Record]], Awaitable[list[Rendered]]]


@dataclass(frozen=True, slots=True)
class Claimed:
    id: UUID
    webhook_id: UUID
    url: str
    secret: bytes
    body: bytes
    step: int
    lease: UUID


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to."""

    delivered: bool = False
    status: int | None = None
    error: str | None = None
    asked: float | None = None
    """Seconds the answer's ``Retry-After`` asked for."""
    retry: bool = True
    """False when retrying cannot help: the endpoint is disabled instead."""


# --- queries -----------------------------------------------------------------------------------

# Endpoints behind the log with room in their backlog, each filled by one worker at a time.
_BEHIND = """select w.id, w.resources, w.actions, w.queued_through, c.last_seq,
                    $1 - (select count(*) from webhook_deliveries d
                           where d.webhook_id = w.id and d.state = 'pending') as room
               from webhooks w cross join change_log c
              where w.enabled and w.queued_through < c.last_seq
                and (select count(*) from webhook_deliveries d
                      where d.webhook_id = w.id and d.state = 'pending') < $1
              order by w.queued_through
              limit $2
              for update of w skip locked"""
# Every change numbered up to `last_seq` (read above, in an earlier snapshot) has committed.
_WANTED = """select seq, record_id, kind, operation, version, at from history
              where seq > $1 and seq <= $2 and kind = any($3::text[])
                and ($4::text[] is null or operation = any($4::text[]))
              order by seq limit $5"""
_QUEUE = """insert into webhook_deliveries
                (webhook_id, seq, resource, record_id, action, body, next_attempt_at)
            select $1, u.seq, u.resource, u.record_id, u.action, u.body, now()
              from unnest($2::bigint[], $3::text[], $4::uuid[], $5::text[], $6::bytea[])
                   as u(seq, resource, record_id, action, body)
            on conflict on constraint webhook_delivery_once do nothing"""
_MOVE = "update webhooks set queued_through = $2 where id = $1"

# The first pending delivery of an enabled endpoint, due, while none of that endpoint's
# deliveries is leased: in order, one at a time per endpoint.
_CLAIM = """with due as (
                select d.id from webhook_deliveries d join webhooks w on w.id = d.webhook_id
                 where d.state = 'pending' and d.next_attempt_at <= now()
                   and coalesce(d.leased_until < now(), true)
                   and w.enabled
                   and not exists (
                       select from webhook_deliveries e
                        where e.webhook_id = d.webhook_id and e.state = 'pending'
                          and e.id <> d.id
                          and (e.seq < d.seq or e.leased_until >= now()))
                 order by d.next_attempt_at
                 limit $1
                 for update of d skip locked)
            update webhook_deliveries d
               set lease = $2, leased_until = now() + $3::interval, last_attempt_at = now(),
                   attempts = d.attempts + 1, step = d.step + 1
              from due, webhooks w
             where d.id = due.id and w.id = d.webhook_id
            returning d.id, d.webhook_id, w.url, w.secret, d.body, d.step"""
_NEXT_DUE = """select extract(epoch from min(next_attempt_at) - now())::float8
                 from webhook_deliveries where state = 'pending' and next_attempt_at > now()"""

_DELIVERED = """update webhook_deliveries
                   set state = 'succeeded', next_attempt_at = null, lease = null,
                       leased_until = null, delivered_at = now(), response_status = $3,
                       latency_ms = $4, error = null
                 where id = $1 and lease = $2"""
_RETRY = """update webhook_deliveries
               set next_attempt_at = now() + $5::interval, lease = null, leased_until = null,
                   response_status = $3, latency_ms = $4, error = $6
             where id = $1 and lease = $2"""
# The webhook is locked before its delivery, as deleting a webhook locks it before the
# deliveries it cascades to: the same order, so the two cannot deadlock.
_LOCK_WEBHOOK = "select true from webhooks where id = $1 for update"
_FAILED = """update webhook_deliveries
                set state = 'failed', next_attempt_at = null, lease = null,
                    leased_until = null, response_status = $3, latency_ms = $4, error = $5
              where id = $1 and lease = $2"""
_DISABLE = """update webhooks
                 set enabled = false, disabled_reason = $2, version = version + 1,
                     updated_at = now()
               where id = $1 and enabled"""
_PRUNE = """delete from webhook_deliveries
             where state <> 'pending' and created_at < now() - $1::interval"""


class Deliverer:
    """The delivery worker of one process: ``run`` until cancelled at shutdown."""

    def __init__(self, pool: Pool, settings: Settings, feed: Feed) -> None:
        self.pool = pool
        self.feed = feed
        self.allow_private = settings.webhook_allow_private
        self.timeout = settings.webhook_timeout_s
        self.scale = settings.webhook_retry_scale
        self.concurrency = settings.webhook_concurrency
        self.retention = timedelta(days=settings.changes_retention_days)
        self.lease = timedelta(seconds=self.timeout) + LEASE_MARGIN
        self._all_kinds = sorted(feed.kinds.values())

    async def run(self) -> None:
        http = httpcore.AsyncConnectionPool(
            network_backend=ssrf.GuardedBackend(allow_private=self.allow_private),
            max_connections=self.concurrency,
            keepalive_expiry=30,
        )
        sending: set[asyncio.Task[None]] = set()
        pruned_at = -PRUNE_EVERY.total_seconds()
        try:
            while True:
                wait = POLL_EVERY
                try:
                    if time.monotonic() - pruned_at >= PRUNE_EVERY.total_seconds():
                        await self.pool.execute(_PRUNE, self.retention)
                        pruned_at = time.monotonic()
                    await self.queue()
                    free = self.concurrency - len(sending)
                    if free > 0:
                        claimed_at = time.monotonic()
                        claimed = await self.claim(free)
                        sending.update(
                            asyncio.create_task(self.attempt(http, delivery, claimed_at))
                            for delivery in claimed
                        )
                        if len(claimed) < free:
                            due = await self.pool.fetchval(_NEXT_DUE)
                            wait = min(wait, due) if due is not None else wait
                except _DB_ERRORS as exc:
                    log.warning("webhook delivery: %r", exc)
                    wait = RETRY_DATABASE_AFTER
                except Exception:
                    # A bug must not stop deliveries for good: log it, and try again.
                    log.exception("webhook delivery")
                    wait = RETRY_DATABASE_AFTER
                if sending:
                    done, _ = await asyncio.wait(
                        sending, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                    )
                    sending -= done
                    for task in done:
                        if not task.cancelled() and task.exception() is not None:
                            log.error("webhook delivery attempt", exc_info=task.exception())
                else:
                    await asyncio.sleep(wait)
        finally:
            for task in sending:
                task.cancel()
            await asyncio.gather(*sending, return_exceptions=True)
            await http.aclose()

    async def queue(self) -> None:
        """Queue the changes endpoints want as deliveries, up to each one's backlog."""
        async with transaction(self.pool) as conn:
            endpoints = await conn.fetch(_BEHIND, BACKLOG, ENDPOINTS_PER_PASS)
            wanted: list[tuple[asyncpg.Record, list[asyncpg.Record]]] = []
            for endpoint in endpoints:
                resources = endpoint["resources"]
                actions = endpoint["actions"]
                kinds = self._all_kinds
                if resources is not None:
                    kinds = [self.feed.kinds[r] for r in resources if r in self.feed.kinds]
                operations = None
                if actions is not None:
                    operations = [self.feed.operations[a] for a in actions]
                rows = await conn.fetch(
                    _WANTED,
                    endpoint["queued_through"],
                    endpoint["last_seq"],
                    kinds,
                    operations,
                    endpoint["room"],
                )
                wanted.append((endpoint, rows))
            # Each change is rendered once, however many endpoints want it.
            changes = {row["seq"]: row for _, rows in wanted for row in rows}
            rendered: dict[int, Rendered] = {}
            if changes:
                bodies = await self.feed.render(conn, list(changes.values()))
                rendered = dict(zip(changes, bodies, strict=True))
            for endpoint, rows in wanted:
                if rows:
                    items = [rendered[row["seq"]] for row in rows]
                    await conn.execute(
                        _QUEUE,
                        endpoint["id"],
                        [row["seq"] for row in rows],
                        [item.resource for item in items],
                        [row["record_id"] for row in rows],
                        [item.action for item in items],
                        [item.body for item in items],
                    )
                full = len(rows) == endpoint["room"]
                through = rows[-1]["seq"] if full else endpoint["last_seq"]
                await conn.execute(_MOVE, endpoint["id"], through)

    async def claim(self, limit: int) -> list[Claimed]:
        """Lease up to ``limit`` due deliveries (see the module's docstring)."""
        lease = uuid.uuid4()
        async with transaction(self.pool) as conn:
            rows = await conn.fetch(_CLAIM, limit, lease, self.lease)
        return [
            Claimed(
                id=row["id"],
                webhook_id=row["webhook_id"],
                url=row["url"],
                secret=bytes(row["secret"]),
                body=bytes(row["body"]),
                step=row["step"],
                lease=lease,
            )
            for row in rows
        ]

    async def attempt(
        self, http: httpcore.AsyncConnectionPool, delivery: Claimed, claimed_at: float
    ) -> None:
        """Send one delivery and record what came of it."""
        # Never past the lease (taken after `claimed_at`), less a second for the clock.
        budget = min(self.timeout, claimed_at + self.lease.total_seconds() - 1 - time.monotonic())
        if budget <= 0:
            return
        started = time.monotonic()
        outcome = await self._send(http, delivery, budget)
        latency = round((time.monotonic() - started) * 1000)
        try:
            await self._record(delivery, outcome, latency)
        except _DB_ERRORS as exc:
            # The lease runs out and the delivery is tried again.
            log.warning("webhook delivery %s: outcome not recorded: %r", delivery.id, exc)

    async def _send(
        self, http: httpcore.AsyncConnectionPool, delivery: Claimed, budget: float
    ) -> Outcome:
        message_id = str(delivery.id)
        timestamp = int(time.time())
        try:
            target = ssrf.parse(delivery.url, allow_private=self.allow_private)
            headers = [
                (b"Host", target.authority.encode()),
                (b"User-Agent", USER_AGENT),
                (b"Content-Type", b"application/json"),
                (b"Content-Length", str(len(delivery.body)).encode()),
                (b"webhook-id", message_id.encode()),
                (b"webhook-timestamp", str(timestamp).encode()),
                (
                    b"webhook-signature",
                    sign(delivery.secret, message_id, timestamp, delivery.body).encode(),
                ),
            ]
            timeouts = dict.fromkeys(("connect", "read", "write", "pool"), budget)
            async with (
                asyncio.timeout(budget),
                http.stream(
                    b"POST",
                    target.url,
                    headers=headers,
                    content=delivery.body,
                    extensions={"timeout": timeouts},
                ) as response,
            ):
                await _drain(response)
        except ssrf.UnresolvableError as exc:
            return Outcome(error=str(exc))
        except ssrf.UnsafeUrlError as exc:
            return Outcome(error=f"not sent: the URL is refused: {exc}", retry=False)
        except (TimeoutError, httpcore.TimeoutException):
            return Outcome(error=f"no answer within {budget:g} s")
        except _HTTP_ERRORS as exc:
            return Outcome(error=f"{type(exc).__name__}: {exc}")
        status = response.status
        if 200 <= status < 300:
            return Outcome(delivered=True, status=status)
        if status == 410:
            return Outcome(status=status, error="410 Gone: the endpoint wants no more", retry=False)
        asked = retry_after(
            next((v for k, v in response.headers if k.lower() == b"retry-after"), None)
        )
        return Outcome(status=status, error=f"answered {status}", asked=asked)

    async def _record(self, delivery: Claimed, outcome: Outcome, latency: int) -> None:
        args: tuple[Any, ...] = (delivery.id, delivery.lease, outcome.status, latency)
        if outcome.delivered:
            await self.pool.execute(_DELIVERED, *args)
            metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
            return
        delay = next_delay(delivery.step, self.scale, outcome.asked) if outcome.retry else None
        if delay is not None:
            await self.pool.execute(_RETRY, *args, delay, outcome.error)
            metrics.WEBHOOK_DELIVERIES.labels("retrying").inc()
            log.info("webhook delivery %s: %s; retried in %s", delivery.id, outcome.error, delay)
            return
        reason = (
            outcome.error
            if not outcome.retry
            else f"a delivery failed {delivery.step} times (last: {outcome.error})"
        )
        async with transaction(self.pool) as conn:
            await conn.execute(_LOCK_WEBHOOK, delivery.webhook_id)
            if await conn.execute(_FAILED, *args, outcome.error) == "UPDATE 1":
                metrics.WEBHOOK_DELIVERIES.labels("failed").inc()
                await conn.execute(_DISABLE, delivery.webhook_id, reason)
                log.warning("webhook %s disabled: %s", delivery.webhook_id, reason)


async def _drain(response: httpcore.Response) -> None:
    """Read a little of the answer (Accord needs only its status), so a short answer leaves
    its connection reusable."""
    read = 0
    async for chunk in response.aiter_stream():
        read += len(chunk)
        if read > RESPONSE_READ_LIMIT:
            break
