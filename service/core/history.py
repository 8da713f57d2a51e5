"""History: every change to every record, written by ``Table`` in the transaction of the
change — who (the API key), when, the operation, and each changed field before and after —
and served as ``/{id}/history`` by every resource. A deleted record's history stays readable.
Records loaded by SQL (the worked example) have history from their first change on; one put
back by ``accord seed --restore-missing`` after a delete gets a ``create`` by no API key.

History is also the change log: each entry is numbered in commit order (``seq``), which
``/v1/changes`` serves to clients that keep a copy of the data."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import asyncpg
import msgspec

from service.core import auth, metrics
from service.core.database import Connection, Pool
from service.core.pagination import Listing, Page, SortKey

log = logging.getLogger("accord.history")

Operation = Literal["create", "update", "delete"]


class FieldChange(msgspec.Struct, kw_only=True):
    before: Any
    """The value before (null when created or unset)."""
    after: Any
    """The value after (null when deleted or removed)."""


class HistoryEntry(msgspec.Struct, kw_only=True):
    """One change to a record."""

    id: UUID
    record_id: UUID
    kind: str
    operation: Operation
    api_key_id: UUID | None
    """The API key that made the change (null once the key is gone, and for a record of the
    worked example put back from the command line)."""
    at: datetime
    version: int
    """The record's version after the change (before it, for a delete)."""
    changes: dict[str, FieldChange]
    """Each of the record's own fields that changed."""


class HistoryPage(Page[HistoryEntry]):
    """A page of a record's history, oldest first."""


LISTING = Listing(
    page_type=HistoryPage,
    name="history",
    select="select id, record_id, kind, operation, api_key_id, at, version, changes from history",
    sorts={"id": SortKey((("id", "id", UUID),))},
    default_sort="id",
    make=lambda row: msgspec.convert(dict(row.items()), HistoryEntry),
    filters={"record_id": "record_id = {0}"},
)

# The change's number is given at commit (migration 0017: a deferred trigger takes it from
# the change log's counter row, whose lock then lasts as long as the commit), so numbers
# follow commit order and writers wait on each other for their commits alone. The statement
# also checks the writing API key once more: the guard may have taken it from the process's
# cache (auth.KeyCache), and a key revoked in the meantime must not write.
_INSERT = """insert into history (record_id, kind, operation, api_key_id, version, changes)
             select $1::uuid, $2::text, $3::text, $4::uuid, $5::integer, $6::jsonb
              where $4::uuid is null or exists (
                    select from api_keys k where k.id = $4::uuid and k.revoked_at is null
                       and (k.expires_at is null or k.expires_at > now())
                       and 'write' = any(k.scopes))"""


def changes_between(
    fields: tuple[str, ...], before: msgspec.Struct | None, after: msgspec.Struct | None
) -> dict[str, dict[str, Any]]:
    """The fields (of ``fields``) whose values differ, as JSON values before and after."""
    old = msgspec.to_builtins(before) if before is not None else {}
    new = msgspec.to_builtins(after) if after is not None else {}
    return {
        name: {"before": old.get(name), "after": new.get(name)}
        for name in fields
        if old.get(name) != new.get(name)
    }


async def write(
    conn: Connection,
    *,
    kind: str,
    record_id: UUID,
    operation: Operation,
    version: int,
    changes: dict[str, dict[str, Any]],
    actor: UUID | None,
) -> None:
    status = await conn.execute(_INSERT, record_id, kind, operation, actor, version, changes)
    if status != "INSERT 0 1":
        # Only the key's check leaves the row out: the key was revoked, expired or lost its
        # scope since the guard let it through.
        refused = await auth.refused(conn, actor) if actor is not None else None
        raise refused or RuntimeError(f"the history row of {kind} {record_id} was not written")
    # Counted as written in the write's transaction: a commit that fails after it (rare) was
    # counted all the same.
    metrics.CHANGES_WRITTEN.inc()


_ADVANCE_HORIZON = """update change_log set horizon = greatest(horizon, coalesce(
                          (select seq from history where at < now() - $1::interval
                            order by at desc limit 1), 0))
                      returning horizon"""
HORIZON_EVERY = timedelta(minutes=10)


async def advance_horizon(pool: Pool, retention: timedelta) -> int:
    """Stop serving changes older than ``retention`` in the feed; the new horizon."""
    horizon: int = await pool.fetchval(_ADVANCE_HORIZON, retention)
    return horizon


async def keep_horizon(pool: Pool, retention: timedelta) -> None:
    """The retention job: every process runs it (it is idempotent), off the request path,
    until cancelled at shutdown; an unreachable database only delays it."""
    while True:
        try:
            await advance_horizon(pool, retention)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("change log retention: %r", exc)
        await asyncio.sleep(HORIZON_EVERY.total_seconds())
