"""Logs, request ids and traces: a request id on every answer and in every problem detail;
one JSON line per request naming it; nothing a client sends in a body, `Authorization` or a
cookie ever in a log line of a real server process; OpenTelemetry spans for a request and its
SQL when asked for, and not one OpenTelemetry module imported otherwise."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from service.app import create_app
from service.core.logs import new_request_id
from service.settings import Settings
from tests import ids
from tests.conftest import Client, Databases, free_port, make_key, query, wait_ready

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
RECORD = f"/v1/officials/{ids.MEDINSKY}"


def lines(text: str) -> list[dict[str, Any]]:
    """The JSON log lines in ``text`` (every line of it must be one)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def requests_logged(text: str) -> list[dict[str, Any]]:
    return [line for line in lines(text) if line["event"] == "request"]


# --- request ids -----------------------------------------------------------------------------


def test_a_made_request_id_is_a_uuid7_in_time_order() -> None:
    made = [new_request_id() for _ in range(50)]
    assert all(UUID7.match(ident) for ident in made)
    assert all(uuid.UUID(ident).version == 7 for ident in made)
    assert len(set(made)) == 50
    # Milliseconds first: ids made later never sort before earlier ones.
    stamps = [ident[:13] for ident in made]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize(
    "sent",
    ["abc-123", "Req.2026_12:05~x", "a" * 128, "0193a0a1-0000-7000-8000-000000000001"],
)
def test_a_sane_request_id_is_echoed(anonymous: Client, sent: str) -> None:
    response = anonymous.get(RECORD, headers={"X-Request-ID": sent})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == sent


@pytest.mark.parametrize(
    "sent", [b"a" * 129, b"has space", b"semi;colon", "ünï".encode(), b"", b"a/b", b"a\tb"]
)
def test_any_other_request_id_is_replaced_by_a_new_one(anonymous: Client, sent: bytes) -> None:
    response = anonymous.get(RECORD, headers={b"X-Request-ID": sent})
    assert response.status_code == 200
    assert UUID7.match(response.headers["x-request-id"])


def test_every_answer_carries_a_request_id_and_every_problem_names_it(
    client: Client, anonymous: Client
) -> None:
    tag = anonymous.get(RECORD).headers["etag"]
    answers = {
        200: anonymous.get(RECORD),
        304: anonymous.get(RECORD, headers={"If-None-Match": tag}),
        400: anonymous.get("/v1/officials?limit=0"),
        401: anonymous.post("/v1/organizations", json={"name": "x", "kind": "other"}),
        404: anonymous.get(f"/v1/officials/{uuid.uuid4()}"),
        405: anonymous.put(RECORD, json={}),
        413: client.post(
            "/v1/organizations",
            content=b'{"name": "' + b"x" * (5 * 1024 * 1024) + b'"}',
            headers={"Content-Type": "application/json"},
        ),
        415: client.post("/v1/organizations", content=b"x", headers={"Content-Type": "text/plain"}),
        422: client.post("/v1/organizations", json={"name": "x", "kind": "no such kind"}),
    }
    seen = set()
    for status, response in answers.items():
        assert response.status_code in (status, 400), (status, response.text)
        ident = response.headers["x-request-id"]
        assert UUID7.match(ident), status
        seen.add(ident)
        if status >= 400:
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["request_id"] == ident, status
    assert len(seen) == len(answers)
    sent = anonymous.get("/nowhere", headers={"X-Request-ID": "mine-1"})
    assert sent.status_code == 404
    assert sent.headers["x-request-id"] == sent.json()["request_id"] == "mine-1"


def test_a_streaming_export_carries_a_request_id(anonymous: Client) -> None:
    with anonymous.stream(
        "GET",
        "/v1/officials",
        headers={"Accept": "application/x-ndjson", "X-Request-ID": "export-1"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "export-1"
        assert b"".join(response.iter_bytes()).count(b"\n") > 1


# --- request lines ---------------------------------------------------------------------------


def test_one_json_line_per_request(
    database_url: str, write_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(Settings(database_url=database_url, log_format="json"))
    key_id = str(uuid.UUID(hex=write_key.split("_")[1]))
    with TestClient(app) as logged:
        capsys.readouterr()
        logged.get(RECORD, headers={"X-Request-ID": "read-1"})
        logged.get(f"/v1/officials/{uuid.uuid4()}", headers={"X-Request-ID": "missing-1"})
        made = logged.post(
            "/v1/organizations",
            json={"name": f"Logged {uuid.uuid4()}", "kind": "other"},
            headers={"Authorization": f"Bearer {write_key}", "X-Request-ID": "write-1"},
        )
        assert made.status_code == 201
        logged.get("/v1/officials?limit=0", headers={"X-Request-ID": "bad-1"})
        err = capsys.readouterr().err
    by_id = {line["request_id"]: line for line in requests_logged(err)}
    read = by_id["read-1"]
    assert read["level"] == "info"
    assert read["method"] == "GET"
    assert read["route"] == "/v1/officials/{id}"
    assert read["path"] == RECORD
    assert read["status"] == 200
    assert read["bytes"] > 100
    assert read["duration_ms"] > 0
    assert read["client"] == "testclient"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$", read["time"])
    assert "api_key_id" not in read
    assert "problem_type" not in read
    assert by_id["missing-1"]["status"] == 404
    assert by_id["missing-1"]["problem_type"] == "/problems/not-found"
    assert by_id["write-1"]["status"] == 201
    assert by_id["write-1"]["route"] == "/v1/organizations"
    assert by_id["write-1"]["api_key_id"] == key_id
    assert by_id["bad-1"]["problem_type"] == "/problems/invalid-request"


def test_the_console_format_is_for_people(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(Settings(database_url=database_url, log_format="console"))
    with TestClient(app) as logged:
        capsys.readouterr()
        logged.get(RECORD, headers={"X-Request-ID": "console-1"})
        err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if "console-1" in line)
    assert not line.startswith("{")
    assert "request" in line
    assert "route=/v1/officials/{id}" in line
    assert "status=200" in line


# --- nothing secret in a real server's logs --------------------------------------------------


MARKER = "MARKER-7f3a9c"


@pytest.fixture(scope="module")
def server(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`accord serve` on a database of its own, its stdout and stderr in files."""
    url = databases.create("logs")
    port = free_port()
    folder = tmp_path_factory.mktemp("logs")
    out, err = folder / "stdout", folder / "stderr"
    env = {
        **os.environ,
        "ACCORD_DATABASE_URL": url,
        "ACCORD_LOG_LEVEL": "DEBUG",
        "ACCORD_LOG_FORMAT": "json",
    }
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "1"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "--no-migrate"], env=env, stdout=stdout, stderr=stderr
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, 60)
        yield base, url, out, err
    finally:
        process.terminate()
        process.wait(20)


def test_no_body_key_or_cookie_reaches_a_log_line(server: Any, server_url: str) -> None:
    base, url, out, err = server
    token = make_key(url, ["write", "admin"])
    secret = token.split("_", 2)[2]
    cookie = f"session={MARKER}-cookie"
    auth = {"Authorization": f"Bearer {token}", "Cookie": cookie}
    body = {"name": f"{MARKER} organization", "kind": "other", "note": MARKER}
    statuses: list[int] = []
    with httpx.Client(base_url=base, timeout=30) as http:

        def send(method: str, path: str, **kwargs: Any) -> None:
            response = http.request(method, path, **kwargs)
            statuses.append(response.status_code)
            # A 5xx too carries the request id, in its header and its problem detail.
            ident = response.headers["x-request-id"]
            assert UUID7.match(ident)
            if response.status_code >= 400:
                assert response.json()["request_id"] == ident

        send("POST", "/v1/organizations", json=body, headers=auth)
        send("POST", "/v1/organizations", json={**body, "kind": MARKER}, headers=auth)
        send("POST", "/v1/organizations", json={**body, MARKER: 1}, headers=auth)
        send("POST", "/v1/organizations", content=f"{{{MARKER}", headers=auth)
        send("POST", "/v1/organizations", content=MARKER, headers={**auth, "Content-Type": "x/y"})
        send("POST", "/v1/keys", json={"name": MARKER, "scopes": ["write"]}, headers=auth)
        send("POST", "/v1/organizations", json=body, headers={"Authorization": f"Bearer {MARKER}"})
        send("POST", "/v1/organizations", json=body, headers={"Cookie": cookie})
        send(
            "POST",
            "/v1/organizations",
            content=b'{"name": "' + MARKER.encode() * 400_000 + b'"}',
            headers={**auth, "Content-Type": "application/json"},
        )
        send("GET", RECORD, headers=auth)
        # 5xx: the database refuses connections (even a superuser's) and the pool's are cut.
        # (the server's URL, not the database's: on the embedded server it names a socket)
        admin = server_url
        name = query(url, "select current_database()")[0][0]
        query(admin, f"alter database {name} allow_connections false")
        try:
            query(
                admin,
                "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1",
                name,
            )
            for _ in range(3):
                send("POST", "/v1/organizations", json=body, headers=auth)
                send("GET", RECORD, headers=auth)
        finally:
            query(admin, f"alter database {name} allow_connections true")
    assert {201, 400, 401, 413, 415} <= set(statuses), statuses
    assert any(status >= 500 for status in statuses), statuses

    def answered() -> list[dict[str, Any]]:
        return [
            line for line in requests_logged(err.read_text()) if line["route"] != "/health/ready"
        ]

    deadline = time.monotonic() + 10
    while len(answered()) < len(statuses) and time.monotonic() < deadline:
        time.sleep(0.2)
    text = out.read_text() + err.read_text()
    logged = lines(err.read_text())
    assert sorted(line["status"] for line in answered()) == sorted(statuses)
    assert any(line["level"] == "error" and line["event"] != "request" for line in logged)
    for forbidden in (MARKER, secret, "Bearer", "session="):
        assert forbidden not in text, forbidden
    # uvicorn's own lines come in the same format; its access lines do not come at all.
    assert any(line.get("logger") == "uvicorn.error" for line in logged)
    assert not any(line.get("logger") == "uvicorn.access" for line in logged)
    assert any(line["event"] == "pool opened" for line in logged)
    assert any(line["event"] == "start" for line in logged)


# --- traces ----------------------------------------------------------------------------------


def test_tracing_off_imports_no_opentelemetry(database_url: str) -> None:
    program = textwrap.dedent(
        f"""
        import sys
        from litestar.testing import TestClient
        from service.app import create_app
        from service.settings import Settings

        with TestClient(create_app(Settings(database_url={database_url!r}))) as client:
            assert client.get({RECORD!r}).status_code == 200
        loaded = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
        print(loaded)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


@pytest.fixture
def spans() -> Iterator[Any]:
    """The SDK's in-memory exporter as this process's tracer provider (an app with tracing
    on keeps a provider it finds); asyncpg uninstrumented after."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    current = trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        current = TracerProvider()
        trace.set_tracer_provider(current)
    exporter = InMemorySpanExporter()
    current.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        exporter.shutdown()
        AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]


def test_a_traced_request_has_a_span_with_its_route_and_one_per_statement(
    database_url: str, spans: Any
) -> None:
    from opentelemetry.trace import SpanKind

    settings = Settings(database_url=database_url, otel_exporter_otlp_endpoint="http://127.0.0.1:9")
    with TestClient(create_app(settings)) as traced:
        spans.clear()
        assert traced.get(RECORD).status_code == 200
        assert traced.get("/v1/officials?limit=2").status_code == 200
    finished = spans.get_finished_spans()
    requests = [span for span in finished if span.kind == SpanKind.SERVER]
    assert [span.name for span in requests] == [
        "GET /v1/officials/{id}",
        "GET /v1/officials",
    ]
    read = requests[0]
    assert read.attributes["http.route"] == "/v1/officials/{id}"
    assert read.attributes["http.status_code"] == 200
    statements = [
        span
        for span in finished
        if span.parent is not None and span.parent.span_id == read.context.span_id
    ]
    assert statements, [span.name for span in finished]
    assert all(span.kind == SpanKind.CLIENT for span in statements)
    assert any("officials" in str(span.attributes.get("db.statement", "")) for span in statements)
    # Neither ASGI receive nor send spans.
    assert not [span for span in finished if span.name.endswith(("http send", "http receive"))]


def test_otel_endpoint_comes_from_opentelemetrys_own_variable() -> None:
    settings = Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert settings.otel_exporter_otlp_endpoint == "http://collector:4318"
    assert Settings.from_env({}).otel_exporter_otlp_endpoint is None


def test_log_format_setting() -> None:
    assert Settings.from_env({"ACCORD_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(SystemExit):
        Settings.from_env({"ACCORD_LOG_FORMAT": "xml"})
