"""The negotiation part of the news item, through the HTTP API only: the Istanbul talks, their
delegations and heads, the rounds held and awaited, the memoranda on round 3's agenda and the
agreements of round 2 — and the rules PostgreSQL keeps for them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import asyncpg
import pytest

from service.core.database import Pool, create_pool
from service.resources import negotiations
from service.settings import Settings
from tests import ids
from tests.conftest import Client, query


def items(client: Client, path: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


def new_negotiation(client: Client, **fields: Any) -> dict[str, Any]:
    body = {
        "title": f"Talks {uuid.uuid4()}",
        "status": "active",
        "parties": [ids.RUSSIA, ids.UKRAINE],
        **fields,
    }
    response = client.post("/v1/negotiations", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def new_round(client: Client, negotiation: str, ordinal: int, **fields: Any) -> dict[str, Any]:
    body = {"negotiation_id": negotiation, "ordinal": ordinal, "status": "proposed", **fields}
    response = client.post("/v1/rounds", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# --- the worked example ------------------------------------------------------------------------


def test_russia_and_ukraine_negotiate_with_us_mediation(client: Client) -> None:
    talks = client.get(f"/v1/negotiations/{ids.ISTANBUL_TALKS}").json()
    assert talks["parties"] == [ids.RUSSIA, ids.UKRAINE]
    assert {"organization_id": ids.UNITED_STATES, "role": "mediator"} in talks["mediators"]
    assert "rounds" not in talks
    found = items(client, "/v1/negotiations", party_id=ids.UKRAINE, mediator_id=ids.UNITED_STATES)
    assert ids.ISTANBUL_TALKS in [n["id"] for n in found]


def test_medinsky_and_umerov_headed_the_delegations_at_round_2(client: Client) -> None:
    round_2 = client.get(f"/v1/rounds/{ids.ROUND_2}").json()
    heads = {
        present["party_id"]: [head["name"] for head in present["heads"]]
        for present in round_2["delegations_present"]
    }
    assert heads == {ids.RUSSIA: ["Vladimir Medinsky"], ids.UKRAINE: ["Rustem Umerov"]}


def test_rounds_1_and_2_were_held_in_istanbul_and_round_3_is_awaited(client: Client) -> None:
    held = items(client, "/v1/rounds", negotiation_id=ids.ISTANBUL_TALKS, status="held")
    assert [(r["ordinal"], r["start_date"], r["venue"]["city"]) for r in held] == [
        (1, "2025-05-16", "Istanbul"),
        (2, "2025-06-02", "Istanbul"),
    ]
    [awaited] = items(client, "/v1/rounds", negotiation_id=ids.ISTANBUL_TALKS, status="awaited")
    assert awaited["id"] == ids.ROUND_3
    assert awaited["start_date"] is None
    assert awaited["venue"] is None
    in_turkiye = items(client, "/v1/rounds", venue_country_code="TR", to="2025-05")
    assert [r["id"] for r in in_turkiye] == [ids.ROUND_1]


def test_both_draft_memoranda_are_on_round_3s_agenda_with_their_authors(client: Client) -> None:
    round_3 = client.get(f"/v1/rounds/{ids.ROUND_3}").json()
    on_agenda = [item["memorandum_id"] for item in round_3["agenda"] if item["memorandum_id"]]
    assert on_agenda == [ids.RUSSIAN_MEMORANDUM, ids.UKRAINIAN_MEMORANDUM]
    authors = {
        m["id"]: (m["author_id"], m["status"])
        for m in items(client, "/v1/memoranda", round_id=ids.ROUND_3)
    }
    assert authors == {
        ids.RUSSIAN_MEMORANDUM: (ids.RUSSIA, "exchanged"),
        ids.UKRAINIAN_MEMORANDUM: (ids.UKRAINE, "exchanged"),
    }
    memorandum = client.get(f"/v1/memoranda/{ids.UKRAINIAN_MEMORANDUM}").json()
    assert memorandum["agenda_round_ids"] == [ids.ROUND_3]
    assert memorandum["exchanged_round_id"] == ids.ROUND_2


def test_round_2_produced_the_humanitarian_agreements(client: Client) -> None:
    agreed = items(client, "/v1/agreements", round_id=ids.ROUND_2)
    assert {a["id"] for a in agreed} == {ids.WOUNDED_AND_YOUNG_EXCHANGE, ids.RETURN_OF_BODIES}
    assert all(a["kind"] == "humanitarian" and a["agreed_date"] == "2025-06-02" for a in agreed)
    istanbul = items(client, "/v1/agreements", negotiation_id=ids.ISTANBUL_TALKS)
    assert len(istanbul) == 3
    assert items(client, "/v1/agreements", round_id=ids.ROUND_3) == []


def test_the_negotiation_embeds_its_rounds_and_delegations_on_request(client: Client) -> None:
    response = client.get(
        f"/v1/negotiations/{ids.ISTANBUL_TALKS}", params={"include": "rounds,delegations"}
    )
    assert response.status_code == 200
    talks = response.json()
    assert [r["ordinal"] for r in talks["rounds"]] == [1, 2, 3]
    heads = {
        d["party_id"]: [m["official_id"] for m in d["members"] if m["role"] == "head"]
        for d in talks["delegations"]
    }
    assert heads == {ids.RUSSIA: [ids.MEDINSKY], ids.UKRAINE: [ids.UMEROV]}
    plain = client.get(f"/v1/negotiations/{ids.ISTANBUL_TALKS}")
    assert response.headers["etag"] != plain.headers["etag"]
    again = client.get(
        f"/v1/negotiations/{ids.ISTANBUL_TALKS}",
        params={"include": "rounds,delegations"},
        headers={"If-None-Match": response.headers["etag"]},
    )
    assert again.status_code == 304


def test_embedding_costs_one_query_per_kind_whatever_the_number_of_rounds(
    client: Client, database_url: str
) -> None:
    talks = new_negotiation(client)
    for ordinal in range(1, 8):
        new_round(client, talks["id"], ordinal)

    class CountingPool:
        """Counts the statements a read sends on the connection it takes."""

        def __init__(self, pool: Pool) -> None:
            self.pool = pool
            self.statements = 0
            self.conn: Any = None

        @contextlib.asynccontextmanager
        async def acquire(self) -> AsyncIterator[CountingPool]:
            async with self.pool.acquire() as conn:
                self.conn = conn
                yield self

        async def fetch(self, *args: Any) -> Any:
            self.statements += 1
            return await self.conn.fetch(*args)

        async def fetchrow(self, *args: Any) -> Any:
            self.statements += 1
            return await self.conn.fetchrow(*args)

    async def count() -> tuple[int, int]:
        settings = Settings(database_url=database_url)
        pool = await create_pool(database_url, settings)
        counting = CountingPool(pool)
        try:
            response = await negotiations.TABLE.read(
                cast(Pool, counting), uuid.UUID(talks["id"]), None, negotiations.EMBEDS
            )
        finally:
            await pool.close()
        embedded = response.content.rounds
        assert isinstance(embedded, list)
        return counting.statements, len(embedded)

    calls, rounds = asyncio.run(count())
    assert (calls, rounds) == (3, 7)


# --- rules -------------------------------------------------------------------------------------


def test_a_second_head_at_the_same_time_is_refused(client: Client) -> None:
    before = client.get(f"/v1/delegations/{ids.UKRAINIAN_DELEGATION}").json()
    second_head = {"official_id": ids.SHMYHAL, "role": "head", "start_date": "2025-07"}
    response = client.patch(
        f"/v1/delegations/{ids.UKRAINIAN_DELEGATION}",
        json={"members": [*before["members"], second_head]},
    )
    assert response.status_code == 409, response.text
    assert "one_head_at_a_time" in response.json()["detail"]
    after = client.get(f"/v1/delegations/{ids.UKRAINIAN_DELEGATION}").json()
    assert after["members"] == before["members"]
    assert after["version"] == before["version"]


def test_heads_one_after_the_other_are_accepted(client: Client) -> None:
    talks = new_negotiation(client)
    response = client.post(
        "/v1/delegations",
        json={
            "negotiation_id": talks["id"],
            "party_id": ids.UKRAINE,
            "members": [
                {"official_id": ids.REZNIKOV, "role": "head", "end_date": "2023-09-05"},
                {"official_id": ids.UMEROV, "role": "head", "start_date": "2023-09-06"},
                {"official_id": ids.SHMYHAL, "role": "member", "start_date": "2023"},
            ],
        },
    )
    assert response.status_code == 201, response.text
    assert [m["official_id"] for m in response.json()["members"]] == [
        ids.REZNIKOV,
        ids.UMEROV,
        ids.SHMYHAL,
    ]
    found = items(client, "/v1/delegations", official_id=ids.REZNIKOV)
    assert [d["id"] for d in found] == [response.json()["id"]]


def test_a_delegation_speaks_for_a_party_of_the_negotiation(client: Client) -> None:
    talks = new_negotiation(client)
    response = client.post(
        "/v1/delegations", json={"negotiation_id": talks["id"], "party_id": ids.UNITED_STATES}
    )
    assert response.status_code == 409
    assert "delegation_of_a_party" in response.json()["detail"]


def test_adding_a_memorandum_version_keeps_the_earlier_ones(client: Client) -> None:
    path = f"/v1/memoranda/{ids.RUSSIAN_MEMORANDUM}/versions"
    [first] = items(client, path)
    memorandum = client.get(f"/v1/memoranda/{ids.RUSSIAN_MEMORANDUM}")
    response = client.post(path, json={"date": "2025-07", "summary": "A revised draft."})
    assert response.status_code == 201, response.text
    assert response.json()["number"] == 2
    assert response.headers["location"] == f"{path}/2"
    assert items(client, path) == [first, response.json()]
    assert client.get(f"{path}/1").json() == first
    assert client.get(f"{path}/2").json()["summary"] == "A revised draft."
    refreshed = client.get(
        f"/v1/memoranda/{ids.RUSSIAN_MEMORANDUM}",
        headers={"If-None-Match": memorandum.headers["etag"]},
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["latest_version"] == 2


def test_postgresql_itself_refuses_to_rewrite_a_version(database_url: str) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        query(
            database_url,
            "update memorandum_versions set summary = 'rewritten' where memorandum_id = $1",
            uuid.UUID(ids.UKRAINIAN_MEMORANDUM),
        )
    with pytest.raises(asyncpg.CheckViolationError):
        query(
            database_url,
            "delete from memorandum_versions where memorandum_id = $1",
            uuid.UUID(ids.UKRAINIAN_MEMORANDUM),
        )


def test_versions_of_a_missing_memorandum_are_404(client: Client) -> None:
    missing = uuid.uuid4()
    assert client.get(f"/v1/memoranda/{missing}/versions").status_code == 404
    assert client.get(f"/v1/memoranda/{missing}/versions/1").status_code == 404
    response = client.post(f"/v1/memoranda/{missing}/versions", json={"summary": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        ("held", "cancelled", "A held round is final"),
        ("cancelled", "held", "A cancelled round is final"),
    ],
)
def test_final_statuses_stay_final(client: Client, start: str, end: str, problem: str) -> None:
    talks = new_negotiation(client)
    made = new_round(client, talks["id"], 1, status=start, start_date="2025-05-16")
    response = client.patch(f"/v1/rounds/{made['id']}", json={"status": end})
    assert response.status_code == 422
    assert problem in response.json()["detail"]
    assert client.get(f"/v1/rounds/{made['id']}").json()["status"] == start


def test_a_round_moves_from_awaited_to_held_once_it_has_its_day(client: Client) -> None:
    talks = new_negotiation(client)
    made = new_round(client, talks["id"], 1, status="awaited", start_date="2025-07")
    undated = client.patch(f"/v1/rounds/{made['id']}", json={"status": "held"})
    assert undated.status_code == 422
    assert "held_round_has_dates" in undated.json()["detail"]
    held = client.patch(
        f"/v1/rounds/{made['id']}", json={"status": "held", "start_date": "2025-07-23"}
    )
    assert held.status_code == 200, held.text


def test_ordinals_are_unique_within_a_negotiation(client: Client) -> None:
    talks = new_negotiation(client)
    new_round(client, talks["id"], 1)
    duplicate = client.post(
        "/v1/rounds", json={"negotiation_id": talks["id"], "ordinal": 1, "status": "proposed"}
    )
    assert duplicate.status_code == 409
    other = new_negotiation(client)
    new_round(client, other["id"], 1)


def test_a_round_lists_only_delegations_and_memoranda_of_its_negotiation(client: Client) -> None:
    talks = new_negotiation(client)
    foreign = client.post(
        "/v1/rounds",
        json={
            "negotiation_id": talks["id"],
            "ordinal": 1,
            "status": "proposed",
            "delegation_ids": [ids.RUSSIAN_DELEGATION],
        },
    )
    assert foreign.status_code == 422
    assert f"not of {talks['id']}" in foreign.json()["detail"]
    agenda = client.post(
        "/v1/rounds",
        json={
            "negotiation_id": talks["id"],
            "ordinal": 1,
            "status": "proposed",
            "agenda": [{"memorandum_id": ids.RUSSIAN_MEMORANDUM}],
        },
    )
    assert agenda.status_code == 422


def test_the_same_party_twice_is_refused(client: Client) -> None:
    response = client.post(
        "/v1/negotiations",
        json={"title": "Twice", "status": "active", "parties": [ids.RUSSIA, ids.RUSSIA]},
    )
    assert response.status_code == 422
    assert "listed" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "referrer"),
    [
        (f"/v1/negotiations/{ids.ISTANBUL_TALKS}", "delegations"),
        (f"/v1/rounds/{ids.ROUND_2}", "memoranda"),
        (f"/v1/memoranda/{ids.RUSSIAN_MEMORANDUM}", "round_agenda"),
        (f"/v1/delegations/{ids.RUSSIAN_DELEGATION}", "round_delegations"),
        (f"/v1/organizations/{ids.UNITED_STATES}", "negotiation_mediators"),
    ],
)
def test_deleting_what_others_refer_to_says_what_does(
    client: Client, path: str, referrer: str
) -> None:
    response = client.delete(path)
    assert response.status_code == 409
    assert referrer in response.json()["detail"]
    assert client.get(path).status_code == 200


def test_deleting_a_round_nothing_refers_to_removes_its_lists_with_it(client: Client) -> None:
    talks = new_negotiation(client)
    made = new_round(client, talks["id"], 1, mediators=[ids.TURKIYE], agenda=[{"item": "x"}])
    assert client.delete(f"/v1/rounds/{made['id']}").status_code == 204
    assert client.get(f"/v1/rounds/{made['id']}").status_code == 404
    assert client.delete(f"/v1/negotiations/{talks['id']}").status_code == 204


def test_an_official_on_a_delegation_cannot_be_deleted(client: Client) -> None:
    official = client.post("/v1/officials", json={"name": "Serhiy Kyslytsya"}).json()
    talks = new_negotiation(client)
    delegation = client.post(
        "/v1/delegations",
        json={
            "negotiation_id": talks["id"],
            "party_id": ids.UKRAINE,
            "members": [{"official_id": official["id"], "role": "deputy_head"}],
        },
    )
    assert delegation.status_code == 201
    response = client.delete(f"/v1/officials/{official['id']}")
    assert response.status_code == 409
    assert "delegation_members" in response.json()["detail"]


def test_a_partial_end_date_may_share_its_period_with_the_start(client: Client) -> None:
    talks = new_negotiation(client, start_date="2025-06-02", end_date="2025")
    assert talks["end_date"] == "2025"
    response = client.patch(f"/v1/negotiations/{talks['id']}", json={"end_date": "2024"})
    assert response.status_code == 422
    assert "negotiation_ends_after_start" in response.json()["detail"]
