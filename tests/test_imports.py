"""The import engine, ``accord import`` and ``POST /v1/imports`` against real PostgreSQL: an
export imported into an empty database reads back byte for byte; references resolve within an
import, in any order, and to stored records; ids upsert; and every kind of bad input is
reported, line by line, with the database exactly as before."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import TestClient

from service import cli, migrations
from service.app import create_app
from service.resources import registry
from service.settings import Settings
from tests.conftest import Client, Databases, all_pages, query

NAMES = list(registry.TABLES)


def export(client: Client) -> dict[str, list[bytes]]:
    """Every record of every resource as its NDJSON line (until the export endpoints land,
    the items of the JSON pages, which are the same bytes)."""
    return {
        name: [msgspec.json.encode(item) for item in all_pages(client, f"/v1/{name}", 200)]
        for name in NAMES
    }


def write_files(folder: Path, lines: dict[str, list[bytes]]) -> list[Path]:
    paths = []
    for name, records in lines.items():
        path = folder / f"{name}.ndjson"
        path.write_bytes(b"".join(line + b"\n" for line in records))
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


def _without(body: bytes, name: str) -> dict[str, Any]:
    found: dict[str, Any] = msgspec.json.decode(body)
    found.pop(name)
    return found


def state(url: str) -> dict[str, Any]:
    """What an import must leave as it was when it fails: every record table's rows (as
    text), the change log's position and the history's size."""
    found: dict[str, Any] = {}
    for table in [t.table for t in registry.TABLES.values()] + ["citations", "tenures"]:
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


def test_round_trip_of_the_worked_example(
    source: Client,
    databases: Databases,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = export(source)
    target = migrated_empty(databases, "imports_round_trip")
    # Files named in reverse fill order: the engine orders them itself.
    paths = list(reversed(write_files(tmp_path, lines)))
    code, out, err = run_cli(monkeypatch, capsys, target, *paths)
    assert code == 0, out + err
    with TestClient(create_app(Settings(database_url=target))) as copy:
        for name in NAMES:
            for line in lines[name]:
                ident = msgspec.json.decode(line)["id"]
                original = source.get(f"/v1/{name}/{ident}")
                imported = copy.get(f"/v1/{name}/{ident}")
                assert imported.status_code == 200, (name, ident)
                if name == "memoranda":
                    # A memorandum's versions are a list of their own (POST …/versions), not a
                    # resource an export carries: its `latest_version` is derived from them.
                    assert _without(imported.content, "latest_version") == _without(
                        original.content, "latest_version"
                    )
                    continue
                assert imported.content == original.content, (name, ident)
