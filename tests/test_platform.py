"""The platform around the resources: contract, docs, health, migrations."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from service import embedded, migrations
from service.cli import contract
from service.commands import CONTRACT
from service.settings import Settings
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


def test_every_page_schema_refers_to_the_schema_of_its_items(client: Client) -> None:
    # A page's items are the records a GET of one returns, so a generated client reads them
    # with the same model; search and the timeline have item schemas of their own.
    document = client.get("/docs/openapi.json").json()
    schemas = document["components"]["schemas"]
    pages = {
        name: schema
        for name, schema in schemas.items()
        if name.endswith("Page") and name != "ChangePage"
    }
    assert len(pages) >= 20
    for name, page in pages.items():
        assert page["required"] == ["items", "next_cursor"], name
        ref = page["properties"]["items"]["items"]["$ref"]
        assert ref.removeprefix("#/components/schemas/") in schemas, name
    assert pages["SearchPage"]["properties"]["items"]["items"]["$ref"].endswith("/SearchResult")
    assert pages["TimelinePage"]["properties"]["items"]["items"]["$ref"].endswith("/TimelineItem")
    for path, operations in document["paths"].items():
        one = operations.get("get") if path.endswith("/{id}") else None
        listed = document["paths"].get(path.removesuffix("/{id}"), {}).get("get")
        if one is None or listed is None:
            continue
        record = one["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page = listed["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page_schema = schemas[page.removeprefix("#/components/schemas/")]
        assert page_schema["properties"]["items"]["items"]["$ref"] == record, path
    # The change log's items: one schema per collection, told apart by `resource`, each with
    # the record schema of its collection.
    changes = schemas["ChangePage"]["properties"]["items"]["items"]
    assert changes["discriminator"]["propertyName"] == "resource"
    assert len(changes["oneOf"]) == len(changes["discriminator"]["mapping"]) == 13
    for resource, ref in changes["discriminator"]["mapping"].items():
        change = schemas[ref.removeprefix("#/components/schemas/")]
        assert change["properties"]["resource"]["const"] == resource
        # The discriminator can read it: every change has one.
        assert "resource" in change["required"]
        record = change["properties"]["record"]["$ref"]
        listed = document["paths"][f"/v1/{resource}"]["get"]["responses"]["200"]
        page = listed["content"]["application/json"]["schema"]["$ref"]
        items = schemas[page.removeprefix("#/components/schemas/")]["properties"]["items"]
        assert items["items"]["$ref"] == record, resource


def test_every_response_header_has_a_schema(client: Client) -> None:
    document = client.get("/docs/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                headers = response.get("headers", {})
                for name, given in headers.items():
                    header = (
                        document["components"]["headers"][given["$ref"].split("/")[-1]]
                        if "$ref" in given
                        else given
                    )
                    assert header["schema"]["type"] == "string", (method, path, status, name)
                assert "X-Request-ID" in headers, (method, path, status)
                if status in {"401", "429", "503"}:
                    assert response["headers"], (method, path, status)


def _schemas_in(node: object) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_schemas_in(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_schemas_in(value))
    return found


def test_no_composition_has_a_lone_branch(client: Client) -> None:
    document = client.get("/docs/openapi.json").json()
    for node in _schemas_in(document):
        for keyword in ("oneOf", "anyOf"):
            assert len(node.get(keyword, [None, None])) >= 2, node  # type: ignore[arg-type]
        # An allOf of one schema only carries what stands beside it (examples, a description).
        assert list(node) != ["allOf"] or len(node["allOf"]) >= 2, node  # type: ignore[arg-type]


def _strings(node: object) -> list[dict[str, object]]:
    """The free-text string schemas in a schema: of type string (alone or as a branch of a
    ``oneOf`` whose constraints sit beside it), not an enum, constant, uuid or date."""
    found: list[dict[str, object]] = []
    if isinstance(node, list):
        for value in node:
            found.extend(_strings(value))
    if not isinstance(node, dict):
        return found
    branches = node.get("oneOf", [])
    if node.get("type") == "string" or {"type": "string"} in branches:
        kinds = [node, *branches]
        if not any(
            "enum" in k or "const" in k or k.get("format") in {"uuid", "date"} for k in kinds
        ):
            found.append(node)
    for key, value in node.items():
        if key == "oneOf":
            for branch in value:
                if branch != {"type": "string"}:
                    found.extend(_strings(branch))
        else:
            found.extend(_strings(value))
    return found


def test_the_contract_refuses_what_postgresql_cannot_store(client: Client) -> None:
    # Every free-text string a client can send carries a pattern that refuses NUL; partial
    # dates and instants refuse year 0000, month 00, day 00 and hour 24.
    document = client.get("/docs/openapi.json").json()
    inputs = [
        schema
        for name, schema in document["components"]["schemas"].items()
        if name.endswith(("Create", "Patch"))
    ]
    inputs += [
        parameter["schema"]
        for operations in document["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    ]
    strings = [string for schema in inputs for string in _strings(schema)]
    assert len(strings) > 50
    for node in strings:
        pattern = node.get("pattern")
        assert isinstance(pattern, str), node
        assert not re.search(pattern, "a\x00b"), node
    partial_date = document["components"]["schemas"]["RoundCreate"]["properties"]["start_date"]
    for bad in ("0000", "2025-00", "2025-07-00", "2025-13"):
        assert not re.search(partial_date["pattern"], bad), bad
    since = next(
        parameter["schema"]["pattern"]
        for parameter in document["paths"]["/v1/officials"]["get"]["parameters"]
        if parameter["name"] == "updated_since"
    )
    for bad in ("0000-00-00T00:00Z", "2025-07-17T24:00Z", "2025-07-17T10:60Z"):
        assert not re.search(since, bad), bad
    assert re.search(since, "2025-07-17T10:00:00.5+03:00")


def test_summaries_use_the_right_article(client: Client) -> None:
    document = client.get("/docs/openapi.json").json()
    summaries = [
        operation["summary"]
        for operations in document["paths"].values()
        for operation in operations.values()
    ]
    assert "Claims about an organization" in summaries
    assert "Claims about a role change" in summaries
    for summary in summaries:
        assert not re.search(r"\ba [aeiou]|\ban [^aeiou ]", summary, re.IGNORECASE), summary


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
    webhooks = links.pop("createWebhook")
    assert webhooks.keys() == {
        "getWebhook",
        "updateWebhook",
        "deleteWebhook",
        "listWebhookDeliveries",
        "retryWebhookDelivery",
    }
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


@pytest.mark.parametrize("args", [["--help"], []])
def test_the_bootstrap_lists_every_command_before_installing_anything(args: list[str]) -> None:
    """`python3 -m service --help` (or no command) on a bare Python: `-S` hides the installed
    packages, so the help cannot need them (nor install them first)."""
    done = subprocess.run(
        [sys.executable, "-S", "-m", "service", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == (0 if args else 2), done.stderr
    shown = done.stdout if args else done.stdout + done.stderr
    assert "installing" not in done.stderr
    listed = re.findall(r"^    (\w+) ", shown, re.MULTILINE)
    assert listed == ["serve", "db", "seed", "keys", "export", "import", "openapi", "test", "bench"]


def test_every_setting_can_come_from_the_environment(tmp_path: Path) -> None:
    environ = {"ACCORD_DATA_DIR": str(tmp_path), "ACCORD_PORT": "8001", "ACCORD_HOST": "::1"}
    settings = Settings.from_env(environ)
    assert (settings.data_dir, settings.port, settings.host) == (tmp_path, 8001, "::1")
    with pytest.raises(SystemExit, match="ACCORD_"):
        Settings.from_env({"ACCORD_PORT": "eighty"})


def test_the_benchmark_drops_its_own_database_however_the_run_ends(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run makes a database of its own on the server and drops it, here after a run that
    failed midway (the benchmark itself is smoke-tested by CI)."""
    import bench.__main__ as bench

    made: list[str] = []

    def fails_midway(options: object, server: str, database: str) -> None:
        asyncio.run(embedded.recreate_database(server, database))
        made.append(database)
        raise RuntimeError("midway")

    monkeypatch.setattr(bench, "run", fails_midway)
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # pytest keeps its own SIGTERM
    monkeypatch.setenv("ACCORD_DATABASE_URL", server_url)
    monkeypatch.setattr(sys, "argv", ["bench", "--smoke"])
    for _ in range(2):
        with pytest.raises(RuntimeError, match="midway"):
            bench.main()
    assert len(set(made)) == 2
    for name in made:
        assert re.fullmatch(r"accord_bench_\d+_[0-9a-f]{6}", name)
        assert not query(server_url, "select from pg_database where datname = $1", name)
