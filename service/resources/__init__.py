"""One module per resource, each with the same parts in the same order: structs, queries,
handlers, and a ``router()`` that mounts them."""

from collections.abc import Callable

from litestar import Router

from service.resources import (
    agreements,
    changes,
    claims,
    delegations,
    exchanges,
    exports,
    keys,
    memoranda,
    negotiations,
    officials,
    organizations,
    posts,
    role_changes,
    rounds,
    search,
    sources,
    statements,
    timeline,
    webhooks,
)

ROUTERS: list[Callable[[], Router]] = [
    organizations.router,
    officials.router,
    posts.router,
    role_changes.router,
    negotiations.router,
    delegations.router,
    rounds.router,
    memoranda.router,
    agreements.router,
    sources.router,
    statements.router,
    exchanges.router,
    claims.router,
    timeline.router,
    search.router,
    changes.router,
    exports.router,
    keys.router,
    webhooks.router,
]
