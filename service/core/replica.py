"""Read replicas: reads on a PostgreSQL streaming standby, writes on the primary, and
read-your-writes by WAL position.

With ``ACCORD_REPLICA_DATABASE_URL`` set, each worker keeps a second pool, on the replica.
Public reads (GET, HEAD: records, pages, timeline, search, exports, the change feed) ask
``read_pool`` which pool answers them; writes, everything in a write's transaction, the API
key check, the admin reads (keys, webhooks) and readiness stay on the primary.

- **Read-your-writes.** Every successful write's answer carries ``Accord-LSN``: the primary's
  WAL insert position read *after* the commit (on the write's own connection,
  ``committed``, else by ``CommitPosition``), so it is at or past the
  commit record whatever ``synchronous_commit`` says. (Read in the write's own statement it
  would come before the commit record, which a replica could then be shown to have replayed
  without having replayed the commit.) A read that sends it back as ``Accord-Min-LSN`` goes
  to the replica only once the replica's ``pg_last_wal_replay_lsn()`` is at or past it, else
  to the primary; one that is not a WAL position goes to the primary.
- **Lag.** A background check per worker (``Replica.watch``, every ``CHECK_EVERY_S``) reads
  the primary's WAL position and the replica's replayed position: the replica's lag is the
  age of the oldest primary position it has not yet replayed (0 when it has replayed all it
  was shown). No query per request, and an idle primary does not look lagging, as
  ``now() - pg_last_xact_replay_timestamp()`` does. Lagging more than
  ``ACCORD_REPLICA_MAX_LAG_S``, the replica is skipped until it catches up.
- **Down.** A check that fails marks the replica down until one succeeds. A read the replica
  fails meanwhile (connection refused, a pool error: an answer of 503) is run again, once,
  on the primary before anything was sent (``CommitPosition`` wraps reads too), so clients
  see no 5xx; the replica is used again once a check succeeds.

The change feed and ``Accord-Seq`` on a replica: the change log's numbers are handed out by
a row lock held to the commit, so the commits of changes n and n+1 reach the WAL in that
order, and a standby, replaying the WAL in order, always shows a prefix of the log. A page
read on a replica therefore skips nothing; what a lagging replica cannot do is answer a
``since`` past its own end (a position a client got from the primary, or from a replica
further ahead): such a page is read from the primary instead of a 410. A collection page reads
its ``Accord-Seq`` and its rows on one connection, so both come from the same server even
when one service name spreads connections over several replicas."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.core.database import Connection, Pool, create_pool
from service.settings import Settings

log = logging.getLogger("accord.replica")

LSN_HEADER = "Accord-LSN"
MIN_LSN_HEADER = "Accord-Min-LSN"
LSN_PATTERN = r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$"
"""A WAL position as PostgreSQL writes a ``pg_lsn``: two hexadecimal halves."""
_LSN = re.compile(LSN_PATTERN)
_MIN_LSN = MIN_LSN_HEADER.lower().encode()

CHECK_EVERY_S = 1.0
"""How often each worker measures its replica's position and lag."""
CHECK_TIMEOUT_S = 1.0
SAMPLES = 3600
"""Primary positions kept for the lag: an hour of them at one a second, far past any limit."""

_READS = frozenset(("GET", "HEAD"))
_SERVED_BY = "accord.read_from"
"""Scope key: which pool a read was given (``replica`` or ``primary``)."""
_PRIMARY_ONLY = "accord.primary_only"
_COMMITTED = "accord.committed_at"
"""Scope key: the WAL position a write read on its own connection after its commit
(``committed``), which ``CommitPosition`` answers with instead of asking the pool."""

# On a server that is not in recovery (a replica URL pointing at a primary), its own position.
_REPLICA_POSITION = (
    "select case when pg_is_in_recovery() then pg_last_wal_replay_lsn() "
    "else pg_current_wal_insert_lsn() end"
)
_PRIMARY_POSITION = "select pg_current_wal_insert_lsn()"
_COMMIT_POSITION = "select pg_current_wal_insert_lsn()::text"


def parse_lsn(text: str) -> int | None:
    """A WAL position as a number (``16/B374D848`` → 0x16B374D848); ``None`` if malformed."""
    if not _LSN.match(text):
        return None
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


NOT_A_POSITION = 1 << 64
"""What an ``Accord-Min-LSN`` that is not a WAL position stands for: past any replica, so the
primary answers (it has every write). Not a 400: schemathesis generates header values its
``pattern`` refuses as valid ones (a pattern with ``/``), so the contract documents the
format in words and the server takes the safe side."""


def _min_lsn(scope: Scope) -> int | None:
    """The request's ``Accord-Min-LSN``, if it sent one."""
    for name, value in scope["headers"]:
        if name == _MIN_LSN:
            position = parse_lsn(value.decode("latin-1"))
            return NOT_A_POSITION if position is None else position
    return None


class Replica:
    """One replica: its pool, the position it has replayed and its lag as last measured, and
    whether it answered its last check."""

    def __init__(self, url: str, settings: Settings, primary: Pool) -> None:
        self.url = url
        self.settings = settings
        self.primary = primary
        self.max_lag_s = settings.replica_max_lag_s
        self.pool: Pool | None = None
        self.up = False
        self.replayed = 0
        """The WAL position the replica had replayed at the last check (or read)."""
        self.lag_s: float | None = None
        """Seconds behind the primary at the last check; ``None`` until one succeeds."""
        self._unreplayed: deque[tuple[float, int]] = deque(maxlen=SAMPLES)
        """(when, primary position) the replica had not yet replayed at the last check."""

    @property
    def usable(self) -> bool:
        return self.up and self.lag_s is not None and self.lag_s <= self.max_lag_s

    async def check(self) -> None:
        """Measure the replica once: up or down, its replayed position, its lag."""
        now = asyncio.get_running_loop().time()
        try:
            primary = await self.primary.fetchval(_PRIMARY_POSITION, timeout=CHECK_TIMEOUT_S)
        except Exception:  # the primary away: no new sample; the replica is checked anyway
            primary = None
        try:
            if self.pool is None:
                # min_size 0: no connection at start, so a replica down at start is no error.
                self.pool = await create_pool(self.url, self.settings, min_size=0)
            replayed: int = await self.pool.fetchval(_REPLICA_POSITION, timeout=CHECK_TIMEOUT_S)
        except Exception as exc:
            if self.up:
                log.warning("read replica unreachable (%r): reading from the primary", exc)
            self.up = False
            return
        if not self.up:
            log.info("read replica up: reads go to it")
        self.up = True
        self.replayed = replayed
        if primary is not None and (not self._unreplayed or primary > self._unreplayed[-1][1]):
            self._unreplayed.append((now, primary))
        while self._unreplayed and self._unreplayed[0][1] <= replayed:
            self._unreplayed.popleft()
        self.lag_s = now - self._unreplayed[0][0] if self._unreplayed else 0.0

    async def watch(self) -> None:
        """The background job: a check every ``CHECK_EVERY_S``; runs until cancelled."""
        while True:
            await self.check()
            await asyncio.sleep(CHECK_EVERY_S)

    async def has_replayed(self, position: int) -> bool:
        """Whether the replica has replayed ``position``: from the last check when that
        says so, else asked now (a read right after a write usually is that fresh)."""
        if self.replayed >= position:
            return True
        assert self.pool is not None
        try:
            replayed: int = await self.pool.fetchval(_REPLICA_POSITION, timeout=CHECK_TIMEOUT_S)
        except Exception:
            return False
        self.replayed = max(self.replayed, replayed)
        return replayed >= position

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()


class Reads:
    """Which pool answers a read: the replica's when there is one that may, else the
    primary's. ``served`` counts the reads each answered (for the metrics)."""

    primary: Pool

    def __init__(self) -> None:
        self.replica: Replica | None = None
        self.served = {"replica": 0, "primary": 0}

    def start(self, primary: Pool, replica: Replica | None) -> None:
        """The pools, once the application has made them."""
        self.primary = primary
        self.replica = replica

    def replica_lag_seconds(self) -> float | None:
        """The replica's lag at the last check; ``None`` without a replica, or while down."""
        replica = self.replica
        return replica.lag_s if replica is not None and replica.up else None

    async def pool_for(self, scope: Scope) -> Pool:
        replica = self.replica
        if replica is None:
            return self.primary
        position = _min_lsn(scope)
        if (
            replica.usable
            and replica.pool is not None
            and not scope.get(_PRIMARY_ONLY)
            and (position is None or await replica.has_replayed(position))
        ):
            scope[_SERVED_BY] = "replica"  # type: ignore[literal-required]
            self.served["replica"] += 1
            return replica.pool
        scope[_SERVED_BY] = "primary"  # type: ignore[literal-required]
        self.served["primary"] += 1
        return self.primary


async def read_pool(scope: Scope) -> Pool:
    """The pool a public read runs on (see the module's docstring): the replica's, when
    configured, up, not lagging and past the request's ``Accord-Min-LSN``; else the
    primary's."""
    reads: Reads = scope["litestar_app"].state.reads
    if reads.replica is None:  # the common case, without a second coroutine
        return reads.primary
    return await reads.pool_for(scope)


def on_primary(scope: Scope) -> bool:
    """Whether a read ran on the primary (always, without a replica)."""
    return scope.get(_SERVED_BY) != "replica"


def committed(scope: Scope) -> Callable[[Connection], Awaitable[None]]:
    """For ``database.transaction(pool, then=...)``: the primary's position read on the
    write's own connection once it has committed, for the answer's ``Accord-LSN`` — one
    query on the connection the write already holds instead of one on a second. A failure
    leaves it to ``CommitPosition`` (the write has committed all the same)."""

    async def note(conn: Connection) -> None:
        try:
            scope[_COMMITTED] = await conn.fetchval(_COMMIT_POSITION)  # type: ignore[literal-required]
        except Exception as exc:  # committed all the same: CommitPosition asks the pool
            log.warning("no WAL position on the write's connection: %r", exc)

    return note


class CommitPosition:
    """Around the application: a successful write's answer gets ``Accord-LSN``, the primary's
    WAL position after its commit; a read the replica failed with a 503 runs again on the
    primary before anything was sent."""

    def __init__(self, app: ASGIApp, reads: Reads) -> None:
        self.app = app
        self.reads = reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
        elif scope["method"] in _READS:
            if self.reads.replica is None:
                await self.app(scope, receive, send)
            else:
                await self._read(scope, receive, send)
        else:
            await self.app(scope, receive, self._with_position(scope, send))

    def _with_position(self, scope: Scope, send: Send) -> Send:
        primary = self.reads.primary

        async def send_with_position(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                known: str | None = scope.get(_COMMITTED)  # type: ignore[assignment]
                try:
                    position: str = known or await primary.fetchval(_COMMIT_POSITION)
                except Exception as exc:  # committed all the same: answer without it
                    log.warning("no WAL position for a write's answer: %r", exc)
                else:
                    headers = [*message["headers"], (b"accord-lsn", position.encode())]
                    message = {**message, "headers": headers}
            await send(message)

        return send_with_position

    async def _read(self, scope: Scope, receive: Receive, send: Send) -> None:
        attempt: dict[str, Any] = {**scope, "state": dict(scope.get("state", {}))}
        failed = False

        async def unless_failed(message: Message) -> None:
            nonlocal failed
            if (
                message["type"] == "http.response.start"
                and message["status"] == 503
                and attempt.get(_SERVED_BY) == "replica"
            ):
                failed = True
            if not failed:
                await send(message)

        await self.app(attempt, receive, unless_failed)  # type: ignore[arg-type]
        if failed:
            replica = self.reads.replica
            assert replica is not None
            if replica.up:
                log.warning("a read failed on the replica: reading from the primary")
            replica.up = False  # until a check finds it back
            retry = {**scope, "state": dict(scope.get("state", {})), _PRIMARY_ONLY: True}
            await self.app(retry, receive, send)  # type: ignore[arg-type]
