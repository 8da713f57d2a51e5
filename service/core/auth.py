"""API keys and the one check every write passes: reads are public; a write needs
``Authorization: Bearer <key>`` with the ``write`` scope. A key is ``accord_<id>_<secret>``:
the id finds its row, the secret is compared by digest in constant time. Keys are stored as
SHA-256 digests only, never logged, and can expire or be revoked."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple
from uuid import UUID

import asyncpg
import msgspec
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.openapi.spec import Reference, SecurityRequirement, SecurityScheme
from litestar.types import Guard
from litestar.types import Scope as ASGIScope

from service.core.database import AnyConnection, Pool
from service.core.problems import ProblemError

SCHEME = "apiKey"
SECURITY_SCHEMES: dict[str, SecurityScheme | Reference] = {
    SCHEME: SecurityScheme(
        type="http",
        scheme="bearer",
        description="An API key made with `accord keys create --scope write --name …` or "
        "`POST /v1/keys` (`accord serve` on the embedded database prints a development key "
        "with the `write` and `admin` scopes, valid a day; each start revokes the one before).",
    )
}
WRITE_SECURITY: list[SecurityRequirement] = [{SCHEME: []}]
"""The ``security`` of every write operation."""

_PREFIX = "accord_"

Scope = Literal["write", "admin"]


class ApiKey(msgspec.Struct, kw_only=True):
    """An API key as Accord keeps it: never its secret."""

    id: UUID
    name: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def create_key(
    conn: AnyConnection,
    name: str,
    scopes: list[Scope],
    expires_in: timedelta | None = None,
    *,
    development: bool = False,
) -> tuple[ApiKey, str]:
    """A new key and its token; the token is not stored and cannot be shown again."""
    secret = secrets.token_urlsafe(32)
    row = await conn.fetchrow(
        """insert into api_keys (name, scopes, secret_digest, expires_at, development)
           values ($1, $2, $3, now() + $4, $5) returning *""",
        name,
        scopes,
        _digest(secret),
        expires_in,
        development,
    )
    assert row is not None
    key = msgspec.convert(dict(row.items()), ApiKey)
    return key, f"{_PREFIX}{key.id.hex}_{secret}"


_DEVELOPMENT_LOCK = 0x6465766B6579  # "devkey": concurrent starts replace the key one by one


async def replace_development_key(
    conn: asyncpg.Connection[asyncpg.Record],
) -> tuple[ApiKey, str, int]:
    """The development key ``accord serve`` prints on the embedded database: scopes ``write``
    and ``admin``, valid a day. Each new one revokes the one before in the same transaction,
    so a database has one valid development key at most (a unique index keeps it so). The
    key, its token, and how many earlier ones this revoked."""
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock($1)", _DEVELOPMENT_LOCK)
        revoked = await conn.fetch(
            "update api_keys set revoked_at = now() "
            "where development and revoked_at is null returning id"
        )
        key, token = await create_key(
            conn,
            "development key (accord serve)",
            ["write", "admin"],
            timedelta(days=1),
            development=True,
        )
    return key, token, len(revoked)


SELECT_KEYS = "select id, name, scopes, created_at, expires_at, revoked_at from api_keys"
"""Every column of a key but its secret's digest."""


async def list_keys(conn: AnyConnection) -> list[ApiKey]:
    rows = await conn.fetch(f"{SELECT_KEYS} order by id")
    return [msgspec.convert(dict(row.items()), ApiKey) for row in rows]


async def revoke_key(conn: AnyConnection, ident: UUID) -> bool:
    done = await conn.fetchval(
        "update api_keys set revoked_at = now() where id = $1 and revoked_at is null returning id",
        ident,
    )
    return done is not None


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="accord"'}
    )


def _parse(header: str | None) -> tuple[UUID, str]:
    if header is None:
        raise _unauthorized("Writes need `Authorization: Bearer <API key>`.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(_PREFIX):
        raise _unauthorized("The Authorization header is not `Bearer <API key>`.")
    ident, _, secret = token.removeprefix(_PREFIX).partition("_")
    try:
        return UUID(hex=ident), secret
    except ValueError:
        raise _unauthorized("This is not an API key Accord made.") from None


_LOOKUP = """select secret_digest, scopes, revoked_at is not null as revoked,
                    coalesce(expires_at <= now(), false) as expired,
                    extract(epoch from expires_at)::float8 as expires
               from api_keys where id = $1"""

CHANNEL = "accord_keys"
"""What a change to any API key notifies (sql/migrations/0015_key_notifications.sql)."""


class _Valid(NamedTuple):
    ident: UUID
    scopes: frozenset[str]
    expires: float
    """When the key expires, in seconds since the epoch (``inf``: never)."""
    until: float
    """When this process looks it up again, on the monotonic clock."""


class KeyCache:
    """The keys this process has found valid, by the SHA-256 digest of the whole token, so a
    write checks its key without a query. A change to any key in the database (revoked,
    expiry moved, scopes changed, deleted) notifies every process at commit
    (``CHANNEL``, on the process's listening connection — ``notifications.ChangeSignal``), and
    each drops every key it holds. While that connection is down, notifications are lost:
    the cache is empty and unused from the moment the loss is known until the connection
    listens again, and every request looks its key up. ``seconds`` bounds how long an entry
    is trusted at all (0: no cache)."""

    __slots__ = ("_generation", "_keys", "live", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.live = False
        self._generation = 0
        self._keys: dict[bytes, _Valid] = {}

    def get(self, digest: bytes) -> _Valid | None:
        valid = self._keys.get(digest) if self.live else None
        if valid is not None and valid.until < time.monotonic():
            del self._keys[digest]
            return None
        return valid

    @property
    def generation(self) -> int:
        """Note it before a lookup and give it to ``put``: a key changed meanwhile is not
        kept."""
        return self._generation

    def put(self, generation: int, digest: bytes, valid: _Valid) -> None:
        if self.live and self.seconds and generation == self._generation:
            self._keys[digest] = valid

    def forget(self) -> None:
        """Drop every key (a key changed somewhere, or the notifications stopped)."""
        self._generation += 1
        self._keys.clear()

    def attached(self, live: bool) -> None:
        """The listening connection is up (listening) or lost."""
        self.forget()
        self.live = live


def _refusal(row: asyncpg.Record) -> ProblemError | None:
    if row["revoked"]:
        return _unauthorized("This API key has been revoked.")
    if row["expired"]:
        return _unauthorized("This API key has expired.")
    return None


async def refused(conn: AnyConnection, ident: UUID) -> ProblemError | None:
    """Why key ``ident`` may not write (revoked, expired, gone, without the ``write`` scope),
    or ``None`` when it may: for a write whose own statement refused it (``history.write``)."""
    row = await conn.fetchrow(_LOOKUP, ident)
    if row is None:
        return _unauthorized("Unknown API key.")
    if "write" not in row["scopes"]:
        return ProblemError(403, "forbidden", "This API key lacks the `write` scope.")
    return _refusal(row)


Check = Callable[[ASGIScope], Awaitable[None]]
"""One of a write's checks, on the request's ASGI scope; raises the problem it finds."""


def _header(scope: ASGIScope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), as Litestar's ``Headers.get``."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _key(scope_name: str, *, cached: bool = False) -> Check:
    """A check that lets a request through only with a valid key carrying ``scope_name``.
    With ``cached``, from the process's ``KeyCache`` when it holds the key (else looked up
    and kept): for the writes of records, whose history row checks the key again in the same
    statement (``history.write``), so a write whose key was revoked a moment before, before
    this process heard of it, still commits nothing."""

    async def check(scope: ASGIScope) -> None:
        header = _header(scope, b"authorization")
        state = scope["litestar_app"].state
        keys: KeyCache = state.key_cache
        token = _digest(header) if header is not None else b""
        valid = keys.get(token) if cached else None
        if valid is None or valid.expires <= time.time():
            valid = await _look_up(state.pool, keys, header, token)
        if scope_name not in valid.scopes:
            raise ProblemError(403, "forbidden", f"This API key lacks the `{scope_name}` scope.")
        # Who writes: idempotency keys and the history belong to the API key.
        scope.setdefault("state", {})["api_key_id"] = valid.ident

    return check


async def _look_up(pool: Pool, keys: KeyCache, header: str | None, token: bytes) -> _Valid:
    ident, secret = _parse(header)
    generation = keys.generation
    row = await pool.fetchrow(_LOOKUP, ident)
    # Compared even when no row was found, so timing tells nothing about which keys exist.
    stored = row["secret_digest"] if row is not None else bytes(32)
    if not hmac.compare_digest(stored, _digest(secret)) or row is None:
        raise _unauthorized("Unknown API key.")
    if (refused := _refusal(row)) is not None:
        raise refused
    expires = row["expires"]
    valid = _Valid(
        ident,
        frozenset(row["scopes"]),
        math.inf if expires is None else expires,
        time.monotonic() + keys.seconds,
    )
    keys.put(generation, token, valid)
    return valid


class WriteLimit:
    """Writes per minute per API key, counted in this process in fixed one-minute windows:
    cheap, and no state in PostgreSQL; with N workers a key may make up to N × the limit."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._window = 0
        self._counts: dict[UUID, int] = {}

    def check(self, key: UUID) -> None:
        """Count one write by ``key``; 429 with ``Retry-After`` once it is over the limit."""
        if not self.per_minute:
            return
        now = time.monotonic()
        window = int(now // 60)
        if window != self._window:
            self._window, self._counts = window, {}
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        if count > self.per_minute:
            raise ProblemError(
                429,
                "rate-limited",
                f"This API key may make {self.per_minute} writes a minute; retry later.",
                headers={"Retry-After": str(60 - int(now % 60))},
            )


async def _rate_limit(scope: ASGIScope) -> None:
    limit: WriteLimit = scope["litestar_app"].state.write_limit
    limit.check(scope["state"]["api_key_id"])


_JSON_TYPES = ("application/json", "application/merge-patch+json")


async def _json_body(scope: ASGIScope) -> None:
    if scope.get("method") == "DELETE":
        return
    media_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if media_type not in _JSON_TYPES:
        raise ProblemError(
            415,
            "unsupported-media-type",
            f"The body must be JSON ({' or '.join(_JSON_TYPES)}), not {media_type or 'untyped'}.",
        )


def in_turn(*checks: Check) -> Check:
    """``checks`` as one check that runs them in order."""

    async def check(scope: ASGIScope) -> None:
        for each in checks:
            await each(scope)

    return check


def guard(check: Check) -> list[Guard]:
    """``check`` as the one guard of a route handler. Litestar hands every guard it calls a
    copy of the route handler, and copying one costs more than a check: one guard, one
    copy."""

    async def run(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        await check(connection.scope)

    return [run]


WRITE_CHECKS = in_turn(_key("write", cached=True), _rate_limit, _json_body)
"""What every write of a record passes: a key with the `write` scope, within its rate limit,
then a JSON body (``core.routes.PlainWrite`` runs them itself)."""
WRITE = guard(WRITE_CHECKS)
"""The guard on every write of a record: ``WRITE_CHECKS``."""
BULK_WRITE = guard(in_turn(_key("write"), _rate_limit))
"""The guard on an import: a key with the `write` scope, within its rate limit; the body is
NDJSON or CSV, which the handler checks."""
ADMIN_WRITE = guard(in_turn(_key("admin"), _rate_limit, _json_body))
"""The same for managing API keys, with the `admin` scope."""
ADMIN_ACTION = guard(in_turn(_key("admin"), _rate_limit))
"""The same for an admin operation that takes no body (retrying a webhook delivery)."""
ADMIN_READ = guard(_key("admin"))
"""Reading API keys needs the `admin` scope too (the secrets are never shown)."""
