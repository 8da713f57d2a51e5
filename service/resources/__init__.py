"""One module per resource, each with the same parts in the same order: structs, queries,
handlers."""

from litestar.types import ControllerRouterHandler

from service.resources.organizations import OrganizationController

ROUTERS: list[ControllerRouterHandler] = [OrganizationController]
