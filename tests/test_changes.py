"""The change feed: every create, update and delete in commit order, deletions included; a
client that lists and then follows ends with exactly the server's data; a position past the
retention window is a 410; concurrent writers never make a reader skip a change."""

from __future__ import annotations

import asyncio
import csv
import io
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient, TestClient

from service.app import create_app
from service.core import history
from service.core.database import create_pool, transaction
from service.resources import organizations
from service.settings import Settings
from tests.conftest import Client, Databases, live_server, make_key, query
from tests.ids import MEDINSKY

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def changes_url(databases: Databases) -> str:
    # A database of its own: these tests count every change made.
    return databases.create("changes")


@pytest.fixture(scope="module")
def feed(changes_url: str) -> Iterator[Client]:
    app = create_app(Settings(database_url=changes_url))
    with TestClient(app) as test_client:
        test_client.headers["Authorization"] = f"Bearer {make_key(changes_url)}"
        yield test_client


def follow(client: Client, since: int, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every change after ``since`` to the end of the log, and where to follow from next."""
    found: list[dict[str, Any]] = []
    while True:
        response = client.get("/v1/changes", params={"since": since, "limit": 7, **params})
        assert response.status_code == 200, response.text
        page = response.json()
        assert response.headers["link"].endswith(f'since={page["next_since"]}>; rel="next"')
        found.extend(page["items"])
        since = page["next_since"]
        if not page["more"]:
            return found, since


def current_seq(client: Client) -> int:
    return int(client.get("/v1/organizations", params={"limit": 1}).headers["accord-seq"])


def test_create_update_and_delete_come_in_order(feed: Client) -> None:
    start = current_seq(feed)
    made = feed.post("/v1/organizations", json={"name": "Ephemeral Office", "kind": "agency"})
    ident = made.json()["id"]
    feed.patch(f"/v1/organizations/{ident}", json={"note": "renamed soon"})
    kept = feed.post("/v1/officials", json={"name": "Feed Person"}).json()
    feed.patch(f"/v1/officials/{kept['id']}", json={"note": "still here"})
    assert feed.delete(f"/v1/organizations/{ident}").status_code == 204

    changes, end = follow(feed, start)
    assert [(c["resource"], c["action"], c["version"]) for c in changes] == [
        ("organizations", "created", 1),
        ("organizations", "updated", 2),
        ("officials", "created", 1),
        ("officials", "updated", 2),
        ("organizations", "deleted", 2),
    ]
    assert [c["seq"] for c in changes] == list(range(start + 1, start + 6))
    assert end == start + 5 == current_seq(feed)
    # Each change carries the record as it is now: gone for the deleted organization, the
    # official at its second version on both of its changes.
    assert "record" not in changes[0]
    assert "record" not in changes[4]
    assert changes[2]["record"] == changes[3]["record"]
    assert changes[3]["record"]["note"] == "still here"
    assert changes[3]["record"]["version"] == 2


def test_filters_and_include_none(feed: Client) -> None:
    start = current_seq(feed)
    org = feed.post("/v1/organizations", json={"name": "Filtered", "kind": "agency"}).json()
    person = feed.post("/v1/officials", json={"name": "Filtered Person"}).json()
    feed.delete(f"/v1/officials/{person['id']}")
    feed.delete(f"/v1/organizations/{org['id']}")

    only_officials, end = follow(feed, start, resource="officials")
    assert [(c["id"], c["action"]) for c in only_officials] == [
        (person["id"], "created"),
        (person["id"], "deleted"),
    ]
    assert end == current_seq(feed)
    both, _ = follow(feed, start, resource=["officials", "organizations"], action="deleted")
    assert [c["id"] for c in both] == [person["id"], org["id"]]
    bare = feed.get("/v1/changes", params={"since": start, "include": "none"}).json()
    assert len(bare["items"]) == 4
    assert all("record" not in c for c in bare["items"])
    assert feed.get("/v1/changes", params={"resource": "keys"}).status_code == 400
    assert feed.get("/v1/changes", params={"since": -1}).status_code == 400


def test_the_feed_as_ndjson_and_csv_has_every_change_up_to_its_seq(feed: Client) -> None:
    start = current_seq(feed)
    org = feed.post("/v1/organizations", json={"name": "Exported", "kind": "agency"}).json()
    for n in range(60):  # more than one batch of the export (64 rows first)
        feed.patch(f"/v1/organizations/{org['id']}", json={"note": f"note {n}"})
    person = feed.post("/v1/officials", json={"name": "Exported Person"}).json()
    feed.delete(f"/v1/officials/{person['id']}")
    paged, end = follow(feed, start)

    response = feed.get(
        "/v1/changes", params={"since": start}, headers={"Accept": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert int(response.headers["accord-seq"]) == end
    assert "Accept" in response.headers["vary"]
    lines = [msgspec.json.decode(line) for line in response.content.splitlines()]
    # Every change after `since`, exactly as the pages give them, the last one `Accord-Seq`.
    assert lines == paged
    assert len(lines) == 63
    assert lines[-1]["seq"] == end
    # The same filters as the pages; `limit` does not apply.
    deleted = feed.get(
        "/v1/changes",
        params={"since": start, "resource": "officials", "include": "none", "limit": 1},
        headers={"Accept": "application/x-ndjson"},
    )
    assert [msgspec.json.decode(line) for line in deleted.content.splitlines()] == [
        {k: v for k, v in c.items() if k != "record"} for c in paged if c["id"] == person["id"]
    ]
    # CSV: `resource`, then the change's fields; the record as JSON text.
    table = feed.get("/v1/changes", params={"since": start}, headers={"Accept": "text/csv"})
    assert table.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert list(rows[0]) == ["resource", "seq", "id", "action", "version", "at", "record"]
    assert [int(row["seq"]) for row in rows] == [c["seq"] for c in paged]
    assert msgspec.json.decode(rows[1]["record"]) == paged[1]["record"]
    assert rows[-1]["record"] == ""
    # A position outside the log is a 410 before the export starts.
    gone = feed.get(
        "/v1/changes", params={"since": end + 1}, headers={"Accept": "application/x-ndjson"}
    )
    assert gone.status_code == 410
    assert gone.headers["content-type"] == PROBLEM


def test_every_collection_says_which_change_it_is_consistent_with(feed: Client) -> None:
    seq = current_seq(feed)
    for path in (
        "/v1/officials",
        "/v1/rounds",
        "/v1/timeline",
        "/v1/search?q=Medinsky",
        "/v1/organizations/0193a0a0-0000-7000-8000-000000000001/history",
        "/v1/changes",
    ):
        response = feed.get(path)
        assert response.status_code == 200, path
        assert int(response.headers["accord-seq"]) == seq, path
    feed.post("/v1/organizations", json={"name": "One more", "kind": "other"})
    assert current_seq(feed) == seq + 1


def test_a_position_past_the_retention_window_is_410(feed: Client, changes_url: str) -> None:
    feed.post("/v1/organizations", json={"name": "Old news", "kind": "other"})
    old = current_seq(feed)
    query(changes_url, "update history set at = now() - interval '40 days' where seq <= $1", old)
    feed.post("/v1/organizations", json={"name": "Fresh news", "kind": "other"})

    async def prune() -> int:
        pool = await create_pool(changes_url, Settings(database_url=changes_url))
        try:
            return await history.advance_horizon(pool, timedelta(days=30))
        finally:
            await pool.close()

    assert asyncio.run(prune()) == old
    gone = feed.get("/v1/changes", params={"since": old - 1})
    assert gone.status_code == 410
    assert gone.headers["content-type"] == PROBLEM
    assert gone.json()["current_seq"] == old + 1
    assert "Accord-Seq" in gone.json()["detail"]
    # From the horizon on the log is whole; omitted `since` starts there.
    assert [c["seq"] for c in feed.get("/v1/changes", params={"since": old}).json()["items"]] == [
        old + 1
    ]
    assert feed.get("/v1/changes").json()["items"][0]["seq"] == old + 1
    assert feed.get("/v1/changes", params={"since": old + 2}).status_code == 410


class Mirror:
    """What an application keeps: organizations by id, filled by listing and kept by following
    the feed from the first page's `Accord-Seq`."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.since: int | None = None
        self.cursor: str | None = None
        self.listing = True

    def list_a_page(self, client: Client) -> None:
        params: dict[str, Any] = {"limit": 3}
        if self.cursor:
            params["cursor"] = self.cursor
        response = client.get("/v1/organizations", params=params)
        if self.since is None:
            self.since = int(response.headers["accord-seq"])
        page = response.json()
        for record in page["items"]:
            self.keep(record)
        self.cursor = page["next_cursor"]
        self.listing = self.cursor is not None

    def keep(self, record: dict[str, Any]) -> None:
        held = self.records.get(record["id"])
        if held is None or held["version"] <= record["version"]:
            self.records[record["id"]] = record

    def follow(self, client: Client) -> None:
        assert self.since is not None
        changes, self.since = follow(client, self.since, resource="organizations")
        for change in changes:
            if change["action"] == "deleted":
                self.records.pop(change["id"], None)
            elif "record" in change:
                self.keep(change["record"])


OPERATIONS = st.lists(
    st.sampled_from(["create", "update", "delete", "list", "follow"]), min_size=5, max_size=30
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS, seed=st.integers(0, 2**16))
def test_a_client_that_lists_then_follows_ends_with_the_servers_data(
    feed: Client, operations: list[str], seed: int
) -> None:
    chooser = random.Random(seed)
    mine: list[str] = []
    mirror = Mirror()
    mirror.list_a_page(feed)
    for operation in operations:
        if operation == "create":
            body = {"name": f"Org {chooser.random()}", "kind": "agency"}
            mine.append(feed.post("/v1/organizations", json=body).json()["id"])
        elif operation == "update" and mine:
            ident = chooser.choice(mine)
            feed.patch(f"/v1/organizations/{ident}", json={"note": str(chooser.random())})
        elif operation == "delete" and mine:
            ident = mine.pop(chooser.randrange(len(mine)))
            assert feed.delete(f"/v1/organizations/{ident}").status_code == 204
        elif operation == "list" and mirror.listing:
            mirror.list_a_page(feed)
        elif operation == "follow" and not mirror.listing:
            mirror.follow(feed)
    while mirror.listing:
        mirror.list_a_page(feed)
    mirror.follow(feed)
    server = {record["id"]: record for record in _every(feed, "/v1/organizations")}
    assert mirror.records == server


def _every(client: Client, path: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get(path, params={"limit": 200, **({"cursor": cursor} if cursor else {})})
        found.extend(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found


def test_concurrent_writers_never_make_a_reader_skip_a_change(changes_url: str) -> None:
    """Writers hold their transactions open a little after writing (as a slow commit would);
    a reader polling the feed meanwhile must see every change, each exactly once, in an
    unbroken run of numbers — it may not see change n+1 before change n."""
    writers, writes_each = 8, 12

    async def run() -> list[int]:
        app: Litestar = create_app(Settings(database_url=changes_url))
        pool = await create_pool(changes_url, Settings(database_url=changes_url, pool_max_size=12))
        async with AsyncTestClient(app) as reader:
            start = int((await reader.get("/v1/changes?limit=1")).headers["accord-seq"])
            chooser = random.Random(7)

            async def write(n: int) -> None:
                for i in range(writes_each):
                    async with transaction(pool) as conn:
                        data = organizations.OrganizationCreate(name=f"W{n}.{i}", kind="agency")
                        await organizations.TABLE.insert(conn, data, None)
                        await asyncio.sleep(chooser.random() / 100)

            seen: list[int] = []
            tasks = [asyncio.create_task(write(n)) for n in range(writers)]
            since = start
            while len(seen) < writers * writes_each:
                page = (await reader.get(f"/v1/changes?since={since}&limit=200")).json()
                numbers = [c["seq"] for c in page["items"]]
                assert numbers == list(range(since + 1, since + 1 + len(numbers)))
                seen.extend(numbers)
                since = page["next_since"]
                await asyncio.sleep(0.001)
            await asyncio.gather(*tasks)
        await pool.close()
        return seen

    seen = asyncio.run(run())
    assert len(seen) == len(set(seen)) == writers * writes_each


def test_the_change_log_is_the_history(changes_url: str) -> None:
    """One way to record a change: every history entry is numbered, without a gap."""
    rows = query(changes_url, "select seq from history order by seq")
    assert [row["seq"] for row in rows] == list(range(1, len(rows) + 1))
    last = query(changes_url, "select last_seq from change_log")[0]["last_seq"]
    assert last == len(rows)


def _readme_follower() -> dict[str, Any]:
    """The follower the README shows, as a module: its code block, run without `__main__`."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Keeping a copy in sync", 1)[1]
    code = section.split("```python\n", 1)[1].split("\n```", 1)[0]
    namespace: dict[str, Any] = {"__name__": "readme_sync"}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace


def test_the_readme_follower_keeps_an_exact_copy(databases: Databases) -> None:
    url = databases.create("sync")
    token = make_key(url)
    with (
        live_server(url) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as writer,
    ):
        sync = _readme_follower()
        sync["BASE"] = base
        copy: dict[Any, Any] = {}
        since = sync["relist"](copy)
        assert ("officials", MEDINSKY) in copy
        made = writer.post("/v1/organizations", json={"name": "Synced", "kind": "agency"}).json()
        writer.patch(f"/v1/officials/{MEDINSKY}", json={"note": "followed"})
        gone = writer.post("/v1/officials", json={"name": "Here and gone"}).json()
        writer.delete(f"/v1/officials/{gone['id']}")
        since = sync["follow"](copy, since)
        fresh: dict[Any, Any] = {}
        assert sync["relist"](fresh) == since
        assert copy == fresh
        assert copy["officials", MEDINSKY]["note"] == "followed"
        assert ("organizations", made["id"]) in copy

        # Fallen behind the retention window: the follower gets a 410, lists again, goes on.
        query(url, "update history set at = now() - interval '40 days'")

        async def prune() -> None:
            pool = await create_pool(url, Settings(database_url=url))
            try:
                await history.advance_horizon(pool, timedelta(days=30))
            finally:
                await pool.close()

        asyncio.run(prune())
        writer.delete(f"/v1/organizations/{made['id']}")
        assert httpx.get(f"{base}/v1/changes", params={"since": since - 1}).status_code == 410
        since = sync["follow"](copy, since - 1)
        fresh = {}
        sync["relist"](fresh)
        assert copy == fresh
        assert ("organizations", made["id"]) not in copy
