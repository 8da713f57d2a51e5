"""``python3 -m service bench [--quick | --smoke] [--rows N] [--workers 1,2]``

Sets everything up itself — a throwaway database ``accord_bench_<pid>_<random>`` on the
configured server (``ACCORD_DATABASE_URL``), else the PostgreSQL at 127.0.0.1:5432, else the
embedded one, dropped at the end however the run ends; the synthetic data; the servers under
test; wrk — then measures Accord against the floor (a bare
ASGI app running the same SQL, see bench/floor.py) in alternating rounds and prints a table
with the ratio to the floor measured in the same invocation. Figures only: nothing here
asserts a speed."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench import data, export, load, pgbouncer
from bench import imports as bench_imports
from service import embedded, migrations, seed
from service.core import auth
from service.core.database import init_connection
from service.core.pagination import CursorCodec, Listing
from service.resources import (
    agreements,
    claims,
    delegations,
    exchanges,
    memoranda,
    negotiations,
    officials,
    organizations,
    posts,
    role_changes,
    rounds,
    sources,
    statements,
    tenures,
    timeline,
)
from service.settings import default_data_dir

PAGE_200 = "/v1/officials?limit=200"
SEARCH_NAME = "/v1/search?q=Medinskiy"
SEARCH_PHRASE = "/v1/search?q=%22Istanbul%20agreements%22"
GZIP = {"Accept-Encoding": "gzip"}
BROTLI = {"Accept-Encoding": "gzip, deflate, br"}
COMPRESSION = {
    "page of 200 officials": ("list_page_200", {"gzip": "page_200_gzip", "br": "page_200_br"}),
    "read by id": ("get_by_id", {"br": "get_by_id_br"}),
}


@dataclass
class Options:
    rows: int
    workers: list[int]
    seconds: float
    rounds: int
    connections: int
    explain: bool
    results: Path | None
    granian: bool = False
    scale_out: bool = False


async def prepare(server: str, database: str, rows: int) -> tuple[str, dict[str, int]]:
    url = await embedded.recreate_database(server, database)
    conn = await asyncpg.connect(url)
    try:
        await migrations.migrate(conn, through=data.SCHEMA)
    finally:
        await conn.close()
    print(f"loading {rows:,} rows with COPY…", file=sys.stderr)
    counts = await data.load(url, rows)
    conn = await asyncpg.connect(url)
    try:
        # Later migrations derive what they add (the record registry, the timeline) from the
        # rows already there, as they would on a live database.
        started = time.perf_counter()
        await migrations.migrate(conn)
        counts["migrate_seconds_x1000"] = int((time.perf_counter() - started) * 1000)
        await seed.load(conn)
        # Statistics for what the migrations derived (the timeline, the registry), as
        # autovacuum would gather them on a live database: without them the planner guessed
        # that an official's or a negotiation's items were a fair share of the timeline and
        # read it in date order to find them (0.5–0.9 s a page in the query plans at 1.4M rows;
        # 140 → 8 ms at 100k once analyzed).
        await conn.execute("analyze")
    finally:
        await conn.close()
    return url, counts


@contextmanager
def server(
    app: str,
    url: str,
    port: int,
    workers: int,
    kind: str = "uvicorn",
    env: dict[str, str] | None = None,
    wrapper: list[str] | None = None,
) -> Iterator[psutil.Process]:
    """The server of ``app`` on ``port``, ready; ``wrapper`` runs it under another program
    (``bench.served``: valgrind)."""
    env = {**os.environ, "ACCORD_DATABASE_URL": url, "ACCORD_LOG_LEVEL": "WARNING", **(env or {})}
    listen = [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--log-level",
        "warning",
    ]
    if kind == "granian":
        command = [sys.executable, "-m", "granian", "--interface", "asgi", *listen, "--no-ws", app]
    else:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            *listen,
            "--http",
            "httptools",
            "--no-access-log",
            "--no-proxy-headers",
        ]
    process = subprocess.Popen([*(wrapper or []), *command], env=env)
    try:
        deadline = time.monotonic() + (300 if wrapper else 60)
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/officials/x", timeout=1)
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{app} did not start") from None
                time.sleep(0.2)
        time.sleep(0.5 * workers)  # let every worker finish its startup
        yield psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(30)


def peer_available() -> bool:
    try:
        import fastapi  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError:
        return False
    return True


def rss_mb(parent: psutil.Process) -> list[float]:
    workers = parent.children(recursive=True) or [parent]
    return [round(worker.memory_info().rss / 2**20, 1) for worker in workers]


@dataclass
class Row:
    scenario: str
    workers: int
    accord: list[load.Result]
    floor: list[load.Result]

    def median(self, results: list[load.Result], attribute: str) -> float:
        return float(statistics.median(getattr(result, attribute) for result in results))

    def ratio(self) -> float | None:
        if not self.floor:
            return None
        ratios = [
            a.requests_per_second / f.requests_per_second
            for a, f in zip(self.accord, self.floor, strict=True)
        ]
        return statistics.median(ratios)


async def _samples(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        ids = [
            str(r["id"])
            for r in await conn.fetch("select id from officials tablesample system (5) limit 2000")
        ]
        if len(ids) < 100:
            ids = [str(r["id"]) for r in await conn.fetch("select id from officials limit 2000")]
        count = await conn.fetchval("select count(*) from officials")
        deep = await conn.fetchval(
            "select id from officials order by id offset $1 limit 1", min(500_000, count // 2)
        )
        secret = bytes(await conn.fetchval("select secret from accord_secret"))
        items = await conn.fetchval("select count(*) from timeline")
        deep_item = await conn.fetchrow(
            "select day, record_id, number from timeline order by day, record_id, number "
            "offset $1 limit 1",
            min(350_000, items // 2),
        )
        _, token = await auth.create_key(conn, "benchmark", ["write"])
        # The ETag of an undisputed official at version 1 (all bulk officials are).
        official_row = await conn.fetchrow(officials.TABLE.get_sql, uuid.UUID(ids[0]))
        assert official_row is not None
        tag = officials.TABLE.tag(official_row)
        post = await conn.fetchval("select post_id from tenures limit 1")
        official = await conn.fetchval("select official_id from tenures limit 1")
        organization = await conn.fetchval(
            "select parent_id from organizations where parent_id is not null limit 1"
        )
    finally:
        await conn.close()
    codec = CursorCodec(secret)
    cursor = codec.encode(officials.LISTING.scope(), [deep])
    return {
        "ids": ids,
        "deep_cursor": cursor,
        "deep_timeline_cursor": codec.encode(
            timeline.LISTING.scope(),
            list(deep_item) if deep_item else [date.min, uuid.UUID(int=0), 0],
        ),
        "tag": tag,
        "authorization": f"Bearer {token}",
        "post": post,
        "official": official,
        "organization": organization,
        "officials": count,
    }


def wire_sizes(port: int, record: str) -> dict[str, tuple[int, str]]:
    """Bytes of the body as sent, and its coding, for each compression scenario."""
    sizes = {}
    for name, path, headers in (
        ("list_page_200", PAGE_200, {}),
        ("page_200_gzip", PAGE_200, GZIP),
        ("page_200_br", PAGE_200, BROTLI),
        ("get_by_id", record, {}),
        ("get_by_id_br", record, BROTLI),
    ):
        with urllib.request.urlopen(
            urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers), timeout=10
        ) as response:
            coding = response.headers.get("Content-Encoding", "none")
            sizes[name] = (len(response.read()), coding)
    return sizes


def compression_lines(rows: list[Row], sizes: dict[str, tuple[int, str]]) -> list[str]:
    """Per worker count: each compressed scenario's bytes and requests a second against its
    uncompressed twin."""
    lines = []
    for workers in sorted({row.workers for row in rows}):
        by_name = {row.scenario: row for row in rows if row.workers == workers}
        for label, (plain, variants) in COMPRESSION.items():
            if plain not in by_name or plain not in sizes:
                continue
            base = by_name[plain].median(by_name[plain].accord, "requests_per_second")
            parts = [f"{sizes[plain][0]:,} B, {base:,.0f} r/s without Accept-Encoding"]
            for coding, name in variants.items():
                rps = by_name[name].median(by_name[name].accord, "requests_per_second")
                size, sent = sizes[name]
                parts.append(
                    f"asking {coding}: {size:,} B sent as {sent}, "
                    f"{rps:,.0f} r/s ({rps / base:.2f}x)"
                )
            lines.append(f"compression, {workers} worker(s), {label}: " + "; ".join(parts))
    return lines


def _go(
    wrk: str, options: Options, port: int, method: str, paths: list[str], **kwargs: Any
) -> load.Result:
    """One wrk run of a scenario against the server on ``port``."""
    return load.run(
        wrk,
        f"http://127.0.0.1:{port}",
        method,
        paths,
        seconds=options.seconds,
        connections=options.connections,
        **kwargs,
    )


def _warm_up(wrk: str, options: Options, port: int, paths: list[str]) -> None:
    """Connections opened, statements prepared, caches filled, before anything counts."""
    load.run(
        wrk,
        f"http://127.0.0.1:{port}",
        "GET",
        paths,
        seconds=max(1, int(options.seconds / 2)),
        connections=options.connections,
    )


SIZE_SCENARIOS = ("list_page", "list_page_200", "timeline_page")
"""Pages whose cost must not grow with their table: measured again, in the same run, on a
database a tenth the size (``table_size``)."""


def table_size(options: Options, host: str, database: str, rows: int) -> list[Row]:
    """``SIZE_SCENARIOS`` on a database of ``rows`` rows (made for this and dropped after),
    one worker, rounds alternating floor and Accord as in ``measure``."""
    measured = []
    try:
        url, _ = asyncio.run(prepare(host, database, rows))
        samples = asyncio.run(_samples(url))
        wrk = load.ensure_wrk()
        scenarios = [s for s in read_scenarios(samples) if s[0] in SIZE_SCENARIOS]
        with server("service.asgi:app", url, 8808, 1), server("bench.floor:app", url, 8809, 1):
            for port in (8808, 8809):
                _warm_up(wrk, options, port, [paths[0] for _, _, paths, _, _ in scenarios])
            for name, method, paths, kwargs, _ in scenarios:
                row = Row(name, 1, [], [])
                for _ in range(max(1, options.rounds // 2)):
                    row.floor.append(_go(wrk, options, 8809, method, paths, **kwargs))
                    row.accord.append(_go(wrk, options, 8808, method, paths, **kwargs))
                measured.append(row)
                print(f"at {rows:,} rows: {format_row(row)}", file=sys.stderr)
    finally:
        asyncio.run(embedded.drop_database(host, database))
    return measured


def size_lines(rows: list[Row], big: int, small_rows: list[Row], small: int) -> list[str]:
    """Whether a page costs the same on a table ten times the size."""
    lines = []
    rps = "requests_per_second"
    for small_row in small_rows:
        row = next(r for r in rows if r.scenario == small_row.scenario and r.workers == 1)
        speed = row.median(row.accord, rps) / small_row.median(small_row.accord, rps)
        floor = row.median(row.floor, rps) / small_row.median(small_row.floor, rps)
        lines.append(
            f"{row.scenario} cost flat in table size, 1 worker: at {big:,} rows it answers "
            f"{speed:.2f}x the requests a second it answers at {small:,} (the floor {floor:.2f}x)"
        )
    return lines


def measure(
    options: Options, url: str, samples: dict[str, Any]
) -> tuple[list[Row], dict[str, Any], dict[str, tuple[int, str]]]:
    wrk = load.ensure_wrk()
    rows: list[Row] = []
    memory: dict[str, Any] = {}
    sizes: dict[str, tuple[int, str]] = {}
    ids: list[str] = samples["ids"]
    by_id = [f"/v1/officials/{ident}" for ident in ids]

    def go(port: int, method: str, paths: list[str], **kwargs: Any) -> load.Result:
        return _go(wrk, options, port, method, paths, **kwargs)

    for workers in options.workers:
        with (
            server("service.asgi:app", url, 8801, workers) as accord,
            server("bench.floor:app", url, 8802, workers) as floor,
        ):
            scenarios: list[tuple[str, str, list[str], dict[str, Any], bool]] = [
                ("get_by_id", "GET", by_id, {}, True),
                # Too small to compress: what the middleware costs when it compresses nothing.
                ("get_by_id_br", "GET", by_id, {"headers": BROTLI}, False),
                # Accord's ETag carries a checksum of derived values, the floor's only the
                # version: the header names both, as a client holding either would.
                (
                    "get_304",
                    "GET",
                    by_id,
                    {"headers": {"If-None-Match": f'"1", {samples["tag"]}'}},
                    True,
                ),
                *read_scenarios(samples),
                # What compression costs a page (list_page_200 is the same without it).
                ("page_200_gzip", "GET", [PAGE_200], {"headers": GZIP}, False),
                ("page_200_br", "GET", [PAGE_200], {"headers": BROTLI}, False),
                *write_scenarios(samples, by_id),
                # The change log as a follower reads it, after the writes above: 200 changes
                # with their records, a page at a time.
                ("changes_page_200", "GET", ["/v1/changes?since=0&limit=200"], {}, False),
            ]
            same_bodies(8801, 8802, read_scenarios(samples))
            for port in (8801, 8802):
                _warm_up(wrk, options, port, by_id)
            for name, method, paths, kwargs, with_floor in scenarios:
                row = Row(name, workers, [], [])
                rounds = (
                    options.rounds if name.startswith("get_by_id") else max(1, options.rounds // 2)
                )
                for _ in range(rounds):
                    if with_floor:
                        row.floor.append(go(8802, method, paths, **kwargs))
                    row.accord.append(go(8801, method, paths, **kwargs))
                rows.append(row)
                print(format_row(row), file=sys.stderr)
            # What the numbered change row costs a write, with no framework in the way: the
            # floor's create (as its "accord") against the floor's create without it.
            create = next(s for s in scenarios if s[0] == "post_create")
            row = Row("change_row_cost", workers, [], [])
            for _ in range(max(1, options.rounds // 2)):
                row.floor.append(go(8802, "POST", ["/floor/officials-bare"], **create[3]))
                row.accord.append(go(8802, "POST", create[2], **create[3]))
            rows.append(row)
            print(format_row(row), file=sys.stderr)
            sizes.update(wire_sizes(8801, by_id[0]))
            memory[f"accord, {workers} worker(s)"] = rss_mb(accord)
            memory[f"floor, {workers} worker(s)"] = rss_mb(floor)
        if options.granian:
            with (
                server("service.asgi:app", url, 8804, workers, "granian"),
                server("bench.floor:app", url, 8805, workers, "granian"),
            ):
                for port in (8804, 8805):
                    _warm_up(wrk, options, port, by_id)
                row = Row("granian_get", workers, [], [])
                for _ in range(options.rounds):
                    row.floor.append(go(8805, "GET", by_id))
                    row.accord.append(go(8804, "GET", by_id))
                rows.append(row)
                print(format_row(row), file=sys.stderr)
        if peer_available():
            with server("bench.peer:app", url, 8803, workers) as peer:
                _warm_up(wrk, options, 8803, by_id)
                row = Row("peer_get_by_id", workers, [], [])
                row.accord.append(go(8803, "GET", by_id))
                rows.append(row)
                print(format_row(row), file=sys.stderr)
                memory[f"peer, {workers} worker(s)"] = rss_mb(peer)
    if options.scale_out:
        rows.extend(scale_out(url, by_id, go))
    return rows, memory, sizes


WRITES = ("post_create", "patch_if_match")
"""The write scenarios, each against a floor that runs the same statements (bench/floor.py)."""


def write_scenarios(
    samples: dict[str, Any], by_id: list[str]
) -> list[tuple[str, str, list[str], dict[str, Any], bool]]:
    """POST a new official; PATCH one of 500 with ``If-Match: *``. Both with an API key."""
    authorization = samples["authorization"]
    return [
        (
            "post_create",
            "POST",
            ["/v1/officials"],
            {
                "headers": {"Content-Type": "application/json", "Authorization": authorization},
                "body": '{"name": "Bench Official", "other_names": [{"name": "Бенч"}]}',
            },
            True,
        ),
        (
            "patch_if_match",
            "PATCH",
            by_id[:500],
            {
                "headers": {
                    "Content-Type": "application/merge-patch+json",
                    "If-Match": "*",
                    "Authorization": authorization,
                },
                "body": '{"note": "benchmarked"}',
            },
            True,
        ),
    ]


def read_scenarios(
    samples: dict[str, Any],
) -> list[tuple[str, str, list[str], dict[str, Any], bool]]:
    """Pages of a collection, of the timeline and of search results, each against the floor's
    page (bench/floor.py), which answers the same body by the most direct means."""
    return [
        ("list_page", "GET", ["/v1/officials?limit=50"], {}, True),
        (
            "list_deep_page",
            "GET",
            [f"/v1/officials?limit=50&cursor={samples['deep_cursor']}"],
            {},
            True,
        ),
        ("list_page_200", "GET", [PAGE_200], {}, True),
        ("timeline_page", "GET", ["/v1/timeline?limit=50"], {}, True),
        (
            "timeline_deep_page",
            "GET",
            [f"/v1/timeline?limit=50&cursor={samples['deep_timeline_cursor']}"],
            {},
            True,
        ),
        ("search_name", "GET", [SEARCH_NAME], {}, True),
        ("search_phrase", "GET", [SEARCH_PHRASE], {}, True),
    ]


def same_bodies(
    accord: int, floor: int, scenarios: list[tuple[str, str, list[str], dict[str, Any], bool]]
) -> None:
    """Before anything is measured: every page the floor answers, it answers with Accord's body,
    byte for byte; a floor that did less would flatter nothing but itself."""
    for name, method, paths, kwargs, with_floor in scenarios:
        if method != "GET" or not with_floor or kwargs.get("headers"):
            continue
        bodies = []
        for port in (accord, floor):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{paths[0]}", timeout=30) as r:
                bodies.append(r.read())
        if bodies[0] != bodies[1]:
            raise SystemExit(
                f"{name}: the floor's body differs from Accord's for {paths[0]}:\n"
                f"Accord {bodies[0][:300]!r}…\nfloor  {bodies[1][:300]!r}…"
            )
        print(f"{name}: the floor answers Accord's body ({len(bodies[0]):,} B)", file=sys.stderr)


def ratio_lines(rows: list[Row]) -> list[str]:
    """``NAME ratio to floor: X.XX`` for every scenario measured against the floor (at the
    first worker count; others follow on the line), with the p99s at the same load."""
    lines = []
    names = list(dict.fromkeys(row.scenario for row in rows if row.floor))
    for name in names:
        parts = []
        for row in (r for r in rows if r.scenario == name and r.floor):
            ratio = row.ratio()
            p99, floor_p99 = row.median(row.accord, "p99_ms"), row.median(row.floor, "p99_ms")
            parts.append(
                (
                    f"{ratio:.2f}",
                    f"{row.workers} worker(s), p99 {p99:.1f} ms vs the floor's {floor_p99:.1f} ms "
                    f"({p99 / floor_p99:.2f}x)",
                )
            )
        head, detail = parts[0]
        more = "; ".join(f"{r} at {d}" for r, d in parts[1:])
        lines.append(f"{name} ratio to floor: {head} ({detail}{'; ' + more if more else ''})")
    return lines


def flat_lines(rows: list[Row]) -> list[str]:
    """Whether a page costs the same deep in the cursor as at the start."""
    lines = []
    for first, deep in (("list_page", "list_deep_page"), ("timeline_page", "timeline_deep_page")):
        for workers in sorted({row.workers for row in rows}):
            found = {r.scenario: r for r in rows if r.workers == workers}
            if first in found and deep in found:
                a, b = found[first], found[deep]
                rps = "requests_per_second"
                speed = b.median(b.accord, rps) / a.median(a.accord, rps)
                floor = b.median(b.floor, rps) / a.median(a.floor, rps) if a.floor else 0.0
                lines.append(
                    f"{first} cost flat in depth, {workers} worker(s): a page deep in the cursor "
                    f"answers {speed:.2f}x the requests a second of the first (the floor "
                    f"{floor:.2f}x)"
                )
    return lines


def scale_out(url: str, by_id: list[str], go: Any) -> list[Row]:
    """Accord through PgBouncer (transaction pooling) with 1, 2 and 3 worker processes, and
    what turning asyncpg's statement cache off (needed behind PgBouncer < 1.21) costs."""
    if not pgbouncer.available():
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "pgbouncer"], check=False, stdout=subprocess.DEVNULL
        )
    if not pgbouncer.available():
        print("pgbouncer unavailable: scale-out skipped", file=sys.stderr)
        return []
    print(f"scale-out through {pgbouncer.version()}", file=sys.stderr)
    rows = []
    no_cache = {"ACCORD_STATEMENT_CACHE_SIZE": "0"}
    with server("service.asgi:app", url, 8806, 1, env=no_cache):
        go(8806, "GET", by_id)
        row = Row("direct_no_cache", 1, [go(8806, "GET", by_id)], [])
        rows.append(row)
        print(format_row(row), file=sys.stderr)
    with pgbouncer.running(url) as pooled:
        for processes in (1, 2, 3):
            with server("service.asgi:app", pooled, 8807, processes, env=no_cache):
                go(8807, "GET", by_id)
                row = Row("pgbouncer_get", processes, [go(8807, "GET", by_id)], [])
                rows.append(row)
                print(format_row(row), file=sys.stderr)
    return rows


def format_row(row: Row) -> str:
    ratio = row.ratio()
    floor = f"{row.median(row.floor, 'requests_per_second'):>9,.0f}" if row.floor else " " * 9
    return (
        f"| {row.scenario:<15} | {row.workers} "
        f"| {row.median(row.accord, 'requests_per_second'):>9,.0f} "
        f"| {row.median(row.accord, 'p50_ms'):>6.2f} | {row.median(row.accord, 'p99_ms'):>6.2f} "
        f"| {floor} | {'' if ratio is None else f'{ratio:.2f}':>5} "
        f"| {' '.join(f'{r.requests_per_second:,.0f}' for r in row.accord)} "
        f"| {' '.join(f'{r.requests_per_second:,.0f}' for r in row.floor)} "
        f"| {sum(r.errors for r in row.accord)} |"
    )


HEADER = (
    "| scenario        | w | Accord r/s | p50 ms | p99 ms | floor r/s | ratio "
    "| Accord rounds | floor rounds | non-2xx/3xx |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


async def explain(url: str, samples: dict[str, Any]) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of every filter each listing offers, with a sample value;
    a sequential scan of a table over 10,000 rows is flagged."""
    values: dict[str, Any] = {
        "kind": "ministry",
        "parent_id": samples["organization"],
        "country_code": "UA",
        "name": "Medinskiy",
        "nationality_id": samples["organization"],
        "wikidata_id": "Q42",
        "organization_id": samples["organization"],
        "single_holder": True,
        "title": "Minister of Defence",
        "official_id": samples["official"],
        "post_id": samples["post"],
        "status": "withdrawn",
        "from": date(1999, 1, 1),
        "to": date(1999, 12, 31),
        "dated": True,
        "at": date(1990, 6, 1),
        "negotiation_id": uuid.uuid4(),
        "party_id": samples["organization"],
        "mediator_id": samples["organization"],
        "round_id": uuid.uuid4(),
        "author_id": samples["organization"],
        "signatory_id": samples["organization"],
        "venue_country_code": "TR",
        "stage": "ceasefire",
        "memorandum_id": uuid.uuid4(),
        "updated_since": datetime(2100, 1, 1, tzinfo=UTC),
        "disputed": True,
        "undisputed": True,
        "outlet_id": samples["organization"],
        "language": "uk",
        "url": "https://example.org/",
        "speaker_official_id": samples["official"],
        "speaker_organization_id": samples["organization"],
        "occasion": "interview",
        "about": samples["official"],
        "from_party_id": samples["organization"],
        "to_party_id": samples["organization"],
        "agreement_id": uuid.uuid4(),
        "series": "Repatriation",
        "subject_id": samples["official"],
        "predicate": "held_post",
        "object_id": samples["post"],
        "stance": "denies",
        "statement_id": uuid.uuid4(),
        "claimant_official_id": samples["official"],
        "claimant_organization_id": samples["organization"],
        "source_id": uuid.uuid4(),
    }
    listings: dict[str, Listing[Any]] = {
        "organizations": organizations.LISTING,
        "officials": officials.LISTING,
        "posts": posts.LISTING,
        "role-changes": role_changes.LISTING,
        "tenures-of-official": tenures.TENURES_OF_OFFICIAL,
        "holders-of-post": tenures.HOLDERS_OF_POST,
        "negotiations": negotiations.LISTING,
        "delegations": delegations.LISTING,
        "rounds": rounds.LISTING,
        "memoranda": memoranda.LISTING,
        "memorandum-versions": memoranda.VERSIONS,
        "agreements": agreements.LISTING,
        "sources": sources.LISTING,
        "cited-by": sources.CITED_BY,
        "statements": statements.LISTING,
        "exchanges": exchanges.LISTING,
        "claims": claims.LISTING,
        "timeline": timeline.LISTING,
    }
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    big = {
        r["relname"]
        for r in await conn.fetch(
            "select relname from pg_class where relkind = 'r' and reltuples > 10000"
        )
    }
    lines = []
    try:
        for listing_name, listing in listings.items():
            for name in listing.filters:
                wanted = {name: values[name]}
                if listing is tenures.HOLDERS_OF_POST and name == "at":
                    wanted["post_id"] = values["post_id"]
                sort = "date" if name == "dated" else None
                sql, args = listing.query(listing.where(**wanted), limit=50, sort=sort)
                plan = [r[0] for r in await conn.fetch(f"explain (analyze, buffers) {sql}", *args)]
                seq = [
                    line
                    for line in plan
                    if "Seq Scan on" in line and line.split("Seq Scan on ")[1].split()[0] in big
                ]
                flag = "SEQ SCAN ON A BIG TABLE" if seq else "index"
                total = next((line for line in plan if "Execution Time" in line), "")
                lines.append(f"### {listing_name} ?{name}= — {flag}; {total.strip()}\n")
                lines.append("```\n" + "\n".join(plan) + "\n```\n")
    finally:
        await conn.close()
    return lines


IMPORT_ROWS_IN_RUN = 100_000
"""Up to this many rows (--smoke, --quick), a run also imports as many role changes."""


def run(options: Options, host: str, database: str) -> None:
    """Load, measure and report, in database ``database`` on the PostgreSQL at ``host``."""
    started = time.perf_counter()
    url, counts = asyncio.run(prepare(host, database, options.rows))
    seconds = counts.pop("seconds_x1000") / 1000
    migrating = counts.pop("migrate_seconds_x1000") / 1000
    loaded = sum(counts.values())
    tables = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    load_line = (
        f"loaded {loaded:,} rows ({tables}) in {seconds:.1f} s: {loaded / seconds:,.0f} rows/s; "
        f"then the later migrations registered them and built the timeline in {migrating:.1f} s"
    )
    print(load_line, file=sys.stderr)
    samples = asyncio.run(_samples(url))
    print(HEADER, file=sys.stderr)
    rows, memory, sizes = measure(options, url, samples)
    port = export.free_port()
    with server("service.asgi:app", url, port, 1) as process:
        print(f"\nexport of {counts['role_changes']:,} role changes, 1 worker", file=sys.stderr)
        exports = export.measure(url, f"http://127.0.0.1:{port}", process, counts["role_changes"])
    small = options.rows // 10
    small_rows = table_size(options, host, f"{database}_small", small)
    plans = asyncio.run(explain(url, samples)) if options.explain else []
    report = [f"{load_line}\n", HEADER] + [format_row(row) for row in rows]
    report.append("")
    report.extend(flat_lines(rows))
    report.extend(size_lines(rows, options.rows, small_rows, small))
    report.extend(compression_lines(rows, sizes))
    report.append(f"\nBulk export of {counts['role_changes']:,} role changes (1 worker):\n")
    report.extend(exports)
    report.append(
        "\nRSS per worker after the run (MB): "
        + "; ".join(f"{name}: {values}" for name, values in memory.items())
    )
    flagged = [line for line in plans if "SEQ SCAN" in line]
    if plans:
        report.append(
            f"\nEXPLAIN: {len(plans) // 2} listing filters, "
            f"{len(flagged)} with a sequential scan of a big table"
        )
    print("\n".join(report))
    if options.results:
        header = (
            f"# Benchmark results\n\n- date: {date.today()}\n- machine: {os.cpu_count()} "
            f"cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
            f"{sys.platform}, Python {sys.version.split()[0]}\n"
            f"- command: `python3 -m service bench {' '.join(sys.argv[1:])}`\n"
            f"- wrk: 2 threads, {options.connections} connections, {options.seconds:g} s "
            f"per run; rounds alternate floor, Accord\n\n"
        )
        options.results.write_text(
            header + "\n".join(report) + "\n\n## Query plans\n\n" + "\n".join(plans)
        )
    for row in rows:
        if row.scenario == "peer_get_by_id":
            ours = next(r for r in rows if r.scenario == "get_by_id" and r.workers == row.workers)
            times = ours.median(ours.accord, "requests_per_second") / row.median(
                row.accord, "requests_per_second"
            )
            print(
                f"get_by_id Accord / FastAPI+SQLAlchemy+pydantic, {row.workers} worker(s): "
                f"{times:.2f}x"
            )
    if options.rows <= IMPORT_ROWS_IN_RUN:
        # The import's own benchmark at this size (a full run's million rows is
        # `python -m bench.imports`'s, which takes longer than the rest).
        print("\n".join(bench_imports.run(host, options.rows)))
    print(f"bench finished in {time.perf_counter() - started:.0f} s")
    print("\n".join(ratio_lines(rows)))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python3 -m service bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100k rows, short runs (< 2 min)")
    parser.add_argument("--smoke", action="store_true", help="tiny data, 1 s runs (CI)")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--workers", default=None, help="comma-separated, e.g. 1,2")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--granian",
        action="store_true",
        help="also measure both apps under granian (always in a full run)",
    )
    parser.add_argument(
        "--scale-out",
        action="store_true",
        help="also measure 1–3 processes through PgBouncer (always in a full run)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="write the report (markdown) here, e.g. bench/RESULTS.md",
    )
    args = parser.parse_args()
    if args.smoke:
        options = Options(2_000, [1], 1, 1, args.connections, True, args.results)
    elif args.quick:
        options = Options(100_000, [1], 4, 2, args.connections, False, args.results)
    else:
        options = Options(
            1_000_000, [1, 2], 10, 3, args.connections, True, args.results, True, True
        )
    if args.rows:
        options.rows = args.rows
    options.granian = options.granian or args.granian
    options.scale_out = options.scale_out or args.scale_out
    if args.workers:
        options.workers = [int(w) for w in args.workers.split(",")]

    server = asyncio.run(
        embedded.find_server(os.environ.get("ACCORD_DATABASE_URL"), default_data_dir())
    )
    # One name per run, so two runs on one server cannot collide.
    database = f"accord_bench_{os.getpid()}_{secrets.token_hex(3)}"
    # A terminated run (a CI timeout) unwinds like an interrupted one, through the drop below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        run(options, server, database)
    finally:
        asyncio.run(embedded.drop_database(server, database))
        print(f"dropped database {database}", file=sys.stderr)


if __name__ == "__main__":
    main()
