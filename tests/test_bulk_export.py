"""Bulk export on the worked example and on a bigger table, against real PostgreSQL: every
collection answers `Accept: application/x-ndjson` and `text/csv` with all its matching records
(the very bytes its JSON pages hold, a CSV row per record), `/v1/export/{name}.ndjson|csv`
serves whole collections as files, `accord export` writes the same bytes; an export is one
snapshot whose change-log position is `Accord-Seq`, and a client that goes away stops its
query."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import brotli
import httpx
import msgspec
import pytest

from service.core import bulk
from service.core.pagination import item_type_of
from service.core.types import Citation
from service.resources.changes import ChangePage
from service.resources.role_changes import RoleChange
from tests import ids
from tests.conftest import Client, Databases, live_server, make_key, query

NDJSON = {"Accept": "application/x-ndjson"}
CSV = {"Accept": "text/csv"}
PROBLEM = "application/problem+json"
IDENTITY = {"Accept-Encoding": "identity"}


class RawPage(msgspec.Struct):
    """A page with each item's bytes as the server wrote them."""

    items: list[msgspec.Raw]
    next_cursor: str | None


def raw_items(client: Client, path: str, limit: int, **params: Any) -> list[bytes]:
    """Every item of a collection, page by page, as the bytes the JSON pages hold."""
    found: list[bytes] = []
    cursor = None
    while True:
        response = client.get(
            path, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200, response.text
        page = msgspec.json.decode(response.content, type=RawPage)
        found.extend(bytes(item) for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return found


def lines(body: bytes) -> list[bytes]:
    assert body.endswith(b"\n") or body == b""
    return body.split(b"\n")[:-1] if body else []


COLLECTIONS = [
    ("/v1/organizations", {}),
    ("/v1/officials", {}),
    ("/v1/role-changes", {}),
    ("/v1/role-changes", {"status": "effective", "sort": "-date"}),
    ("/v1/rounds", {}),
    ("/v1/negotiations", {}),
    ("/v1/statements", {}),
    ("/v1/claims", {}),
    ("/v1/timeline", {"negotiation_id": ids.ISTANBUL_TALKS}),
    ("/v1/search", {"q": "Istanbul"}),
    (f"/v1/officials/{ids.UMEROV}/tenures", {}),
    (f"/v1/memoranda/{ids.RUSSIAN_MEMORANDUM}/versions", {}),
    (f"/v1/exchanges/{ids.THOUSAND_BODIES}/claims", {}),
]


@pytest.mark.parametrize(("path", "params"), COLLECTIONS)
def test_ndjson_lines_are_the_items_of_every_page(
    client: Client, path: str, params: dict[str, str]
) -> None:
    paged = raw_items(client, path, 2, **params)
    assert paged, "the worked example has items here"
    response = client.get(path, params={**params, "limit": 1}, headers=NDJSON)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert "Accept" in response.headers["vary"]
    assert "content-length" not in response.headers
    assert lines(response.content) == paged  # all of them, in order, byte for byte


def test_a_cursor_starts_the_export_after_its_page(client: Client) -> None:
    every = raw_items(client, "/v1/officials", 200)
    first = client.get("/v1/officials", params={"limit": 2}).json()
    rest = client.get("/v1/officials", params={"cursor": first["next_cursor"]}, headers=NDJSON)
    assert lines(rest.content) == every[2:]


def test_q_values_choose_the_format_and_json_stays_the_default(client: Client) -> None:
    def kind(accept: str) -> str:
        response = client.get("/v1/officials", headers={"Accept": accept})
        assert response.status_code == 200
        return str(response.headers["content-type"]).split(";")[0]

    assert kind("*/*") == "application/json"
    assert kind("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8") == (
        "application/json"
    )
    assert kind("application/json, application/x-ndjson") == "application/json"
    assert kind("application/x-ndjson") == "application/x-ndjson"
    assert kind("text/csv;q=0.5, application/x-ndjson;q=0.9") == "application/x-ndjson"
    assert kind("application/json;q=0.1, text/csv") == "text/csv"
    assert kind("text/*") == "text/csv"
    assert kind("text/csv;q=0") == "application/json"  # refused
    assert kind("image/png") == "application/json"


def csv_rows(body: bytes) -> list[list[str]]:
    text = body.decode()
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text, newline="")))


def expected_cell(value: Any) -> str:
    """A JSON value as the shared CSV rules write it."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str | int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_csv_has_a_header_of_the_fields_and_a_row_per_record(client: Client) -> None:
    records = [json.loads(item) for item in raw_items(client, "/v1/role-changes", 200)]
    response = client.get("/v1/role-changes", headers=CSV)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    header, *rows = csv_rows(response.content)
    assert header == list(RoleChange.__struct_fields__)
    assert len(rows) == len(records)
    for record, row in zip(records, rows, strict=True):
        assert row == [expected_cell(record.get(name)) for name in header]
        cells = dict(zip(header, row, strict=True))
        assert json.loads(cells["citations"]) == record["citations"]  # JSON cells decode back
        assert cells["disputed"] in ("true", "false")


def test_csv_quotes_commas_quotes_and_line_breaks(client: Client) -> None:
    note = 'Said, "we\'ll see"\r\nthen left;\nsecond line, too'
    made = client.post(
        "/v1/role-changes",
        json={
            "official_id": ids.REZNIKOV,
            "post_id": ids.AMBASSADOR_TO_US,
            "kind": "nomination",
            "status": "proposed",
            "note": note,
        },
    )
    assert made.status_code == 201, made.text
    ident = made.json()["id"]
    header, *rows = csv_rows(
        client.get(
            "/v1/role-changes", params={"post_id": ids.AMBASSADOR_TO_US}, headers=CSV
        ).content
    )
    row = next(dict(zip(header, r, strict=True)) for r in rows if r[header.index("id")] == ident)
    assert row["note"] == note
    assert row["effective_date"] == ""  # null
    client.delete(f"/v1/role-changes/{ident}")


@pytest.mark.parametrize(
    "note", ["plain", "a, b", 'say "no"', "two\nlines", "cr\r", '",\r\n', "", " padded "]
)
def test_csv_cells_are_quoted_as_the_csv_module_quotes_them(note: str) -> None:
    record = RoleChange(
        official_id=msgspec.convert(ids.UMEROV, uuid.UUID),
        post_id=msgspec.convert(ids.MINISTER_OF_DEFENCE, uuid.UUID),
        kind="dismissal",
        status="effective",
        effective_date="2025-07",
        citations=[Citation(source_id=uuid.UUID(ids.ANADOLU_REPORT), quote=note or None)],
        note=note,
        id=uuid.uuid4(),
        version=3,
        created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
        disputed=True,
    )
    as_json = json.loads(msgspec.json.encode(record))
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerow(
        [expected_cell(as_json[name]) for name in RoleChange.__struct_fields__]
    )
    assert bulk.CsvWriter(RoleChange).rows([record]).decode() == text.getvalue()


def test_csv_of_a_tagged_union_has_every_members_fields() -> None:
    writer = bulk.CsvWriter(item_type_of(ChangePage))  # a change of any resource
    assert writer.names == ["resource", "seq", "id", "action", "version", "at", "record"]
    change = msgspec.json.decode(
        b'{"resource": "sources", "seq": 7, "id": "0193a0aa-0000-7000-8000-000000000001", '
        b'"action": "deleted", "version": 2, "at": "2026-12-02T10:00:00Z"}',
        type=item_type_of(ChangePage),
    )
    (row,) = csv_rows(writer.rows([change]))
    assert row == [
        "sources",
        "7",
        "0193a0aa-0000-7000-8000-000000000001",
        "deleted",
        "2",
        "2026-12-02T10:00:00Z",
        "",
    ]


def test_accord_seq_is_the_change_log_position_at_the_start(
    client: Client, database_url: str
) -> None:
    (before,) = query(database_url, "select last_seq from change_log")
    response = client.get("/v1/export/officials.ndjson")
    assert response.status_code == 200
    assert int(response.headers["accord-seq"]) == before["last_seq"]
    assert response.headers["content-disposition"] == 'attachment; filename="officials.ndjson"'


def test_export_files_are_the_collections(client: Client) -> None:
    every = raw_items(client, "/v1/claims", 200)
    ndjson = client.get("/v1/export/claims.ndjson")
    assert ndjson.headers["content-type"] == "application/x-ndjson"
    assert lines(ndjson.content) == every
    listed = client.get("/v1/claims", headers=CSV).content
    exported = client.get("/v1/export/claims.csv")
    assert exported.headers["content-disposition"] == 'attachment; filename="claims.csv"'
    assert exported.content == listed


@pytest.mark.parametrize("file", ["nope.csv", "nope.ndjson", "role-change.csv"])
def test_an_unknown_export_is_a_404_problem(client: Client, file: str) -> None:
    response = client.get(f"/v1/export/{file}")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert "role-changes" in response.json()["detail"]


def test_an_export_of_a_missing_records_sub_collection_is_a_404(client: Client) -> None:
    missing = "0193a0a1-0000-7000-8000-0000000000ff"
    response = client.get(f"/v1/officials/{missing}/tenures", headers=NDJSON)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_a_compressed_export_is_the_same_stream(client: Client) -> None:
    plain = client.get("/v1/export/statements.ndjson").content
    response = client.get(
        "/v1/export/statements.ndjson", headers={"Accept-Encoding": "br"}, extensions={}
    )
    assert response.headers["content-encoding"] == "br"
    assert response.content == plain  # httpx decodes brotli
    assert len(brotli.compress(plain)) < len(plain)


def test_the_cli_writes_the_same_bytes_as_the_http_export(
    client: Client, database_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "ACCORD_DATABASE_URL": database_url}
    accord = [sys.executable, "-m", "service.cli"]
    target = tmp_path / "role-changes.csv"
    done = subprocess.run(
        [*accord, "export", "role-changes", "--format", "csv", "-o", str(target)],
        env=env,
        capture_output=True,
        check=True,
    )
    over_http = client.get("/v1/export/role-changes.csv")
    assert target.read_bytes() == over_http.content
    seq = over_http.headers["accord-seq"]
    assert f"/v1/changes?since={seq}" in done.stderr.decode()
    assert list(tmp_path.iterdir()) == [target]  # nothing left beside it

    to_stdout = subprocess.run(
        [*accord, "export", "officials"], env=env, capture_output=True, check=True
    )
    assert to_stdout.stdout == client.get("/v1/export/officials.ndjson").content
    versions = subprocess.run(
        [*accord, "export", "memorandum-versions"], env=env, capture_output=True, check=True
    )
    over_http = client.get("/v1/export/memorandum-versions.ndjson")
    assert versions.stdout == over_http.content
    assert len(over_http.content.splitlines()) >= 2  # the worked example's two memoranda

    unknown = subprocess.run([*accord, "export", "nope"], env=env, capture_output=True, check=False)
    assert unknown.returncode == 2
    assert b"role-changes" in unknown.stderr


# --- a bigger table, over a live server -------------------------------------------------------

BIG = 200_000


@pytest.fixture(scope="module")
def big_url(databases: Databases) -> str:
    url = databases.create("bulk")
    query(
        url,
        "insert into organizations (name, kind, note) "
        "select 'Agency ' || g, 'agency', 'bulk, \"quoted\" ' || g "
        "from generate_series(1, $1::int) g",
        BIG,
    )
    query(url, "analyze organizations")
    return url


@pytest.fixture(scope="module")
def big_server(big_url: str) -> Iterator[str]:
    # No webhook deliveries: their worker's polls would take the export's pooled connection as
    # soon as it is free, and the tests read what that connection did last.
    with live_server(big_url, {"ACCORD_WEBHOOK_CONCURRENCY": "0"}) as base:
        yield base


def slow_reader(base: str) -> httpx.Client:
    """A client whose socket takes in little until it is read, so an export cannot fit in the
    sockets' buffers (Linux grows a receive buffer to 32 MB on loopback) and end by itself
    while the test holds it open."""
    small = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)]
    return httpx.Client(
        base_url=base, timeout=30, transport=httpx.HTTPTransport(socket_options=small)
    )


EXPORT_QUERY = "select pid, state, query from pg_stat_activity where datname = current_database() and application_name = 'accord' and query like '%from organizations%order by id%' and state <> 'idle'"  # noqa: E501


def test_a_write_during_an_export_does_not_show_in_it(big_url: str, big_server: str) -> None:
    token = make_key(big_url)
    (last,) = query(big_url, "select id, name from organizations order by id desc limit 1")
    (count,) = query(big_url, "select count(*) from organizations")
    auth = {"Authorization": f"Bearer {token}"}
    with slow_reader(big_server) as http:
        with http.stream("GET", "/v1/organizations", headers=NDJSON | IDENTITY) as export:
            chunks = export.iter_bytes()
            first = next(chunks)
            assert first
            renamed = http.patch(
                f"/v1/organizations/{last['id']}", json={"name": "Renamed meanwhile"}, headers=auth
            )
            assert renamed.status_code == 200, renamed.text
            made = http.post(
                "/v1/organizations", json={"name": "Made meanwhile", "kind": "agency"}, headers=auth
            )
            assert made.status_code == 201, made.text
            body = first + b"".join(chunks)
            seq = int(export.headers["accord-seq"])
        records = [json.loads(line) for line in lines(body)]
    assert len(records) == count["count"]
    assert records[-1]["id"] == str(last["id"])
    assert records[-1]["name"] == last["name"]
    assert made.json()["id"] not in {record["id"] for record in records[-10:]}
    (after,) = query(big_url, "select last_seq from change_log")
    assert seq == after["last_seq"] - 2  # the two writes come after the export's position


def test_a_client_that_disconnects_stops_the_query(big_url: str, big_server: str) -> None:
    with (
        slow_reader(big_server) as http,
        http.stream("GET", "/v1/organizations", headers=CSV | IDENTITY) as export,
    ):
        chunks = export.iter_bytes()  # held: dropping it would close the connection
        received = b""
        while received.count(b"\r\n") < 3:  # the header, then rows: the cursor is open
            received += next(chunks)
        (running,) = query(big_url, EXPORT_QUERY)  # open while the client reads
    deadline = time.monotonic() + 10
    while True:
        (backend,) = query(
            big_url, "select state, query from pg_stat_activity where pid = $1", running["pid"]
        )
        if backend["state"] == "idle":
            break
        assert time.monotonic() < deadline, "the export's query outlived its client"
        time.sleep(0.1)
    # Stopped, not run to its end: its snapshot was rolled back, not committed.
    assert backend["query"] == "ROLLBACK;"
    assert not query(big_url, EXPORT_QUERY)
    # The server still answers, with its connection back in the pool.
    assert httpx.get(f"{big_server}/v1/organizations?limit=1").status_code == 200
