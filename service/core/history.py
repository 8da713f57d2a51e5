"""History: every change to every record, written by ``Table`` in the transaction of the
change — who (the API key), when, the operation, and each changed field before and after —
and served as ``/{id}/history`` by every resource. A deleted record's history stays readable.
Records loaded by SQL (the worked example) have history from their first change on."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

from service.core.database import Connection
from service.core.pagination import Listing, Page, SortKey

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
    """The API key that made the change (null once the key is gone)."""
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

_INSERT = """insert into history (record_id, kind, operation, api_key_id, version, changes)
             values ($1, $2, $3, $4, $5, $6)"""


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
    await conn.execute(_INSERT, record_id, kind, operation, actor, version, changes)
