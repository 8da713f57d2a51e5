"""OpenTelemetry traces, opt-in: with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, a span for every
request (Litestar's OpenTelemetry plugin; named by method and route template once routed, never
by the raw path) with a child span for every SQL statement (asyncpg's instrumentation),
exported over OTLP/HTTP. Unset, nothing here imports OpenTelemetry: the ``otel`` extra need not
be installed and requests pay nothing.

The exporter and the resource read the standard ``OTEL_*`` variables themselves
(``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_HEADERS``…). A process that already has an SDK
tracer provider (set up by ``opentelemetry-instrument``, or a test's in-memory exporter) keeps
it and its exporters."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from litestar.plugins import InitPlugin

from service.settings import Settings

if TYPE_CHECKING:
    from litestar.config.app import AppConfig
    from litestar.types import ASGIApp, Receive, Scope, Send


_LITESTARS = "litestar.plugins.opentelemetry"


def plugins(settings: Settings) -> list[InitPlugin]:
    """What the app needs for tracing: nothing unless an endpoint is configured.

    Litestar 2's app constructor imports its OpenTelemetry plugin whenever it can (to move a
    middleware it might find), which imports OpenTelemetry's ASGI instrumentation: 45 ms and
    a few MB in every worker, for nothing. With tracing off the plugin's module is marked
    absent (``None`` in ``sys.modules``: an import of it raises ImportError, which Litestar
    expects), unless something imported it already."""
    if not settings.otel_exporter_otlp_endpoint:
        sys.modules.setdefault(_LITESTARS, None)  # type: ignore[arg-type]
        return []
    if _LITESTARS in sys.modules and sys.modules[_LITESTARS] is None:
        del sys.modules[_LITESTARS]
    try:
        from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
    except ImportError as exc:  # Litestar raises its MissingDependencyException, an ImportError
        raise SystemExit(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: "
            "pip install 'accord[otel]'"
        ) from exc

    provider = _tracer_provider()
    config = OpenTelemetryConfig(
        tracer_provider=provider,
        # The ASGI receive and send spans (two or more a request) say nothing the request's
        # span does not.
        exclude_spans=["receive", "send"],
        scope_span_details_extractor=_before_routing,
    )
    return [OpenTelemetryPlugin(config), _Statements(provider)]


class _Statements(InitPlugin):
    """Beside Litestar's plugin (whose middleware wraps the whole app, so the request's span
    covers routing, CORS and errors): a span for every SQL statement, the route template
    named once routing has found it, spans flushed at shutdown."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        from litestar.middleware import DefineMiddleware
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=self.provider)
        app_config.middleware.append(DefineMiddleware(_NameByRoute))
        app_config.on_shutdown.append(self._flush)
        return app_config

    def _flush(self) -> None:
        """Exports the spans still batched (Litestar would pass the app as the timeout)."""
        self.provider.force_flush()


def _tracer_provider() -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from service import __version__

    provider = TracerProvider(
        resource=Resource.create({"service.name": "accord", "service.version": __version__})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def _before_routing(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The request span's name before routing: the method alone (a raw path would make a
    span name per record); ``_NameByRoute`` adds the template."""
    return str(scope.get("method", "")), {}


class _NameByRoute:
    """Names the request span ``GET /v1/officials/{id}`` and sets ``http.route``, once
    Litestar has routed the request (app-level middleware runs after routing)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from opentelemetry import trace

        template = scope.get("path_template")
        span = trace.get_current_span()
        if template and span.is_recording():
            span.update_name(f"{scope.get('method', '')} {template}")
            span.set_attribute("http.route", template)
        await self.app(scope, receive, send)
