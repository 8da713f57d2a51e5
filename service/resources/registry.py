"""Every resource whose records Accord keeps, by its collection's path name, in an order in
which each table can be filled after those it refers to: what the change log, the worked
example's bookkeeping and anything else that walks all records read from."""

from __future__ import annotations

from typing import Any

from service.core.tables import Table
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
