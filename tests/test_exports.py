"""Exports: the Data Package describing every CSV file (checked against the published Data
Package v2 profile, and read by a real consumer over a live server) and the Popolo document
(checked against JSON Schemas written from the Popolo specification's fields, against the
worked example, against the post holders the API serves, and converted back to Accord's
records)."""

from __future__ import annotations

import asyncio
import importlib.resources
import json
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import httpx
import jsonschema
import msgspec
import pytest
from litestar.testing import TestClient
from litestar.types import Message, ReceiveMessage, Scope

from service import migrations
from service.app import create_app
from service.core import database
from service.core.bulk import Streamed, streamed
from service.core.replica import Reads
from service.core.types import parse_partial_date
from service.resources import exports, popolo
from service.resources.registry import BULK, TABLES
from service.settings import Settings
from tests import ids
from tests.conftest import Client, Databases, live_server, query

# --- the Data Package --------------------------------------------------------------------------


def datapackage_profile() -> dict[str, Any]:
    """The published Data Package v2 profile (JSON Schema), as the dplib-py package ships it:
    no network at test time, and no copy of it in this repository."""
    profile = importlib.resources.files("dplib") / "profiles" / "2.0" / "datapackage.json"
    loaded: dict[str, Any] = json.loads(profile.read_text(encoding="utf-8"))
    return loaded


def test_datapackage_follows_the_v2_profile(client: Client) -> None:
    response = client.get("/v1/export/datapackage.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    package = response.json()
    validator = jsonschema.Draft7Validator(datapackage_profile())
    errors = sorted(validator.iter_errors(package), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    # The profile can fail: a package without resources, or with a resource without data.
    assert not validator.is_valid({**package, "resources": []})
    broken = {**package["resources"][0]}
    del broken["path"]
    assert not validator.is_valid({**package, "resources": [broken]})

    assert package["$schema"] == "https://datapackage.org/profiles/2.0/datapackage.json"
    seq = int(response.headers["accord-seq"])
    assert package["accord:seq"] == seq
    assert package["version"].endswith(f"+seq.{seq}")
    assert package["licenses"]
    assert package["created"].endswith("Z")


def test_datapackage_describes_each_csv_file(client: Client) -> None:
    package = client.get("/v1/export/datapackage.json").json()
    resources = {r["name"]: r for r in package["resources"]}
    assert list(resources) == list(BULK)
    for name, table in BULK.items():
        resource = resources[name]
        assert resource["path"] == f"{name}.csv"
        assert resource["mediatype"] == "text/csv"
        assert resource["encoding"] == "utf-8"
        assert resource["dialect"]["lineTerminator"] == "\r\n"
        assert resource["dialect"]["header"] is True
        schema = resource["schema"]
        # The CSV's columns: the record's fields in declaration order.
        assert [f["name"] for f in schema["fields"]] == list(table.record.__struct_fields__)
        if name == "memorandum-versions":
            # Versions are named by their memorandum and their number, and belong to it.
            assert schema["primaryKey"] == ["memorandum_id", "number"]
            assert schema["foreignKeys"] == [
                {
                    "fields": ["memorandum_id"],
                    "reference": {"resource": "memoranda", "fields": ["id"]},
                }
            ]
            continue
        assert schema["primaryKey"] == ["id"]
        fields = {f["name"]: f for f in schema["fields"]}
        assert fields["id"] == {
            "name": "id",
            "type": "string",
            "format": "uuid",
            "constraints": {"required": True},
        }
        assert fields["version"]["type"] == "integer"
        assert fields["disputed"]["type"] == "boolean"
        assert fields["created_at"]["type"] == "datetime"
        if "citations" in fields:
            assert fields["citations"]["type"] == "array"
        assert fields["note"].get("constraints", {}).get("required") is not True
        for key in schema.get("foreignKeys", []):
            assert schema["foreignKeys"]
            (column,) = key["fields"]
            assert column in fields
            assert key["reference"]["fields"] == ["id"]
            assert key["reference"].get("resource", name) in resources

    def keys_of(name: str) -> dict[str, str]:
        return {
            k["fields"][0]: k["reference"].get("resource", name)
            for k in resources[name]["schema"].get("foreignKeys", [])
        }

    # Read from PostgreSQL's catalog: every reference column, and nothing else.
    assert keys_of("organizations") == {"parent_id": "organizations"}
    assert keys_of("officials") == {"nationality_id": "organizations"}
    assert keys_of("role-changes") == {"official_id": "officials", "post_id": "posts"}
    assert keys_of("delegations") == {"negotiation_id": "negotiations", "party_id": "organizations"}
    assert "resource" not in resources["organizations"]["schema"]["foreignKeys"][0]["reference"]

    role_changes = {f["name"]: f for f in resources["role-changes"]["schema"]["fields"]}
    assert role_changes["kind"]["constraints"]["enum"] == [
        "acting_appointment",
        "appointment",
        "dismissal",
        "nomination",
        "resignation",
    ]
    assert role_changes["official_id"]["constraints"] == {"required": True}
    effective = role_changes["effective_date"]
    assert effective["type"] == "string"
    pattern = effective["constraints"]["pattern"]
    assert not pattern.startswith("^")
    assert not pattern.endswith("$")
    rounds = {f["name"]: f for f in resources["rounds"]["schema"]["fields"]}
    assert rounds["venue"]["type"] == "object"
    assert rounds["ordinal"]["constraints"] == {"required": True, "minimum": 1, "maximum": 10000}


def test_datapackage_is_read_by_frictionless_over_http(database_url: str) -> None:
    """A real consumer (frictionless) reads the package from a live server: it follows each
    resource's relative path to `/v1/export/{name}.csv` and checks every row against the Table
    Schema, foreign keys included. Needs the CSV exports (`GET /v1/export/{name}.csv`)."""
    import frictionless

    with live_server(database_url) as base:
        missing = [
            name
            for name in BULK
            if httpx.get(f"{base}/v1/export/{name}.csv", timeout=30).status_code != 200
        ]
        assert not missing, f"the CSV exports are missing: GET /v1/export/{{name}}.csv {missing}"
        package = frictionless.Package(f"{base}/v1/export/datapackage.json")
        report = package.validate()
        assert report.valid, report.flatten(["resourceName", "rowNumber", "fieldName", "note"])
        officials = package.get_table_resource("officials").read_rows()
        assert {row["name"] for row in officials} >= {"Vladimir Medinsky", "Rustem Umerov"}


# --- the Popolo document: schemas from the specification ---------------------------------------

_DATE = r"^[0-9]{4}(-[0-9]{2}){0,2}$"
_DATE_TIME = (
    r"^[0-9]{4}((-[0-9]{2}){0,2}|(-[0-9]{2}){2}(T[0-9]{2}(:[0-9]{2}(:[0-9]{2})?)?"
    r"(Z|[+-][0-9]{2}(:[0-9]{2})?))?)$"
)
_TEXT = {"type": ["string", "null"]}
_STAMP = {"type": ["string", "null"], "format": "date-time"}


def _array(ref: str) -> dict[str, Any]:
    return {"type": "array", "items": {"$ref": ref}}


POPOLO_SCHEMAS: dict[str, dict[str, Any]] = {
    "other_name": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "family_name": _TEXT,
            "given_name": _TEXT,
            "start_date": {"type": ["string", "null"], "pattern": _DATE},
            "end_date": {"type": ["string", "null"], "pattern": _DATE},
            "note": _TEXT,
        },
        "required": ["name"],
    },
    "identifier": {
        "type": "object",
        "properties": {"identifier": {"type": "string"}, "scheme": _TEXT},
        "required": ["identifier"],
    },
    "link": {
        "type": "object",
        "properties": {"url": {"type": "string", "format": "uri"}, "note": _TEXT},
        "required": ["url"],
    },
    "person": {
        "type": "object",
        "properties": {
            "id": _TEXT,
            "name": _TEXT,
            "other_names": _array("other_name"),
            "identifiers": _array("identifier"),
            "family_name": _TEXT,
            "given_name": _TEXT,
            "sort_name": _TEXT,
            "gender": _TEXT,
            "birth_date": {"type": ["string", "null"], "pattern": _DATE},
            "death_date": {"type": ["string", "null"], "pattern": _DATE},
            "national_identity": _TEXT,
            "summary": _TEXT,
            "biography": _TEXT,
            "links": _array("link"),
            "sources": _array("link"),
            "created_at": _STAMP,
            "updated_at": _STAMP,
        },
    },
    "organization": {
        "type": "object",
        "properties": {
            "id": _TEXT,
            "name": _TEXT,
            "other_names": _array("other_name"),
            "identifiers": _array("identifier"),
            "classification": _TEXT,
            "parent_id": _TEXT,
            "area_id": _TEXT,
            "abstract": _TEXT,
            "description": _TEXT,
            "founding_date": {"type": ["string", "null"], "pattern": _DATE},
            "dissolution_date": {"type": ["string", "null"], "pattern": _DATE},
            "links": _array("link"),
            "sources": _array("link"),
            "created_at": _STAMP,
            "updated_at": _STAMP,
        },
    },
    "area": {
        "type": "object",
        "properties": {
            "id": _TEXT,
            "name": _TEXT,
            "identifiers": _array("identifier"),
            "classification": _TEXT,
            "parent_id": _TEXT,
        },
    },
    "post": {
        "type": "object",
        "properties": {
            "id": _TEXT,
            "label": _TEXT,
            "other_label": _array("other_name"),
            "role": _TEXT,
            "organization_id": _TEXT,
            "area_id": _TEXT,
            "start_date": {"type": ["string", "null"], "pattern": _DATE},
            "end_date": {"type": ["string", "null"], "pattern": _DATE},
            "links": _array("link"),
            "sources": _array("link"),
            "created_at": _STAMP,
            "updated_at": _STAMP,
        },
    },
    "membership": {
        "type": "object",
        "properties": {
            "id": _TEXT,
            "label": _TEXT,
            "role": _TEXT,
            "person_id": _TEXT,
            "organization_id": _TEXT,
            "post_id": _TEXT,
            "on_behalf_of_id": _TEXT,
            "area_id": _TEXT,
            "legislative_period_id": _TEXT,
            "start_date": {"type": ["string", "null"], "pattern": _DATE_TIME},
            "end_date": {"type": ["string", "null"], "pattern": _DATE_TIME},
            "links": _array("link"),
            "sources": _array("link"),
            "created_at": _STAMP,
            "updated_at": _STAMP,
        },
    },
    "event": {
        "type": "object",
        "properties": {
            "id": _TEXT,
            "name": _TEXT,
            "description": _TEXT,
            "start_date": {"type": ["string", "null"], "pattern": _DATE_TIME},
            "end_date": {"type": ["string", "null"], "pattern": _DATE_TIME},
            "location": _TEXT,
            "status": _TEXT,
            "identifiers": _array("identifier"),
            "classification": _TEXT,
            "organization_id": _TEXT,
            "parent_id": _TEXT,
            "sources": _array("link"),
            "created_at": _STAMP,
            "updated_at": _STAMP,
        },
    },
}
"""The Popolo JSON Schemas (https://www.popoloproject.com/schemas/), written from the fields
the specification publishes for each class; every property a document may use, with its type
and, for dates, its pattern."""

DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "persons": _array("person"),
        "organizations": _array("organization"),
        "areas": _array("area"),
        "posts": _array("post"),
        "memberships": _array("membership"),
        "events": _array("event"),
    },
    "required": ["persons", "organizations", "memberships"],
    "definitions": POPOLO_SCHEMAS,
}


def popolo_validator() -> jsonschema.Draft7Validator:
    document = json.loads(
        json.dumps(DOCUMENT_SCHEMA).replace('"$ref": "', '"$ref": "#/definitions/')
    )
    return jsonschema.Draft7Validator(document, format_checker=jsonschema.FormatChecker())


def _by(items: list[dict[str, Any]], key: str = "id") -> dict[str, dict[str, Any]]:
    return {item[key]: item for item in items}


@pytest.fixture(scope="module")
def popolo_url(databases: Databases) -> str:
    """A database of its own: the worked example, plus Medinsky's Wikidata id, an official
    acting in a post before being appointed to it, and a tenure ended at month precision."""
    url = databases.create("popolo")
    query(url, "update officials set wikidata_id = 'Q4368339' where id = $1", ids.MEDINSKY)
    query(
        url,
        """insert into role_changes (id, official_id, post_id, kind, status, effective_date,
                                     effective_precision) values
           ('0193a0f3-0000-7000-8000-000000000001', $1, $2, 'acting_appointment', 'effective',
            '2019-03-04', 'day'),
           ('0193a0f3-0000-7000-8000-000000000002', $1, $2, 'appointment', 'effective',
            '2019-06-01', 'month'),
           ('0193a0f3-0000-7000-8000-000000000003', $1, $2, 'resignation', 'effective',
            '2020-02-01', 'month')""",
        ids.PESKOV,
        ids.PRESIDENTIAL_AIDE,
    )
    return url


@pytest.fixture(scope="module")
def popolo_client(popolo_url: str) -> Iterator[Client]:
    with TestClient(create_app(Settings(database_url=popolo_url))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def document(popolo_client: Client) -> dict[str, Any]:
    response = popolo_client.get("/v1/export/popolo")
    assert response.status_code == 200, response.text
    loaded: dict[str, Any] = response.json()
    return loaded


def test_popolo_follows_the_popolo_schemas(
    popolo_client: Client, popolo_url: str, document: dict[str, Any]
) -> None:
    validator = popolo_validator()
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, errors
    # The schemas can fail: a date Popolo cannot read, a name of the wrong type.
    bad = json.loads(json.dumps(document))
    bad["memberships"][0]["start_date"] = "16 May 2025"
    bad["persons"][0]["other_names"][0]["name"] = 7
    assert len(list(validator.iter_errors(bad))) == 2
    # …and the response is what the contract says it is.
    msgspec.convert(document, popolo.PopoloDocument)
    response = popolo_client.get("/v1/export/popolo")
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"] == 'attachment; filename="accord-popolo.json"'
    seq = query(popolo_url, "select last_seq from change_log")
    assert int(response.headers["accord-seq"]) == seq[0]["last_seq"]


def test_popolo_carries_the_worked_example(document: dict[str, Any]) -> None:
    persons = _by(document["persons"])
    medinsky = persons[str(ids.MEDINSKY)]
    assert medinsky["name"] == "Vladimir Medinsky"
    assert {"name": "Владимир Ростиславович Мединский", "lang": "ru"} in medinsky["other_names"]
    assert medinsky["identifiers"] == [{"identifier": "Q4368339", "scheme": "wikidata"}]
    assert medinsky["national_identity"] == "Russia"
    assert "identifiers" not in persons[str(ids.UMEROV)]

    organizations = _by(document["organizations"])
    ministry = organizations[str(ids.MINISTRY_OF_DEFENCE)]
    assert ministry["classification"] == "ministry"
    assert ministry["parent_id"] == str(ids.UKRAINE)
    assert ministry["area_id"] == "ocd-division/country:ua"
    areas = _by(document["areas"])
    assert areas["ocd-division/country:ua"]["identifiers"] == [
        {"identifier": "UA", "scheme": "iso3166-1"}
    ]
    delegation = organizations[str(ids.UKRAINIAN_DELEGATION)]
    assert delegation["classification"] == "delegation"
    assert delegation["parent_id"] == str(ids.UKRAINE)

    posts = _by(document["posts"])
    assert posts[str(ids.MINISTER_OF_DEFENCE)]["label"] == "Minister of Defence of Ukraine"
    assert posts[str(ids.MINISTER_OF_DEFENCE)]["organization_id"] == str(ids.MINISTRY_OF_DEFENCE)

    tenures = [m for m in document["memberships"] if "post_id" in m]
    by_person: dict[str, list[dict[str, Any]]] = {}
    for m in tenures:
        by_person.setdefault(m["person_id"], []).append(m)
    umerov = _by(by_person[str(ids.UMEROV)], "post_id")
    minister = umerov[str(ids.MINISTER_OF_DEFENCE)]
    # Dismissed with effect from 17 July 2025: the last day held was the 16th.
    assert (minister["start_date"], minister["end_date"]) == ("2023-09-06", "2025-07-16")
    assert minister["id"] == "0193a0a3-0000-7000-8000-000000000003"
    assert minister["organization_id"] == str(ids.MINISTRY_OF_DEFENCE)
    assert minister["role"] == "Minister of Defence of Ukraine"
    nsdc = umerov[str(ids.NSDC_SECRETARY)]
    assert nsdc["start_date"] == "2025-07"  # month precision kept
    assert "end_date" not in nsdc
    # The withdrawn proposal to make him ambassador never made him a holder.
    assert str(ids.AMBASSADOR_TO_US) not in umerov
    peskov = sorted(by_person[str(ids.PESKOV)], key=lambda m: m["start_date"])
    press, acting, full = peskov
    assert (acting["role"], acting["start_date"], acting["end_date"]) == (
        "Acting Aide to the President of Russia",
        "2019-03-04",
        "2019-06",  # ended by the appointment, known to the month
    )
    assert (full["role"], full["start_date"], full["end_date"]) == (
        "Aide to the President of Russia",
        "2019-06",
        "2020-02",  # a resignation known to the month: the last day held is in that month
    )
    assert press["post_id"] == str(ids.PRESS_SECRETARY)

    heads = [m for m in document["memberships"] if "on_behalf_of_id" in m]
    assert len(heads) == 2
    medinsky_head = next(m for m in heads if m["person_id"] == str(ids.MEDINSKY))
    assert medinsky_head == {
        "id": f"{ids.RUSSIAN_DELEGATION}/members/1",
        "person_id": str(ids.MEDINSKY),
        "organization_id": str(ids.RUSSIAN_DELEGATION),
        "on_behalf_of_id": str(ids.RUSSIA),
        "legislative_period_id": str(ids.ISTANBUL_TALKS),
        "role": "head",
        "start_date": "2025-05-16",  # from the first round, where he headed it
    }

    events = _by(document["events"])
    negotiation = events[str(ids.ISTANBUL_TALKS)]
    assert negotiation["classification"] == "negotiation"
    assert negotiation["start_date"] == "2025-05-16"
    rounds = [e for e in document["events"] if e["classification"] == "round"]
    assert [(r["parent_id"], r["status"]) for r in rounds] == [
        (str(ids.ISTANBUL_TALKS), "held"),
        (str(ids.ISTANBUL_TALKS), "held"),
        (str(ids.ISTANBUL_TALKS), "awaited"),
    ]
    assert rounds[1]["location"] == "Çırağan Palace, Istanbul, TR"
    assert rounds[1]["start_date"] == rounds[1]["end_date"] == "2025-06-02"
    assert "start_date" not in rounds[2]


def test_popolo_dates_agree_with_the_post_holders(
    popolo_client: Client, document: dict[str, Any]
) -> None:
    """On a membership's last day (day precision) the API serves the person as the post's
    holder; on the day after, not: the two say the same thing."""
    checked = 0
    for m in document["memberships"]:
        if "post_id" not in m or len(m.get("end_date", "")) != 10:
            continue
        last = date.fromisoformat(m["end_date"])
        for day, held in ((last, True), (last + timedelta(days=1), False)):
            page = popolo_client.get(
                f"/v1/posts/{m['post_id']}/holders", params={"at": day.isoformat()}
            ).json()
            holders = {t["official_id"] for t in page["items"]}
            assert (m["person_id"] in holders) is held, (m, day)
        start = popolo_client.get(
            f"/v1/posts/{m['post_id']}/holders", params={"at": m["start_date"]}
        ).json()
        assert m["person_id"] in {t["official_id"] for t in start["items"]}
        checked += 1
    assert checked >= 2


def test_popolo_is_sent_in_batches_from_one_snapshot(
    popolo_url: str, document: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of one row make the same document as one batch, in more chunks."""
    monkeypatch.setattr(popolo, "BATCH", 1)

    async def chunks() -> list[bytes]:
        conn = await asyncpg.connect(popolo_url)
        try:
            await database.init_connection(conn)
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                return [chunk async for chunk in popolo.popolo_chunks(conn)]
        finally:
            await conn.close()

    made = asyncio.run(chunks())
    assert json.loads(b"".join(made)) == document
    rows = sum(len(document[key]) for key, _, _ in popolo.SECTIONS)
    assert len(made) > rows


# --- back from Popolo --------------------------------------------------------------------------


def _records(client: Client, name: str) -> dict[str, dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get(
            f"/v1/{name}", params={"limit": 200, **({"cursor": cursor} if cursor else {})}
        ).json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return _by(items)


def _only(record: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {field: record[field] for field in fields}


def test_popolo_converts_back_to_the_stored_records(
    popolo_client: Client, document: dict[str, Any]
) -> None:
    lines = popolo.popolo_records(document)
    assert list(lines) == [
        "organizations",
        "officials",
        "posts",
        "role-changes",
        "negotiations",
        "rounds",
        "delegations",
    ]
    # Every line is a valid create of its resource, with its id.
    for name, records in lines.items():
        for line in records:
            msgspec.convert(
                {k: v for k, v in line.items() if k not in ("id", "created_at", "updated_at")},
                TABLES[name].create,
            )
    # Parents before children, as an import fills them.
    seen: set[str] = set()
    for o in lines["organizations"]:
        assert o["parent_id"] is None or o["parent_id"] in seen
        seen.add(o["id"])

    carried = {
        "organizations": ("name", "kind", "parent_id", "country_code", "other_names"),
        "officials": ("name", "other_names", "wikidata_id", "nationality_id"),
        "posts": ("title", "organization_id", "single_holder"),
    }
    for name, fields in carried.items():
        stored = _records(popolo_client, name)
        back = _by(lines[name])
        assert set(back) == set(stored), name
        for ident, record in stored.items():
            expected = _only(record, *fields)
            if "other_names" in expected:
                expected["other_names"] = [
                    {"name": n["name"], "lang": n.get("lang"), "note": n.get("note")}
                    for n in expected["other_names"]
                ]
            assert _only(back[ident], *fields) == expected, (name, ident)

    carried_too = {
        "negotiations": ("title", "status", "parties", "start_date", "end_date"),
        "rounds": ("negotiation_id", "ordinal", "status", "start_date", "end_date", "outcome"),
    }
    for name, fields in carried_too.items():
        stored = _records(popolo_client, name)
        assert {i: _only(r, *fields) for i, r in _by(lines[name]).items()} == {
            i: _only(r, *fields) for i, r in stored.items()
        }, name

    stored_delegations = _records(popolo_client, "delegations")
    back_delegations = _by(lines["delegations"])
    assert set(back_delegations) == set(stored_delegations)
    for ident, record in stored_delegations.items():
        delegation = back_delegations[ident]
        assert _only(delegation, "negotiation_id", "party_id", "name") == _only(
            record, "negotiation_id", "party_id", "name"
        )
        # A membership bounded by rounds comes back bounded by their dates.
        assert [(m["official_id"], m["role"]) for m in delegation["members"]] == [
            (m["official_id"], m["role"]) for m in record["members"]
        ]
        assert [m["start_date"] for m in delegation["members"]] == ["2025-05-16"]


def test_popolo_role_changes_recreate_the_tenures(
    popolo_url: str, databases: Databases, document: dict[str, Any]
) -> None:
    """The records converted back, written into an empty database in their order, make
    PostgreSQL derive the very tenures that were exported (and the same delegation periods,
    the same rounds)."""
    lines = popolo.popolo_records(document)
    empty = databases.create_empty("popolo_back")

    async def fill() -> None:
        conn = await asyncpg.connect(empty)
        try:
            await migrations.migrate(conn)
            await database.init_connection(conn)
            for o in lines["organizations"]:
                await conn.execute(
                    "insert into organizations (id, name, kind, parent_id, country_code, "
                    "other_names) values ($1, $2, $3, $4, $5, $6)",
                    *_only(o, "id", "name", "kind", "parent_id", "country_code").values(),
                    o["other_names"],
                )
            for p in lines["officials"]:
                await conn.execute(
                    "insert into officials (id, name, other_names, wikidata_id, nationality_id) "
                    "values ($1, $2, $3, $4, $5)",
                    *_only(
                        p, "id", "name", "other_names", "wikidata_id", "nationality_id"
                    ).values(),
                )
            for p in lines["posts"]:
                await conn.execute(
                    "insert into posts (id, title, organization_id, single_holder) "
                    "values ($1, $2, $3, $4)",
                    *_only(p, "id", "title", "organization_id", "single_holder").values(),
                )
            for c in lines["role-changes"]:
                day, precision = parse_partial_date(c["effective_date"], "effective_date")
                await conn.execute(
                    "insert into role_changes (id, official_id, post_id, kind, status, "
                    "effective_date, effective_precision) values ($1, $2, $3, $4, $5, $6, $7)",
                    *_only(c, "id", "official_id", "post_id", "kind", "status").values(),
                    day,
                    precision,
                )
            for n in lines["negotiations"]:
                start, start_precision = parse_partial_date(n["start_date"], "start_date")
                await conn.execute(
                    "insert into negotiations (id, title, status, start_date, start_precision) "
                    "values ($1, $2, $3, $4, $5)",
                    n["id"], n["title"], n["status"], start, start_precision,
                )  # fmt: skip
                for position, party in enumerate(n["parties"], 1):
                    await conn.execute(
                        "insert into negotiation_parties (negotiation_id, position, "
                        "organization_id) values ($1, $2, $3)",
                        n["id"], position, party,
                    )  # fmt: skip
            for r in lines["rounds"]:
                await conn.execute(
                    "insert into rounds (id, negotiation_id, ordinal, status, start_date, "
                    "start_precision, end_date, end_precision, outcome) "
                    "values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    r["id"], r["negotiation_id"], r["ordinal"], r["status"],
                    *parse_partial_date(r["start_date"], "start_date"),
                    *parse_partial_date(r["end_date"], "end_date"),
                    r["outcome"],
                )  # fmt: skip
            for d in lines["delegations"]:
                await conn.execute(
                    "insert into delegations (id, negotiation_id, party_id, name) "
                    "values ($1, $2, $3, $4)",
                    d["id"], d["negotiation_id"], d["party_id"], d["name"],
                )  # fmt: skip
                for position, m in enumerate(d["members"], 1):
                    await conn.execute(
                        "insert into delegation_members (delegation_id, position, official_id, "
                        "role, start_date, start_precision, end_date, end_precision) "
                        "values ($1, $2, $3, $4, $5, $6, $7, $8)",
                        d["id"], position, m["official_id"], m["role"],
                        *parse_partial_date(m["start_date"], "start_date"),
                        *parse_partial_date(m["end_date"], "end_date"),
                    )  # fmt: skip
        finally:
            await conn.close()

    asyncio.run(fill())
    members = (
        "select delegation_id, position, official_id, role, period from delegation_members "
        "order by delegation_id, position"
    )
    assert [tuple(r) for r in query(empty, members)] == [
        tuple(r) for r in query(popolo_url, members)
    ]
    held = "select id, ordinal, status, start_date, end_date from rounds order by id"
    assert [tuple(r) for r in query(empty, held)] == [tuple(r) for r in query(popolo_url, held)]
    tenures = (
        "select official_id, post_id, acting, period, start_change_id from tenures "
        "order by official_id, lower(period)"
    )
    original = [tuple(row) for row in query(popolo_url, tenures)]
    recreated = [tuple(row) for row in query(empty, tenures)]
    assert recreated == original
    assert any(row[2] for row in original)  # the acting tenure is among them


def test_popolo_records_from_another_producer() -> None:
    """A Popolo document not made by Accord: string ids become stable UUIDs, unknown
    classifications `other`, overlapping memberships a post with several holders."""
    doc = {
        "persons": [
            {"id": "p1", "name": "Ann",
             "identifiers": [{"scheme": "Wikidata", "identifier": "Q1"}]},
            {"id": "p2", "name": "Bob", "national_identity": "Freedonia"},
        ],
        "organizations": [
            {"id": "house", "name": "House", "classification": "legislature", "parent_id": "fr"},
            {"id": "fr", "name": "Freedonia", "classification": "state"},
        ],
        "posts": [{"id": "seat", "label": "Member", "role": "Member", "organization_id": "house"}],
        "memberships": [
            {"id": "m1", "person_id": "p1", "organization_id": "house", "post_id": "seat",
             "start_date": "2020-01-01", "end_date": "2021-12-31"},
            {"id": "m2", "person_id": "p2", "organization_id": "house", "post_id": "seat",
             "start_date": "2021"},
        ],
    }  # fmt: skip
    lines = popolo.popolo_records(doc)
    again = popolo.popolo_records(doc)
    assert lines == again
    organizations = lines["organizations"]
    assert [o["name"] for o in organizations] == ["Freedonia", "House"]
    assert organizations[1]["kind"] == "other"
    assert organizations[1]["parent_id"] == organizations[0]["id"]
    ann, bob = lines["officials"]
    assert ann["wikidata_id"] == "Q1"
    assert bob["nationality_id"] == organizations[0]["id"]
    assert lines["posts"][0]["single_holder"] is False
    changes = [(c["kind"], c["effective_date"]) for c in lines["role-changes"]]
    assert changes == [
        ("appointment", "2020-01-01"),
        ("appointment", "2021"),
        ("dismissal", "2022-01-01"),
    ]
    assert lines["negotiations"] == lines["rounds"] == lines["delegations"] == []
    for name, records in lines.items():
        for line in records:
            msgspec.convert(
                {k: v for k, v in line.items() if k not in ("id", "created_at", "updated_at")},
                TABLES[name].create,
            )


def test_export_routes_in_the_contract(client: Client) -> None:
    contract = client.get("/docs/openapi.json").json()
    popolo_ok = contract["paths"]["/v1/export/popolo"]["get"]["responses"]["200"]
    schema = popolo_ok["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/PopoloDocument"}
    package_ok = contract["paths"]["/v1/export/datapackage.json"]["get"]["responses"]["200"]
    assert package_ok["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DataPackage"
    }
    assert exports.PROFILE in json.dumps(contract["components"]["schemas"]["DataPackage"])


# --- the streaming response --------------------------------------------------------------------


class _App:
    """What ``Streamed`` reads from the ASGI scope's app: its pool, and where reads go (the
    primary: no replica)."""

    def __init__(self, pool: database.Pool) -> None:
        reads = Reads()
        reads.start(pool, None)
        self.state = SimpleNamespace(pool=pool, reads=reads)


def _stream(url: str, *, leave_after: int | None) -> tuple[list[dict[str, Any]], list[int], bool]:
    """Send a ``streamed`` response of up to 1,000 chunks to a slow client that leaves after
    ``leave_after`` chunks (or never); the messages sent, the chunks made, and whether the
    pool's connection came back idle, out of any transaction."""
    made: list[int] = []

    async def produce(conn: database.AnyConnection) -> AsyncIterator[bytes]:
        for n in range(1000):
            made.append(n)
            yield f"{await conn.fetchval('select $1::int', n)}\n".encode()

    async def run() -> tuple[list[dict[str, Any]], bool]:
        settings = Settings(database_url=url, pool_min_size=1, pool_max_size=1)
        pool = await database.create_pool(url, settings)
        sent: list[dict[str, Any]] = []
        left = asyncio.Event()

        async def send(message: Message) -> None:
            sent.append(dict(message))
            if leave_after is not None and len(sent) > leave_after:
                left.set()
            await asyncio.sleep(0.001)

        async def receive() -> ReceiveMessage:
            await left.wait()
            return {"type": "http.disconnect"}

        scope = cast(
            Scope, {"type": "http", "method": "GET", "headers": [], "litestar_app": _App(pool)}
        )
        try:
            response = streamed(produce, media_type="text/plain", filename="n.txt")
            assert isinstance(response, Streamed)
            await response(scope, receive, send)
            async with pool.acquire() as conn:
                released = pool.get_idle_size() == 0 and not conn.is_in_transaction()
        finally:
            await pool.close()
        return sent, released

    sent, released = asyncio.run(run())
    return sent, made, released


def test_streamed_sends_every_chunk_with_accord_seq(popolo_url: str) -> None:
    sent, made, released = _stream(popolo_url, leave_after=None)
    start, *bodies = sent
    assert start["type"] == "http.response.start"
    headers = dict(start["headers"])
    seq = query(popolo_url, "select last_seq from change_log")[0]["last_seq"]
    assert headers[b"accord-seq"] == str(seq).encode()
    assert headers[b"content-type"] == b"text/plain"
    assert headers[b"content-disposition"] == b'attachment; filename="n.txt"'
    assert b"".join(m["body"] for m in bodies) == b"".join(f"{n}\n".encode() for n in range(1000))
    assert [m["more_body"] for m in bodies[-2:]] == [True, False]
    assert len(made) == 1000
    assert released


def test_streamed_stops_when_the_client_goes(popolo_url: str) -> None:
    """A client that leaves in the middle stops the producer at once, and the connection goes
    back to the pool out of its transaction: no query runs on for no one."""
    sent, made, released = _stream(popolo_url, leave_after=5)
    assert 5 <= len(made) < 20
    assert all(m.get("more_body", True) for m in sent)  # never finished
    assert released


class _Unreachable:
    """A pool whose database does not answer."""

    def acquire(self) -> Any:
        raise asyncpg.CannotConnectNowError("the database system is starting up")


@pytest.mark.parametrize("path", ["/v1/export/popolo", "/v1/export/datapackage.json"])
def test_exports_without_a_database_are_a_503(popolo_client: Client, path: str) -> None:
    """The export's connection is taken before its first byte: without a database it is a
    problem the client can retry, not a broken body."""
    state = popolo_client.app.state
    pool = state.pool
    state.pool = state.reads.primary = _Unreachable()
    try:
        response = popolo_client.get(path)
    finally:
        state.pool = state.reads.primary = pool
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "retry-after" in response.headers
    assert popolo_client.get(path).status_code == 200
