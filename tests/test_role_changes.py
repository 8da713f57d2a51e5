"""Role changes and the tenures PostgreSQL derives from them."""

from __future__ import annotations

import uuid
from typing import Any

from tests import ids
from tests.conftest import Client, query


def new_official(client: Client) -> str:
    response = client.post("/v1/officials", json={"name": f"Official {uuid.uuid4().hex[:8]}"})
    assert response.status_code == 201
    official: str = response.json()["id"]
    return official


def new_post(client: Client, single_holder: bool = True) -> str:
    response = client.post(
        "/v1/posts",
        json={
            "title": f"Post {uuid.uuid4().hex[:8]}",
            "organization_id": ids.UKRAINE,
            "single_holder": single_holder,
        },
    )
    assert response.status_code == 201
    post: str = response.json()["id"]
    return post


def change(client: Client, official: str, post: str, **fields: Any) -> Any:
    body = {
        "official_id": official,
        "post_id": post,
        "kind": "appointment",
        "status": "effective",
        **fields,
    }
    return client.post("/v1/role-changes", json=body)


def test_a_one_holder_post_refuses_a_second_simultaneous_holder(
    client: Client, database_url: str
) -> None:
    rival = new_official(client)
    response = change(client, rival, ids.PRESS_SECRETARY, effective_date="2020-03-01")
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/overlap"
    assert not query(
        database_url, "select 1 from role_changes where official_id = $1", uuid.UUID(rival)
    )


def test_a_successor_appointed_the_day_of_the_dismissal_does_not_overlap(client: Client) -> None:
    first, second, post = new_official(client), new_official(client), new_post(client)
    assert change(client, first, post, effective_date="2020-01-01").status_code == 201
    assert (
        change(client, first, post, kind="dismissal", effective_date="2021-06-01").status_code
        == 201
    )
    assert change(client, second, post, effective_date="2021-06-01").status_code == 201
    holders = client.get(f"/v1/posts/{post}/holders?at=2021-06-01").json()["items"]
    assert [h["official_id"] for h in holders] == [second]


def test_making_a_shared_post_single_holder_is_refused_while_holders_overlap(
    client: Client,
) -> None:
    post = new_post(client, single_holder=False)
    for official in (new_official(client), new_official(client)):
        assert change(client, official, post, effective_date="2022").status_code == 201
    response = client.patch(f"/v1/posts/{post}", json={"single_holder": True})
    assert response.status_code == 409
    assert client.get(f"/v1/posts/{post}").json()["single_holder"] is False


def test_withdrawing_an_appointment_ends_the_tenure_it_gave(client: Client) -> None:
    official, post = new_official(client), new_post(client)
    created = change(client, official, post, effective_date="2024-02-03").json()
    assert len(client.get(f"/v1/officials/{official}/tenures").json()["items"]) == 1
    response = client.patch(
        f"/v1/role-changes/{created['id']}",
        json={"status": "withdrawn"},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200
    assert client.get(f"/v1/officials/{official}/tenures").json()["items"] == []


def test_deleting_a_dismissal_reopens_the_tenure(client: Client) -> None:
    official, post = new_official(client), new_post(client)
    change(client, official, post, effective_date="2019")
    dismissal = change(client, official, post, kind="dismissal", effective_date="2020-05").json()
    [tenure] = client.get(f"/v1/officials/{official}/tenures").json()["items"]
    assert (tenure["start"], tenure["end"]) == ("2019", "2020-05")
    assert client.delete(f"/v1/role-changes/{dismissal['id']}").status_code == 204
    [tenure] = client.get(f"/v1/officials/{official}/tenures").json()["items"]
    assert tenure["end"] is None


def test_acting_then_full_appointment(client: Client) -> None:
    official, post = new_official(client), new_post(client)
    change(client, official, post, kind="acting_appointment", effective_date="2024-01-10")
    change(client, official, post, effective_date="2024-03-01")
    tenures = client.get(f"/v1/officials/{official}/tenures").json()["items"]
    assert [(t["acting"], t["start"], t["end"]) for t in tenures] == [
        (True, "2024-01-10", "2024-03-01"),
        (False, "2024-03-01", None),
    ]


def test_rules_the_contract_cannot_express_are_422(client: Client) -> None:
    official, post = new_official(client), new_post(client)
    cases = [
        {"status": "effective"},  # effective without a date
        {"effective_date": "2025-02-30"},  # no such day
        {"effective_date": "2024-01-01", "announced_date": "2024-02-01"},  # announced after
        {"kind": "nomination", "effective_date": "2024-01-01"},  # a nomination never takes effect
    ]
    for fields in cases:
        response = change(client, official, post, **fields)
        assert response.status_code == 422, (fields, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get(f"/v1/role-changes?official_id={official}").json()["items"] == []


def test_partial_dates_keep_their_precision(client: Client) -> None:
    official, post = new_official(client), new_post(client)
    for date in ("1999", "1999-04", "1999-04-05"):
        body = change(
            client, official, post, kind="nomination", status="proposed", announced_date=date
        ).json()
        assert body["announced_date"] == date


def test_filters(client: Client) -> None:
    response = client.get(
        "/v1/role-changes", params={"post_id": ids.MINISTER_OF_DEFENCE, "kind": "dismissal"}
    )
    officials = [c["official_id"] for c in response.json()["items"]]
    assert sorted(officials) == sorted([ids.REZNIKOV, ids.UMEROV])
    response = client.get("/v1/role-changes", params={"status": "withdrawn", "to": "2025"})
    assert ids.UMEROV_AMBASSADOR_PROPOSAL in [c["id"] for c in response.json()["items"]]
