"""One module per resource, each with the same parts in the same order: structs, queries,
handlers, and a ``router()`` that mounts them."""

from collections.abc import Callable

from litestar import Router

from service.resources import officials, organizations, posts, role_changes

ROUTERS: list[Callable[[], Router]] = [
    organizations.router,
    officials.router,
    posts.router,
    role_changes.router,
]
