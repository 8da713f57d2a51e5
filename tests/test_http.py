"""HTTP around the resources: `OPTIONS` and `Allow`, CORS for browsers on other origins, and
compressed responses."""

from __future__ import annotations

import re

from litestar.routes import HTTPRoute

from tests.conftest import Client

SOME_ID = "0193a0a4-0000-7000-8000-000000000001"


def concrete(template: str) -> str:
    """A path that the route or contract `template` matches: `{id}` and `{id:uuid}` become
    an id, `{number}` and `{number:int}` a number, `{file_path:path}` a file name."""
    values = {"number": "1", "int": "1", "path": "x.js"}
    return re.sub(
        r"\{(\w+)(?::(\w+))?\}",
        lambda match: values.get(match[2] or match[1], SOME_ID),
        template,
    )


def test_options_allows_every_method_a_documented_path_has(client: Client) -> None:
    document = client.get("/docs/openapi.json").json()
    assert len(document["paths"]) > 40
    for template, operations in document["paths"].items():
        response = client.options(concrete(template))
        assert response.status_code == 204, template
        documented = {method.upper() for method in operations} | {"OPTIONS"}
        assert set(response.headers["allow"].split(", ")) == documented, template


def test_options_allows_every_method_of_every_route(client: Client) -> None:
    """Routes outside the contract too (Swagger UI's assets answer `HEAD` as well)."""
    routes = [route for route in client.app.routes if isinstance(route, HTTPRoute)]
    for route in routes:
        response = client.options(concrete(route.path))
        assert response.status_code == 204, route.path
        assert set(response.headers["allow"].split(", ")) == route.methods, route.path
