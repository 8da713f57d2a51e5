"""Several processes of the service behind PgBouncer (transaction pooling): optimistic
concurrency still loses no update, because If-Match is checked inside the write's own
transaction with the row locked."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bench import pgbouncer
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
