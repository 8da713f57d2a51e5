"""``Idempotency-Key`` on every POST: the first response is stored in PostgreSQL in the
transaction of the write it answers and replayed for a retry with the same key and the same
request; the same key with a different request is a 422. A retry that arrives while the first
is still running waits for it (PostgreSQL's unique index makes it), then replays its answer;
if the first failed, nothing was stored and the retry writes. Keys are scoped to the API key
and forgotten after ``TTL``."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Annotated, Any

from litestar import Request
from litestar.datastructures import ResponseHeader
from litestar.params import HeaderParameter

from service.core import metrics
from service.core.database import Connection
from service.core.problems import ProblemError
from service.core.responses import Encoded, Stored

TTL = timedelta(hours=24)

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Any unique string (a UUID will do). A retry with the same key and body "
        "gets the first response again instead of writing twice; the same key with another "
        "body is a 422. Keys are kept 24 hours, per API key.",
    ),
]
REPLAYED_HEADER = ResponseHeader(
    name="Idempotent-Replayed",
    description="`true` when this is the stored answer to an earlier request with the same "
    "`Idempotency-Key`; absent on a first answer.",
    required=False,
    documentation_only=True,
)

_FORGET = """delete from idempotency_keys
              where api_key_id = $1 and key = $2 and created_at < now() - $3::interval"""
_CLAIM = """insert into idempotency_keys (api_key_id, key, request_digest) values ($1, $2, $3)
            on conflict do nothing returning true"""
_STORED = """select request_digest, status, headers, body from idempotency_keys
              where api_key_id = $1 and key = $2"""
_REMEMBER = """update idempotency_keys set status = $3, headers = $4, body = $5
                where api_key_id = $1 and key = $2"""


async def _digest(request: Request[Any, Any, Any]) -> bytes:
    body = await request.body()
    return hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + body).digest()


async def replay(
    conn: Connection, request: Request[Any, Any, Any], key: str | None
) -> Stored | None:
    """In the write's transaction, before it writes: the stored answer to this key (replay
    it), or ``None`` once the key is claimed for this request (go on and write)."""
    if key is None:
        return None
    api_key = request.state.api_key_id
    digest = await _digest(request)
    await conn.execute(_FORGET, api_key, key, TTL)
    if await conn.fetchval(_CLAIM, api_key, key, digest):
        return None
    row = await conn.fetchrow(_STORED, api_key, key)
    if row is None or row["status"] is None:
        # Claimed by a request that has neither finished nor failed: cannot happen once the
        # claim above has waited for it, unless it was deleted meanwhile; ask for a retry.
        raise ProblemError(
            409, "in-progress", "A request with this Idempotency-Key is still being handled."
        )
    if row["request_digest"] != digest:
        raise ProblemError(
            422,
            "idempotency-key-reused",
            "This Idempotency-Key was used for a different request; use a new key.",
        )
    metrics.IDEMPOTENT_REPLAYS.inc()
    return Stored(row["status"], row["headers"], row["body"])


async def remember(
    conn: Connection, request: Request[Any, Any, Any], key: str | None, response: Encoded[Any]
) -> None:
    """Store the answer with the key, in the write's transaction."""
    if key is not None:
        status, headers, body = response.parts()
        await conn.execute(_REMEMBER, request.state.api_key_id, key, status, headers, body)
