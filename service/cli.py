"""What the ``accord`` commands do (serve, db migrate, db status, seed, keys, export, openapi; their
options are in service/commands.py). Every command that touches the database uses the one
``serve`` would: ``ACCORD_DATABASE_URL``, else the embedded server in ``ACCORD_DATA_DIR``."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import asyncpg
import msgspec

from service import commands, migrations
from service import seed as worked_example
from service.core import auth, database
from service.embedded import resolve_url
from service.resources import popolo
from service.settings import Settings


async def _connect(settings: Settings) -> asyncpg.Connection[asyncpg.Record]:
    url = await resolve_url(settings.database_url, settings.data_dir)
    return await asyncpg.connect(url)


async def migrate(settings: Settings) -> None:
    conn = await _connect(settings)
    try:
        applied = await migrations.migrate(conn)
    finally:
        await conn.close()
    for migration in applied:
        print(f"applied {migration.path.name}")
    if not applied:
        print("database is up to date")


async def status(settings: Settings) -> int:
    conn = await _connect(settings)
    try:
        states = await migrations.status(conn)
    finally:
        await conn.close()
    for state in states:
        print(f"{state.status:8} {state.migration.path.name}")
    return 1 if any(state.status == "changed" for state in states) else 0


async def seed(settings: Settings, restore_missing: bool = False) -> int:
    """Load the worked example where it never was; else say when it was, and what of it is
    missing — or, with ``restore_missing``, put that back."""
    url = await resolve_url(settings.database_url, settings.data_dir)
    one = msgspec.structs.replace(settings, pool_min_size=1, pool_max_size=1)
    pool = await database.create_pool(url, one)
    try:
        async with pool.acquire() as conn:
            loaded = await worked_example.load(conn)
            if loaded.now:
                print(f"loaded the worked example ({worked_example.SEED_FILE.name})")
                return 0
            if not restore_missing:
                absent = await worked_example.missing(conn)
            else:
                try:
                    restored = await worked_example.restore_missing(conn)
                except asyncpg.PostgresError as exc:
                    # A record made since may stand in the way (a round of the same ordinal).
                    print(f"nothing restored: {exc}", file=sys.stderr)
                    return 1
    finally:
        await pool.close()
    when = loaded.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if loaded.changed:
        print(f"{worked_example.SEED_FILE.name} has changed since it was loaded on {when}")
    if restore_missing:
        for label, ident in restored:
            print(f"restored {label} {ident}")
        records = "record" if len(restored) == 1 else "records"
        print(
            f"restored {len(restored)} {records} of the worked example (loaded on {when}); "
            "every other record is as it was"
        )
        return 0
    print(f"the worked example was loaded on {when}; nothing changed")
    if absent:
        why = "deleted since, or new in the file" if loaded.changed else "deleted since"
        are = "is" if len(absent) == 1 else "are"
        print(f"{len(absent)} of its records {are} missing ({why}):")
        for label, ident in absent:
            print(f"  {label} {ident}")
        print("`accord seed --restore-missing` puts them back and leaves every other record as is")
    return 0


async def create_key(
    settings: Settings, name: str, scopes: list[auth.Scope], expires_in_days: float | None
) -> tuple[auth.ApiKey, str]:
    conn = await _connect(settings)
    try:
        expires = timedelta(days=expires_in_days) if expires_in_days else None
        return await auth.create_key(conn, name, scopes, expires)
    finally:
        await conn.close()


async def list_keys(settings: Settings) -> None:
    conn = await _connect(settings)
    try:
        keys = await auth.list_keys(conn)
    finally:
        await conn.close()
    for key in keys:
        state = "revoked" if key.revoked_at else "active"
        expires = key.expires_at.isoformat(timespec="seconds") if key.expires_at else "never"
        print(f"{key.id}  {state:7}  {','.join(key.scopes):11}  expires {expires}  {key.name}")


async def revoke_key(settings: Settings, ident: UUID) -> int:
    conn = await _connect(settings)
    try:
        revoked = await auth.revoke_key(conn, ident)
    finally:
        await conn.close()
    print(f"revoked {ident}" if revoked else f"no active key {ident}")
    return 0 if revoked else 1


async def export_popolo(settings: Settings, output: Path | None) -> None:
    """The Popolo document to ``output`` (standard output if none), from one snapshot. A file
    is written beside its final name and moved there once complete, so a failed export never
    leaves a truncated document behind."""
    conn = await _connect(settings)
    try:
        await database.init_connection(conn)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            if output is None:
                async for chunk in popolo.popolo_chunks(conn):
                    sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
                return
            partial = output.with_name(f".{output.name}.partial")
            try:
                with partial.open("wb") as file:
                    async for chunk in popolo.popolo_chunks(conn):
                        file.write(chunk)
                partial.replace(output)
            finally:
                partial.unlink(missing_ok=True)
    finally:
        await conn.close()


def contract() -> bytes:
    """The OpenAPI document exactly as the app serves it, formatted for review."""
    from service.app import create_app

    schema = create_app(Settings()).openapi_schema.to_schema()
    return (json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


def write_openapi(output: Path, check: bool) -> int:
    document = contract()
    if check:
        if not output.exists() or output.read_bytes() != document:
            print(f"{output} differs from the served contract; run `accord openapi`")
            return 1
        print(f"{output} is current")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(document)
    print(f"wrote {output}")
    return 0


async def development_key(settings: Settings) -> tuple[str, int]:
    """A new development key, replacing the one before: its token, and how many it revoked."""
    conn = await _connect(settings)
    try:
        _, token, revoked = await auth.replace_development_key(conn)
    finally:
        await conn.close()
    return token, revoked


def where(url: str, data_dir: Path | None) -> str:
    """Which database ``url`` is, for people: the embedded server's data directory (when
    ``data_dir`` is given), else the server's host and port, the database and the user —
    never a password."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    name = parts.path.lstrip("/") or query.get("dbname", [""])[0]
    user = parts.username or query.get("user", [""])[0]
    if data_dir is not None:
        return f"embedded PostgreSQL, data in {data_dir} (database {name})"
    # The netloc may name several hosts (host1:5432,host2:5432), which urlsplit cannot parse.
    hosts = parts.netloc.rpartition("@")[2] or query.get("host", ["the local socket"])[0]
    return f"PostgreSQL at {hosts}, database {name}" + (f", user {user}" if user else "")


def serve(
    settings: Settings, host: str, port: int, workers: int, load_seed: bool, run_migrations: bool
) -> None:
    import uvicorn

    url = asyncio.run(resolve_url(settings.database_url, settings.data_dir))
    embedded = settings.database_url is None
    settings = msgspec.structs.replace(settings, database_url=url)
    database_is = where(url, settings.data_dir if embedded else None)
    if run_migrations or embedded:
        asyncio.run(migrate(settings))
    if load_seed or embedded:
        asyncio.run(seed(settings))
    development = asyncio.run(development_key(settings)) if embedded else None
    # Worker processes read their settings from the environment.
    os.environ["ACCORD_DATABASE_URL"] = url
    base = settings.public_url or f"http://{host}:{port}"
    print(
        f"\nAccord is starting on {base}\n  Swagger UI: {base}/docs\n  OpenAPI:    "
        f"{base}/docs/openapi.json\n  Database:   {database_is}\n",
        flush=True,
    )
    if development:
        # Shown once, here, for trying writes in Swagger UI ("Authorize"); valid for a day.
        token, revoked = development
        replaced = "the previous one is now revoked" if revoked else "the next start revokes it"
        print(
            f"  Development API key (write and admin, 24 h): {token}\n"
            f"  (one development key per database: each start makes a new one; {replaced})\n",
            flush=True,
        )
    uvicorn.run(
        "service.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        loop="uvloop",
        http="httptools",
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    args = commands.parser().parse_args(argv)
    if args.command == "serve":
        host = args.host or settings.host
        port = settings.port if args.port is None else args.port
        serve(settings, host, port, args.workers, args.seed, not args.no_migrate)
    elif args.command == "db" and args.db_command == "migrate":
        asyncio.run(migrate(settings))
    elif args.command == "db":
        return asyncio.run(status(settings))
    elif args.command == "seed":
        return asyncio.run(seed(settings, args.restore_missing))
    elif args.command == "keys" and args.keys_command == "create":
        key, token = asyncio.run(
            create_key(settings, args.name, sorted(set(args.scopes)), args.expires_in_days)
        )
        expires = key.expires_at.isoformat(timespec="seconds") if key.expires_at else "never"
        print(f"id:     {key.id}\nscopes: {', '.join(key.scopes)}\nexpires: {expires}")
        print(f"key:    {token}\n(shown once: store it now)")
    elif args.command == "keys" and args.keys_command == "list":
        asyncio.run(list_keys(settings))
    elif args.command == "keys":
        return asyncio.run(revoke_key(settings, args.id))
    elif args.command == "export":
        asyncio.run(export_popolo(settings, args.output))
    elif args.command == "openapi":
        return write_openapi(args.output, args.check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
