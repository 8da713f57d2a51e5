"""Where facts come from and who disputes them, through the HTTP API: the 1,000-body handover
that Medinsky says falls under the Istanbul agreements and Ukraine's Coordination Headquarters
says does not; the 5,000 bodies delivered earlier in four batches; citations on every record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from tests import ids
from tests.conftest import Client

SERIES = "Repatriation of bodies under the Istanbul agreements"


def items(client: Client, path: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


def new_source(client: Client, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/sources", json={"title": f"Report {uuid.uuid4()}", **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_the_thousand_body_handover_is_disputed_with_both_claims(client: Client) -> None:
    handover = client.get(f"/v1/exchanges/{ids.THOUSAND_BODIES}").json()
    assert handover["disputed"] is True
    assert handover["quantity"] == 1000
    assert handover["agreement_id"] is None
    claims = items(client, f"/v1/exchanges/{ids.THOUSAND_BODIES}/claims")
    by_stance = {claim["stance"]: claim for claim in claims}
    assert set(by_stance) == {"affirms", "denies"}
    affirms, denies = by_stance["affirms"], by_stance["denies"]
    assert affirms["claimant_official_id"] == ids.MEDINSKY
    assert denies["claimant_organization_id"] == ids.COORDINATION_HEADQUARTERS
    for claim in (affirms, denies):
        assert claim["predicate"] == "falls_under_agreement"
        assert claim["object_id"] == ids.RETURN_OF_BODIES
        assert claim["subject_kind"] == "exchange"
    assert [c["source_id"] for c in affirms["citations"]] == [ids.MEDINSKY_TELEGRAM]
    assert [c["source_id"] for c in denies["citations"]] == [ids.UKRAINSKA_PRAVDA_REPORT]
    assert client.get(f"/v1/sources/{ids.MEDINSKY_TELEGRAM}").json()["official_id"] == (
        ids.MEDINSKY
    )
    disputed = items(client, "/v1/exchanges", disputed="true")
    assert [e["id"] for e in disputed] == [ids.THOUSAND_BODIES]


def test_the_earlier_four_deliveries_add_up_to_5000_and_are_not_disputed(
    client: Client,
) -> None:
    batches = items(client, "/v1/exchanges", series=SERIES)
    assert [b["batch_number"] for b in batches] == [1, 2, 3, 4]
    assert sum(b["quantity"] for b in batches) == 5000
    assert all(b["quantity_estimated"] for b in batches)
    assert {b["agreement_id"] for b in batches} == {ids.RETURN_OF_BODIES}
    assert {b["negotiation_id"] for b in batches} == {ids.ISTANBUL_TALKS}
    assert not any(b["disputed"] for b in batches)
    undisputed = items(client, "/v1/exchanges", disputed="false", limit=200)
    assert set(ids.BODIES_BATCHES) <= {e["id"] for e in undisputed}
    assert ids.THOUSAND_BODIES not in {e["id"] for e in undisputed}


def test_peskovs_statement_is_about_round_3_and_cites_anadolu(client: Client) -> None:
    statement = client.get(f"/v1/statements/{ids.PESKOV_BRIEFING}").json()
    assert statement["speaker_official_id"] == ids.PESKOV
    assert statement["occasion"] == "press_briefing"
    assert ids.ROUND_3 in statement["about"]
    assert [c["source_id"] for c in statement["citations"]] == [ids.ANADOLU_REPORT]
    about_round_3 = items(client, "/v1/statements", about=ids.ROUND_3)
    assert [s["id"] for s in about_round_3] == [ids.PESKOV_BRIEFING]


def test_a_source_lists_every_record_that_cites_it(client: Client) -> None:
    citing = items(client, f"/v1/sources/{ids.UKRAINSKA_PRAVDA_REPORT}/cited-by", limit=200)
    kinds = {(c["kind"], c["id"]) for c in citing}
    assert ("statement", ids.HEADQUARTERS_DENIAL) in kinds
    assert ("claim", ids.HEADQUARTERS_DENIES) in kinds
    assert ("exchange", ids.THOUSAND_BODIES) in kinds
    claim = next(c for c in citing if c["id"] == ids.HEADQUARTERS_DENIES)
    assert claim["quote"] == "not related to the Istanbul agreements"
    assert claim["href"] == f"/v1/claims/{ids.HEADQUARTERS_DENIES}"
    assert client.get(f"/v1/sources/{uuid.uuid4()}/cited-by").status_code == 404


def test_citations_survive_a_patch_that_does_not_mention_them(client: Client) -> None:
    first, second = new_source(client), new_source(client)
    org = client.post(
        "/v1/organizations",
        json={
            "name": "Office of the President of Ukraine",
            "kind": "agency",
            "citations": [{"source_id": first["id"], "locator": "paragraph 3"}],
        },
    ).json()
    url = f"/v1/organizations/{org['id']}"
    kept = client.patch(url, json={"note": "Also called the Presidential Office."})
    assert kept.status_code == 200
    assert kept.json()["citations"] == [
        {"source_id": first["id"], "quote": None, "locator": "paragraph 3"}
    ]
    replaced = client.patch(url, json={"citations": [{"source_id": second["id"]}]})
    assert [c["source_id"] for c in replaced.json()["citations"]] == [second["id"]]
    assert client.get(url).json()["citations"] == replaced.json()["citations"]


def test_a_citation_of_a_missing_source_is_refused_and_nothing_is_stored(client: Client) -> None:
    before = items(client, "/v1/organizations", name="Nonexistent Citation Bureau")
    response = client.post(
        "/v1/organizations",
        json={
            "name": "Nonexistent Citation Bureau",
            "kind": "agency",
            "citations": [{"source_id": str(uuid.uuid4())}],
        },
    )
    assert response.status_code == 409
    assert items(client, "/v1/organizations", name="Nonexistent Citation Bureau") == before


def test_deleting_what_evidence_refers_to_is_409(client: Client) -> None:
    for path, referrer in (
        (f"/v1/sources/{ids.ANADOLU_REPORT}", "citations"),
        (f"/v1/exchanges/{ids.THOUSAND_BODIES}", "statement_subjects"),
        (f"/v1/statements/{ids.MEDINSKY_POST}", "claims"),
        (f"/v1/rounds/{ids.ROUND_3}", "statement_subjects"),
    ):
        response = client.delete(path)
        assert response.status_code == 409, path
        assert referrer in response.json()["detail"], response.json()
        assert client.get(path).status_code == 200


def test_deleting_a_record_takes_its_own_citations_with_it(client: Client) -> None:
    source = new_source(client)
    org = client.post(
        "/v1/organizations",
        json={"name": "Short-lived", "kind": "other", "citations": [{"source_id": source["id"]}]},
    ).json()
    assert items(client, f"/v1/sources/{source['id']}/cited-by")[0]["id"] == org["id"]
    assert client.delete(f"/v1/organizations/{org['id']}").status_code == 204
    assert items(client, f"/v1/sources/{source['id']}/cited-by") == []
    assert client.delete(f"/v1/sources/{source['id']}").status_code == 204


def test_a_new_opposing_claim_makes_a_record_disputed_and_changes_its_etag(
    client: Client,
) -> None:
    url = f"/v1/role-changes/{ids.UMEROV_AMBASSADOR_PROPOSAL}"
    before = client.get(url)
    assert before.json()["disputed"] is False
    claim = {
        "subject_id": ids.UMEROV_AMBASSADOR_PROPOSAL,
        "predicate": "status",
        "object_value": "withdrawn",
    }
    affirm = client.post(
        "/v1/claims", json={**claim, "stance": "affirms", "claimant_official_id": ids.UMEROV}
    )
    assert affirm.status_code == 201, affirm.text
    assert client.get(url).json()["disputed"] is False
    deny = client.post(
        "/v1/claims", json={**claim, "stance": "denies", "claimant_organization_id": ids.UKRAINE}
    )
    assert deny.status_code == 201, deny.text
    after = client.get(url, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.json()["disputed"] is True
    assert after.json()["version"] == before.json()["version"]
    assert client.delete(f"/v1/claims/{deny.json()['id']}").status_code == 204
    assert client.get(url).json()["disputed"] is False


def test_a_claims_object_must_fit_its_predicate(client: Client) -> None:
    base = {
        "subject_id": ids.THOUSAND_BODIES,
        "stance": "affirms",
        "claimant_official_id": ids.UMEROV,
    }
    wrong_record = client.post(
        "/v1/claims",
        json={**base, "predicate": "falls_under_agreement", "object_id": ids.ROUND_2},
    )
    assert wrong_record.status_code == 422
    assert "must be the id of an agreement" in wrong_record.json()["detail"]
    wrong_value = client.post(
        "/v1/claims", json={**base, "predicate": "quantity", "object_value": "many"}
    )
    assert wrong_value.status_code == 422
    both = client.post(
        "/v1/claims",
        json={**base, "predicate": "quantity", "object_value": 1000, "object_id": ids.ROUND_2},
    )
    assert both.status_code == 422
    missing = client.post(
        "/v1/claims",
        json={**base, "subject_id": str(uuid.uuid4()), "predicate": "quantity", "object_value": 1},
    )
    assert missing.status_code == 409


def test_updated_since_returns_only_what_changed_since(client: Client) -> None:
    since = datetime.now(UTC).isoformat()
    org = client.post("/v1/organizations", json={"name": "Fresh", "kind": "other"}).json()
    changed = items(client, "/v1/organizations", updated_since=since)
    assert [o["id"] for o in changed] == [org["id"]]
    assert items(client, "/v1/officials", updated_since=since) == []
