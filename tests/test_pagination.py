"""Cursor pagination, the same for every collection."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar import Litestar
from litestar.middleware import DefineMiddleware

from service.core.pagination import PlainPage
from tests.conftest import Client


@pytest.fixture(scope="module")
def country(client: Client) -> str:
    """Eleven organizations that only this module lists (a made-up country code)."""
    code = "Q" + chr(ord("A") + uuid.uuid4().int % 26)
    for index in range(11):
        response = client.post(
            "/v1/organizations",
            json={
                "name": f"Paged {index:02d} {uuid.uuid4().hex[:4]}",
                "kind": "agency",
                "country_code": code,
            },
        )
        assert response.status_code == 201
    return code


def walk(client: Client, url: str, params: dict[str, str]) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        response = client.get(url, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            assert "link" not in response.headers
            return pages
        link = response.headers["link"]
        assert link.endswith('>; rel="next"')
        next_url = urlsplit(link[1 : link.index(">")])
        assert parse_qs(next_url.query)["cursor"] == [cursor]


def test_pages_cover_every_item_once_in_order(client: Client, country: str) -> None:
    pages = walk(client, "/v1/organizations", {"country_code": country, "limit": "4"})
    assert [len(page) for page in pages] == [4, 4, 3]
    flat = [item for page in pages for item in page]
    assert len(set(flat)) == 11
    assert flat == sorted(flat)  # ids are time-ordered: creation order


@pytest.mark.parametrize("sort", ["name", "-name"])
def test_sorted_pages_follow_the_sort(client: Client, country: str, sort: str) -> None:
    pages = walk(client, "/v1/organizations", {"country_code": country, "limit": "3", "sort": sort})
    flat = [item for page in pages for item in page]
    names = [client.get(f"/v1/organizations/{item}").json()["name"] for item in flat]
    assert names == sorted(names, reverse=sort.startswith("-"))
    assert len(flat) == 11


def test_the_link_header_keeps_the_filters(client: Client, country: str) -> None:
    response = client.get("/v1/organizations", params={"country_code": country, "limit": "5"})
    link = response.headers["link"]
    query = parse_qs(urlsplit(link[1 : link.index(">")]).query)
    assert query["country_code"] == [country]
    assert query["limit"] == ["5"]


def test_a_tampered_cursor_is_400(client: Client, country: str) -> None:
    cursor = client.get("/v1/organizations", params={"country_code": country, "limit": "2"}).json()[
        "next_cursor"
    ]
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    for bad in (flipped, "garbage", "", "%%%", cursor + "x"):
        response = client.get("/v1/organizations", params={"cursor": bad})
        assert response.status_code == 400, bad
        assert response.headers["content-type"] == "application/problem+json"


def test_a_cursor_from_another_listing_is_400(client: Client, country: str) -> None:
    cursor = client.get("/v1/organizations", params={"country_code": country, "limit": "2"}).json()[
        "next_cursor"
    ]
    assert client.get("/v1/officials", params={"cursor": cursor}).status_code == 400
    assert (
        client.get("/v1/organizations", params={"cursor": cursor, "sort": "name"}).status_code
        == 400
    )


@pytest.mark.parametrize("limit", ["0", "201", "-1", "x"])
def test_limit_out_of_range_is_400(client: Client, limit: str) -> None:
    response = client.get("/v1/organizations", params={"limit": limit})
    assert response.status_code == 400
    assert [(e["field"], e["source"]) for e in response.json()["errors"]] == [("limit", "query")]


def plain_collections(client: Client) -> list[str]:
    """Every collection whose GET answers a page with only `limit`/`cursor` itself."""
    app = client.app
    assert isinstance(app, Litestar)
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if "GET" in handler.http_methods and any(
                isinstance(m, DefineMiddleware) and m.middleware is PlainPage
                for m in handler.middleware or ()
            ):
                found.append(route.path)
    return found


def test_public_collections_answer_plain_pages_without_the_handler(client: Client) -> None:
    paths = plain_collections(client)
    assert {"/v1/officials", "/v1/timeline", "/v1/organizations"} <= set(paths)
    # Guarded collections go through their guards, which a plain page would skip.
    assert not {"/v1/keys", "/v1/webhooks"} & set(paths)


@pytest.mark.parametrize("path", ["/v1/officials", "/v1/timeline", "/v1/role-changes"])
def test_a_plain_page_is_the_page_the_handler_answers(client: Client, path: str) -> None:
    """`limit=2` is answered before the handler (`PlainPage`), `limit=%32` (the same, spelt
    otherwise) by it: the same items, cursor and headers, page after page."""
    cursor = None
    for _ in range(3):
        extra = f"&cursor={cursor}" if cursor else ""
        plain = client.get(f"{path}?limit=2{extra}", headers={"X-Request-ID": "same"})
        handled = client.get(f"{path}?limit=%32{extra}", headers={"X-Request-ID": "same"})
        assert plain.status_code == handled.status_code == 200, plain.text
        assert plain.content == handled.content
        assert plain.headers.multi_items() == handled.headers.multi_items()
        cursor = plain.json()["next_cursor"]
        if cursor is None:
            break
    assert client.get(f"{path}?limit=2").json() == client.get(path, params={"limit": "2"}).json()


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=201", "limit=x", "cursor=forged", "cursor=", "cursor=a%2Fb"]
)
def test_a_plain_page_refuses_what_the_handler_refuses(client: Client, query: str) -> None:
    response = client.get(f"/v1/officials?{query}")
    assert response.status_code == 400, (query, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
