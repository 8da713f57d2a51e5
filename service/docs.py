"""Swagger UI at ``/docs``, served entirely from the installed ``openapi-ui-bundles`` package:
no CDN, no copied assets, so it works on a machine with no internet."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router
from openapi_ui_bundles import swagger_ui

from service.core.routes import ResourceRouter

ASSETS = "/docs/assets"

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="icon" type="image/png" href="{assets}/favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="{assets}/favicon-16x16.png" sizes="16x16">
  <link rel="stylesheet" href="{assets}/swagger-ui.css">
  <style>body {{ margin: 0 }}</style>
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{assets}/swagger-ui-bundle.js"></script>
  <script src="{assets}/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{spec}",
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null,
      tryItOutEnabled: true,
      displayRequestDuration: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout"
    }});
  </script>
</body>
</html>
"""


class OfflineSwagger(OpenAPIRenderPlugin):
    """Renders the Swagger UI page against the locally served assets and contract."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return _PAGE.format(
            title=openapi_schema["info"]["title"],
            assets=ASSETS,
            spec=self.get_openapi_json_route(request),
        ).encode()


def assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS,
        directories=[swagger_ui.static_path],
        include_in_schema=False,
        name="docs_assets",
        router_class=ResourceRouter,
    )
