"""HTTP around the resources: `OPTIONS` and `Allow`, CORS for browsers on other origins, and
compressed responses."""

from __future__ import annotations

import asyncio
import gzip
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import brotli
import pytest
from httpx import Response
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from litestar.types import Message, Receive, ReceiveMessage, Scope, Send

from service.app import create_app
from service.core.compression import MINIMUM_SIZE, Compression
from service.settings import Settings
from tests import ids
from tests.conftest import Client
from tests.test_stream import serving

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


# --- CORS ---------------------------------------------------------------------------------------

APP = "https://app.example.org"
LOCAL = "http://localhost:5173"


def contract_headers(document: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The request headers the contract's operations take (its header parameters, with
    `Authorization` for its security scheme and `Content-Type` for bodies) and the response
    headers it documents, lowercased."""
    taken = {"authorization", "content-type"}
    documented: set[str] = set()
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "header":
                    taken.add(parameter["name"].lower())
            for response in operation["responses"].values():
                documented |= {name.lower() for name in response.get("headers", {})}
    return taken, documented


@contextmanager
def app_client(database_url: str, key: str, **settings: Any) -> Iterator[Client]:
    """A client of an app made with `settings`, sending a write key and, unless a request
    says otherwise, no `Accept-Encoding`."""
    with TestClient(create_app(Settings(database_url=database_url, **settings))) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        del client.headers["Accept-Encoding"]
        yield client


@pytest.fixture(scope="module")
def plain(database_url: str, write_key: str) -> Iterator[Client]:
    with app_client(database_url, write_key) as client:
        yield client


@pytest.fixture(scope="module")
def listed(database_url: str, write_key: str) -> Iterator[Client]:
    with app_client(database_url, write_key, cors_origins=(APP, LOCAL)) as client:
        yield client


@pytest.fixture(scope="module")
def anyone(database_url: str, write_key: str) -> Iterator[Client]:
    with app_client(database_url, write_key, cors_origins=("*",)) as client:
        yield client


def cors_headers(response: Response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.lower().startswith("access-control-")
    }


def listed_set(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(",")}


def preflight(client: Client, path: str, method: str, headers: str, origin: str = APP) -> Response:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def test_cors_is_off_by_default(plain: Client) -> None:
    origin = {"Origin": APP}
    for response in (
        plain.get(f"/v1/officials/{ids.MEDINSKY}", headers=origin),
        plain.get("/v1/officials", headers=origin),
        plain.get(f"/v1/officials/{SOME_ID}", headers=origin),
        preflight(plain, f"/v1/officials/{ids.MEDINSKY}", "PATCH", "if-match"),
    ):
        assert cors_headers(response) == {}, response.request.url
    # Without CORS an OPTIONS with an Origin is an ordinary OPTIONS.
    assert (
        "PATCH" in preflight(plain, f"/v1/officials/{ids.MEDINSKY}", "PATCH", "").headers["allow"]
    )


def test_a_preflight_allows_every_method_and_request_header_of_the_api(listed: Client) -> None:
    document = listed.get("/docs/openapi.json").json()
    methods = {method.upper() for operations in document["paths"].values() for method in operations}
    taken, _ = contract_headers(document)
    assert {"if-match", "if-none-match", "idempotency-key", "last-event-id"} <= taken
    for path, method, headers in (
        (f"/v1/agreements/{SOME_ID}", "PATCH", "authorization, content-type, if-match"),
        (f"/v1/agreements/{SOME_ID}", "DELETE", "authorization, if-match"),
        ("/v1/agreements", "POST", "Authorization, Content-Type, Idempotency-Key"),
        (f"/v1/agreements/{SOME_ID}", "GET", "if-none-match"),
    ):
        response = preflight(listed, path, method, headers)
        assert response.status_code == 204, (path, method)
        assert response.headers["access-control-allow-origin"] == APP
        assert "origin" in listed_set(response.headers["vary"])
        assert set(response.headers["access-control-allow-methods"].split(", ")) == methods
        assert listed_set(response.headers["access-control-allow-headers"]) >= taken
        assert "access-control-allow-credentials" not in response.headers
    assert preflight(listed, "/v1/agreements", "POST", "x-unknown").status_code == 400


def test_answers_to_a_listed_origin_expose_the_api_headers(listed: Client) -> None:
    _, documented = contract_headers(listed.get("/docs/openapi.json").json())
    assert {"etag", "link", "location", "retry-after", "idempotent-replayed"} <= documented
    record = f"/v1/officials/{ids.MEDINSKY}"
    tag = listed.get(record).headers["etag"]
    answers = {
        "read by id": listed.get(record, headers={"Origin": LOCAL}),
        "read through the handler": listed.get(
            f"/v1/negotiations/{ids.ISTANBUL_TALKS}?include=rounds", headers={"Origin": LOCAL}
        ),
        "page": listed.get("/v1/officials?limit=2", headers={"Origin": LOCAL}),
        "304": listed.get(record, headers={"Origin": LOCAL, "If-None-Match": tag}),
        "404 problem": listed.get(f"/v1/officials/{SOME_ID}", headers={"Origin": LOCAL}),
        "400 problem": listed.get("/v1/officials?limit=0", headers={"Origin": LOCAL}),
        "201": listed.post(
            "/v1/organizations",
            json={"name": f"CORS {uuid.uuid4()}", "kind": "other"},
            headers={"Origin": LOCAL},
        ),
    }
    expected = {"read by id": 200, "read through the handler": 200, "page": 200, "304": 304}
    expected |= {"404 problem": 404, "400 problem": 400, "201": 201}
    for name, response in answers.items():
        assert response.status_code == expected[name], name
        assert response.headers["access-control-allow-origin"] == LOCAL, name
        assert "origin" in listed_set(response.headers["vary"]), name
        assert listed_set(response.headers["access-control-expose-headers"]) == documented, name
    assert answers["page"].headers["link"]
    assert answers["201"].headers["location"]


def test_an_origin_not_listed_is_not_let_in(listed: Client) -> None:
    stranger = "https://elsewhere.example.net"
    answer = listed.get(f"/v1/officials/{ids.MEDINSKY}", headers={"Origin": stranger})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers
    refused = preflight(listed, f"/v1/officials/{ids.MEDINSKY}", "PATCH", "if-match", stranger)
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


def test_any_origin_with_a_star(anyone: Client) -> None:
    _, documented = contract_headers(anyone.get("/docs/openapi.json").json())
    answer = anyone.get(f"/v1/officials/{ids.MEDINSKY}", headers={"Origin": APP})
    assert answer.headers["access-control-allow-origin"] == "*"
    assert listed_set(answer.headers["access-control-expose-headers"]) == documented
    allowed = preflight(anyone, "/v1/officials", "POST", "authorization, content-type", LOCAL)
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "*"
    # `*` cannot be combined with credentials, and Accord needs none (keys go in a header).
    assert "access-control-allow-credentials" not in allowed.headers


# --- compression ------------------------------------------------------------------------------


def raw(client: Client, method: str, path: str, **kwargs: Any) -> tuple[Response, bytes]:
    """A response and its body as sent, before any decoding."""
    with client.stream(method, path, **kwargs) as response:
        return response, b"".join(response.iter_raw())


DECODERS = {"gzip": gzip.decompress, "br": brotli.decompress}


def test_a_big_page_is_compressed_with_what_the_client_takes(plain: Client) -> None:
    page = "/v1/timeline?limit=200"
    response, identity = raw(plain, "GET", page)
    assert len(identity) > 4 * MINIMUM_SIZE
    assert "content-encoding" not in response.headers
    assert int(response.headers["content-length"]) == len(identity)
    for accept, coding in (
        ("gzip", "gzip"),
        ("gzip, deflate", "gzip"),
        ("gzip, deflate, br", "br"),
        ("br;q=0, gzip", "gzip"),
        ("*", "br"),
    ):
        response, body = raw(plain, "GET", page, headers={"Accept-Encoding": accept})
        assert response.headers["content-encoding"] == coding, accept
        assert "accept-encoding" in listed_set(response.headers["vary"]), accept
        assert int(response.headers["content-length"]) == len(body) < len(identity) / 3
        assert DECODERS[coding](body) == identity, accept
    for accept in ("identity", "deflate", "gzip;q=0, br;q=0"):
        response, body = raw(plain, "GET", page, headers={"Accept-Encoding": accept})
        assert "content-encoding" not in response.headers, accept
        assert body == identity


def test_small_and_empty_bodies_go_as_they_are(plain: Client) -> None:
    record = f"/v1/officials/{ids.MEDINSKY}"
    gzip_please = {"Accept-Encoding": "gzip, br"}
    response, body = raw(plain, "GET", record, headers=gzip_please)
    assert response.status_code == 200
    assert len(body) < MINIMUM_SIZE
    assert "content-encoding" not in response.headers
    assert int(response.headers["content-length"]) == len(body)
    tag = response.headers["etag"]
    not_modified, body = raw(plain, "GET", record, headers={**gzip_please, "If-None-Match": tag})
    assert not_modified.status_code == 304
    assert body == b""
    assert "content-encoding" not in not_modified.headers
    made = plain.post(
        "/v1/organizations", json={"name": f"Short-lived {uuid.uuid4()}", "kind": "other"}
    )
    deleted, body = raw(plain, "DELETE", made.headers["location"], headers=gzip_please)
    assert deleted.status_code == 204
    assert body == b""
    assert "content-encoding" not in deleted.headers


def test_a_big_record_read_by_id_is_compressed(plain: Client) -> None:
    made = plain.post(
        "/v1/organizations",
        json={"name": f"Verbose {uuid.uuid4()}", "kind": "other", "note": "Long. " * 600},
    )
    assert made.status_code == 201
    record = made.headers["location"]
    _, identity = raw(plain, "GET", record)
    assert len(identity) > MINIMUM_SIZE
    response, body = raw(plain, "GET", record, headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == identity
    assert response.headers["etag"]
    # Litestar's handler (a query string it ignores) compresses it byte for byte alike.
    alike = {"Accept-Encoding": "gzip", "X-Request-ID": "alike"}
    fast, fast_body = raw(plain, "GET", record, headers=alike)
    handled, handled_body = raw(plain, "GET", f"{record}?unrelated=1", headers=alike)
    assert fast_body == handled_body
    assert fast.headers.multi_items() == handled.headers.multi_items()


def test_a_replayed_create_is_compressed_like_the_first_answer(plain: Client) -> None:
    create = {
        "json": {"name": f"Replayed {uuid.uuid4()}", "kind": "other", "note": "Noted. " * 400},
        "headers": {"Idempotency-Key": str(uuid.uuid4()), "Accept-Encoding": "br"},
    }
    first, first_body = raw(plain, "POST", "/v1/organizations", **create)
    again, again_body = raw(plain, "POST", "/v1/organizations", **create)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    for response in (first, again):
        assert response.headers["content-encoding"] == "br"
        assert int(response.headers["content-length"]) < MINIMUM_SIZE
    assert brotli.decompress(again_body) == brotli.decompress(first_body)
    assert again.headers["location"] == first.headers["location"]


def test_head_of_a_static_asset_has_no_body_to_compress(plain: Client) -> None:
    asset = next(url for url in re.findall(r'src="([^"]+\.js)"', plain.get("/docs").text))
    got, body = raw(plain, "GET", asset, headers={"Accept-Encoding": "gzip"})
    assert got.headers["content-encoding"] == "gzip"
    head, nothing = raw(plain, "HEAD", asset, headers={"Accept-Encoding": "gzip"})
    assert head.status_code == 200
    assert nothing == b""
    assert "content-encoding" not in head.headers
    assert int(head.headers["content-length"]) == len(gzip.decompress(body))


def test_compressed_answers_to_a_listed_origin_vary_on_both(listed: Client) -> None:
    response, body = raw(
        listed, "GET", "/v1/timeline?limit=200", headers={"Origin": APP, "Accept-Encoding": "gzip"}
    )
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["access-control-allow-origin"] == APP
    assert listed_set(response.headers["vary"]) >= {"origin", "accept-encoding"}
    assert gzip.decompress(body)


def test_vary_names_every_header_an_answer_depends_on_once(plain: Client, listed: Client) -> None:
    """A shared cache keys what it stores by `Vary`: a page and an export vary by `Accept`
    (JSON, NDJSON, CSV), a compressed body by `Accept-Encoding`, an answer to a listed origin
    by `Origin` — each named once in one header, whatever layers added them (CORS replaces a
    `Vary` it finds)."""
    page = "/v1/timeline?limit=200"
    record = f"/v1/officials/{ids.MEDINSKY}"
    ndjson = {"Accept": "application/x-ndjson"}
    gzip_please = {"Accept-Encoding": "gzip"}
    origin = {"Origin": APP}
    cases: list[tuple[Client, str, dict[str, str], list[str]]] = [
        (plain, page, {}, ["accept"]),
        (plain, page, gzip_please, ["accept", "accept-encoding"]),
        (plain, page, {**ndjson, **gzip_please}, ["accept", "accept-encoding"]),
        (plain, "/v1/export/officials.csv", gzip_please, ["accept-encoding"]),
        (plain, record, {}, []),
        (listed, page, origin, ["accept", "origin"]),
        (listed, page, {**origin, **gzip_please}, ["accept", "accept-encoding", "origin"]),
        (listed, page, {**origin, **ndjson}, ["accept", "origin"]),
        (listed, "/v1/officials?limit=2", {**origin, "Accept": "text/csv"}, ["accept", "origin"]),
        (
            listed,
            "/v1/export/officials.csv",
            {**origin, **gzip_please},
            ["accept-encoding", "origin"],
        ),
        (listed, "/v1/changes", origin, ["accept", "origin"]),
        (listed, record, origin, ["origin"]),
        (listed, page, {}, ["accept"]),
    ]
    for client, path, headers, expected in cases:
        response, _ = raw(client, "GET", path, headers=headers)
        assert response.status_code == 200, (path, headers)
        values = response.headers.get_list("vary")
        names = [n.strip().lower() for v in values for n in v.split(",") if n.strip()]
        assert len(values) <= 1, (path, headers, values)
        assert sorted(names) == expected, (path, headers, values)


def test_an_event_stream_goes_uncompressed_and_its_headers_at_once() -> None:
    """Streams are compressed chunk by chunk, except an event stream: its client must get
    the headers before the first event and every event as it is written."""
    events = [b"data: %d\n\n" % n * 200 for n in range(3)]

    def send_through(content_type: bytes) -> tuple[list[dict[str, Any]], int]:
        """What the server sends, and how much of it had gone before the first event."""
        sent: list[dict[str, Any]] = []
        before_first_event = []

        async def stream(scope: Scope, receive: Receive, send: Send) -> None:
            headers = [(b"content-type", content_type)]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            before_first_event.append(len(sent))
            for event in events:
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def collect(message: Message) -> None:
            sent.append(dict(message))

        async def receive() -> ReceiveMessage:
            return {"type": "http.disconnect"}

        scope = {"type": "http", "path": "/", "headers": [(b"accept-encoding", b"br")], "state": {}}
        asyncio.run(Compression(stream)(cast(Scope, scope), receive, collect))
        return sent, before_first_event[0]

    streamed, gone = send_through(b"text/event-stream")
    assert gone == 1
    assert b"content-encoding" not in dict(streamed[0]["headers"])
    assert [message["body"] for message in streamed[1:4]] == events
    compressed, gone = send_through(b"application/x-ndjson")
    assert gone == 0
    assert dict(compressed[0]["headers"])[b"content-encoding"] == b"br"
    body = b"".join(message["body"] for message in compressed[1:])
    assert brotli.decompress(body) == b"".join(events)


def test_the_change_stream_goes_uncompressed_with_its_headers_at_once(
    database_url: str, write_key: str
) -> None:
    async def scenario() -> None:
        async with serving(database_url, write_key, stream_heartbeat_s=60) as server:
            since = await server.seq()
            stream = await asyncio.wait_for(
                server.open(f"?since={since}", accept_encoding="gzip, deflate, br"), 5
            )
            assert stream.status == 200
            assert "content-encoding" not in stream.headers
            made = await server.create(f"Streamed {uuid.uuid4()}")
            [event] = await stream.changes(1, 5)
            assert made["id"] in (event.data or "")

    asyncio.run(scenario())
