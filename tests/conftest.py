"""Test databases: on the PostgreSQL at 127.0.0.1:5432 when it answers (or the server in
``ACCORD_TEST_SERVER_URL``), else on the embedded server. Each session makes its own
databases, migrated and seeded with the worked example, and drops them at the end."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from service import embedded, migrations, seed
from service.app import create_app
from service.core import auth
from service.settings import Settings

Client = TestClient[Litestar]


def _server_url() -> str:
    """``ACCORD_TEST_SERVER_URL``: a server URL, or ``embedded`` to force the embedded one."""
    return asyncio.run(
        embedded.find_server(
            os.environ.get("ACCORD_TEST_SERVER_URL"),
            Path(tempfile.gettempdir()) / "accord-test-pgdata",
        )
    )


async def create_database(server_url: str, name: str) -> str:
    """A fresh database ``name`` on ``server_url``, migrated and seeded; its URL."""
    url = await embedded.recreate_database(server_url, name)
    conn = await asyncpg.connect(url)
    try:
        await migrations.migrate(conn)
        await seed.load(conn)
    finally:
        await conn.close()
    return url


@pytest.fixture(scope="session")
def server_url() -> str:
    return _server_url()


class Databases:
    """Makes fresh, migrated, seeded databases named after this test session."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.names: list[str] = []

    def create(self, purpose: str) -> str:
        name = f"accord_test_{purpose}_{os.getpid()}"
        self.names.append(name)
        return asyncio.run(create_database(self.server_url, name))

    def create_empty(self, purpose: str) -> str:
        """A database with nothing in it, not even the migrations."""
        name = f"accord_test_{purpose}_{os.getpid()}"
        self.names.append(name)
        return asyncio.run(embedded.recreate_database(self.server_url, name))

    def drop_all(self) -> None:
        for name in self.names:
            asyncio.run(embedded.drop_database(self.server_url, name))


@pytest.fixture(scope="session")
def databases(server_url: str) -> Iterator[Databases]:
    made = Databases(server_url)
    yield made
    made.drop_all()


@pytest.fixture(scope="session")
def database_url(databases: Databases) -> str:
    return databases.create("main")


def make_key(url: str, scopes: list[auth.Scope] | None = None, name: str = "tests") -> str:
    """A new API key on a test database; its token."""

    async def run() -> str:
        conn = await asyncpg.connect(url)
        try:
            _, token = await auth.create_key(conn, name, scopes or ["write"])
        finally:
            await conn.close()
        return token

    return asyncio.run(run())


@pytest.fixture(scope="session")
def write_key(database_url: str) -> str:
    return make_key(database_url)


@pytest.fixture(scope="session")
def client(database_url: str, write_key: str) -> Iterator[Client]:
    """A client that reads and writes: it sends an API key with the `write` scope."""
    app = create_app(Settings(database_url=database_url))
    with TestClient(app) as test_client:
        test_client.headers["Authorization"] = f"Bearer {write_key}"
        yield test_client


@pytest.fixture(scope="session")
def anonymous(database_url: str) -> Iterator[Client]:
    """A client with no credentials, on the same database."""
    with TestClient(create_app(Settings(database_url=database_url))) as test_client:
        yield test_client


def query(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """Run one statement directly against a test database."""

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def all_pages(
    client: Client, path: str, limit: int, *, headers: Any = None, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a collection, following `next_cursor` page by page; `headers` (a dict)
    go with every request, `params` are the collection's filters."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_ready(base: str, seconds: float) -> float:
    """Wait until the server at `base` answers `/health/ready` with 200; how long it took."""
    started = time.monotonic()
    while True:
        try:
            if httpx.get(f"{base}/health/ready", timeout=5).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        assert time.monotonic() - started < seconds, f"{base} not ready after {seconds} s"
        time.sleep(0.2)


@contextmanager
def live_server(database_url: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """The service as `accord serve` runs it (uvicorn, `service.asgi:app`) in a subprocess on
    `database_url`, on a free port, with `env` added to its environment; its base URL while
    the block runs."""
    port = free_port()
    env = {
        **os.environ,
        "ACCORD_DATABASE_URL": database_url,
        "ACCORD_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    command = [sys.executable, "-m", "uvicorn", "service.asgi:app", "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        # A busy machine (CI, or a benchmark alongside) can take tens of seconds to import.
        wait_ready(base, 90)
        yield base
    finally:
        process.terminate()
        process.wait(10)
