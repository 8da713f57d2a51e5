"""The news item of DESIGN.md, as the API tells it."""

from __future__ import annotations

from typing import Any

import pytest

from tests import ids
from tests.conftest import Client


def holders(client: Client, post: str, at: str | None = None) -> list[dict[str, Any]]:
    params = {"at": at} if at else {}
    response = client.get(f"/v1/posts/{post}/holders", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def holder_ids(client: Client, post: str, at: str | None = None) -> list[str]:
    return [tenure["official_id"] for tenure in holders(client, post, at)]


def test_umerov_was_minister_of_defence_until_his_dismissal(client: Client) -> None:
    assert holder_ids(client, ids.MINISTER_OF_DEFENCE, "2024-06-01") == [ids.UMEROV]
    assert holder_ids(client, ids.MINISTER_OF_DEFENCE, "2025-07-16") == [ids.UMEROV]


def test_after_his_dismissal_shmyhal_holds_the_post_not_umerov(client: Client) -> None:
    assert holder_ids(client, ids.MINISTER_OF_DEFENCE, "2025-07-17") == [ids.SHMYHAL]
    assert holder_ids(client, ids.MINISTER_OF_DEFENCE) == [ids.SHMYHAL]


def test_reznikov_preceded_umerov_with_no_overlap(client: Client) -> None:
    assert holder_ids(client, ids.MINISTER_OF_DEFENCE, "2023-09-04") == [ids.REZNIKOV]
    assert holder_ids(client, ids.MINISTER_OF_DEFENCE, "2023-09-05") == []
    assert holder_ids(client, ids.MINISTER_OF_DEFENCE, "2023-09-06") == [ids.UMEROV]


def test_the_dismissal_is_an_effective_role_change(client: Client) -> None:
    change = client.get(f"/v1/role-changes/{ids.UMEROV_DISMISSED}").json()
    assert change["kind"] == "dismissal"
    assert change["status"] == "effective"
    assert change["effective_date"] == "2025-07-17"


def test_the_ambassador_proposal_is_withdrawn_and_makes_no_one_a_holder(client: Client) -> None:
    proposal = client.get(f"/v1/role-changes/{ids.UMEROV_AMBASSADOR_PROPOSAL}").json()
    assert proposal["kind"] == "nomination"
    assert proposal["status"] == "withdrawn"
    assert proposal["announced_date"] == "2025-07"
    assert proposal["effective_date"] is None
    assert holders(client, ids.AMBASSADOR_TO_US, "2025-08-01") == []
    assert holders(client, ids.AMBASSADOR_TO_US) == []


def test_umerovs_career_has_no_ambassador_tenure(client: Client) -> None:
    response = client.get(f"/v1/officials/{ids.UMEROV}/tenures")
    assert response.status_code == 200
    tenures = response.json()["items"]
    assert [(t["post_id"], t["start"], t["end"]) for t in tenures] == [
        (ids.MINISTER_OF_DEFENCE, "2023-09-06", "2025-07-17"),
        (ids.NSDC_SECRETARY, "2025-07", None),
    ]
    assert ids.AMBASSADOR_TO_US not in {t["post_id"] for t in tenures}


def test_peskov_holds_the_kremlin_press_secretary_post(client: Client) -> None:
    [tenure] = holders(client, ids.PRESS_SECRETARY)
    assert tenure["official_id"] == ids.PESKOV
    assert tenure["official_name"] == "Dmitry Peskov"
    assert tenure["post_title"] == "Press Secretary of the President of Russia"
    assert tenure["end"] is None


def test_medinsky_is_one_of_possibly_several_presidential_aides(client: Client) -> None:
    post = client.get(f"/v1/posts/{ids.PRESIDENTIAL_AIDE}").json()
    assert post["single_holder"] is False
    assert holder_ids(client, ids.PRESIDENTIAL_AIDE, "2025-07-01") == [ids.MEDINSKY]


@pytest.mark.parametrize(
    ("spelling", "official"),
    [
        ("Medinsky", ids.MEDINSKY),
        ("Medinskiy", ids.MEDINSKY),
        ("Medinski", ids.MEDINSKY),
        ("Мединский", ids.MEDINSKY),
        ("medinsky", ids.MEDINSKY),
        ("Mediinsky", ids.MEDINSKY),
        ("Umerov", ids.UMEROV),
        ("Умєров", ids.UMEROV),
        ("Умеров", ids.UMEROV),
        ("ümerov", ids.UMEROV),
        ("Песков", ids.PESKOV),
        ("Dmitriy Peskov", ids.PESKOV),
    ],
)
def test_name_filter_finds_officials_across_scripts(
    client: Client, spelling: str, official: str
) -> None:
    response = client.get("/v1/officials", params={"name": spelling})
    assert response.status_code == 200
    assert official in [item["id"] for item in response.json()["items"]]


def test_name_filter_does_not_match_everyone(client: Client) -> None:
    response = client.get("/v1/officials", params={"name": "Medinsky"})
    found = {item["id"] for item in response.json()["items"]}
    assert ids.PESKOV not in found
    assert ids.UMEROV not in found


def test_ministry_of_defence_belongs_to_ukraine(client: Client) -> None:
    response = client.get(
        "/v1/organizations", params={"parent_id": ids.UKRAINE, "kind": "ministry"}
    )
    assert [item["id"] for item in response.json()["items"]] == [ids.MINISTRY_OF_DEFENCE]


def test_organizations_are_found_by_other_names(client: Client) -> None:
    for name in ("Turkey", "Türkiye", "turkiye", "Kremlin", "США"):
        response = client.get("/v1/organizations", params={"name": name})
        assert response.json()["items"], name


def test_role_changes_of_july_2025_in_order(client: Client) -> None:
    response = client.get(
        "/v1/role-changes",
        params={"official_id": ids.UMEROV, "from": "2025-07", "to": "2025-07", "sort": "date"},
    )
    changes = response.json()["items"]
    # The month-precise changes sort first (as of July 1), then the dismissal of July 17.
    assert {(c["kind"], c["status"]) for c in changes[:2]} == {
        ("appointment", "effective"),
        ("nomination", "withdrawn"),
    }
    assert (changes[2]["kind"], changes[2]["effective_date"]) == ("dismissal", "2025-07-17")
    assert len(changes) == 3
