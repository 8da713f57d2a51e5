"""The asyncpg pool and the one way a request writes: a pooled connection in a transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

import asyncpg
import msgspec
from litestar import Request
from litestar.types import Scope

from service.settings import Settings

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
Connection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
AnyConnection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | Connection"
"""A connection of its own (the command line) or one from the pool (a request)."""


_JSONB_VERSION = b"\x01"


def _encode_jsonb(value: object) -> bytes:
    return _JSONB_VERSION + msgspec.json.encode(value)


def _decode_jsonb(data: bytes) -> object:
    return msgspec.json.decode(data[1:])


async def init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """JSON in and out through msgspec, in PostgreSQL's binary format (jsonb's is a version
    byte and the text), so COPY works too and no str round-trip is needed."""
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", format="binary", encoder=_encode_jsonb, decoder=_decode_jsonb
    )
    await conn.set_type_codec(
        "json",
        schema="pg_catalog",
        format="binary",
        encoder=msgspec.json.encode,
        decoder=msgspec.json.decode,
    )


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Pool release hook. asyncpg's default resets the session on every release (a round trip:
    ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``), which costs a one-row read
    a large share of its throughput. Accord never leaves session state behind — no LISTEN,
    cursors, session-level SET or advisory locks (migrations use transaction-level locks) —
    and asyncpg still rolls back a transaction left open, so there is nothing to reset."""


async def create_pool(url: str, settings: Settings, *, min_size: int | None = None) -> Pool:
    """A pool on ``url`` with the settings' sizes and timeouts (``min_size`` overrides the
    connections kept open: a replica's pool starts with none)."""
    if min_size is None:
        min_size = settings.pool_min_size
    pool = await asyncpg.create_pool(
        url,
        min_size=min(min_size, settings.pool_max_size),
        max_size=settings.pool_max_size,
        init=init_connection,
        reset=_keep_session,
        timeout=settings.acquire_timeout_s,
        statement_cache_size=settings.statement_cache_size,
        command_timeout=(
            settings.statement_timeout_ms / 1000 + 5 if settings.statement_timeout_ms else None
        ),
        server_settings={
            "application_name": "accord",
            "statement_timeout": str(settings.statement_timeout_ms),
            "idle_in_transaction_session_timeout": "60000",
        },
    )
    assert pool is not None
    return pool


def pool_of(request: Request[Any, Any, Any]) -> Pool:
    """The primary's pool: for writes and what must see them at once (public reads ask
    ``service.core.replica.read_pool``)."""
    return pool_in(request.scope)


def pool_in(scope: Scope) -> Pool:
    """``pool_of`` the request of ``scope``."""
    pool: Pool = scope["litestar_app"].state.pool
    return pool


@asynccontextmanager
async def transaction(
    pool: Pool, *, then: Callable[[Connection], Awaitable[None]] | None = None
) -> AsyncIterator[Connection]:
    """One pooled connection in one transaction: everything a write does commits or rolls back
    together. ``then`` runs on the same connection once the transaction has committed (a
    request's write reads its commit position so: ``replica.committed``)."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            yield conn
        if then is not None:
            await then(conn)
