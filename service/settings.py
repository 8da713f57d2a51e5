"""Typed settings, read once from ``ACCORD_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import msgspec

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["json", "console"]
Origin = Annotated[str, msgspec.Meta(pattern=r"^(\*|[a-z][a-z0-9+.-]*://[^/\s]+)$")]
"""``scheme://host[:port]`` as a browser sends it in ``Origin`` (no path, no trailing slash;
``*`` may stand for any part, as in ``https://*.example.org``), or ``*`` for any origin."""


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "accord" / "pgdata"


def _path(kind: type, value: object) -> Path:
    """msgspec has no conversion of its own to ``Path`` (``ACCORD_DATA_DIR``)."""
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError(kind)


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    """Everything the service reads from its environment; see README "Configuration"."""

    database_url: str | None = None
    """PostgreSQL URL; when unset the embedded server in ``data_dir`` is used."""
    data_dir: Path = msgspec.field(default_factory=default_data_dir)
    pool_min_size: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 2
    pool_max_size: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 16
    statement_timeout_ms: Annotated[int, msgspec.Meta(ge=0)] = 15_000
    acquire_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    statement_cache_size: Annotated[int, msgspec.Meta(ge=0)] = 100
    """asyncpg's prepared-statement cache per connection; 0 behind PgBouncer < 1.21 in
    transaction mode (newer PgBouncer tracks prepared statements itself)."""
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000
    log_level: LogLevel = "INFO"
    log_format: LogFormat | None = None
    """``json`` (a JSON object a line) or ``console`` (aligned, for people); unset: console
    when stderr is a terminal, else JSON."""
    public_url: str | None = None
    """Base URL printed for the Swagger UI; defaults to http://HOST:PORT."""
    write_rate_limit: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Writes per minute one API key may make in one worker process (429 beyond); 0: none."""
    changes_retention_days: Annotated[float, msgspec.Meta(ge=0)] = 30
    """How long ``/v1/changes`` serves a change (a ``since`` older is a 410); each record's
    history is kept regardless."""
    stream_heartbeat_s: Annotated[float, msgspec.Meta(gt=0)] = 15
    """Seconds a ``/v1/changes`` event stream may stay silent before it sends a comment (so
    proxies keep it open); also how often the stream's reader looks at the log when no
    notification came."""
    listen_url: str | None = None
    """PostgreSQL URL of the connection that LISTENs for changes, when ``database_url`` goes
    through a pooler in transaction mode (LISTEN needs a session of its own); default: the
    database URL."""
    key_cache_s: Annotated[float, msgspec.Meta(ge=0)] = 300
    """How long a worker trusts an API key it found valid without looking it up again; any
    change to a key reaches every worker at once through ``listen_url`` (a worker whose
    listening connection is down looks every key up). 0: look every key up."""
    webhook_allow_private: bool = False
    """Let webhook URLs be plain http and reach loopback and private addresses (tests, private
    deployments). Link-local addresses, where cloud metadata services live, stay refused."""
    webhook_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0
    """How long a webhook delivery may take, connecting included, before it counts as failed."""
    webhook_retry_scale: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    """Multiplies every delay of the webhook retry schedule (tests make it small)."""
    webhook_concurrency: Annotated[int, msgspec.Meta(ge=0, le=100)] = 4
    """Webhook deliveries this process sends at once (to different endpoints: one endpoint's go
    one at a time, in order); 0: this process sends none (an API-only replica)."""
    import_max_bytes: Annotated[int, msgspec.Meta(ge=1)] = 1 << 30
    """The largest body ``POST /v1/imports`` takes (413 beyond, nothing imported); the
    command line's ``accord import`` has no limit."""
    cors_origins: tuple[Origin, ...] = ()
    """Origins whose pages may call the API from a browser (CORS); none: CORS is off."""
    metrics_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] | None = None
    """Serve ``/metrics`` on this port (``accord serve`` listens on it) instead of on the
    public one; unset: ``GET /metrics`` on the public port."""
    rendered_pages: bool = True
    """Have PostgreSQL render the JSON of a collection page's items (``core.rendered``);
    false makes every page in Python (the general path, byte for byte the same body)."""
    otel_exporter_otlp_endpoint: str | None = None
    """OpenTelemetry's own ``OTEL_EXPORTER_OTLP_ENDPOINT`` (no ``ACCORD_`` prefix): set,
    requests and SQL statements are traced and their spans exported there (the exporter reads
    the other ``OTEL_*`` variables itself); unset, nothing of OpenTelemetry is imported."""

    replica_database_url: str | None = None
    """PostgreSQL URL of a streaming replica (CloudNativePG's ``<cluster>-ro`` service) that
    answers public reads; unset: everything on the primary (see ``service.core.replica``)."""
    replica_max_lag_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    """A replica further behind the primary than this is skipped until it catches up."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        raw: dict[str, object] = {
            field: env[f"ACCORD_{field.upper()}"]
            for field in cls.__struct_fields__
            if f"ACCORD_{field.upper()}" in env
        }
        if env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            raw["otel_exporter_otlp_endpoint"] = env["OTEL_EXPORTER_OTLP_ENDPOINT"]
        if "cors_origins" in raw:
            listed = str(raw["cors_origins"]).split(",")
            raw["cors_origins"] = [origin.strip() for origin in listed if origin.strip()]
        try:
            return msgspec.convert(raw, cls, strict=False, dec_hook=_path)
        except msgspec.ValidationError as exc:
            raise SystemExit(f"invalid ACCORD_* setting: {exc}") from None
