"""Pages whose items PostgreSQL renders (``core.rendered``) answer byte for byte as the
general path (a struct per row, encoded by msgspec): every collection of the contract, page 1
and the next, every sort, with filters, on the worked example and on records with awkward
values."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import TestClient

from service.app import create_app
from service.core import rendered
from service.core.database import init_connection
from service.core.pagination import Listing
from service.resources.registry import TABLES
from service.settings import Settings
from tests import ids
from tests.conftest import Client, make_key, query

CONTRACT = json.loads((Path(__file__).parent.parent / "openapi" / "openapi.json").read_text())


def collections() -> list[tuple[str, list[str]]]:
    """Every GET of the contract answering a page: its path and the sorts it offers."""
    found = []
    for path, operations in CONTRACT["paths"].items():
        get = operations.get("get")
        if not get or path == "/v1/changes":
            continue
        content = get["responses"].get("200", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema", {})
        if not schema.get("$ref", "").endswith("Page"):
            continue
        sorts: list[str] = []
        for parameter in get.get("parameters", []):
            if parameter["name"] == "sort":
                sorts = parameter["schema"].get("enum", [])
        found.append((path, sorts))
    return found


@pytest.fixture(scope="module")
def general(database_url: str, write_key: str) -> Iterator[Client]:
    """The same service with every page made in Python."""
    app = create_app(Settings(database_url=database_url, rendered_pages=False))
    with TestClient(app) as test_client:
        test_client.headers["Authorization"] = f"Bearer {write_key}"
        yield test_client


@pytest.fixture(scope="module")
def admin(database_url: str) -> str:
    return f"Bearer {make_key(database_url, ['admin'], name='rendered')}"


@pytest.fixture(scope="module")
def awkward(client: Client, admin: str, database_url: str) -> dict[str, str]:
    """Records whose values are hard to spell: quotes, backslashes, control characters,
    non-Latin scripts, lists with and without optional members; a paused webhook (so its
    deliveries wait) that the new official gives a delivery."""
    webhook = query(
        database_url,
        "insert into webhooks (url, resources, description, secret, enabled, "
        "disabled_reason, queued_through) "
        "select 'https://example.org/hook', array['officials'], 'a \"paused\" one', "
        "decode(repeat($$ab$$, 32), $$hex$$), false, "
        "'paused', last_seq from change_log returning id",
    )[0]["id"]
    source = first_id(client, "/v1/sources", admin)
    # (No word of a worked-example name: a search for it would rank this official too.)
    name = 'Odd "quoted" \\ back\tslash \x01\x1f\x7f \u2028 Чудной ✓ 𝄞'
    official = client.post(
        "/v1/officials",
        json={
            "name": name,
            "other_names": [{"name": "Без языка"}, {"name": "Odd", "lang": "en", "note": "n"}],
            "wikidata_id": "Q987654321",
            "citations": [{"source_id": source, "quote": '«q»\n"x"'}],
        },
    )
    assert official.status_code == 201, official.text
    return {"official": official.json()["id"], "webhook": str(webhook)}


def first_id(client: Client, path: str, admin: str) -> str | None:
    response = client.get(path, params={"limit": "1"}, headers=_auth(path, admin))
    items = response.json().get("items") if response.status_code == 200 else None
    return str(items[0]["id"]) if items else None


def _auth(path: str, admin: str) -> dict[str, str]:
    return {"Authorization": admin} if path.startswith(("/v1/keys", "/v1/webhooks")) else {}


SAME_ID = {"X-Request-ID": "both-ways"}
"""Sent with both requests of a comparison: a made id would differ in the header and in a
problem's body."""


def same(client: Client, general: Client, path: str, params: dict[str, str], admin: str) -> Any:
    """Ask both; they must agree on status, headers and every byte of the body."""
    headers = {**_auth(path, admin), **SAME_ID}
    fast = client.get(path, params=params, headers=headers)
    slow = general.get(path, params=params, headers=headers)
    assert fast.status_code == slow.status_code, (path, params, fast.text, slow.text)
    assert fast.content == slow.content, (path, params)
    assert fast.headers.multi_items() == slow.headers.multi_items(), (path, params)
    return fast.json() if fast.status_code == 200 else None


@pytest.mark.parametrize(("path", "sorts"), collections())
def test_every_collection_answers_alike_both_ways(
    client: Client,
    general: Client,
    admin: str,
    awkward: dict[str, str],
    path: str,
    sorts: list[str],
) -> None:
    if "{id}" in path:
        parent = path.split("/{id}", maxsplit=1)[0]
        ident = first_id(client, parent, admin)
        if path.endswith("/deliveries"):
            ident = awkward["webhook"] or ident
        assert ident is not None, parent
        path = path.replace("{id}", ident)
    extra = {"q": "Medinsky"} if path == "/v1/search" else {}
    answered = 0
    for sort in [None, *sorts]:
        params = {**extra, **({"sort": sort} if sort else {})}
        body = same(client, general, path, params, admin)
        # Page after page, two at a time: every cursor and Link header too.
        params["limit"] = "2"
        while body is not None:
            answered += 1
            body = same(client, general, path, params, admin)
            if body is None or body["next_cursor"] is None:
                break
            params["cursor"] = body["next_cursor"]
    assert answered, path


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/officials", {"name": "Odd"}),
        ("/v1/officials", {"name": "Мединский"}),
        ("/v1/officials", {"name": "Чудной"}),
        ("/v1/officials", {"disputed": "true"}),
        ("/v1/officials", {"disputed": "false", "sort": "-name"}),
        ("/v1/organizations", {"name": "Ukraine"}),
        ("/v1/exchanges", {"disputed": "true"}),
        ("/v1/claims", {"subject_id": ids.MEDINSKY}),
        ("/v1/role-changes", {"sort": "-date", "official_id": ids.UMEROV}),
        ("/v1/timeline", {"negotiation_id": ids.ISTANBUL_TALKS}),
        ("/v1/timeline", {"kind": "statement"}),
        ("/v1/timeline", {"from": "2025-05", "to": "2025-07-17"}),
        ("/v1/search", {"q": "Medinskiy"}),
        ("/v1/search", {"q": '"1,000 bodies"'}),
        ("/v1/search", {"q": "Ukr*", "kind": "organization"}),
        ("/v1/search", {"q": "Odd quoted"}),
        ("/v1/keys", {"usable": "true"}),
    ],
)
def test_filtered_pages_answer_alike_both_ways(
    client: Client,
    general: Client,
    admin: str,
    awkward: dict[str, str],
    path: str,
    params: dict[str, str],
) -> None:
    assert same(client, general, path, params, admin) is not None


def both_paths(client: Client, path: str, headers: dict[str, str]) -> Any:
    """A read by id asked twice, answered by ``routes.ReadsById`` and, with a query string it
    ignores, by Litestar's handler: they must agree on status, headers and every byte."""
    headers = {**headers, **SAME_ID}
    fast = client.get(path, headers=headers)
    slow = client.get(path, params={"unrelated": "1"}, headers=headers)
    assert fast.status_code == slow.status_code, (path, headers, fast.text, slow.text)
    assert fast.content == slow.content, (path, headers)
    assert fast.headers.multi_items() == slow.headers.multi_items(), (path, headers)
    return fast


@pytest.mark.parametrize(
    "path", [path for path, _ in collections() if "{" not in path and path.count("/") == 2]
)
def test_every_read_by_id_answers_alike_both_ways(
    client: Client, admin: str, awkward: dict[str, str], path: str
) -> None:
    """A read by id answers the same whether ``routes.ReadsById`` answers it or Litestar's
    handler does — ETag, 304, compression and 404 problem and all — and is the very record
    its collection's rendered page lists: the first records of every collection, the
    awkward official."""
    if path in ("/v1/search", "/v1/timeline", "/v1/keys", "/v1/webhooks"):
        return  # not records read by id here
    page = client.get(path, params={"limit": "5"}).json()
    idents = [item["id"] for item in page["items"]]
    if path == "/v1/officials":
        idents.append(awkward["official"])
    assert idents, path
    listed = {item["id"]: item for item in page["items"]}
    for ident in idents:
        read = both_paths(client, f"{path}/{ident}", {})
        assert read.status_code == 200
        body = read.json()
        assert body["id"] == ident
        assert listed.get(ident, body) == body
        tag = read.headers["etag"]
        assert both_paths(client, f"{path}/{ident}", {"If-None-Match": tag}).status_code == 304
        assert both_paths(client, f"{path}/{ident}", {"If-None-Match": '"0"'}).status_code == 200
        for coding in ("br", "gzip"):
            both_paths(client, f"{path}/{ident}", {"Accept-Encoding": coding})
    missing = both_paths(client, f"{path}/{'0' * 8}-0000-7000-8000-{'0' * 12}", {})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def struct_of(listing: Listing[Any]) -> type[msgspec.Struct]:
    struct = rendered.struct_of(listing.make)
    assert struct is not None
    return struct


def _listings() -> list[Listing[Any]]:
    """Every listing the service's modules hold, by itself or in a dict, list or tuple. (Not
    ``gc.get_objects()``: a running app freezes start-up's objects out of the collector's
    sight, ``app._start_up_frozen``, and the listings with them.)"""
    found: dict[int, Listing[Any]] = {}
    for name, module in list(sys.modules.items()):
        if name != "service" and not name.startswith("service."):
            continue
        for value in vars(module).values():
            held = list(value.values()) if isinstance(value, dict) else value
            for item in held if isinstance(held, list | tuple) else [value]:
                if isinstance(item, Listing):
                    found[id(item)] = item
    return list(found.values())


def test_every_listing_of_records_is_rendered(database_url: str) -> None:
    """No listing whose rows become a struct by column name is left to the general path: the
    byte-for-byte comparisons above then compare the two paths, not one path with itself."""
    made = [listing for listing in _listings() if rendered.struct_of(listing.make) is not None]
    assert {listing.name for listing in made} >= {"officials", "timeline", "search", "rounds"}

    async def run() -> list[str]:
        conn = await asyncpg.connect(database_url)
        await init_connection(conn)
        try:
            return [
                listing.name
                for listing in made
                if await rendered.prepare(conn, listing.select, struct_of(listing)) is None
            ]
        finally:
            await conn.close()

    assert asyncio.run(run()) == []


def test_every_record_encodes_alike_through_its_unchecked_twin(
    database_url: str, awkward: dict[str, str]
) -> None:
    """A read makes its record as the struct's twin without constraints
    (``rendered.unchecked``): every stored record of every resource, the awkward official
    included, encodes to the very bytes the checked struct gives."""

    async def run() -> int:
        conn = await asyncpg.connect(database_url)
        await init_connection(conn)
        compared = 0
        try:
            for table in TABLES.values():
                for row in await conn.fetch(table.select):
                    checked = msgspec.json.encode(table.make(row))
                    assert msgspec.json.encode(table.make.unchecked(row)) == checked, table.label
                    compared += 1
        finally:
            await conn.close()
        return compared

    assert asyncio.run(run()) > 50
