"""Who may write: reads are public; every write needs an API key with the `write` scope. Keys
are made, listed and revoked with the CLI, stored only as digests, and refused once expired or
revoked."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

import asyncpg
import pytest
from litestar.testing import TestClient

from service import cli
from service.app import create_app
from service.core import auth
from service.settings import Settings
from tests import ids
from tests.conftest import Client, all_pages, make_key, query

PROBLEM = "application/problem+json"


def test_reads_are_public(anonymous: Client) -> None:
    assert anonymous.get(f"/v1/officials/{ids.MEDINSKY}").status_code == 200
    assert anonymous.get("/v1/search", params={"q": "Medinsky"}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/organizations", {"name": "Unauthorized", "kind": "other"}),
        ("PATCH", f"/v1/officials/{ids.PESKOV}", {"note": "unauthorized"}),
        ("DELETE", f"/v1/role-changes/{ids.UMEROV_AMBASSADOR_PROPOSAL}", None),
        ("POST", f"/v1/memoranda/{ids.RUSSIAN_MEMORANDUM}/versions", {"summary": "x"}),
    ],
)
def test_every_write_without_a_key_is_401_and_changes_nothing(
    anonymous: Client, method: str, path: str, body: object
) -> None:
    before = anonymous.get(path).json() if method != "POST" else None
    response = anonymous.request(method, path, json=body)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    if before is not None:
        assert anonymous.get(path).json() == before


@pytest.mark.parametrize(
    "header",
    [
        "Bearer accord_00000000000000000000000000000000_nope",
        "Bearer not-a-key",
        "Basic dXNlcjpwYXNz",
        "Bearer accord_zz_zz",
    ],
)
def test_a_bad_key_is_401(anonymous: Client, header: str) -> None:
    response = anonymous.post(
        "/v1/organizations",
        json={"name": "Bad key", "kind": "other"},
        headers={"Authorization": header},
    )
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/unauthorized"


def test_a_key_with_a_wrong_secret_is_401(anonymous: Client, write_key: str) -> None:
    forged = write_key[:-4] + ("AAAA" if not write_key.endswith("AAAA") else "BBBB")
    response = anonymous.post(
        "/v1/organizations",
        json={"name": "Forged", "kind": "other"},
        headers={"Authorization": f"Bearer {forged}"},
    )
    assert response.status_code == 401


def test_a_key_without_the_write_scope_is_403(anonymous: Client, database_url: str) -> None:
    admin_only = make_key(database_url, ["admin"])
    response = anonymous.post(
        "/v1/organizations",
        json={"name": "Admin only", "kind": "other"},
        headers={"Authorization": f"Bearer {admin_only}"},
    )
    assert response.status_code == 403
    assert "write" in response.json()["detail"]


def test_expired_and_revoked_keys_are_401(anonymous: Client, database_url: str) -> None:
    async def expired_key() -> str:
        conn = await asyncpg.connect(database_url)
        try:
            _, token = await auth.create_key(conn, "expired", ["write"], timedelta(seconds=-1))
        finally:
            await conn.close()
        return token

    body = {"name": "Late", "kind": "other"}
    expired = asyncio.run(expired_key())
    response = anonymous.post(
        "/v1/organizations", json=body, headers={"Authorization": f"Bearer {expired}"}
    )
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]

    token = make_key(database_url)
    headers = {"Authorization": f"Bearer {token}"}
    assert anonymous.post("/v1/organizations", json=body, headers=headers).status_code == 201
    ident = uuid.UUID(hex=token.removeprefix("accord_").split("_")[0])
    assert asyncio.run(_revoke(database_url, ident))
    response = anonymous.post("/v1/organizations", json=body, headers=headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


async def _revoke(url: str, ident: uuid.UUID) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return await auth.revoke_key(conn, ident)
    finally:
        await conn.close()


def test_keys_are_stored_as_digests_only(database_url: str, write_key: str) -> None:
    secret = write_key.split("_", 2)[2]
    rows = query(database_url, "select * from api_keys")
    assert rows
    for row in rows:
        assert secret not in repr(dict(row.items()))


def test_the_cli_makes_lists_and_revokes_keys(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACCORD_DATABASE_URL", database_url)
    assert cli.main(["keys", "create", "--scope", "write", "--name", "pipeline"]) == 0
    made = capsys.readouterr().out
    token = next(line.split()[1] for line in made.splitlines() if line.startswith("key:"))
    ident = next(line.split()[1] for line in made.splitlines() if line.startswith("id:"))
    assert cli.main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert f"{ident}  active" in listed
    assert token not in listed
    assert cli.main(["keys", "revoke", ident]) == 0
    assert cli.main(["keys", "list"]) == 0
    assert f"{ident}  revoked" in capsys.readouterr().out
    assert cli.main(["keys", "revoke", ident]) == 1


def test_the_contract_declares_the_bearer_scheme_on_writes_and_admin_only(client: Client) -> None:
    document = client.get("/docs/openapi.json").json()
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            # Public reads say so (`security: []`) rather than leave it unsaid.
            secured = operation["security"] != []
            admin = path.startswith(("/v1/keys", "/v1/webhooks"))
            needed = method in {"post", "patch", "delete"} or admin
            assert secured == needed, (method, path)
            if secured:
                assert operation["security"] == [{"apiKey": []}], (method, path)
                assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_a_key_over_its_write_rate_limit_gets_429_with_retry_after(
    database_url: str, write_key: str
) -> None:
    app = create_app(Settings(database_url=database_url, write_rate_limit=3))
    with TestClient(app) as limited:
        headers = {"Authorization": f"Bearer {write_key}"}
        body = {"name": "Rate limited", "kind": "other"}
        # At most 3 in any one minute: within 7 writes, even across a minute's turn, some
        # write must be refused.
        responses = [
            limited.post("/v1/organizations", json=body, headers=headers) for _ in range(7)
        ]
        statuses = [r.status_code for r in responses]
        assert statuses[:3] == [201, 201, 201]
        refused = next(r for r in responses if r.status_code == 429)
        assert refused.headers["content-type"] == PROBLEM
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        other = {"Authorization": f"Bearer {make_key(database_url)}"}
        assert limited.post("/v1/organizations", json=body, headers=other).status_code == 201
        assert limited.get(f"/v1/officials/{ids.MEDINSKY}").status_code == 200


def test_an_admin_key_makes_lists_reads_and_revokes_keys_over_the_api(
    anonymous: Client, database_url: str
) -> None:
    admin = {"Authorization": f"Bearer {make_key(database_url, ['admin'])}"}
    made = anonymous.post(
        "/v1/keys",
        json={"name": "pipeline over the API", "scopes": ["write"], "expires_in_days": 30},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    key = made.json()
    assert made.headers["location"] == f"/v1/keys/{key['id']}"
    assert key["scopes"] == ["write"]
    assert key["expires_at"] is not None
    assert key["revoked_at"] is None
    token = key.pop("token")
    writer = {"Authorization": f"Bearer {token}"}
    body = {"name": "Made with an API-made key", "kind": "other"}
    assert anonymous.post("/v1/organizations", json=body, headers=writer).status_code == 201

    read = anonymous.get(f"/v1/keys/{key['id']}", headers=admin)
    assert read.status_code == 200
    assert read.json() == key
    listed = all_pages(anonymous, "/v1/keys", 2, headers=admin, usable=True)
    assert key in listed
    assert token not in repr(listed)

    assert anonymous.delete(f"/v1/keys/{key['id']}", headers=admin).status_code == 204
    refused = anonymous.post("/v1/organizations", json=body, headers=writer)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    # Revoking again changes nothing; the key stays listed among the unusable ones.
    assert anonymous.delete(f"/v1/keys/{key['id']}", headers=admin).status_code == 204
    revoked = anonymous.get(f"/v1/keys/{key['id']}", headers=admin).json()
    assert revoked["revoked_at"] is not None
    unusable = all_pages(anonymous, "/v1/keys", 2, headers=admin, usable=False)
    usable = all_pages(anonymous, "/v1/keys", 2, headers=admin, usable=True)
    assert revoked["id"] in {k["id"] for k in unusable}
    assert revoked["id"] not in {k["id"] for k in usable}
    missing = anonymous.delete(f"/v1/keys/{uuid.uuid4()}", headers=admin)
    assert missing.status_code == 404


def test_managing_keys_needs_the_admin_scope(
    anonymous: Client, write_key: str, database_url: str
) -> None:
    writer = {"Authorization": f"Bearer {write_key}"}
    body = {"name": "escalation", "scopes": ["admin"]}
    for response in (
        anonymous.get("/v1/keys", headers=writer),
        anonymous.post("/v1/keys", json=body, headers=writer),
        anonymous.delete(f"/v1/keys/{uuid.uuid4()}", headers=writer),
    ):
        assert response.status_code == 403, response.text
        assert "admin" in response.json()["detail"]
    assert anonymous.get("/v1/keys").status_code == 401
    rows = query(database_url, "select 1 from api_keys where name = 'escalation'")
    assert rows == []


def test_a_retried_key_creation_makes_no_second_key_and_stores_no_secret(
    anonymous: Client, database_url: str
) -> None:
    headers = {
        "Authorization": f"Bearer {make_key(database_url, ['admin'])}",
        "Idempotency-Key": "make-the-importer-key",
    }
    body = {"name": "importer, made once", "scopes": ["write"]}
    first = anonymous.post("/v1/keys", json=body, headers=headers)
    assert first.status_code == 201
    retry = anonymous.post("/v1/keys", json=body, headers=headers)
    assert retry.status_code == 409
    assert retry.headers["content-type"] == PROBLEM
    assert retry.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] in retry.json()["detail"]
    assert first.json()["token"] not in retry.text
    assert len(query(database_url, "select 1 from api_keys where name = $1", body["name"])) == 1
    secret = first.json()["token"].split("_", 2)[2]
    stored = query(
        database_url, "select body from idempotency_keys where key = $1", headers["Idempotency-Key"]
    )
    assert secret.encode() not in bytes(stored[0]["body"])


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "twice", "scopes": ["write", "write"]}, 422),
        ({"name": "root", "scopes": ["root"]}, 400),
        ({"name": "none", "scopes": []}, 400),
        ({"name": "", "scopes": ["write"]}, 400),
        ({"name": "forever", "scopes": ["write"], "expires_in_days": 0}, 400),
    ],
)
def test_a_bad_key_request_is_refused(
    anonymous: Client, database_url: str, body: dict[str, object], status: int
) -> None:
    admin = {"Authorization": f"Bearer {make_key(database_url, ['admin'])}"}
    response = anonymous.post("/v1/keys", json=body, headers=admin)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM


def test_serve_on_the_embedded_database_prints_a_working_development_key(
    anonymous: Client,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`accord serve` with no database configured: the embedded server (stood in for by the
    test database) is migrated and seeded, and a fresh key with the `write` and `admin` scopes
    is printed under the Swagger UI URL before the server starts."""

    async def embedded_server(url: str | None, _: object) -> str:
        return url or database_url

    started: list[str] = []
    monkeypatch.setattr(cli, "resolve_url", embedded_server)
    monkeypatch.setattr("uvicorn.run", lambda app, **_: started.append(app))
    # serve hands its URL to the workers in the environment: undone after the test.
    monkeypatch.setenv("ACCORD_DATABASE_URL", "")
    monkeypatch.delenv("ACCORD_DATABASE_URL")
    cli.serve(Settings(database_url=None), "127.0.0.1", 8000, 1, False, True)
    printed = capsys.readouterr().out
    assert started == ["service.asgi:app"]
    assert "Swagger UI: http://127.0.0.1:8000/docs" in printed
    line = next(line for line in printed.splitlines() if "Development API key" in line)
    token = line.split()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    body = {"name": "Tried in Swagger UI", "kind": "other"}
    assert anonymous.post("/v1/organizations", json=body, headers=headers).status_code == 201
    assert anonymous.get("/v1/keys", headers=headers).status_code == 200


def test_no_key_appears_in_the_logs(
    anonymous: Client, write_key: str, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever a request does with a key — a write, a refused secret, a missing scope, a write
    that fails — nothing logged in the process (Accord, Litestar, the HTTP client) carries it,
    even at DEBUG."""
    secret = write_key.split("_", 2)[2]
    wrong = write_key[:-4] + "AAAA"
    admin_only = make_key(database_url, ["admin"])
    caplog.set_level(logging.DEBUG)
    for token in (write_key, wrong, admin_only):
        headers = {"Authorization": f"Bearer {token}"}
        anonymous.post(
            "/v1/organizations", json={"name": "Logged?", "kind": "other"}, headers=headers
        )
        anonymous.post("/v1/organizations", json={"kind": "nonsense"}, headers=headers)
        anonymous.delete(f"/v1/organizations/{ids.RUSSIA}", headers=headers)
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert secret not in caplog.text
    assert wrong.split("_", 2)[2] not in caplog.text
    assert admin_only.split("_", 2)[2] not in caplog.text
