"""The import engine, ``accord import`` and ``POST /v1/imports`` against real PostgreSQL: an
export imported into an empty database reads back byte for byte; references resolve within an
import, in any order, and to stored records; ids upsert; and every kind of bad input is
reported, line by line, with the database exactly as before."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import TestClient

from bench import imports as bench_imports
from service import cli, migrations
from service.app import create_app
from service.core import database, imports
from service.core.problems import FieldError
from service.resources import registry
from service.settings import Settings
from tests.conftest import Client, Databases, all_pages, live_server, make_key, query

NAMES = list(registry.BULK)


def export(client: Client) -> dict[str, list[bytes]]:
    """Every record of every resource as its line of the NDJSON export."""
    lines = {}
    for name in NAMES:
        response = client.get(f"/v1/export/{name}.ndjson")
        assert response.status_code == 200, response.text
        lines[name] = response.content.splitlines()
    return lines


def write_files(folder: Path, client: Client, form: str = "ndjson") -> list[Path]:
    """Every resource's export file (``/v1/export/{name}.ndjson`` or ``.csv``) in ``folder``,
    named as the export names it."""
    paths = []
    for name in NAMES:
        path = folder / f"{name}.{form}"
        response = client.get(f"/v1/export/{path.name}")
        assert response.status_code == 200, response.text
        path.write_bytes(response.content)
        paths.append(path)
    return paths


def migrated_empty(databases: Databases, purpose: str) -> str:
    url = databases.create_empty(purpose)

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await migrations.migrate(conn)
        finally:
            await conn.close()

    asyncio.run(run())
    return url


def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str,
    *args: str | Path,
) -> tuple[int, str, str]:
    """``accord import ARGS`` on ``url``: its exit status, stdout and stderr."""
    monkeypatch.setenv("ACCORD_DATABASE_URL", url)
    capsys.readouterr()
    code = cli.main(["import", *(str(arg) for arg in args)])
    out, err = capsys.readouterr()
    return code, out, err


def state(url: str) -> dict[str, Any]:
    """What an import must leave as it was when it fails: every record table's rows (as
    text), the change log's position and the history's size."""
    found: dict[str, Any] = {}
    for table in [t.table for t in registry.BULK.values()] + ["citations", "tenures"]:
        rows = query(url, f"select t::text as r from {table} t order by 1")
        found[table] = [row["r"] for row in rows]
    found["last_seq"] = query(url, "select last_seq from change_log")[0]["last_seq"]
    found["history"] = query(url, "select count(*) from history")[0]["count"]
    return found


@pytest.fixture(scope="module")
def source(databases: Databases) -> Iterator[Client]:
    """The worked example, as a client of its own database."""
    url = databases.create("imports_source")
    with TestClient(create_app(Settings(database_url=url))) as client:
        yield client


def derived(client: Client, lines: dict[str, list[bytes]]) -> dict[str, Any]:
    """What the database derives from the records: every official's tenures, every post's
    holders, the timeline."""
    found: dict[str, Any] = {"timeline": all_pages(client, "/v1/timeline", 200)}
    for name, path in (("officials", "tenures"), ("posts", "holders")):
        for line in lines[name]:
            ident = msgspec.json.decode(line)["id"]
            found[f"{name}/{ident}"] = all_pages(client, f"/v1/{name}/{ident}/{path}", 200)
    return found


def read_path(name: str, line: bytes) -> str:
    """Where a GET reads the record of an export line: by its id, or a memorandum version
    by its memorandum and number."""
    record = msgspec.json.decode(line)
    if name == "memorandum-versions":
        return f"/v1/memoranda/{record['memorandum_id']}/versions/{record['number']}"
    return f"/v1/{name}/{record['id']}"


def assert_round_trip(
    source: Client,
    databases: Databases,
    purpose: str,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    form: str = "ndjson",
) -> None:
    """Export everything from ``source`` (as NDJSON or CSV), import it into an empty database
    with the command line, and find every record read back byte for byte, and the same
    derived."""
    lines = export(source)
    target = migrated_empty(databases, purpose)
    # Files named in reverse fill order: the engine orders them itself.
    paths = list(reversed(write_files(folder, source, form)))
    code, out, err = run_cli(monkeypatch, capsys, target, *paths)
    assert code == 0, out + err
    with TestClient(create_app(Settings(database_url=target))) as copy:
        for name in NAMES:
            for line in lines[name]:
                path = read_path(name, line)
                original = source.get(path)
                imported = copy.get(path)
                assert imported.status_code == 200, path
                assert imported.content == original.content, path
        assert derived(copy, lines) == derived(source, lines)


def test_round_trip_of_the_worked_example(
    source: Client,
    databases: Databases,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert_round_trip(source, databases, "imports_round_trip", tmp_path, monkeypatch, capsys)


def test_round_trip_of_the_worked_example_as_csv(
    source: Client,
    databases: Databases,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert_round_trip(
        source, databases, "imports_round_trip_csv", tmp_path, monkeypatch, capsys, "csv"
    )


def test_round_trip_of_generated_data(
    databases: Databases,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The benchmark's data (posts held in turn, officials with names in two scripts,
    # organizations whose parents come later in their file), imported once to make a source.
    generated = tmp_path / "generated"
    generated.mkdir()
    bench_imports.generate(generated, 700)
    url = migrated_empty(databases, "imports_generated")
    code, out, err = run_cli(monkeypatch, capsys, url, *sorted(generated.iterdir()))
    assert code == 0, out + err
    exported = tmp_path / "exported"
    exported.mkdir()
    with TestClient(create_app(Settings(database_url=url))) as source:
        assert len(all_pages(source, "/v1/role-changes", 200)) == 700
        assert_round_trip(
            source, databases, "imports_generated_copy", exported, monkeypatch, capsys
        )


UKRAINE = "0193a0a0-0000-7000-8000-000000000002"
MEDINSKY = "0193a0a1-0000-7000-8000-000000000001"
NEGOTIATION = "0193a0a4-0000-7000-8000-000000000001"


def new_id(n: int) -> str:
    """Ids the worked example does not use."""
    return f"0193ffff-0000-7000-8000-{n:012d}"


def ndjson(*records: dict[str, Any] | bytes) -> bytes:
    return b"".join(
        (r if isinstance(r, bytes) else msgspec.json.encode(r)) + b"\n" for r in records
    )


@pytest.fixture(scope="module")
def target(databases: Databases) -> str:
    """The worked example, for imports into a database that has records."""
    return databases.create("imports_target")


@pytest.fixture(scope="module")
def target_client(target: str) -> Iterator[Client]:
    """A client of ``target`` that writes (a key with the `write` scope)."""
    with TestClient(create_app(Settings(database_url=target))) as client:
        client.headers["Authorization"] = f"Bearer {make_key(target)}"
        yield client


def test_references_resolve_within_an_import_in_any_order_and_to_stored_records(
    target: str,
    target_client: Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The child organization comes before its parent; the new post is in a stored
    # organization; the rounds' file comes first and names the negotiation of the other file.
    child = {"id": new_id(1), "name": "Child agency", "kind": "agency", "parent_id": new_id(2)}
    parent = {"id": new_id(2), "name": "Parent ministry", "kind": "ministry", "parent_id": UKRAINE}
    post = {"id": new_id(3), "title": "Imported post", "organization_id": UKRAINE}
    negotiation = {
        "id": new_id(4),
        "title": "Imported talks",
        "status": "active",
        "parties": [UKRAINE, new_id(2)],
    }
    first_round = {
        "id": new_id(5),
        "negotiation_id": new_id(4),
        "ordinal": 1,
        "status": "held",
        "start_date": "2025-05-16",
    }
    (tmp_path / "rounds.ndjson").write_bytes(ndjson(first_round))
    (tmp_path / "negotiations.ndjson").write_bytes(ndjson(negotiation))
    (tmp_path / "organizations.ndjson").write_bytes(ndjson(child, parent))
    (tmp_path / "posts.ndjson").write_bytes(ndjson(post))
    files = [tmp_path / f"{n}.ndjson" for n in ("rounds", "posts", "negotiations", "organizations")]
    code, out, err = run_cli(monkeypatch, capsys, target, *files)
    assert code == 0, out + err
    assert "organizations: 2 created" in out
    assert "rounds: 1 created" in out
    got = target_client.get(f"/v1/organizations/{new_id(1)}").json()
    assert got["parent_id"] == new_id(2)
    assert got["version"] == 1
    assert target_client.get(f"/v1/rounds/{new_id(5)}").json()["negotiation_id"] == new_id(4)
    assert target_client.get(f"/v1/negotiations/{new_id(4)}").json()["parties"] == [
        UKRAINE,
        new_id(2),
    ]
    # Each record created has its history: a create with every field it was given.
    history = target_client.get(f"/v1/organizations/{new_id(2)}/history").json()["items"]
    assert [(h["operation"], h["version"]) for h in history] == [("create", 1)]
    assert history[0]["changes"]["parent_id"] == {"before": None, "after": UKRAINE}


def test_upsert_updates_what_differs_and_leaves_the_rest(
    target: str,
    target_client: Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = target_client.get(f"/v1/officials/{MEDINSKY}").json()
    others = all_pages(target_client, "/v1/officials", 200)
    changed = {**before, "note": "Head of the Russian delegation (imported)."}
    path = tmp_path / "officials.ndjson"
    path.write_bytes(ndjson(*[changed if o["id"] == MEDINSKY else o for o in others]))
    seq = query(target, "select last_seq from change_log")[0]["last_seq"]
    code, out, err = run_cli(monkeypatch, capsys, target, path)
    assert code == 0, out + err
    assert f"officials: 0 created, 1 updated, {len(others) - 1} unchanged" in out
    after = target_client.get(f"/v1/officials/{MEDINSKY}").json()
    assert after["version"] == before["version"] + 1
    assert after["note"] == changed["note"]
    assert after["updated_at"] != before["updated_at"]
    assert after["created_at"] == before["created_at"]
    history = target_client.get(f"/v1/officials/{MEDINSKY}/history").json()["items"]
    assert history[-1]["operation"] == "update"
    assert history[-1]["version"] == after["version"]
    assert history[-1]["changes"] == {
        "note": {"before": before.get("note"), "after": changed["note"]}
    }
    changes = target_client.get("/v1/changes", params={"since": seq}).json()["items"]
    assert [(c["id"], c["action"], c["version"]) for c in changes] == [
        (MEDINSKY, "updated", after["version"])
    ]
    assert changes[0]["record"] == after
    # The same file again changes nothing.
    code, out, err = run_cli(monkeypatch, capsys, target, path)
    assert code == 0, out + err
    assert f"0 updated, {len(others)} unchanged" in out
    assert query(target, "select last_seq from change_log")[0]["last_seq"] == seq + 1


def test_dry_run_reports_and_writes_nothing(
    target: str,
    target_client: Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    current = target_client.get(f"/v1/officials/{MEDINSKY}").json()
    path = tmp_path / "officials.ndjson"
    path.write_bytes(
        ndjson({**current, "note": "Dry."}, {"id": new_id(10), "name": "Dry Run Official"})
    )
    before = state(target)
    code, out, err = run_cli(monkeypatch, capsys, target, path, "--dry-run")
    assert code == 0, out + err
    assert "officials: 1 created, 1 updated, 0 unchanged" in out
    assert "dry run" in out
    assert state(target) == before


def test_partial_loads_the_good_lines_and_reports_the_rest(
    target: str,
    target_client: Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    organizations = tmp_path / "organizations.ndjson"
    organizations.write_bytes(
        ndjson(
            {"id": new_id(20), "name": "Good one", "kind": "agency"},
            {"id": new_id(21), "name": "Bad kind", "kind": "club"},
            # Good in itself, but its parent is the bad line: it goes too.
            {"id": new_id(22), "name": "Child of bad", "kind": "agency", "parent_id": new_id(21)},
            {"id": new_id(23), "name": "Good two", "kind": "agency", "parent_id": new_id(20)},
        )
    )
    code, out, err = run_cli(monkeypatch, capsys, target, organizations, "--partial")
    assert code == 1, out + err
    assert "organizations: 2 created, 0 updated, 0 unchanged, 2 rejected" in out
    assert f"{organizations}:2: kind:" in err
    assert f"{organizations}:3: parent_id: refers to {new_id(21)}" in err
    assert target_client.get(f"/v1/organizations/{new_id(23)}").status_code == 200
    assert target_client.get(f"/v1/organizations/{new_id(22)}").status_code == 404


def test_every_bad_line_is_reported_and_nothing_written(
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = {
        "official_id": MEDINSKY,
        "post_id": new_id(3),
        "kind": "nomination",
        "status": "proposed",
    }
    path = tmp_path / "role-changes.ndjson"
    path.write_bytes(
        ndjson(
            {**good, "id": new_id(30)},
            b'{"official_id": "' + MEDINSKY.encode() + b'", ',  # malformed JSON
            {**good, "colour": "red"},  # unknown field
            good,  # fine
            {**good, "announced_date": "2025-02-30"},  # no such day
            {**good, "post_id": new_id(999)},  # dangling reference
            {**good, "id": new_id(30)},  # duplicate id
            b'{"official_id": "\xff\xfe"}',  # not UTF-8
            {**good, "kind": "coronation"},  # not a kind
        )
    )
    before = state(target)
    code, out, err = run_cli(monkeypatch, capsys, target, path)
    assert code == 1
    assert "7 bad; nothing imported" in out
    reported = {line.split(": ", 2)[0].rsplit(":", 1)[1]: line for line in err.splitlines()}
    assert sorted(reported, key=int) == ["2", "3", "5", "6", "7", "8", "9"]
    assert "not JSON" in reported["2"]
    assert ": colour: " in reported["3"]
    assert ": announced_date: not a calendar date" in reported["5"]
    assert f": post_id: refers to {new_id(999)}" in reported["6"]
    assert ": id: id " in reported["7"]
    assert "also on line 1" in reported["7"]
    assert "not UTF-8" in reported["8"]
    assert ": kind: " in reported["9"]
    assert state(target) == before


def two_holders(folder: Path, organization_id: str) -> list[Path]:
    """Files of two effective appointments to one single-holder post of ``organization_id``,
    neither ended: the tenures' exclusion constraint refuses the second."""
    officials = folder / "officials.ndjson"
    officials.write_bytes(
        ndjson({"id": new_id(40), "name": "First Holder"}, {"id": new_id(41), "name": "Second"})
    )
    posts = folder / "posts.ndjson"
    posts.write_bytes(
        ndjson({"id": new_id(42), "title": "One seat", "organization_id": organization_id})
    )
    changes = folder / "role-changes.ndjson"
    appoint = {"post_id": new_id(42), "kind": "appointment", "status": "effective"}
    changes.write_bytes(
        ndjson(
            {**appoint, "official_id": new_id(40), "effective_date": "2024-01-01"},
            {**appoint, "official_id": new_id(41), "effective_date": "2024-06-01"},
        )
    )
    return [officials, posts, changes]


def test_a_rule_only_sql_sees_fails_the_whole_import(
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = state(target)
    code, _, err = run_cli(monkeypatch, capsys, target, *two_holders(tmp_path, UKRAINE))
    assert code == 1
    assert "nothing written" in err
    assert "one_holder_at_a_time" in err
    assert state(target) == before


def schema(url: str) -> list[str]:
    """Every index and constraint of the public tables, as PostgreSQL would write them."""
    rows = query(
        url,
        """select indexrelid::regclass::text || ' ' || pg_get_indexdef(indexrelid) as d
             from pg_index where indrelid::regclass::text not like 'pg_%'
           union all
           select conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
                  || case when convalidated then '' else ' NOT VALID' end
             from pg_constraint where conrelid <> 0 and connamespace = 'public'::regnamespace
           order by 1""",
    )
    return [row["d"] for row in rows]


def test_empty_tables_are_loaded_without_indexes_and_get_them_back(
    databases: Databases,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Into an empty database every table is loaded without its secondary indexes, unique,
    # exclusion and foreign-key constraints, which are built after the writes.
    bench_imports.generate(tmp_path, 300)
    url = migrated_empty(databases, "imports_empty_tables")
    before = schema(url)
    code, out, err = run_cli(monkeypatch, capsys, url, *sorted(tmp_path.iterdir()))
    assert code == 0, out + err
    assert "indexes" in out + err
    assert schema(url) == before
    # The rebuilt constraints hold: a post's second title taken, a role change's official gone.
    post = query(url, "select organization_id, title from posts limit 1")[0]
    with pytest.raises(asyncpg.UniqueViolationError):
        query(
            url,
            "insert into posts (title, organization_id) values ($1, $2)",
            post["title"],
            post["organization_id"],
        )
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        query(
            url, "delete from officials where id = (select official_id from role_changes limit 1)"
        )


def test_a_rule_only_sql_sees_fails_an_import_into_empty_tables(
    databases: Databases,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Two holders of a one-holder post, found when the exclusion constraint is built again
    # after the writes: the import fails as a whole, the tables keep their indexes.
    url = migrated_empty(databases, "imports_empty_overlap")
    before = schema(url)
    organizations = tmp_path / "organizations.ndjson"
    organizations.write_bytes(ndjson({"id": new_id(50), "name": "State", "kind": "state"}))
    files = [*reversed(two_holders(tmp_path, new_id(50))), organizations]
    code, _, err = run_cli(monkeypatch, capsys, url, *files)
    assert code == 1
    assert "nothing written" in err
    assert "one_holder_at_a_time" in err
    assert schema(url) == before
    assert query(url, "select count(*) from accord_records")[0]["count"] == 0


def test_csv_with_an_unknown_column_is_refused(
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "organizations.csv"
    path.write_bytes(b"id,name,kind,colour\r\n" + f"{new_id(50)},X,agency,red\r\n".encode())
    before = state(target)
    code, _, err = run_cli(monkeypatch, capsys, target, path)
    assert code == 1
    assert f"{path}:1: -: unknown column 'colour'" in err
    assert state(target) == before


def _advisory_locks(url: str) -> int:
    rows = query(
        url,
        "select count(*) from pg_locks where locktype = 'advisory' and database = "
        "(select oid from pg_database where datname = current_database())",
    )
    return int(rows[0]["count"])


def test_post_imports_creates_and_reports(target: str, target_client: Client) -> None:
    body = ndjson(
        {"id": new_id(60), "name": "Posted agency", "kind": "agency", "parent_id": new_id(61)},
        {"id": new_id(61), "name": "Posted state", "kind": "state", "country_code": "MD"},
    )
    response = target_client.post(
        "/v1/imports",
        params={"resource": "organizations"},
        content=body,
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["resources"]["organizations"]["created"] == 2
    assert report["last_seq"] == query(target, "select last_seq from change_log")[0]["last_seq"]
    assert target_client.get(f"/v1/organizations/{new_id(60)}").json()["parent_id"] == new_id(61)
    # The history names the API key that imported.
    entry = target_client.get(f"/v1/organizations/{new_id(60)}/history").json()["items"][0]
    assert entry["api_key_id"] is not None


def test_post_imports_lists_every_bad_line_as_a_problem(target: str, target_client: Client) -> None:
    body = ndjson(
        {"name": "Fine", "kind": "agency"},
        {"name": "", "kind": "agency"},
        {"name": "Fine too", "kind": "agency"},
        {"name": "Orphan", "kind": "agency", "parent_id": new_id(998)},
    )
    before = state(target)
    response = target_client.post(
        "/v1/imports?resource=organizations",
        content=body,
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/invalid-import"
    assert [(e["line"], e["field"], e["source"]) for e in problem["errors"]] == [
        (2, "name", "body"),
        (4, "parent_id", "body"),
    ]
    assert state(target) == before


RUSSIAS_MEMORANDUM = "0193a0a7-0000-7000-8000-000000000001"


def test_memorandum_versions_import_once_and_never_change(
    target: str, target_client: Client
) -> None:
    def post(*lines: dict[str, Any]) -> Any:
        return target_client.post(
            "/v1/imports?resource=memorandum-versions",
            content=ndjson(*lines),
            headers={"Content-Type": "application/x-ndjson"},
        )

    memorandum = target_client.get(f"/v1/memoranda/{RUSSIAS_MEMORANDUM}").json()
    stored = target_client.get(f"/v1/memoranda/{RUSSIAS_MEMORANDUM}/versions/1").json()
    seq = query(target, "select last_seq from change_log")[0]["last_seq"]
    # A version for a memorandum of the same import, before it in the body, is a reference
    # POST /v1/imports cannot resolve (one resource a request): see the round trips.
    second = {
        "memorandum_id": RUSSIAS_MEMORANDUM,
        "number": 2,
        "date": "2025-07",
        "summary": "A second draft.",
        "created_at": "2025-07-20T10:00:00Z",
    }
    response = post(stored, second)
    assert response.status_code == 200, response.text
    report = response.json()["resources"]["memorandum-versions"]
    assert (report["created"], report["unchanged"]) == (1, 1)
    got = target_client.get(f"/v1/memoranda/{RUSSIAS_MEMORANDUM}/versions/2").json()
    assert got == {**second, "full_text": None, "created_at": "2025-07-20T10:00:00Z"}
    after = target_client.get(f"/v1/memoranda/{RUSSIAS_MEMORANDUM}").json()
    assert after["latest_version"] == 2
    assert after["version"] == memorandum["version"]
    # The addition is an update of the memorandum in the change log, as through the API.
    changes = target_client.get("/v1/changes", params={"since": seq}).json()["items"]
    assert [(c["id"], c["action"], c["version"]) for c in changes] == [
        (RUSSIAS_MEMORANDUM, "updated", memorandum["version"])
    ]
    history = target_client.get(f"/v1/memoranda/{RUSSIAS_MEMORANDUM}/history").json()["items"]
    assert history[-1]["changes"] == {"latest_version": {"before": 1, "after": 2}}

    # Versions never change: a stored number with other content is a bad line, as are a
    # number twice, a memorandum found nowhere and a partial date that is no date.
    before = state(target)
    response = post(
        {**second, "summary": "Rewritten."},
        {**second, "number": 3},
        {**second, "number": 3},
        {**second, "number": 4, "memorandum_id": new_id(997)},
        {**second, "number": 5, "date": "2025-13"},
        {**second, "number": 6, "colour": "red"},
    )
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [
        (1, "number"),
        (3, "number"),
        (4, "memorandum_id"),
        (5, "date"),
        (6, "colour"),
    ]
    assert "never changes" in errors[0]["message"]
    assert "also on line 2" in errors[1]["message"]
    assert state(target) == before


def test_post_imports_takes_csv(target_client: Client) -> None:
    other_names = '"[{""name"":""Агентство"",""lang"":""ru""}]"'
    body = (
        "id,name,kind,other_names,note\r\n"
        f'{new_id(70)},"Quoted, with a comma",agency,{other_names},\r\n'
    ).encode()
    response = target_client.post(
        "/v1/imports?resource=organizations",
        content=body,
        headers={"Content-Type": "text/csv; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    got = target_client.get(f"/v1/organizations/{new_id(70)}").json()
    assert got["name"] == "Quoted, with a comma"
    assert got["other_names"] == [{"name": "Агентство", "lang": "ru", "note": None}]
    assert got["note"] is None


def test_post_imports_refuses_other_media_types_and_anonymous_clients(
    target: str, target_client: Client
) -> None:
    before = state(target)
    body = ndjson({"name": "X", "kind": "agency"})
    wrong = target_client.post(
        "/v1/imports?resource=organizations",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert wrong.status_code == 415
    with TestClient(create_app(Settings(database_url=target))) as nobody:
        refused = nobody.post(
            "/v1/imports?resource=organizations",
            content=body,
            headers={"Content-Type": "application/x-ndjson"},
        )
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert state(target) == before


def test_post_imports_caps_the_body(target: str, target_client: Client) -> None:
    key = target_client.headers["Authorization"]
    lines = ndjson(*({"name": f"Capped {i}", "kind": "agency"} for i in range(50)))
    before = state(target)
    settings = Settings(database_url=target, import_max_bytes=len(lines) - 1)
    with TestClient(create_app(settings)) as capped:
        capped.headers["Authorization"] = key
        announced = capped.post(
            "/v1/imports?resource=organizations",
            content=lines,
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert announced.status_code == 413, announced.text

        def chunked() -> Iterator[bytes]:
            for start in range(0, len(lines), 100):
                yield lines[start : start + 100]

        streamed = capped.post(
            "/v1/imports?resource=organizations",
            content=chunked(),
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert streamed.status_code == 413, streamed.text
        assert streamed.json()["type"] == "/problems/too-large"
    assert state(target) == before


def test_a_client_that_disconnects_mid_upload_imports_nothing(target: str) -> None:
    key = make_key(target)
    before = state(target)
    lines = ndjson(*({"name": f"Cut off {i}", "kind": "agency"} for i in range(200)))
    with live_server(target) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(
                b"POST /v1/imports?resource=organizations HTTP/1.1\r\n"
                b"Host: 127.0.0.1\r\n"
                b"Authorization: Bearer " + key.encode() + b"\r\n"
                b"Content-Type: application/x-ndjson\r\n"
                b"Content-Length: " + str(len(lines) * 10).encode() + b"\r\n\r\n" + lines
            )
            # The import has begun (it holds its lock) when the client goes away.
            deadline = time.monotonic() + 20
            while _advisory_locks(target) == 0:
                assert time.monotonic() < deadline, "the import never started"
                time.sleep(0.05)
        deadline = time.monotonic() + 20
        while _advisory_locks(target) > 0:
            assert time.monotonic() < deadline, "the import still runs after the client left"
            time.sleep(0.05)
    assert state(target) == before


def test_one_import_runs_at_a_time(target: str, target_client: Client) -> None:
    loop = asyncio.new_event_loop()
    holder = loop.run_until_complete(asyncpg.connect(target))
    try:
        # Another import holds the lock (taken here as an import takes it).
        loop.run_until_complete(holder.execute("select pg_advisory_lock($1)", imports.LOCK_KEY))
        before = state(target)
        response = target_client.post(
            "/v1/imports?resource=organizations",
            content=ndjson({"name": "Waiting", "kind": "agency"}),
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert response.status_code == 409, response.text
        assert response.json()["type"] == "/problems/import-running"
        assert state(target) == before
    finally:
        loop.run_until_complete(holder.close())
        loop.close()


def test_a_byte_order_mark_is_not_part_of_the_first_line(
    target: str,
    target_client: Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ndjson_path = tmp_path / "organizations.ndjson"
    ndjson_path.write_bytes(
        b"\xef\xbb\xbf" + ndjson({"id": new_id(80), "name": "B", "kind": "agency"})
    )
    csv_path = tmp_path / "officials.csv"
    csv_path.write_bytes(f"\ufeffid,name\r\n{new_id(81)},Bom Official\r\n".encode())
    code, out, err = run_cli(monkeypatch, capsys, target, ndjson_path, csv_path)
    assert code == 0, out + err
    assert target_client.get(f"/v1/officials/{new_id(81)}").json()["name"] == "Bom Official"


def test_records_already_parsed_import_as_lines(target: str, target_client: Client) -> None:
    """The entry point for converters (Popolo): dicts in the NDJSON line shape, validated and
    reported by their number like lines of a file."""
    records: list[dict[str, Any]] = [
        {"id": new_id(90), "name": "Parsed Official", "other_names": [{"name": "Разобранный"}]},
        {"id": new_id(91), "name": "Parsed Two", "wikidata_id": "not a QID"},
    ]

    async def run(partial: bool) -> imports.ImportReport:
        conn = await asyncpg.connect(target)
        try:
            await database.init_connection(conn)
            source = imports.Source(resource="officials", lines=imports.lines_of(records))
            return await imports.run(conn, [source], tables=registry.TABLES, partial=partial)
        finally:
            await conn.close()

    before = state(target)
    with pytest.raises(imports.BadLinesError) as failed:
        asyncio.run(run(partial=False))
    errors = failed.value.report.resources["officials"].errors
    assert [(e.line, e.field) for e in errors] == [(2, "wikidata_id")]
    assert state(target) == before
    report = asyncio.run(run(partial=True))
    assert report.resources["officials"].created == 1
    got = target_client.get(f"/v1/officials/{new_id(90)}").json()
    assert got["other_names"] == [{"name": "Разобранный", "lang": None, "note": None}]


def test_the_collector_runs_less_often_only_while_an_import_parses(target: str) -> None:
    """The cycle collector's threshold is the process's: an import raises it for its parse
    and puts it back after, whether the import succeeds, finds bad lines or fails mid-parse;
    imports parsing at once share one raise."""
    usual = gc.get_threshold()
    seen: list[int] = []

    async def lines(
        *records: dict[str, Any] | Exception,
    ) -> AsyncIterator[tuple[int, imports.Raw | FieldError]]:
        for number, record in enumerate(records, 1):
            seen.append(gc.get_threshold()[0])
            if isinstance(record, Exception):
                raise record
            yield number, record

    async def run(*records: dict[str, Any] | Exception) -> imports.ImportReport:
        conn = await asyncpg.connect(target)
        try:
            await database.init_connection(conn)
            source = imports.Source(resource="organizations", lines=lines(*records))
            return await imports.run(conn, [source], tables=registry.BULK, dry_run=True)
        finally:
            await conn.close()

    good = {"name": "Collected", "kind": "agency"}
    assert asyncio.run(run(good)).resources["organizations"].created == 1
    assert gc.get_threshold() == usual
    with pytest.raises(imports.BadLinesError):
        asyncio.run(run(good, {"name": "", "kind": "agency"}))
    assert gc.get_threshold() == usual
    with pytest.raises(ConnectionResetError):
        asyncio.run(run(good, ConnectionResetError("the client went away")))
    assert gc.get_threshold() == usual
    assert len(seen) == 5
    assert all(threshold >= 50_000 for threshold in seen)
    with imports.fewer_collections():
        with imports.fewer_collections():
            assert gc.get_threshold()[0] >= 50_000
        assert gc.get_threshold()[0] >= 50_000  # the other is still parsing
    assert gc.get_threshold() == usual
