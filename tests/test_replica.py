"""Read replicas, on a real streaming replica made here: a throwaway primary (initdb) and a
standby made from it with ``pg_basebackup -R``, both on loopback ports, with PostgreSQL 15's
binaries (the embedded server's under ``ACCORD_TEST_SERVER_URL=embedded``). Reads go to the
standby — shown by the data itself: with the standby's replay paused, a read without
``Accord-Min-LSN`` still sees what the write changed — and read-your-writes, a lagging standby,
a stopped one and its return behave as the README's "Read replicas" says."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bench.replica import Pair
from service.app import create_app
from service.core.replica import Reads, parse_lsn
from service.settings import Settings
from tests import ids
from tests.conftest import create_database, make_key, query


def on(url: str, sql: str) -> Any:
    """One statement on ``url``; its first value."""
    return query(url, sql)[0][0]


def wait_for(what: str, condition: Callable[[], bool], seconds: float = 30) -> float:
    """Poll ``condition`` until it holds; how long that took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"{what}: not after {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


class Replicated:
    """The pair, with the service's database on the primary and its URL on both."""

    def __init__(self, pair: Pair, primary: str, standby: str, token: str) -> None:
        self.pair, self.primary, self.standby, self.token = pair, primary, standby, token

    def app(self, **settings: Any) -> TestClient[Any]:
        config = Settings(database_url=self.primary, replica_database_url=self.standby, **settings)
        client = TestClient(create_app(config))
        client.headers["Authorization"] = f"Bearer {self.token}"
        return client

    def pause(self) -> None:
        on(self.standby, "select pg_wal_replay_pause()")

    def resume(self) -> None:
        on(self.standby, "select pg_wal_replay_resume()")

    def replayed(self) -> int:
        return int(on(self.standby, "select pg_last_wal_replay_lsn()"))


@pytest.fixture(scope="module")
def replicated() -> Iterator[Replicated]:
    pair = Pair("accord-replica-")
    try:
        pair.make_primary()
        primary = asyncio.run(create_database(pair.url(pair.primary_port), "accord_replica"))
        token = make_key(primary)
        pair.make_standby()
        standby = pair.url(pair.standby_port, "accord_replica")
        wait_for("the standby", lambda: _answers(standby))
        assert on(standby, "select pg_is_in_recovery()") is True
        yield Replicated(pair, primary, standby, token)
    finally:
        pair.remove()


def _answers(url: str) -> bool:
    try:
        return bool(on(url, "select true"))
    except (OSError, asyncpg.PostgresError):
        return False


def reads_of(client: TestClient[Any]) -> Reads:
    reads: Reads = client.app.state.reads
    return reads


def note(client: TestClient[Any], **headers: str) -> str | None:
    response = client.get(f"/v1/officials/{ids.PESKOV}", headers=headers)
    assert response.status_code == 200, response.text
    value: str | None = response.json().get("note")
    return value


def write_note(client: TestClient[Any], text: str) -> str:
    """PATCH Peskov's note; the answer's ``Accord-LSN``."""
    response = client.patch(f"/v1/officials/{ids.PESKOV}", json={"note": text})
    assert response.status_code == 200, response.text
    lsn = response.headers["Accord-LSN"]
    assert parse_lsn(lsn) is not None
    return lsn


def test_reads_go_to_the_replica_and_read_your_writes_goes_where_the_write_is(
    replicated: Replicated,
) -> None:
    with replicated.app() as client:
        reads = reads_of(client)
        assert reads.replica is not None
        assert reads.replica.usable
        lsn = write_note(client, "visible everywhere")
        wait_for("replay", lambda: replicated.replayed() >= (parse_lsn(lsn) or 0))
        assert note(client, **{"Accord-Min-LSN": lsn}) == "visible everywhere"
        # Connections of the service's on the standby: its reads are there.
        on_standby = on(
            replicated.standby,
            "select count(*) from pg_stat_activity where application_name = 'accord'",
        )
        assert on_standby >= 1

        replicated.pause()
        try:
            lsn = write_note(client, "written while the replica's replay is paused")
            served = dict(reads.served)
            # No Accord-Min-LSN: the replica answers, as it was before the write.
            assert note(client) == "visible everywhere"
            assert reads.served["replica"] == served["replica"] + 1
            # With it: the replica has not replayed it, so the primary answers, with the write.
            started = time.monotonic()
            fresh = note(client, **{"Accord-Min-LSN": lsn})
            fallback_ms = (time.monotonic() - started) * 1000
            assert fresh == "written while the replica's replay is paused"
            assert reads.served["primary"] == served["primary"] + 1
            # A collection page from the replica: its Accord-Seq is behind the primary's.
            page = client.get("/v1/officials", params={"limit": 1})
            replica_seq = int(page.headers["Accord-Seq"])
            primary_seq = on(replicated.primary, "select last_seq from change_log")
            assert replica_seq < primary_seq
            # A follower holding the primary's position, on the lagging replica: not a 410
            # (the replica's log ends before it), the primary answers.
            ahead = client.get("/v1/changes", params={"since": primary_seq})
            assert ahead.status_code == 200, ahead.text
            assert ahead.json()["next_since"] == primary_seq
            # Following from the replica's position skips nothing: what the replica has not
            # replayed is not on its page, and the next page continues from where it was.
            behind = client.get("/v1/changes", params={"since": replica_seq}).json()
            assert behind["items"] == []
            assert behind["next_since"] == replica_seq
        finally:
            replicated.resume()
        wait_for("replay", lambda: replicated.replayed() >= (parse_lsn(lsn) or 0))
        served = dict(reads.served)
        assert note(client, **{"Accord-Min-LSN": lsn}) == (
            "written while the replica's replay is paused"
        )
        assert reads.served["replica"] == served["replica"] + 1, "replayed: the replica answers"
        caught_up = client.get("/v1/changes", params={"since": replica_seq}).json()
        assert [item["id"] for item in caught_up["items"]] == [str(ids.PESKOV)]
        print(f"read-your-writes: a paused replica's read by the primary in {fallback_ms:.1f} ms")
        # The metrics say so too: reads by both servers, the replica's lag and its pool.
        scraped = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(client.get("/metrics").text)
            for sample in family.samples
        }
        assert scraped[("accord_replica_reads_total", (("served_by", "replica"),))] >= 1
        assert scraped[("accord_replica_reads_total", (("served_by", "primary"),))] >= 1
        assert 0 <= scraped[("accord_replica_lag_seconds", ())] < 5
        assert (
            scraped[("accord_db_pool_connections", (("pool", "replica"), ("state", "size")))] >= 1
        )


def test_a_replica_lagging_beyond_the_limit_is_skipped(replicated: Replicated) -> None:
    with replicated.app(replica_max_lag_s=1.0) as client:
        reads = reads_of(client)
        replica = reads.replica
        assert replica is not None
        wait_for("the first check", lambda: replica.usable)
        replicated.pause()
        try:
            write_note(client, "while lagging")
            lagging_in = wait_for("lag", lambda: not replica.usable, 15)
            lag = reads.replica_lag_seconds()
            assert lag is not None
            assert lag > 1.0
            served = dict(reads.served)
            assert note(client) == "while lagging"  # no header, and yet the write: the primary
            assert reads.served["primary"] == served["primary"] + 1
        finally:
            replicated.resume()
        back_in = wait_for("catching up", lambda: replica.usable, 15)
        assert reads.replica_lag_seconds() == 0.0
        served = dict(reads.served)
        assert note(client) == "while lagging"
        assert reads.served["replica"] == served["replica"] + 1
        print(f"lag: skipped {lagging_in:.1f} s after the write (limit 1 s, measured {lag:.1f} s)")
        print(f"lag: used again {back_in:.1f} s after replay resumed")


def test_a_stopped_replica_fails_over_without_a_5xx_and_is_used_again(
    replicated: Replicated,
) -> None:
    pair = replicated.pair
    with replicated.app() as client:
        reads = reads_of(client)
        replica = reads.replica
        assert replica is not None
        wait_for("the first check", lambda: replica.usable)
        paths = [
            f"/v1/officials/{ids.PESKOV}",
            "/v1/officials?limit=5",
            "/v1/timeline?limit=5",
            "/v1/changes?limit=5",
            "/v1/export/officials.ndjson",
            "/v1/search?q=Medinsky",
        ]
        for path in paths:
            assert client.get(path).status_code == 200
        pair.stop(pair.standby)
        try:
            statuses = [client.get(path).status_code for path in paths for _ in range(3)]
            assert set(statuses) == {200}, statuses
            assert not replica.up
            served = dict(reads.served)
            assert client.get(paths[0]).status_code == 200
            assert reads.served["primary"] == served["primary"] + 1
        finally:
            pair.start(pair.standby)
        back_in = wait_for("the replica back", lambda: replica.usable)
        replicated.pause()
        try:
            write_note(client, "after the replica came back")
            assert note(client) != "after the replica came back", "not read from the replica"
        finally:
            replicated.resume()
        print(f"failover: {len(statuses)} reads while the replica was down, all 200; "
              f"used again {back_in:.1f} s after it restarted")  # fmt: skip


def test_a_write_answers_its_position_and_a_read_without_a_position_goes_to_the_primary(
    replicated: Replicated,
) -> None:
    with replicated.app() as client:
        reads = reads_of(client)
        wait_for("the first check", lambda: reads.replica is not None and reads.replica.usable)
        for bad in ("16", "x/1", "123456789/0", "1/2/3"):
            served = dict(reads.served)
            answer = client.get("/v1/officials", headers={"Accord-Min-LSN": bad})
            assert answer.status_code == 200, bad
            assert reads.served["primary"] == served["primary"] + 1, bad
        assert "Accord-LSN" not in client.get("/v1/officials").headers
        refused = client.patch(f"/v1/officials/{ids.MEDINSKY}", json={"kind": 1})
        assert "Accord-LSN" not in refused.headers
        assert parse_lsn(write_note(client, "positioned")) is not None
