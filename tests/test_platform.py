"""The platform around the resources: contract, docs, health, migrations."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import asyncpg
import pytest

from service import migrations
from service.cli import CONTRACT, contract
from tests.conftest import Client, Databases, query

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_contract_is_the_served_one(client: Client) -> None:
    committed = (ROOT / CONTRACT).read_bytes()
    assert committed == contract(), "openapi/openapi.json is stale: run `accord openapi`"
    served = client.get("/docs/openapi.json").json()
    assert served["paths"].keys() == json.loads(committed)["paths"].keys()


def test_every_operation_has_an_id_a_tag_and_documented_problems(client: Client) -> None:
    document = client.get("/docs/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("operationId"), (method, path)
            assert operation.get("tags"), (method, path)
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"], (
                        method,
                        path,
                        status,
                    )


def test_every_create_links_to_what_can_be_done_with_its_record(client: Client) -> None:
    document = client.get("/docs/openapi.json").json()
    links = {
        operation["operationId"]: operation["responses"]["201"].get("links", {})
        for operations in document["paths"].values()
        for operation in operations.values()
        if operation["operationId"].startswith("create")
    }
    keys = links.pop("createApiKey")
    assert keys.keys() == {"getApiKey", "revokeApiKey"}
    assert len(links) == 13
    for create, its in links.items():
        name = create.removeprefix("create")
        for target in ("get", "update", "delete", "list{}History", "list{}Claims"):
            operation = target.format(name) if "{}" in target else target + name
            assert its[operation]["parameters"] == {"id": "$response.body#/id"}, operation
    # Sub-collections of the record, and the records that refer to it by `<name>_id`.
    assert "addMemorandumVersion" in links["createMemorandum"]
    assert "listSourceCitations" in links["createSource"]
    assert "listPostHolders" in links["createPost"]
    for child in ("createRound", "createDelegation", "createMemorandum"):
        body = links["createNegotiation"][child]["requestBody"]
        assert body == {"negotiation_id": "$response.body#/id"}
    assert links["createRound"]["createAgreement"]["requestBody"] == {
        "round_id": "$response.body#/id"
    }


def test_swagger_ui_is_served_with_no_external_url(client: Client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "SwaggerUIBundle" in page.text
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*["']([^"']+)["']""", page.text)
    assert urls
    for url in urls:
        assert url.startswith("/"), url
        assert client.get(url).status_code == 200, url
    assert "http://" not in page.text
    assert "https://" not in page.text


def test_swagger_ui_bundle_is_version_5(client: Client) -> None:
    bundle = client.get("/docs/assets/swagger-ui-bundle.js").text
    assert re.search(r'"5\.\d+\.\d+"', bundle)


def test_health(client: Client) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ok"}


def test_unknown_routes_are_problem_404s(client: Client) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert client.delete("/v1/organizations").status_code == 405


async def _migrate_concurrently(url: str, runs: int) -> list[int]:
    async def one() -> int:
        conn = await asyncpg.connect(url)
        try:
            return len(await migrations.migrate(conn))
        finally:
            await conn.close()

    return list(await asyncio.gather(*(one() for _ in range(runs))))


@pytest.fixture
def empty_database(databases: Databases, request: pytest.FixtureRequest) -> str:
    return databases.create_empty(request.node.name.removeprefix("test_")[:30])


def test_concurrent_migrations_apply_each_file_once(empty_database: str) -> None:
    applied = asyncio.run(_migrate_concurrently(empty_database, 4))
    # Runs take turns file by file, so the files may be shared out among them.
    assert sum(applied) == len(migrations.discover())
    rows = query(empty_database, "select version from schema_migrations order by version")
    assert [r["version"] for r in rows] == [m.version for m in migrations.discover()]


def test_migrating_through_a_version_stops_there(empty_database: str) -> None:
    async def run() -> tuple[int, int]:
        conn = await asyncpg.connect(empty_database)
        try:
            first = len(await migrations.migrate(conn, through=1))
            rest = len(await migrations.migrate(conn))
        finally:
            await conn.close()
        return first, rest

    assert asyncio.run(run()) == (1, len(migrations.discover()) - 1)


def test_an_edited_applied_migration_is_refused(
    empty_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_migrate_concurrently(empty_database, 1))
    copy = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, copy)
    first = sorted(copy.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", copy)

    async def check() -> None:
        conn = await asyncpg.connect(empty_database)
        try:
            states = await migrations.status(conn)
            assert states[0].status == "changed"
            with pytest.raises(migrations.MigrationError, match="edited after it was applied"):
                await migrations.migrate(conn)
        finally:
            await conn.close()

    asyncio.run(check())
