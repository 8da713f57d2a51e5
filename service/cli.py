"""What the ``accord`` commands do (serve, db migrate, db status, seed, keys, export, openapi; their
options are in service/commands.py). Every command that touches the database uses the one
``serve`` would: ``ACCORD_DATABASE_URL``, else the embedded server in ``ACCORD_DATA_DIR``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import asyncpg
import msgspec

from service import __version__, commands, migrations
from service import seed as worked_example
from service.core import auth, bulk, database, imports, logs, metrics
from service.core.problems import FieldError, ProblemError
from service.embedded import resolve_url
from service.resources import popolo, registry
from service.settings import Settings

log = logging.getLogger("accord")


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


async def export(settings: Settings, name: str, format: bulk.Format, output: Path | None) -> int:
    """Every record of collection ``name`` — or, for ``popolo``, the Popolo document — to
    ``output`` (stdout by default) with the producer the HTTP export runs, in one snapshot; the
    change-log position it is consistent with on stderr. A file is written beside ``output``
    and renamed once complete, so ``output`` is never half an export."""
    table = registry.BULK.get(name)
    if table is None and name != "popolo":
        print(
            f"no collection {name!r}; one of: {', '.join(registry.BULK)}, or popolo",
            file=sys.stderr,
        )
        return 2
    from tqdm import tqdm

    conn = await _connect(settings)
    await database.init_connection(conn)
    partial: Path | None = None
    try:
        async with bulk.snapshot(conn) as seq:
            terminal = sys.stderr.isatty()
            # A collection's bar counts rows against the table's size; Popolo's, bytes.
            total = await _row_count(conn, table.table) if terminal and table else None
            with tqdm(
                total=total,
                unit=" rows" if table else "B",
                unit_scale=True,
                file=sys.stderr,
                disable=not terminal,
            ) as bar:
                produce: bulk.Produce = popolo.popolo_chunks
                counted = bar.update
                if table is not None:
                    _, produce = bulk.of_table(table, format, progress=bar.update)
                    counted = None
                if output is None:
                    await _write(produce(conn), sys.stdout.buffer, counted)
                else:
                    fd, temporary = tempfile.mkstemp(
                        dir=output.parent or None, prefix=f".{output.name}.", suffix=".partial"
                    )
                    partial = Path(temporary)
                    with os.fdopen(fd, "wb") as file:
                        await _write(produce(conn), file, counted)
                    partial.replace(output)
                    partial = None
        sys.stdout.flush()
    finally:
        await conn.close()
        if partial is not None:
            partial.unlink(missing_ok=True)
    what = f"{table.label} records" if table else "the Popolo document"
    where = f" to {output}" if output else ""
    print(
        f"exported {what}{where} as of change {seq}: follow /v1/changes?since={seq}",
        file=sys.stderr,
    )
    return 0


async def _write(
    chunks: AsyncIterator[bytes], file: BinaryIO, progress: Callable[[int], object] | None
) -> None:
    async for chunk in chunks:
        file.write(chunk)
        if progress is not None:
            progress(len(chunk))


async def _row_count(conn: asyncpg.Connection[asyncpg.Record], table: str) -> int:
    """The planner's row estimate for the progress bar's total, counted when the table was
    never analyzed."""
    estimate: int = await conn.fetchval(
        "select reltuples::bigint from pg_class where oid = $1::regclass", table
    )
    if estimate >= 0:
        return estimate
    counted: int = await conn.fetchval(f"select count(*) from {table}")  # noqa: S608
    return counted


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

    logs.configure(settings.log_format, settings.log_level)
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
    log.info(
        "start",
        extra={"version": __version__, "url": base, "workers": workers, "database": database_is},
    )
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
    # Several workers report their metrics through files (see service/core/metrics.py).
    with metrics.prepare_directory(workers):
        if settings.metrics_port is not None:
            metrics.serve_port(host, settings.metrics_port)
            print(f"  Metrics:    http://{host}:{settings.metrics_port}/metrics\n", flush=True)
        uvicorn.run(
            "service.asgi:app",
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level.lower(),
            # The app's logging (service.core.logs) formats uvicorn's lines too, and its
            # request lines replace uvicorn's access log.
            log_config=None,
            access_log=False,
            loop="uvloop",
            http="httptools",
            proxy_headers=False,
            timeout_graceful_shutdown=10,
        )


class _ImportProgress:
    """The progress bar of ``accord import`` (on stderr, when it is a terminal): bytes read
    of all the files, their rate and ETA, and the lines read per second."""

    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc="import",
            file=sys.stderr,
            disable=not sys.stderr.isatty(),
        )
        self.lines = 0
        self.started = time.monotonic()

    def read(self, size: int) -> None:
        self.bar.update(size)

    async def counted(
        self, lines: AsyncIterator[tuple[int, imports.Raw | FieldError]]
    ) -> AsyncIterator[tuple[int, imports.Raw | FieldError]]:
        async for item in lines:
            self.lines += 1
            if not self.lines % 10_000:
                rate = self.lines / max(time.monotonic() - self.started, 1e-9)
                self.bar.set_postfix_str(f"{rate:,.0f} lines/s", refresh=False)
            yield item

    def close(self) -> None:
        self.bar.close()


_FORMATS: dict[str, bulk.Format] = {".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv"}
"""A file's format by its extension."""


def _import_sources(
    files: list[Path], resource: str | None, progress: _ImportProgress
) -> list[imports.Source]:
    """Each file as a source: its resource from ``--resource`` or its name, its format from
    its extension."""
    if resource is not None and len(files) > 1:
        raise SystemExit("--resource names the resource of one file; name the files instead")
    sources = []
    for path in files:
        if path.suffix == ".json" or resource == "popolo":
            sources.extend(_popolo_sources(path, progress))
            continue
        name = resource or path.name.split(".", 1)[0]
        if name not in registry.BULK:
            raise SystemExit(
                f"{path}: no resource {name!r} (use --resource, one of: {', '.join(registry.BULK)})"
            )
        format = _FORMATS.get(path.suffix)
        if format is None:
            raise SystemExit(f"{path}: not .ndjson, .csv or Popolo .json")
        chunks = imports.file_chunks(str(path), progress=progress.read)
        lines = imports.lines_in(format, chunks, registry.BULK[name])
        sources.append(imports.Source(resource=name, lines=progress.counted(lines), name=str(path)))
    return sources


def _popolo_sources(path: Path, progress: _ImportProgress) -> list[imports.Source]:
    """A Popolo JSON document (``accord export popolo`` writes one) as a source per resource
    it fills, converted by ``popolo.popolo_records``; a bad line is then named by its resource
    and its place among that resource's records (``FILE (officials):3``)."""
    data = path.read_bytes()
    progress.read(len(data))
    try:
        document = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise SystemExit(f"{path}: not a Popolo JSON document: {exc}") from None
    if not isinstance(document, dict):
        raise SystemExit(f"{path}: not a Popolo JSON document: not an object")
    return [
        imports.Source(
            resource=name,
            lines=progress.counted(imports.lines_of(records)),
            name=f"{path} ({name})",
        )
        for name, records in popolo.popolo_records(document).items()
    ]


async def import_files(
    settings: Settings, files: list[Path], resource: str | None, partial: bool, dry_run: bool
) -> int:
    """``accord import``: a progress bar on a terminal, a summary, the bad lines as
    FILE:LINE: field: message; non-zero when any line was bad."""
    for path in files:
        if not path.is_file():
            raise SystemExit(f"{path}: no such file")
    bar = _ImportProgress(sum(path.stat().st_size for path in files))
    sources = _import_sources(files, resource, bar)
    conn = await _connect(settings)
    try:
        await database.init_connection(conn)
        try:
            report = await imports.run(
                conn, sources, tables=registry.BULK, partial=partial, dry_run=dry_run
            )
        except imports.BadLinesError as failed:
            report = failed.report
        except ProblemError as problem:
            bar.close()
            print(f"import failed, nothing written: {problem.detail}", file=sys.stderr)
            return 1
    finally:
        bar.close()
        await conn.close()
    print(imports.summary(report))
    files_of = {source.resource: source.name for source in sources}
    for name, outcome in report.resources.items():
        for error in outcome.errors:
            where = f"{files_of[name]}:{error.line}"
            print(f"{where}: {error.field or '-'}: {error.message}", file=sys.stderr)
    return 1 if report.error_count else 0


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
        return asyncio.run(export(settings, args.name, args.format, args.output))
    elif args.command == "import":
        return asyncio.run(
            import_files(settings, args.files, args.resource, args.partial, args.dry_run)
        )
    elif args.command == "openapi":
        return write_openapi(args.output, args.check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
