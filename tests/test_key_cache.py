"""API keys checked from each process's cache (``auth.KeyCache``): a revocation reaches every
server process at once, and a process whose listening connection is lost stops trusting its
cache until it listens again.

Two answers tell whether a process still holds a revoked key: a PATCH of a record that does
not exist is a 404 when the guard let the key through (taken from the cache) and a 401 when
it looked the key up. A write that reaches its history row is refused either way (the row
checks the key in the same statement), so that is asserted too."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from tests.conftest import Databases, live_server, make_key, query

NOWHERE = f"/v1/organizations/{uuid.uuid4()}"


def _patch_nowhere(base: str, token: str) -> int:
    response = httpx.patch(
        base + NOWHERE,
        json={"note": "x"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    return response.status_code


def _create(base: str, token: str, name: str) -> httpx.Response:
    return httpx.post(
        base + "/v1/organizations",
        json={"name": name, "kind": "other"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def _ident(token: str) -> uuid.UUID:
    return uuid.UUID(hex=token.removeprefix("accord_").split("_")[0])


def _until(condition: Callable[[], object], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def two_processes(databases: Databases) -> Iterator[tuple[str, list[str]]]:
    url = databases.create("keycache")
    with ExitStack() as stack:
        yield url, [stack.enter_context(live_server(url)) for _ in range(2)]


def test_a_key_revoked_through_one_process_is_refused_at_once_by_another(
    two_processes: tuple[str, list[str]],
) -> None:
    url, (first, second) = two_processes
    admin = {"Authorization": f"Bearer {make_key(url, ['admin'])}"}
    token = make_key(url)
    assert _create(second, token, "Before the revocation").status_code == 201
    assert _patch_nowhere(second, token) == 404  # the second process holds the key now

    assert httpx.delete(f"{first}/v1/keys/{_ident(token)}", headers=admin).status_code == 204
    refused = _create(second, token, "After the revocation")
    assert refused.status_code == 401, refused.text
    assert "revoked" in refused.json()["detail"]
    assert not query(url, "select from organizations where name = 'After the revocation'")
    # The notification has reached the second process: it looks the key up again.
    assert _until(lambda: _patch_nowhere(second, token) == 401, 30)


def test_expiry_is_checked_on_a_cached_key(two_processes: tuple[str, list[str]]) -> None:
    url, (_, second) = two_processes
    token = make_key(url)
    assert _patch_nowhere(second, token) == 404
    query(url, "update api_keys set expires_at = now() where id = $1", _ident(token))
    refused = _create(second, token, "Expired meanwhile")
    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]


def _with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def _silently(url: str, sql: str, *args: object) -> None:
    """Change a key without telling anyone (the trigger that notifies does not fire in a
    session replaying changes): as if the notification had been lost."""

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("set session_replication_role = replica")
            await conn.execute(sql, *args)
        finally:
            await conn.close()

    asyncio.run(run())


def test_a_process_that_loses_its_listening_connection_stops_trusting_its_cache(
    databases: Databases,
) -> None:
    url = databases.create("keycache_listener")
    role = f"accord_listener_{uuid.uuid4().hex[:8]}"
    query(url, f"create role {role} login")
    try:
        env = {"ACCORD_LISTEN_URL": _with_user(url, role)}
        with live_server(url, env) as base:
            listener = f"select pid from pg_stat_activity where usename = '{role}'"
            assert _until(lambda: query(url, listener), 30)
            token = make_key(url)
            assert _patch_nowhere(base, token) == 404  # cached

            # The listening connection drops and cannot come back for now.
            query(url, f"alter role {role} nologin")
            query(url, f"select pg_terminate_backend(pid) from ({listener}) l")
            _silently(url, "update api_keys set revoked_at = now() where id = $1", _ident(token))
            # No notification came, yet the process no longer trusts what it holds.
            assert _until(lambda: _patch_nowhere(base, token) == 401, 30)
            # While it is down, every key is looked up: still usable, never kept.
            other = make_key(url)
            assert _create(base, other, "Written while not listening").status_code == 201
            _silently(url, "update api_keys set revoked_at = now() where id = $1", _ident(other))
            assert _patch_nowhere(base, other) == 401

            # Back: the process listens again and uses its cache again (a key revoked without
            # a notification is seen as still held, which shows the cache is in use).
            query(url, f"alter role {role} login")
            assert _until(lambda: query(url, listener), 30)
            third = make_key(url)
            assert _until(lambda: _patch_nowhere(base, third) == 404, 30)
            _silently(url, "update api_keys set revoked_at = now() where id = $1", _ident(third))
            assert _patch_nowhere(base, third) == 404
            # …and a notified revocation reaches it.
            query(url, "update api_keys set name = 'renamed' where id = $1", _ident(third))
            assert _until(lambda: _patch_nowhere(base, third) == 401, 30)
    finally:
        query(
            url, f"select pg_terminate_backend(pid) from pg_stat_activity where usename = '{role}'"
        )
        query(url, f"drop role if exists {role}")
