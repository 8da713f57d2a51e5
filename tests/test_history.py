"""Every change to every record is recorded in the transaction of the change — who, when,
what, each field before and after — and a deleted record's history stays readable."""

from __future__ import annotations

import uuid
from typing import Any

from tests import ids
from tests.conftest import Client, make_key


def history(client: Client, path: str) -> list[dict[str, Any]]:
    response = client.get(f"{path}/history", params={"limit": 200})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["items"]
    return entries


def key_id(token: str) -> str:
    return str(uuid.UUID(hex=token.removeprefix("accord_").split("_")[0]))


def test_create_update_delete_are_recorded_with_who_and_what(
    client: Client, write_key: str
) -> None:
    created = client.post(
        "/v1/organizations", json={"name": "Historic", "kind": "agency", "country_code": "UA"}
    ).json()
    path = f"/v1/organizations/{created['id']}"
    client.patch(path, json={"name": "Historic Office", "country_code": None})
    assert client.delete(path).status_code == 204
    assert client.get(path).status_code == 404
    entries = history(client, path)
    assert [e["operation"] for e in entries] == ["create", "update", "delete"]
    assert {e["api_key_id"] for e in entries} == {key_id(write_key)}
    assert [e["version"] for e in entries] == [1, 2, 2]
    create, update, delete = entries
    assert create["changes"]["name"] == {"before": None, "after": "Historic"}
    assert update["changes"] == {
        "name": {"before": "Historic", "after": "Historic Office"},
        "country_code": {"before": "UA", "after": None},
    }
    assert delete["changes"]["name"] == {"before": "Historic Office", "after": None}
    assert all(e["kind"] == "organization" for e in entries)


def test_a_change_to_a_list_is_recorded(client: Client, database_url: str) -> None:
    source = client.post("/v1/sources", json={"title": f"History source {uuid.uuid4()}"}).json()
    path = f"/v1/role-changes/{ids.UMEROV_DISMISSED}"
    other_writer = {"Authorization": f"Bearer {make_key(database_url)}"}
    response = client.patch(
        path, json={"citations": [{"source_id": source["id"]}]}, headers=other_writer
    )
    assert response.status_code == 200
    [entry] = [e for e in history(client, path) if "citations" in e["changes"]]
    assert entry["changes"]["citations"]["after"] == [
        {"source_id": source["id"], "quote": None, "locator": None}
    ]
    assert entry["api_key_id"] == key_id(other_writer["Authorization"].split()[1])


def test_nothing_is_recorded_for_a_refused_change(client: Client) -> None:
    path = f"/v1/officials/{ids.SHMYHAL}"
    before = history(client, path)
    assert client.patch(path, json={"nationality_id": str(uuid.uuid4())}).status_code == 409
    assert client.patch(path, json={"note": "x"}, headers={"If-Match": '"999"'}).status_code == 412
    assert history(client, path) == before


def test_a_new_memorandum_version_is_in_the_memorandums_history(client: Client) -> None:
    memorandum = client.post(
        "/v1/memoranda",
        json={
            "negotiation_id": ids.ISTANBUL_TALKS,
            "author_id": ids.RUSSIA,
            "title": f"Draft {uuid.uuid4()}",
            "status": "draft",
        },
    ).json()
    path = f"/v1/memoranda/{memorandum['id']}"
    added = client.post(f"{path}/versions", json={"summary": "History check."}).json()
    assert added["number"] == 1
    assert [e["operation"] for e in history(client, path)] == ["create", "update"]
    assert history(client, path)[-1]["changes"] == {"latest_version": {"before": None, "after": 1}}


def test_history_of_a_record_that_never_existed_is_404(client: Client) -> None:
    assert client.get(f"/v1/exchanges/{uuid.uuid4()}/history").status_code == 404
    assert history(client, f"/v1/exchanges/{ids.THOUSAND_BODIES}") == []
