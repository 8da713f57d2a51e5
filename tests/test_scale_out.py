"""Several processes of the service behind PgBouncer (transaction pooling): optimistic
concurrency still loses no update, because If-Match is checked inside the write's own
transaction with the row locked."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import httpx
import pytest
from litestar.testing import TestClient

from bench import pgbouncer
from service.app import create_app
from service.settings import Settings
from tests import ids
from tests.conftest import Databases, free_port, make_key, wait_ready

pytestmark = pytest.mark.skipif(not pgbouncer.available(), reason="needs Debian's pgbouncer")

PROCESSES = 2
CLIENTS = 4
INCREMENTS = 15


@pytest.fixture(scope="module")
def servers(databases: Databases) -> Iterator[tuple[list[str], dict[str, str]]]:
    url = databases.create("scale")
    credentials = {"Authorization": f"Bearer {make_key(url)}"}
    with pgbouncer.running(url, port=free_port()) as pooled:
        env = {
            **os.environ,
            "ACCORD_DATABASE_URL": pooled,
            "ACCORD_STATEMENT_CACHE_SIZE": "0",
            "ACCORD_LOG_LEVEL": "WARNING",
        }
        ports = [free_port() for _ in range(PROCESSES)]
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "service.asgi:app",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                env=env,
            )
            for port in ports
        ]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            for base in bases:
                wait_ready(base, 30)
            yield bases, credentials
        finally:
            for process in processes:
                process.terminate()
                process.wait(10)


def _increment(base: str, url: str, credentials: dict[str, str]) -> int:
    """Read-modify-write one character onto the note until it sticks; returns the 412s seen."""
    conflicts = 0
    with httpx.Client(base_url=base, headers=credentials) as client:
        while True:
            current = client.get(url)
            note = current.json()["note"] or ""
            response = client.patch(
                url, json={"note": note + "x"}, headers={"If-Match": current.headers["etag"]}
            )
            if response.status_code == 200:
                return conflicts
            assert response.status_code == 412, response.text
            conflicts += 1


def test_if_match_loses_no_update_across_processes(
    servers: tuple[list[str], dict[str, str]],
) -> None:
    bases, credentials = servers
    url = f"/v1/officials/{ids.REZNIKOV}"
    start = httpx.get(f"{bases[0]}{url}").json()
    assert start["note"] is not None
    httpx.patch(f"{bases[0]}{url}", json={"note": None}, headers=credentials)
    jobs = [bases[i % PROCESSES] for i in range(CLIENTS) for _ in range(INCREMENTS)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        conflicts = sum(pool.map(lambda base: _increment(base, url, credentials), jobs))
    final = httpx.get(f"{bases[1]}{url}").json()
    assert final["note"] == "x" * len(jobs)
    assert final["version"] == start["version"] + 1 + len(jobs)
    assert conflicts > 0, "the clients never raced; the test proved nothing"
    print(
        f"If-Match across {PROCESSES} processes: {len(jobs)} read-modify-writes by {CLIENTS} "
        f"clients, {conflicts} retried after a 412, {len(jobs)} applied, none lost"
    )


def test_a_request_pgbouncer_gives_up_on_is_a_503(databases: Databases) -> None:
    """PgBouncer's own errors (SQLSTATE 08P01: a query that waited longer than
    query_wait_timeout for a server connection, a server it cannot connect to) mean what a lost
    connection means without it: a 503 with Retry-After, not a 500."""
    url = databases.create("pooler_errors")
    with pgbouncer.running(url, port=free_port(), pool_size=1, query_wait_timeout=1) as pooled:
        settings = Settings(
            database_url=pooled, statement_cache_size=0, pool_min_size=1, listen_url=url
        )
        with TestClient(create_app(settings)) as client:
            assert client.get(f"/v1/officials/{ids.REZNIKOV}").status_code == 200

            async def hold_the_server_connection() -> None:
                conn = await asyncpg.connect(pooled, statement_cache_size=0)
                try:
                    await conn.execute("select pg_sleep(4)")
                finally:
                    await conn.close()

            holder = threading.Thread(target=asyncio.run, args=(hold_the_server_connection(),))
            holder.start()
            try:
                time.sleep(0.5)  # the holder's query has the only server connection
                response = client.get(f"/v1/officials/{ids.REZNIKOV}")
            finally:
                holder.join()
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"]
            assert response.headers["content-type"] == "application/problem+json"
            # Once PgBouncer has a server connection free again, the service answers again.
            assert client.get(f"/v1/officials/{ids.REZNIKOV}").status_code == 200
