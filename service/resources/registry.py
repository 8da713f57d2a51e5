"""Every resource whose records Accord keeps, by its collection's path name, in an order in
which each table can be filled after those it refers to: what the change log, the worked
example's bookkeeping and anything else that walks all records read from."""

from __future__ import annotations

from typing import Any

from service.core.tables import Bulk, Table
from service.resources import (
    agreements,
    claims,
    delegations,
    exchanges,
    memoranda,
    negotiations,
    officials,
    organizations,
    posts,
    role_changes,
    rounds,
    sources,
    statements,
)

TABLES: dict[str, Table[Any, Any]] = {
    "organizations": organizations.TABLE,
    "officials": officials.TABLE,
    "posts": posts.TABLE,
    "role-changes": role_changes.TABLE,
    "negotiations": negotiations.TABLE,
    "rounds": rounds.TABLE,
    "delegations": delegations.TABLE,
    "memoranda": memoranda.TABLE,
    "agreements": agreements.TABLE,
    "sources": sources.TABLE,
    "statements": statements.TABLE,
    "exchanges": exchanges.TABLE,
    "claims": claims.TABLE,
}

_RECORDS = list(TABLES.items())
_AFTER_MEMORANDA = list(TABLES).index("memoranda") + 1
BULK: dict[str, Bulk] = dict(
    [
        *_RECORDS[:_AFTER_MEMORANDA],
        ("memorandum-versions", memoranda.VERSION_ROWS),
        *_RECORDS[_AFTER_MEMORANDA:],
    ]
)
"""What the exports and the import carry, in fill order: every resource's records, and a
memorandum's versions after the memoranda (rows only ever added to a record)."""
