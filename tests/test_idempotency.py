"""Retried writes: a POST with an `Idempotency-Key` writes once, however often it is sent —
one after another or at the same time — and a key reused for another request is refused."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests import ids
from tests.conftest import Client, make_key, query


def _count(database_url: str, name: str) -> int:
    rows = query(database_url, "select count(*) from organizations where name = $1", name)
    count: int = rows[0][0]
    return count


def test_a_retry_replays_the_first_response_and_writes_nothing(
    client: Client, database_url: str
) -> None:
    name = f"Idempotent {uuid.uuid4()}"
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"name": name, "kind": "other"}
    first = client.post("/v1/organizations", json=body, headers=headers)
    assert first.status_code == 201
    again = client.post("/v1/organizations", json=body, headers=headers)
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert _count(database_url, name) == 1


def test_the_same_key_with_another_body_is_422(client: Client, database_url: str) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    name = f"Reused {uuid.uuid4()}"
    assert (
        client.post(
            "/v1/organizations", json={"name": name, "kind": "other"}, headers=headers
        ).status_code
        == 201
    )
    other = client.post(
        "/v1/organizations", json={"name": name + " else", "kind": "other"}, headers=headers
    )
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    assert _count(database_url, name + " else") == 0


def test_concurrent_retries_write_once(client: Client, database_url: str) -> None:
    name = f"Raced {uuid.uuid4()}"
    headers = {"Idempotency-Key": str(uuid.uuid4())}

    def send(_: int) -> Any:
        return client.post(
            "/v1/organizations", json={"name": name, "kind": "other"}, headers=headers
        )

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(send, range(8)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert _count(database_url, name) == 1


def test_a_failed_first_attempt_stores_nothing_and_the_retry_writes(client: Client) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"name": "Orphan", "kind": "agency", "parent_id": str(uuid.uuid4())}
    assert client.post("/v1/organizations", json=body, headers=headers).status_code == 409
    fixed = client.post(
        "/v1/organizations", json={**body, "parent_id": ids.UKRAINE}, headers=headers
    )
    assert fixed.status_code == 201


def test_keys_belong_to_the_api_key_that_sent_them(client: Client, database_url: str) -> None:
    key = str(uuid.uuid4())
    name = f"Scoped {uuid.uuid4()}"
    body = {"name": name, "kind": "other"}
    first = client.post("/v1/organizations", json=body, headers={"Idempotency-Key": key})
    other_caller = {"Idempotency-Key": key, "Authorization": f"Bearer {make_key(database_url)}"}
    second = client.post("/v1/organizations", json=body, headers=other_caller)
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]
    assert _count(database_url, name) == 2


def test_memorandum_versions_are_idempotent_too(client: Client) -> None:
    path = f"/v1/memoranda/{ids.UKRAINIAN_MEMORANDUM}/versions"
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"summary": "A retried addition."}
    first = client.post(path, json=body, headers=headers)
    again = client.post(path, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    numbers = [v["number"] for v in client.get(path, params={"limit": 200}).json()["items"]]
    assert numbers.count(first.json()["number"]) == 1
    assert len(numbers) == len(set(numbers))
