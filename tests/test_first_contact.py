"""A newcomer's first contact: `accord serve` says which database it uses, loads the worked
example once per database and never again over what a user deleted or changed, `accord seed`
says what it did (and puts missing records back only when asked), and a database has one valid
development key at a time. Each test has a database of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from litestar.testing import TestClient

from service import cli, migrations, seed
from service.app import create_app
from service.settings import Settings
from tests import ids
from tests.conftest import Client, Databases, make_key, query

DATA_DIR = Path("/var/lib/accord-test/pgdata")
"""What serve is told is the embedded server's data directory (the test database stands in)."""

Start = Callable[..., str]


@pytest.fixture
def own_database(databases: Databases, request: pytest.FixtureRequest) -> str:
    """A migrated database with the worked example, for this test alone."""
    return databases.create(request.node.name.removeprefix("test_")[:30])


@pytest.fixture
def client(own_database: str) -> Iterator[Client]:
    with TestClient(create_app(Settings(database_url=own_database))) as test_client:
        test_client.headers["Authorization"] = f"Bearer {make_key(own_database)}"
        yield test_client


@pytest.fixture
def start(
    own_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Start:
    """Runs `accord serve` up to where uvicorn would take over; what it printed. By default on
    "the embedded database" (no URL configured), which the test database stands in for."""

    async def embedded_server(url: str | None, _: object) -> str:
        return url or own_database

    monkeypatch.setattr(cli, "resolve_url", embedded_server)
    monkeypatch.setattr("uvicorn.run", lambda *_, **__: None)
    # serve hands its URL to the workers in the environment: undone after the test.
    monkeypatch.setenv("ACCORD_DATABASE_URL", "")

    def run(*, configured: bool = False, load_seed: bool = False) -> str:
        settings = Settings(database_url=own_database if configured else None, data_dir=DATA_DIR)
        cli.serve(settings, "127.0.0.1", 8000, 1, load_seed, True)
        return capsys.readouterr().out

    return run


def accord(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    """Runs an `accord` command on ``url``: its exit status and what it printed (on stdout,
    then stderr)."""
    monkeypatch.setenv("ACCORD_DATABASE_URL", url)
    status = cli.main(list(args))
    printed = capsys.readouterr()
    return status, printed.out + printed.err


def count(url: str, rows: str, *args: object) -> int:
    """How many rows ``select count(*) <rows>`` finds."""
    found: int = query(url, f"select count(*) {rows}", *args)[0][0]
    return found


def without_revision(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("version", "created_at", "updated_at")}


def test_serve_says_which_database_it_uses(start: Start, own_database: str) -> None:
    embedded = start()
    assert f"Database:   embedded PostgreSQL, data in {DATA_DIR} (database " in embedded
    configured = start(configured=True)
    line = next(line for line in configured.splitlines() if "Database:" in line)
    assert line.strip().startswith("Database:   PostgreSQL at ")
    assert f", database {urlsplit(own_database).path.lstrip('/')}" in line


def test_the_database_is_named_without_its_password() -> None:
    url = "postgresql://alice:s3cret@db.example:5433/accord?sslmode=require"
    assert cli.where(url, None) == "PostgreSQL at db.example:5433, database accord, user alice"
    several = "postgresql://bob:pw@one:5432,two:5432/accord"
    assert cli.where(several, None) == "PostgreSQL at one:5432,two:5432, database accord, user bob"
    socket = "postgresql:///accord?host=/run/postgresql"
    assert cli.where(socket, None) == "PostgreSQL at /run/postgresql, database accord"
    assert cli.where(url, DATA_DIR) == f"embedded PostgreSQL, data in {DATA_DIR} (database accord)"


def test_what_a_user_deleted_or_changed_stays_so_across_starts(
    start: Start,
    client: Client,
    own_database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert client.delete(f"/v1/statements/{ids.PESKOV_BRIEFING}").status_code == 204
    renamed = client.patch(f"/v1/organizations/{ids.RUSSIA}", json={"name": "Russian Federation"})
    assert renamed.status_code == 200, renamed.text
    first, again = start(), start()
    for printed in (first, again):
        assert "the worked example was loaded on " in printed
        assert "1 of its records is missing (deleted since):" in printed
        assert f"statement {ids.PESKOV_BRIEFING}" in printed
    assert client.get(f"/v1/statements/{ids.PESKOV_BRIEFING}").status_code == 404
    history = client.get(f"/v1/statements/{ids.PESKOV_BRIEFING}/history").json()["items"]
    assert [entry["operation"] for entry in history] == ["delete"]
    assert client.get(f"/v1/organizations/{ids.RUSSIA}").json()["name"] == "Russian Federation"
    # Loaded once: when, as the database recorded it, is what both starts and `seed` report.
    loaded = query(own_database, "select loaded_at from seeds where name = 'worked_example'")
    status, printed = accord(own_database, monkeypatch, capsys, "seed")
    assert status == 0
    when = loaded[0]["loaded_at"].strftime("%Y-%m-%d %H:%M UTC")
    assert f"the worked example was loaded on {when}; nothing changed" in printed
    assert "`accord seed --restore-missing` puts them back" in printed


def test_seed_loads_a_database_that_never_had_the_example_once(
    databases: Databases, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = databases.create_empty("seed_once")

    async def migrate_and_seed_twice_at_once() -> list[bool]:
        conn = await asyncpg.connect(url)
        try:
            await migrations.migrate(conn)
        finally:
            await conn.close()

        async def one() -> bool:
            conn = await asyncpg.connect(url)
            try:
                return (await seed.load(conn)).now
            finally:
                await conn.close()

        return list(await asyncio.gather(one(), one()))

    assert sorted(asyncio.run(migrate_and_seed_twice_at_once())) == [False, True]
    assert count(url, "from statements") == 3
    status, printed = accord(url, monkeypatch, capsys, "seed")
    assert status == 0
    assert "nothing changed" in printed
    assert "missing" not in printed


def test_restore_missing_puts_back_only_what_is_missing(
    client: Client,
    own_database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    statement = f"/v1/statements/{ids.PESKOV_BRIEFING}"
    as_seeded = client.get(statement).json()
    assert as_seeded["about"]
    assert as_seeded["citations"]
    assert client.delete(statement).status_code == 204
    # A changed record keeps its changes, lists included.
    talks = f"/v1/negotiations/{ids.ISTANBUL_TALKS}"
    assert client.patch(talks, json={"mediators": []}).status_code == 200
    post = f"/v1/statements/{ids.MEDINSKY_POST}"
    assert client.patch(post, json={"quote": "Reworded."}).status_code == 200

    status, printed = accord(own_database, monkeypatch, capsys, "seed", "--restore-missing")
    assert status == 0
    assert f"restored statement {ids.PESKOV_BRIEFING}" in printed
    assert "restored 1 record of the worked example" in printed
    restored = client.get(statement).json()
    assert without_revision(restored) == without_revision(as_seeded)
    # Its history goes on from the delete: a create by no API key, at the next version.
    history = client.get(f"{statement}/history").json()["items"]
    assert [(e["operation"], e["version"], e["api_key_id"]) for e in history] == [
        ("delete", 1, history[0]["api_key_id"]),
        ("create", 2, None),
    ]
    assert history[1]["changes"]["quote"]["after"] == as_seeded["quote"]
    assert restored["version"] == 2
    assert client.get(talks).json()["mediators"] == []
    assert client.get(post).json()["quote"] == "Reworded."
    timeline = client.get("/v1/timeline", params={"kind": "statement"}).json()["items"]
    assert ids.PESKOV_BRIEFING in {item["id"] for item in timeline}
    # A copy kept in sync by the change log sees the record come back.
    log = client.get("/v1/changes", params={"resource": "statements"}).json()["items"]
    followed = [(c["action"], c["version"]) for c in log if c["id"] == ids.PESKOV_BRIEFING]
    assert followed == [("deleted", 1), ("created", 2)]

    status, printed = accord(own_database, monkeypatch, capsys, "seed", "--restore-missing")
    assert status == 0
    assert "restored 0 records" in printed


def test_restore_missing_changes_nothing_when_a_new_record_stands_in_the_way(
    client: Client,
    own_database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The awaited third round deleted and another third round made in its place: putting the
    old one back would break "one ordinal per negotiation", so nothing is restored at all,
    not even the deleted records that would fit."""
    peskov = f"/v1/statements/{ids.PESKOV_BRIEFING}"
    assert client.patch(peskov, json={"about": [ids.ISTANBUL_TALKS]}).status_code == 200
    assert client.delete(f"/v1/rounds/{ids.ROUND_3}").status_code == 204
    assert client.delete(f"/v1/claims/{ids.MEDINSKY_AFFIRMS}").status_code == 204
    third = {"negotiation_id": ids.ISTANBUL_TALKS, "ordinal": 3, "status": "proposed"}
    assert client.post("/v1/rounds", json=third).status_code == 201

    status, printed = accord(own_database, monkeypatch, capsys, "seed", "--restore-missing")
    assert status == 1
    assert "nothing restored: duplicate key value" in printed
    assert client.get(f"/v1/rounds/{ids.ROUND_3}").status_code == 404
    assert client.get(f"/v1/claims/{ids.MEDINSKY_AFFIRMS}").status_code == 404


def test_a_database_seeded_before_it_was_recorded_counts_as_seeded(
    databases: Databases,
) -> None:
    """Databases that got the example (and development keys) before migration 0008: it
    records the example as loaded when it was, and keeps only the newest development key."""
    url = databases.create_empty("seeded_before")

    async def before_0008() -> None:
        conn = await asyncpg.connect(url)
        try:
            await migrations.migrate(conn, through=7)
            await conn.execute(seed.SEED_FILE.read_text(encoding="utf-8"))
            await conn.execute("delete from claims where id = $1", ids.HEADQUARTERS_DENIES)
            for _ in range(2):
                await conn.execute(
                    "insert into api_keys (name, scopes, secret_digest, expires_at) values "
                    "('development key (accord serve)', '{write,admin}', "
                    "sha256(gen_random_uuid()::text::bytea), now() + interval '1 day')"
                )
            await migrations.migrate(conn)
            assert not (await seed.load(conn)).now
        finally:
            await conn.close()

    asyncio.run(before_0008())
    recorded = query(url, "select loaded_at, checksum from seeds")
    created = query(url, "select created_at from organizations where id = $1", ids.RUSSIA)
    assert [(r["loaded_at"], r["checksum"]) for r in recorded] == [(created[0][0], None)]
    assert count(url, "from claims where id = $1", ids.HEADQUARTERS_DENIES) == 0
    assert count(url, "from api_keys where development and revoked_at is null") == 1


def test_each_start_replaces_the_development_key(
    start: Start, client: Client, own_database: str
) -> None:
    def key_in(printed: str) -> dict[str, str]:
        line = next(line for line in printed.splitlines() if "Development API key" in line)
        return {"Authorization": f"Bearer {line.split()[-1]}"}

    first = start()
    assert "one development key per database" in first
    assert "the next start revokes it" in first
    second = start()
    assert "the previous one is now revoked" in second
    body = {"name": "Tried in Swagger UI", "kind": "other"}
    earlier = client.post("/v1/organizations", json=body, headers=key_in(first))
    assert earlier.status_code == 401
    assert earlier.json()["detail"] == "This API key has been revoked."
    assert client.post("/v1/organizations", json=body, headers=key_in(second)).status_code == 201
    valid = "from api_keys where development and revoked_at is null and expires_at > now()"
    assert count(own_database, valid) == 1
    # PostgreSQL refuses a second one, whoever tries.
    with pytest.raises(asyncpg.UniqueViolationError):
        query(
            own_database,
            "insert into api_keys (name, scopes, secret_digest, development) "
            "values ('another', '{write}', sha256('x'), true)",
        )
    # A configured database gets no development key at all.
    assert "Development API key" not in start(configured=True)
