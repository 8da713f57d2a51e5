"""The single-record mechanics every resource shares: create, read, conditional requests,
merge patch, delete, and the problem details of what goes wrong."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

from litestar import Litestar
from litestar.testing import TestClient

from service.app import create_app
from service.core.auth import WRITE_CHECKS
from service.core.database import Pool, create_pool
from service.core.routes import ReadsById
from service.resources import officials
from service.resources.registry import TABLES
from service.settings import Settings
from tests import ids
from tests.conftest import Client, Databases, make_key, query

PROBLEM = "application/problem+json"


def new_org(client: Client, **fields: Any) -> dict[str, Any]:
    body = {"name": f"Org {uuid.uuid4().hex[:8]}", "kind": "agency", **fields}
    response = client.post("/v1/organizations", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_create_answers_201_with_location_and_etag(client: Client) -> None:
    response = client.post(
        "/v1/organizations",
        json={
            "name": "Verkhovna Rada",
            "kind": "government",
            "parent_id": ids.UKRAINE,
            "other_names": [{"name": "Верховна Рада", "lang": "uk"}],
        },
    )
    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == f"/v1/organizations/{created['id']}"
    # Version 1, plus the checksum of what is derived from other records (`disputed`).
    assert response.headers["etag"].startswith('"1-')
    again = client.get(response.headers["location"])
    assert again.status_code == 200
    assert again.json() == created
    assert again.headers["etag"] == response.headers["etag"]


def test_if_none_match_gives_304_while_current_and_200_after_a_change(client: Client) -> None:
    org = new_org(client)
    url = f"/v1/organizations/{org['id']}"
    tag = client.get(url).headers["etag"]
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
    assert client.get(url, headers={"If-None-Match": f'W/{tag}, "7"'}).status_code == 304
    client.patch(url, json={"note": "changed"})
    response = client.get(url, headers={"If-None-Match": tag})
    assert response.status_code == 200
    assert response.headers["etag"].startswith('"2-')


def test_a_read_asks_everything_on_one_connection(database_url: str) -> None:
    """With replicas behind one service name, two connections of a read could reach two
    servers: a conditional read with a stale tag asks for the ETag and then the record, both
    on the one connection it takes (a statement sent to the pool itself fails here)."""

    class OneConnection:
        """A pool that counts the connections lent and the statements sent on them."""

        def __init__(self, pool: Pool) -> None:
            self.pool = pool
            self.lent = 0
            self.statements = 0
            self.conn: Any = None

        @contextlib.asynccontextmanager
        async def acquire(self) -> AsyncIterator[OneConnection]:
            async with self.pool.acquire() as conn:
                self.lent += 1
                self.conn = conn
                yield self

        async def prepare(self, *args: Any) -> Any:
            return await self.conn.prepare(*args)

        async def fetchrow(self, *args: Any) -> Any:
            self.statements += 1
            return await self.conn.fetchrow(*args)

    async def read() -> tuple[int, int, int]:
        pool = await create_pool(database_url, Settings(database_url=database_url))
        watched = OneConnection(pool)
        try:
            response = await officials.TABLE.read(
                cast(Pool, watched), uuid.UUID(ids.MEDINSKY), '"0"'
            )
        finally:
            await pool.close()
        return response.parts()[0], watched.lent, watched.statements

    assert asyncio.run(read()) == (200, 1, 2)


def test_an_etag_changes_when_a_derived_value_does_and_a_stale_one_gets_the_record(
    client: Client,
) -> None:
    """`disputed` is derived from claims about the record, not stored with it: two claims that
    disagree change the ETag without changing the version, and a conditional read holding the
    old tag gets the record again."""
    org = new_org(client)
    url = f"/v1/organizations/{org['id']}"
    old = client.get(url).headers["etag"]
    for stance in ("affirms", "denies"):
        claim = {
            "subject_id": org["id"],
            "predicate": "status",
            "object_value": "dissolved",
            "claimant_official_id": ids.MEDINSKY,
            "stance": stance,
        }
        assert client.post("/v1/claims", json=claim).status_code == 201
    stale = client.get(url, headers={"If-None-Match": old})
    assert stale.status_code == 200
    assert stale.json()["disputed"] is True
    assert stale.json()["version"] == org["version"]
    assert stale.headers["etag"] != old
    current = client.get(url, headers={"If-None-Match": stale.headers["etag"]})
    assert current.status_code == 304
    assert current.headers["etag"] == stale.headers["etag"]
    missing = client.get(f"/v1/organizations/{uuid.uuid4()}", headers={"If-None-Match": old})
    assert missing.status_code == 404


def test_merge_patch_replaces_removes_and_keeps(client: Client) -> None:
    org = new_org(client, country_code="UA", note="first", other_names=[{"name": "A"}])
    response = client.patch(
        f"/v1/organizations/{org['id']}",
        json={"note": None, "other_names": [{"name": "B", "lang": "uk"}]},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["note"] is None
    assert patched["other_names"] == [{"name": "B", "lang": "uk", "note": None}]
    assert patched["country_code"] == "UA"
    assert patched["name"] == org["name"]
    assert patched["version"] == 2
    assert response.headers["etag"].startswith('"2-')


def test_patch_validates_like_create(client: Client) -> None:
    org = new_org(client)
    url = f"/v1/organizations/{org['id']}"
    for body in (
        {"name": None},
        {"name": ""},
        {"kind": "club"},
        {"country_code": "ukr"},
        {"unknown": 1},
    ):
        response = client.patch(url, json=body)
        assert response.status_code == 400, body
        assert response.headers["content-type"] == PROBLEM
    assert client.get(url).json() == org


def test_stale_if_match_is_412_and_changes_nothing(client: Client) -> None:
    org = new_org(client)
    url = f"/v1/organizations/{org['id']}"
    assert client.patch(url, json={"note": "a"}, headers={"If-Match": '"1"'}).status_code == 200
    stale = client.patch(url, json={"note": "b"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == PROBLEM
    assert client.get(url).json()["note"] == "a"
    assert client.delete(url, headers={"If-Match": '"1"'}).status_code == 412
    assert client.delete(url, headers={"If-Match": '"2"'}).status_code == 204
    assert client.get(url).status_code == 404


def test_unknown_fields_and_wrong_types_are_400_with_the_failing_field(client: Client) -> None:
    response = client.post("/v1/organizations", json={"name": "X", "kind": "state", "flag": 1})
    assert response.status_code == 400
    problem = response.json()
    assert problem["status"] == 400
    assert problem["type"] == "/problems/invalid-request"
    assert "flag" in problem["errors"][0]["message"]
    response = client.post("/v1/organizations", json={"name": "X", "kind": 5})
    assert response.json()["errors"][0]["field"] == "kind"


def test_malformed_json_is_400(client: Client) -> None:
    response = client.post(
        "/v1/organizations", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


def test_deeply_nested_json_is_400(client: Client) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    body = b'{"name": "Deep", "kind": "state", "other_names": ' + nested + b"}"
    response = client.post(
        "/v1/organizations", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


def test_numbers_beyond_64_bit_are_400(client: Client) -> None:
    body = {"title": "T", "organization_id": ids.UKRAINE, "single_holder": 10**30}
    assert client.post("/v1/posts", json=body).status_code == 400
    assert client.get("/v1/organizations", params={"limit": str(10**30)}).status_code == 400


def test_nul_in_text_is_400_and_nothing_is_stored(client: Client, database_url: str) -> None:
    # The contract's text patterns refuse NUL (PostgreSQL cannot store it), so it is a 400
    # naming the field, in a body and in a query alike.
    response = client.post("/v1/organizations", json={"name": "Nul\u0000Org", "kind": "other"})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert "name" in response.text
    assert not query(database_url, "select 1 from organizations where name like 'Nul%'")
    assert client.get("/v1/officials", params={"name": "Nul\u0000"}).status_code == 400
    assert client.get("/v1/search", params={"q": "a\u0000b"}).status_code == 400


def test_sql_looking_input_is_stored_verbatim(client: Client) -> None:
    name = "Robert'); drop table organizations;--"
    org = new_org(client, name=name)
    assert client.get(f"/v1/organizations/{org['id']}").json()["name"] == name


def test_missing_parent_is_409(client: Client) -> None:
    response = client.post(
        "/v1/organizations",
        json={"name": "Orphan", "kind": "agency", "parent_id": str(uuid.uuid4())},
    )
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/reference"


def test_an_organization_cannot_become_its_own_ancestor(client: Client) -> None:
    parent = new_org(client)
    child = new_org(client, parent_id=parent["id"])
    response = client.patch(f"/v1/organizations/{parent['id']}", json={"parent_id": child["id"]})
    assert response.status_code == 422
    assert client.get(f"/v1/organizations/{parent['id']}").json()["parent_id"] is None


def test_delete_is_409_while_referenced(client: Client) -> None:
    for url in (
        f"/v1/organizations/{ids.UKRAINE}",
        f"/v1/officials/{ids.UMEROV}",
        f"/v1/posts/{ids.MINISTER_OF_DEFENCE}",
    ):
        response = client.delete(url)
        assert response.status_code == 409, url
        assert response.json()["type"] == "/problems/reference"
        assert response.json()["detail"].startswith("Still referenced from "), url
        assert client.get(url).status_code == 200


def test_duplicate_wikidata_id_is_409(client: Client) -> None:
    body = {"name": "A. Person", "wikidata_id": "Q99999901"}
    assert client.post("/v1/officials", json=body).status_code == 201
    response = client.post("/v1/officials", json={**body, "name": "Another"})
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/duplicate"


def test_unknown_ids_are_404_problems(client: Client) -> None:
    missing = uuid.uuid4()
    for url in (
        f"/v1/organizations/{missing}",
        f"/v1/officials/{missing}",
        f"/v1/posts/{missing}",
        f"/v1/role-changes/{missing}",
        f"/v1/posts/{missing}/holders",
        f"/v1/officials/{missing}/tenures",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == 404


def test_extreme_dates_and_numbers_do_not_crash(client: Client) -> None:
    assert client.get(f"/v1/posts/{ids.PRESS_SECRETARY}/holders?at=0001-01-01").status_code == 200
    assert client.get(f"/v1/posts/{ids.PRESS_SECRETARY}/holders?at=9999-12-31").status_code == 200
    assert client.get("/v1/role-changes?from=0000").status_code == 400
    assert client.get("/v1/role-changes?from=2025-02-30").status_code == 422
    assert client.get("/v1/role-changes?to=9999-12").status_code == 200
    assert client.get("/v1/organizations?limit=99999999999999999999999").status_code == 400


def test_a_body_that_is_not_json_is_415_and_stores_nothing(client: Client) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": content_type} if content_type else {}
        response = client.post(
            "/v1/organizations",
            content=b'{"name": "Typed wrong", "kind": "other"}',
            headers=headers,
        )
        assert response.status_code == 415, content_type
        assert response.headers["content-type"] == PROBLEM
    assert client.get("/v1/organizations", params={"name": "Typed wrong"}).json()["items"] == []


def test_a_body_over_4_mib_is_413(client: Client) -> None:
    note = "a" * (4 * 1024 * 1024)
    response = client.post("/v1/organizations", json={"name": "Big", "kind": "other", "note": note})
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


def test_malformed_json_and_huge_numbers_are_400(client: Client) -> None:
    truncated = client.post(
        "/v1/organizations",
        content=b'{"name": ',
        headers={"Content-Type": "application/json"},
    )
    assert truncated.status_code == 400
    surrogate = client.post(
        "/v1/organizations",
        content=b'{"name": "\\ud800", "kind": "other"}',
        headers={"Content-Type": "application/json"},
    )
    assert surrogate.status_code == 400
    huge = client.post(
        "/v1/exchanges",
        json={
            "kind": "civilian_return",
            "from_party_id": ids.RUSSIA,
            "to_party_id": ids.UKRAINE,
            "quantity": 2**70,
        },
    )
    assert huge.status_code == 400


def test_a_read_by_id_answers_the_same_whichever_path_serves_it(client: Client) -> None:
    """A plain read is answered before Litestar routes it (core.routes.ReadsById);
    one with a query string or an unusual If-None-Match goes through the handler. Both give
    the same answers."""
    path = f"/v1/officials/{ids.MEDINSKY}"
    fast = client.get(path)
    handled = client.get(path, params={"unrelated": "1"})
    assert fast.status_code == handled.status_code == 200
    assert fast.json() == handled.json()
    assert fast.headers["etag"] == handled.headers["etag"]
    assert fast.headers["content-type"] == handled.headers["content-type"] == "application/json"
    tag = fast.headers["etag"]
    assert client.get(path, headers={"If-None-Match": tag}).status_code == 304
    assert client.get(path, params={"x": "1"}, headers={"If-None-Match": tag}).status_code == 304
    too_long = client.get(path, headers={"If-None-Match": '"' + "1" * 1100 + '"'})
    assert too_long.status_code == 400
    assert too_long.headers["content-type"] == "application/problem+json"
    twice = client.get(path, headers=[("If-None-Match", '"0-0"'), ("If-None-Match", tag)])
    assert twice.status_code in (200, 304)
    missing = client.get(f"/v1/officials/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["instance"] == missing.request.url.path


def test_every_plain_read_by_id_takes_the_fast_path(client: Client, monkeypatch: Any) -> None:
    """`ReadsById` knows every resource's read by id, and answers a plain one itself: what
    it hands on to Litestar is counted, and a plain read of each resource hands on nothing,
    while the same read with a query string, a stray `Origin` or an odd `Host` goes on."""
    app = client.app
    assert isinstance(app, Litestar)
    fast: Any = app.asgi_handler
    while not isinstance(fast, ReadsById):
        fast = fast.app
    assert {f"/v1/{name}/" for name in TABLES} == set(fast.routes)
    handed_on: list[str] = []
    rest = fast.app

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        handed_on.append(scope["path"])
        await rest(scope, receive, send)

    monkeypatch.setattr(fast, "app", counted)
    for name in TABLES:
        items = client.get(f"/v1/{name}", params={"limit": "1"}).json()["items"]
        path = f"/v1/{name}/{items[0]['id']}"
        handed_on.clear()
        assert client.get(path).status_code == 200
        assert client.get(path, headers={"If-None-Match": '"0"'}).status_code == 200
        assert client.get(f"/v1/{name}/{uuid.uuid4()}").status_code == 404
        assert handed_on == [], name
        assert client.get(path, params={"x": "1"}).status_code == 200
        assert client.get(path, headers={"Origin": "https://example.org"}).status_code == 200
        assert client.get(path, headers={"Host": "bad host"}).status_code == 400
        assert handed_on == [path] * 3, name


_VARYING = {"id", "created_at", "updated_at", "version", "request_id"}


def _same_shape(value: Any) -> Any:
    """``value`` without what differs between two writes of the same body."""
    if isinstance(value, dict):
        return {k: _same_shape(v) for k, v in value.items() if k not in _VARYING}
    if isinstance(value, str):
        return value.split("; Failing row contains", 1)[0]  # the row's timestamps
    return value


def _answer(response: Any) -> tuple[int, str, Any, str]:
    tag = response.headers.get("etag", "")
    return (
        response.status_code,
        response.headers["content-type"],
        _same_shape(response.json()),
        tag.split("-", 1)[-1],  # the checksum of derived values; the version differs
    )


def test_a_write_answers_the_same_whichever_path_serves_it(
    databases: Databases, monkeypatch: Any
) -> None:
    """A plain create or merge patch is answered before Litestar parses parameters
    (core.routes.PlainWrite); one with a query string goes through the handler. Every
    resource's create and patch examples from the contract give the same answers both ways,
    and the plain ones did take the plain path. (A database of its own: the examples' records
    would join the worked example's.)"""
    url = databases.create("write_paths")
    with TestClient(create_app(Settings(database_url=url))) as client:
        client.headers["Authorization"] = f"Bearer {make_key(url)}"
        _compare_write_paths(client, monkeypatch)


def _compare_write_paths(client: Client, monkeypatch: Any) -> None:
    plain: list[str] = []

    async def counted(scope: Any) -> None:
        plain.append(scope["method"])
        await WRITE_CHECKS(scope)

    monkeypatch.setattr("service.core.routes.WRITE_CHECKS", counted)
    contract = client.get("/docs/openapi.json").json()
    resources = [
        path for path in contract["paths"] if f"{path}/{{id}}/history" in contract["paths"]
    ]
    assert len(resources) >= 12
    for path in resources:
        create = contract["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        change = contract["paths"][f"{path}/{{id}}"]["patch"]["requestBody"]["content"]
        (body,) = create["schema"]["examples"]
        (patch,) = next(iter(change.values()))["schema"]["examples"]
        fast = client.post(path, json=body)
        if fast.status_code == 201:
            # The same body again would be a duplicate of the first.
            assert client.delete(fast.headers["location"]).status_code == 204
        handled = client.post(path, params={"via": "handler"}, json=body)
        assert _answer(fast) == _answer(handled), path
        if handled.status_code != 201:
            continue
        assert fast.headers["location"].rsplit("/", 1)[0] == path
        record = handled.headers["location"]
        fast = client.patch(record, json=patch)
        handled = client.patch(record, params={"via": "handler"}, json=patch)
        assert _answer(fast) == _answer(handled), record
        headers = {"If-Match": '"999"'}
        stale = client.patch(record, json=patch, headers=headers)
        stale_handled = client.patch(record, params={"via": "handler"}, json=patch, headers=headers)
        assert stale.status_code == stale_handled.status_code == 412
        assert _answer(stale) == _answer(stale_handled)
    assert plain.count("POST") == len(resources)
    assert "PATCH" in plain
