"""The live change stream: `GET /v1/changes` with `Accept: text/event-stream`, against a real
server (uvicorn in this process, so the test can look inside it) and real PostgreSQL. A client
that drops and comes back with `Last-Event-ID` misses nothing and gets nothing twice, also
across a database restart; filters apply; a silent stream sends heartbeats; a position
outside the log is a 410 before any streaming; hundreds of streams share one listening
connection and leave the pool to normal requests; a client that goes leaves nothing behind;
and SIGTERM ends open streams so the server can stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from litestar import Litestar

from bench.sse import Event, EventStream
from service.app import create_app
from service.core.notifications import ChangeSignal
from service.resources import changes
from service.settings import Settings
from tests.conftest import Databases, create_database, free_port, make_key, wait_ready
from tests.test_faults import Cluster

PROBLEM = "application/problem+json"
CLIENTS = int(os.environ.get("ACCORD_STREAM_CLIENTS", "300"))
"""Streams the many-streams test opens (`ACCORD_STREAM_CLIENTS=1000` to see it with more;
bench/streams.py measures a worker's memory and latencies with a thousand)."""


@pytest.fixture(scope="module")
def stream_url(databases: Databases) -> str:
    return databases.create("stream")


@pytest.fixture(scope="module")
def token(stream_url: str) -> str:
    return make_key(stream_url)


# --- a server in this process, and a stream client -----------------------------------------


@dataclass
class Server:
    app: Litestar
    port: int
    api: httpx.AsyncClient
    opened: list[EventStream]

    @property
    def tail(self) -> changes.Tail:
        tail: changes.Tail = self.app.state.changes_tail
        return tail

    @property
    def listener(self) -> ChangeSignal:
        signal = self.tail.signal
        assert isinstance(signal, ChangeSignal)
        return signal

    async def seq(self) -> int:
        response = await self.api.get("/v1/changes", params={"limit": 1})
        return int(response.headers["accord-seq"])

    async def create(self, name: str) -> dict[str, Any]:
        """An organization, retried while the database is away (503)."""
        for _ in range(100):
            response = await self.api.post(
                "/v1/organizations", json={"name": name, "kind": "other"}
            )
            if response.status_code != 503:
                assert response.status_code == 201, response.text
                record: dict[str, Any] = response.json()
                return record
            await asyncio.sleep(0.2)
        raise AssertionError("the database did not come back")

    async def open(self, query: str = "", **headers: str) -> EventStream:
        stream = await EventStream.open(self.port, query, headers)
        self.opened.append(stream)
        return stream


@asynccontextmanager
async def serving(url: str, token: str, **settings: Any) -> AsyncIterator[Server]:
    app = create_app(Settings(database_url=url, **settings))
    config = uvicorn.Config(
        app, port=0, log_level="warning", lifespan="on", timeout_graceful_shutdown=10
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as api:
        running = Server(app, port, api, [])
        try:
            yield running
        finally:
            for stream in running.opened:
                stream.drop()
            # What SIGTERM does (see app._on_stop_signal): end the streams, then stop.
            app.state.changes_tail.stop()
            server.should_exit = True
            await task


def run(scenario: Any) -> None:
    asyncio.run(scenario)


async def nothing_more(stream: EventStream, seconds: float) -> None:
    """No event (heartbeats aside) within ``seconds``."""
    with pytest.raises(TimeoutError):
        await stream.changes(1, seconds)


def seqs(events: list[Event]) -> list[int]:
    return [int(event.id or "") for event in events]


# --- the stream ------------------------------------------------------------------------------


def test_json_unless_the_client_asks_for_events(stream_url: str, token: str) -> None:
    async def scenario() -> None:
        async with serving(stream_url, token) as server:
            plain = await server.api.get("/v1/changes")
            assert plain.headers["content-type"] == "application/json"
            either = await server.api.get(
                "/v1/changes", headers={"Accept": "application/json, text/event-stream;q=0.5"}
            )
            assert either.headers["content-type"] == "application/json"
            stream = await server.open()
            assert stream.status == 200
            assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert stream.headers["cache-control"] == "no-cache"
            assert int(stream.headers["accord-seq"]) == await server.seq()
            stream.drop()

    run(scenario())


def test_a_dropped_client_resumes_with_last_event_id_missing_nothing(
    stream_url: str, token: str
) -> None:
    async def scenario() -> None:
        async with serving(stream_url, token) as server:
            start = await server.seq()
            stream = await server.open(f"?since={start}")
            made = await server.create("Streamed 1")
            await server.api.patch(f"/v1/organizations/{made['id']}", json={"note": "changed"})
            await server.create("Streamed 2")
            received = await stream.changes(2)
            stream.drop()  # the third change is on its way, or lost with the connection
            await server.api.delete(f"/v1/organizations/{made['id']}")
            await server.create("Streamed 3")

            # As an EventSource reconnects: the same URL, and the last id it received.
            again = await server.open(f"?since={start}", Last_Event_ID=received[-1].id or "")
            received += await again.changes(3)
            await nothing_more(again, 0.5)
            assert seqs(received) == list(range(start + 1, start + 6))
            assert [e.event for e in received] == [
                "created",
                "updated",
                "created",
                "deleted",
                "created",
            ]
            # Each event is the item the JSON page gives for that change.
            page = (await server.api.get("/v1/changes", params={"since": start})).json()
            fields = ("seq", "resource", "id", "action", "version", "at")
            assert [{f: e.change[f] for f in fields} for e in received] == [
                {f: item[f] for f in fields} for item in page["items"]
            ]
            assert received[4].change["record"]["name"] == "Streamed 3"
            assert "record" not in received[3].change
            # The dropped client's stream is gone; the other one is still there.
            await until(lambda: server.tail.streams == 1)

    run(scenario())


async def until(condition: Any, seconds: float = 5) -> None:
    """Wait for ``condition()`` to hold: state inside the server, which no event announces."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"still not so after {seconds} s"
        await asyncio.sleep(0.02)


def test_filters_apply_to_the_stream(stream_url: str, token: str) -> None:
    """Changes from before the stream opened come from the stream's own reads of the log
    (filtered in SQL); later ones from the shared tail (filtered in Python): alike."""

    async def scenario() -> None:
        async with serving(stream_url, token) as server:
            start = await server.seq()

            async def some_changes() -> None:
                org = await server.create("Filtered org")
                await server.create("Kept org")
                person = (await server.api.post("/v1/officials", json={"name": "Filtered"})).json()
                await server.api.delete(f"/v1/officials/{person['id']}")
                await server.api.delete(f"/v1/organizations/{org['id']}")

            await some_changes()
            deletions = await server.open(
                f"?since={start}&resource=officials&resource=posts&action=deleted&include=none"
            )
            organizations = await server.open(f"?since={start}&resource=organizations")
            await some_changes()

            got_deletions = await deletions.changes(2)
            got_organizations = await organizations.changes(6)
            await nothing_more(deletions, 0.3)
            await nothing_more(organizations, 0.3)
            expected_deletions = (
                await server.api.get(
                    "/v1/changes",
                    params={
                        "since": start,
                        "resource": ["officials", "posts"],
                        "action": "deleted",
                    },
                )
            ).json()["items"]
            assert [e.change["seq"] for e in got_deletions] == [
                c["seq"] for c in expected_deletions
            ]
            assert all(e.change["resource"] == "officials" for e in got_deletions)
            assert all("record" not in e.change for e in got_deletions)
            expected_organizations = (
                await server.api.get(
                    "/v1/changes", params={"since": start, "resource": "organizations"}
                )
            ).json()["items"]
            assert [e.change["seq"] for e in got_organizations] == [
                c["seq"] for c in expected_organizations
            ]
            assert [e.event for e in got_organizations] == ["created", "created", "deleted"] * 2
            # Records are as a GET gave them when read: the kept one's always, the other's
            # only if read before its deletion (the stream reads changes as they come).
            assert got_organizations[1].change["record"]["name"] == "Kept org"
            assert got_organizations[4].change["record"]["name"] == "Kept org"
            assert "record" not in got_organizations[2].change
            deletions.drop()
            organizations.drop()

    run(scenario())


def test_a_silent_stream_sends_heartbeats(stream_url: str, token: str) -> None:
    async def scenario() -> None:
        async with serving(stream_url, token, stream_heartbeat_s=0.2) as server:
            stream = await server.open(f"?since={await server.seq()}")
            started = time.monotonic()
            beats = [await stream.next(2), await stream.next(2)]
            assert [beat.comment for beat in beats] == ["heartbeat", "heartbeat"]
            assert 0.3 < time.monotonic() - started < 2
            stream.drop()

    run(scenario())


def test_a_position_outside_the_log_is_a_410_before_streaming(stream_url: str, token: str) -> None:
    async def scenario() -> None:
        async with serving(stream_url, token) as server:
            end = await server.seq()
            await server.create("Past the horizon")
            beyond = await server.open(f"?since={end + 5}")
            assert beyond.status == 410
            assert beyond.headers["content-type"] == PROBLEM
            assert json.loads(beyond.body)["current_seq"] == end + 1
            # Last-Event-ID wins over since, as an EventSource reconnecting sends both.
            assert (await server.open("?since=0", Last_Event_ID=str(end + 5))).status == 410
            assert (await server.open(f"?since={end + 5}", Last_Event_ID="0")).status == 200
            assert (await server.open("", Last_Event_ID="soon")).status == 400

            conn = await asyncpg.connect(stream_url)
            try:
                await conn.execute("update change_log set horizon = $1", end)
                old = await server.open(f"?since={end - 1}")
                assert old.status == 410
                assert "retention" in json.loads(old.body)["detail"]
                # Omitted: from the horizon on.
                stream = await server.open()
                assert seqs(await stream.changes(1)) == [end + 1]
                stream.drop()
            finally:
                await conn.execute("update change_log set horizon = 0")
                await conn.close()

    run(scenario())


def test_a_stream_far_behind_catches_up_to_the_tail_while_writes_go_on(
    stream_url: str, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream resuming from further back than the tail keeps reads pages of its own, then
    joins the tail, while writers commit: every change once, in order."""
    monkeypatch.setattr(changes, "TAIL_KEEP", 4)
    monkeypatch.setattr(changes, "STREAM_PAGE", 3)

    async def scenario() -> None:
        async with serving(stream_url, token) as server:
            start = await server.seq()
            for number in range(20):
                await server.create(f"Before {number}")

            async def write() -> None:
                for number in range(20):
                    await server.create(f"During {number}")
                    await asyncio.sleep(0.01)

            writer = asyncio.create_task(write())
            stream = await server.open(f"?since={start}")
            received = await stream.changes(40, seconds=30)
            await writer
            await nothing_more(stream, 0.3)
            assert seqs(received) == list(range(start + 1, start + 41))
            stream.drop()

    run(scenario())


def test_without_notifications_changes_still_arrive_within_a_heartbeat(
    stream_url: str, token: str
) -> None:
    """A notification only wakes; the log is the truth. With a listener that never connects
    (as behind a pooler in transaction mode, where LISTEN hears nothing), the tail still reads
    the log every heartbeat."""

    async def scenario() -> None:
        nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
        async with serving(stream_url, token, listen_url=nowhere, stream_heartbeat_s=0.5) as server:
            stream = await server.open(f"?since={await server.seq()}")
            await asyncio.sleep(0.2)
            assert not server.listener.connected
            made = await server.create("Unannounced")
            (event,) = await stream.changes(1, seconds=3)
            assert event.change["id"] == made["id"]

    run(scenario())


# --- many streams ------------------------------------------------------------------------------


async def _connections(url: str, *, waiting: bool = False) -> dict[str, int]:
    """Connections to the database by application name (only those waiting for a lock)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "select application_name, count(*) from pg_stat_activity"
            " where datname = current_database() and pid <> pg_backend_pid()"
            " and (not $1 or wait_event_type = 'Lock') group by 1",
            waiting,
        )
    finally:
        await conn.close()
    return {row[0]: row[1] for row in rows}


async def _read_pages(server: Server, count: int) -> None:
    """``count`` pages of organizations, four at a time (the whole pool of the test's server),
    each answered."""
    for _ in range(0, count, 4):
        responses = await asyncio.gather(
            *(server.api.get("/v1/organizations", params={"limit": 5}) for _ in range(4))
        )
        assert {response.status_code for response in responses} == {200}


def test_many_streams_leave_the_pool_to_normal_requests_and_nothing_behind(
    stream_url: str, token: str
) -> None:
    """With a pool of 4, CLIENTS streams connect at once from a position behind the tail, so
    each first reads the log itself — and those reads are held up (the history table is
    locked) while a normal read by id must still be answered: streams take at most a quarter
    of the pool. Then, while they are open, normal reads are answered (as many at once as the
    pool has connections), one connection listens for the whole process, one write reaches
    every stream, and once the clients are gone so are their streams. How fast is for
    bench/streams.py to print: a timed assertion here failed on a busy machine."""

    async def scenario() -> None:
        async with serving(stream_url, token, pool_max_size=4) as server:
            record = await server.create("Before the crowd")
            start = await server.seq() - 1
            tasks_before = len(asyncio.all_tasks())

            locker = await asyncpg.connect(stream_url)
            try:
                async with locker.transaction():
                    await locker.execute("lock table history in access exclusive mode")
                    connecting = [
                        asyncio.create_task(server.open(f"?since={start}")) for _ in range(CLIENTS)
                    ]
                    for _ in range(200):  # until the first stream's read waits for the lock
                        if (await _connections(stream_url, waiting=True)).get("accord"):
                            break
                        await asyncio.sleep(0.05)
                    await asyncio.sleep(0.5)  # every stream's request is in by now
                    # Answered while the streams' reads wait: the timeout only ends a hang.
                    async with asyncio.timeout(60):
                        response = await server.api.get(f"/v1/organizations/{record['id']}")
                    assert response.status_code == 200
                    waiting = await _connections(stream_url, waiting=True)
                    assert waiting.get("accord") == 1, waiting
            finally:
                await locker.close()
            streams = await asyncio.gather(*connecting)
            assert {stream.status for stream in streams} == {200}
            firsts = await asyncio.gather(*(stream.changes(1) for stream in streams))
            assert {events[0].id for events in firsts} == {str(start + 1)}
            await until(lambda: server.tail.streams == CLIENTS)

            await _read_pages(server, 48)
            held = await _connections(stream_url)
            assert held.get("accord-listen") == 1, held
            assert held.get("accord", 0) <= 4, held

            arriving = [asyncio.create_task(stream.changes(1, seconds=30)) for stream in streams]
            await asyncio.sleep(0.2)
            await server.create("To everyone")
            arrivals = await asyncio.gather(*arriving)
            assert {events[0].id for events in arrivals} == {str(start + 2)}

            for stream in streams:
                stream.drop()
            await until(lambda: server.tail.streams == 0)
            await until(lambda: len(asyncio.all_tasks()) <= tasks_before)
            # With no stream left, the tail lets go of what it read and reads no more.
            await server.create("To nobody")
            await until(lambda: server.tail.end is None and not server.tail.frames)

    run(scenario())


# --- faults -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("stream-faults") / "pgdata")
    try:
        yield cluster
    finally:
        cluster.start()
        cluster.server.cleanup()


def test_streams_survive_a_database_restart(cluster: Cluster) -> None:
    """The stream stays open through the outage (heartbeats go on), the process listens again
    once the database is back — a write then reaches the stream at once, though the tail
    would otherwise look only every 30 s — and a client that dropped during the outage
    resumes with `Last-Event-ID`: nothing lost, nothing twice."""
    url = asyncio.run(create_database(cluster.url, "accord_stream_faults"))
    token = make_key(url)

    async def scenario() -> None:
        async with serving(
            url, token, stream_heartbeat_s=30, acquire_timeout_s=2, pool_max_size=4
        ) as server:
            start = await server.seq()
            staying = await server.open(f"?since={start}")
            leaving = await server.open(f"?since={start}")
            await server.create("Before the outage")
            assert seqs(await staying.changes(1)) == [start + 1]
            last_seen = (await leaving.changes(1))[0].id
            assert server.listener.connected

            await asyncio.to_thread(cluster.stop)
            await until(lambda: not server.listener.connected)
            leaving.drop()
            during = await server.open(f"?since={start}")
            assert during.status == 503
            assert int(during.headers["retry-after"]) > 0
            await asyncio.to_thread(cluster.start)
            await until(lambda: server.listener.connected, seconds=30)

            written = time.monotonic()
            await server.create("After the outage")
            assert seqs(await staying.changes(1, seconds=5)) == [start + 2]
            delay = time.monotonic() - written
            back = await server.open(f"?since={start}", Last_Event_ID=last_seen or "")
            assert seqs(await back.changes(1)) == [start + 2]
            await nothing_more(back, 0.3)
            await nothing_more(staying, 0.3)
            print(f"\nafter the restart a write reached the open stream in {delay * 1000:.0f} ms")
            staying.drop()
            back.drop()

    run(scenario())


def test_sigterm_ends_open_streams_so_the_server_stops(databases: Databases) -> None:
    url = databases.create("stream_stop")
    port = free_port()
    env = {**os.environ, "ACCORD_DATABASE_URL": url, "ACCORD_LOG_LEVEL": "ERROR"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.asgi:app", "--port", str(port)],
        env=env,
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )

    async def scenario() -> float:
        stream = await EventStream.open(port, "", {})
        assert stream.status == 200
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert await stream.ended()
        stream.drop()
        await asyncio.to_thread(process.wait, 20)
        return time.monotonic() - started

    try:
        wait_ready(f"http://127.0.0.1:{port}", 30)
        stopped_in = asyncio.run(scenario())
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode in (0, -signal.SIGTERM)
    assert stopped_in < 10
