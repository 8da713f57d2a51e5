"""First contact, the way a consumer makes it: `openapi-python-client` generates a Python client
from the committed contract (`openapi/openapi.json`), and the test drives that client against
the real server — uvicorn in a subprocess on a seeded database of its own. Lists, cursors,
ETags, keys, `If-Match` and problem details must all work through the generated types alone,
so a contract that reads well but generates badly fails here. Generating takes seconds, so it
happens once per session; the package is imported from its temporary directory and forgotten
when this module is done, so it cannot leak into other tests."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import pytest

from tests import ids
from tests.conftest import Databases, live_server, make_key, query

CONTRACT = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"
PACKAGE = "accord_client"


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated package's directory. Every warning the generator prints is about a part
    of the contract it could not turn into code, so any output beyond its one progress line
    fails the session's use of it."""
    root = tmp_path_factory.mktemp("generated-client")
    config = root / "config.yaml"
    # The default post-hooks format the code with ruff from PATH; importing it needs no format.
    # An import's body (NDJSON or CSV lines) goes as the bytes of a file, the generator's way
    # for a media type it has no model for.
    config.write_text(
        "post_hooks: []\n"
        "content_type_overrides:\n"
        "  application/x-ndjson: application/octet-stream\n"
        "  text/csv: application/octet-stream\n"
    )
    package = root / PACKAGE
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(CONTRACT),
            "--meta",
            "none",
            "--output-path",
            str(package),
            "--config",
            str(config),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output == f"Generating {package}\n", output
    return package


@pytest.fixture(scope="module")
def client_package(generated: Path) -> Iterator[ModuleType]:
    """The generated package, imported from its directory without putting it on sys.path."""
    spec = importlib.util.spec_from_file_location(
        PACKAGE, generated / "__init__.py", submodule_search_locations=[str(generated)]
    )
    assert spec is not None
    assert spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    # Its modules import each other relatively, which needs the package in sys.modules.
    sys.modules[PACKAGE] = package
    try:
        spec.loader.exec_module(package)
        yield package
    finally:
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def generated_module(name: str) -> ModuleType:
    """A module of the generated package (imported by `client_package`), e.g.
    `api.officials.list_officials` or `models`."""
    return importlib.import_module(f"{PACKAGE}.{name}")


@pytest.fixture(scope="module")
def server(databases: Databases) -> Iterator[tuple[str, str, str]]:
    """The service as `accord serve` runs it, on a seeded database of its own: its base URL,
    the database URL and an API key with the `write` scope."""
    url = databases.create("client")
    token = make_key(url)
    with live_server(url) as base:
        yield base, url, token


@pytest.fixture
def reader(client_package: ModuleType, server: tuple[str, str, str]) -> Iterator[Any]:
    """The generated `Client`, for reads; it raises on a status the contract does not list."""
    with client_package.Client(base_url=server[0], raise_on_unexpected_status=True) as client:
        yield client


@pytest.fixture
def writer(client_package: ModuleType, server: tuple[str, str, str]) -> Iterator[Any]:
    """The generated `AuthenticatedClient` with a `write` key (sent as `Bearer`)."""
    base, _, token = server
    with client_package.AuthenticatedClient(
        base_url=base, token=token, raise_on_unexpected_status=True
    ) as client:
        yield client


def test_a_list_by_name_reads_as_typed_records(reader: Any) -> None:
    list_officials = generated_module("api.officials.list_officials")
    models = generated_module("models")
    response = list_officials.sync_detailed(client=reader, name="Мединский")
    assert response.status_code == 200
    page = response.parsed
    assert isinstance(page, models.OfficialPage)
    assert isinstance(page.items[0], models.Official)
    assert page.items[0].name == "Vladimir Medinsky"
    assert page.items[0].id == UUID(ids.MEDINSKY)
    # The server sends every field of a record, so the client types none as possibly absent.
    hints = models.Official.__annotations__
    assert [name for name, hint in hints.items() if "Unset" in hint] == []


def test_next_cursor_leads_to_the_end_of_a_collection(
    reader: Any, server: tuple[str, str, str]
) -> None:
    list_officials = generated_module("api.officials.list_officials")
    models = generated_module("models")
    seen: list[UUID] = []
    pages = 0
    cursor = None
    while True:
        response = list_officials.sync_detailed(client=reader, limit=2, cursor=cursor)
        assert response.status_code == 200
        assert isinstance(response.parsed, models.OfficialPage)
        seen.extend(official.id for official in response.parsed.items)
        pages += 1
        cursor = response.parsed.next_cursor
        if cursor is None:
            break
    stored = [row["id"] for row in query(server[1], "select id from officials order by id")]
    assert pages > 2
    assert seen == stored


def test_create_patch_and_delete_with_etags(reader: Any, writer: Any) -> None:
    officials = "api.officials"
    create = generated_module(f"{officials}.create_official")
    get = generated_module(f"{officials}.get_official")
    update = generated_module(f"{officials}.update_official")
    delete = generated_module(f"{officials}.delete_official")
    models = generated_module("models")

    made = create.sync_detailed(
        client=writer,
        body=models.OfficialCreate(name="Ihor Brusylo", note="first contact"),
        idempotency_key="generated-client-create",
    )
    assert made.status_code == 201, made.content
    assert isinstance(made.parsed, models.Official)
    official = made.parsed
    assert made.headers["Location"].endswith(f"/v1/officials/{official.id}")
    retried = create.sync_detailed(
        client=writer,
        body=models.OfficialCreate(name="Ihor Brusylo", note="first contact"),
        idempotency_key="generated-client-create",
    )
    assert retried.status_code == 201
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.parsed.id == official.id

    read = get.sync_detailed(official.id, client=reader)
    assert read.status_code == 200
    assert isinstance(read.parsed, models.Official)
    assert read.parsed.note == "first contact"
    etag = read.headers["ETag"]
    assert get.sync_detailed(official.id, client=reader, if_none_match=etag).status_code == 304

    changed = update.sync_detailed(
        official.id, client=writer, body=models.OfficialPatch(note="changed"), if_match=etag
    )
    assert changed.status_code == 200, changed.content
    assert isinstance(changed.parsed, models.Official)
    assert changed.parsed.note == "changed"
    assert changed.parsed.version == read.parsed.version + 1
    assert changed.headers["ETag"] != etag

    stale = update.sync_detailed(
        official.id, client=writer, body=models.OfficialPatch(note="lost"), if_match=etag
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.Problem)
    assert stale.parsed.status == 412
    assert stale.parsed.type_.endswith("stale"), stale.parsed.type_
    assert stale.parsed.detail

    assert delete.sync_detailed(official.id, client=writer, if_match=etag).status_code == 412
    gone = delete.sync_detailed(official.id, client=writer, if_match=changed.headers["ETag"])
    assert gone.status_code == 204
    missing = get.sync_detailed(official.id, client=reader)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.Problem)
    assert missing.parsed.status == 404


def test_problem_details_read_as_the_documented_model(
    client_package: ModuleType, server: tuple[str, str, str], reader: Any, writer: Any
) -> None:
    list_officials = generated_module("api.officials.list_officials")
    create = generated_module("api.officials.create_official")
    models = generated_module("models")

    # Errors are documented as application/problem+json; the generator reads a `+json` media
    # type as JSON, so the operation's own parser returns the `Problem` model.
    refused = list_officials.sync_detailed(client=reader, limit=500)
    assert refused.status_code == 400
    problem = refused.parsed
    assert isinstance(problem, models.Problem)
    assert problem.status == 400
    assert problem.type_
    assert problem.title == "Bad Request"
    assert [(e.field, e.source) for e in problem.errors] == [("limit", "query")]
    assert all(isinstance(e, models.FieldError) and e.message for e in problem.errors)

    # An empty name is well typed for the client but breaks the contract's minLength.
    invalid = create.sync_detailed(client=writer, body=models.OfficialCreate(name=""))
    assert invalid.status_code == 400
    assert isinstance(invalid.parsed, models.Problem)
    assert [(e.field, e.source) for e in invalid.parsed.errors] == [("name", "body")]

    with client_package.AuthenticatedClient(base_url=server[0], token="not-a-key") as stranger:
        unauthorised = create.sync_detailed(
            client=stranger, body=models.OfficialCreate(name="Nobody")
        )
    assert unauthorised.status_code == 401
    assert isinstance(unauthorised.parsed, models.Problem)
    assert unauthorised.headers["WWW-Authenticate"].startswith("Bearer")
