"""What metrics cost a read by id: ``.venv/bin/python -m bench.metrics [--rows N] [--rounds R]
[--callgrind]``.

Two servers on one throwaway database — Accord as served (metrics on) and the same app made
with ``create_app(measured=False)`` (``bench/unmeasured.py``) — are loaded with the same GETs
by id in alternating rounds; the ratio of their requests a second (the median of the rounds'
ratios) is printed. Requests a second are noisy on a shared 2-core machine, so
``--callgrind`` also counts the instructions one read costs in-process (the app called as ASGI
on uvloop, the database real): each variant runs twice under callgrind, with ``--requests``
and with five times as many, and the difference divided by the extra requests is the cost of
one, with start-up and warm-up cancelled out. Figures only; nothing asserts a speed."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from bench import load
from bench.__main__ import prepare, server
from service import embedded
from service.settings import default_data_dir

_SCOPE_BASE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}


async def _in_process(url: str, paths: list[str], requests: int, measured: bool) -> None:
    """``requests`` reads by id through the app's ASGI callable, after a warm-up."""
    os.environ["ACCORD_DATABASE_URL"] = url
    os.environ["ACCORD_WEBHOOK_CONCURRENCY"] = "0"
    from service.app import create_app

    app = create_app(measured=measured)
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def one(path: str) -> None:
        scope = {**_SCOPE_BASE, "path": path, "raw_path": path.encode(), "state": {}}
        await app(scope, receive, send)  # type: ignore[arg-type]

    async with app.lifespan():
        for path in paths[:200]:  # warm-up: connections, prepared statements, caches
            await one(path)
        for i in range(requests):
            await one(paths[i % len(paths)])
    assert set(statuses) == {200}, set(statuses)


def callgrind(url: str, paths: list[str], requests: int) -> dict[str, float]:
    """Instructions per read, with and without metrics (see the module's docstring). Both
    variants run at once; a fixed hash seed makes two runs of one variant differ only by
    their requests."""
    ids = Path(tempfile.mkstemp(prefix="accord-bench-ids-")[1])
    ids.write_text("\n".join(paths))
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    counts: dict[bool, list[int]] = {True: [], False: []}
    try:
        with tempfile.TemporaryDirectory() as out:
            for n in (requests, requests * 5):
                running = {
                    measured: subprocess.Popen(
                        [
                            "valgrind",
                            "--tool=callgrind",
                            f"--callgrind-out-file={out}/callgrind.{measured}.{n}",
                            sys.executable,
                            "-m",
                            "bench.metrics",
                            "--in-process",
                            url,
                            "--ids",
                            str(ids),
                            "--requests",
                            str(n),
                            *([] if measured else ["--unmeasured"]),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        text=True,
                        env=env,
                    )
                    for measured in (True, False)
                }
                for measured, process in running.items():
                    _, stderr = process.communicate()
                    found = re.search(r"Collected : (\d+)", stderr)
                    if process.returncode != 0 or found is None:
                        raise RuntimeError(stderr[-2000:])
                    counts[measured].append(int(found.group(1)))
    finally:
        ids.unlink()
    return {
        "with metrics" if measured else "without metrics": (runs[1] - runs[0]) / (requests * 4)
        for measured, runs in counts.items()
    }


async def _ids(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("select id from officials order by random() limit 2000")
    finally:
        await conn.close()
    return [f"/v1/officials/{row['id']}" for row in rows]


def alternate(
    url: str, paths: list[str], rounds: int, seconds: float, connections: int
) -> list[tuple[load.Result, load.Result]]:
    """Rounds of (with metrics, without), each server loaded in turn."""
    wrk = load.ensure_wrk()
    pairs = []
    with (
        server("service.asgi:app", url, 8811, 1),
        server("bench.unmeasured:app", url, 8812, 1),
    ):
        for port in (8811, 8812):
            load.run(wrk, f"http://127.0.0.1:{port}", "GET", paths, seconds=2, connections=8)
        for number in range(rounds):
            # Who goes first alternates too, so neither always runs on a warmer machine.
            order = (8811, 8812) if number % 2 == 0 else (8812, 8811)
            result = {
                port: load.run(
                    wrk,
                    f"http://127.0.0.1:{port}",
                    "GET",
                    paths,
                    seconds=seconds,
                    connections=connections,
                )
                for port in order
            }
            pairs.append((result[8811], result[8812]))
            print(
                f"round {number + 1}: with metrics {result[8811].requests_per_second:,.0f} r/s, "
                f"without {result[8812].requests_per_second:,.0f} r/s",
                file=sys.stderr,
            )
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics", description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--in-process", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--ids", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--unmeasured", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_process:
        import uvloop

        paths = args.ids.read_text().split()
        uvloop.run(_in_process(args.in_process, paths, args.requests, not args.unmeasured))
        return
    host = asyncio.run(
        embedded.find_server(os.environ.get("ACCORD_DATABASE_URL"), default_data_dir())
    )
    database = f"accord_bench_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        url, _ = asyncio.run(prepare(host, database, args.rows))
        paths = asyncio.run(_ids(url))
        pairs = alternate(url, paths, args.rounds, args.seconds, args.connections)
        ratios = [a.requests_per_second / b.requests_per_second for a, b in pairs]
        print(
            f"GET by id, with metrics / without (1 worker, {args.connections} connections, "
            f"{len(pairs)} alternating rounds of {args.seconds:g} s): "
            f"median {statistics.median(ratios):.3f} "
            f"(rounds {' '.join(f'{r:.3f}' for r in ratios)})"
        )
        if args.callgrind:
            per_read = callgrind(url, paths, args.requests)
            with_, without = per_read["with metrics"], per_read["without metrics"]
            print(
                f"instructions per GET by id in-process (callgrind): with metrics "
                f"{with_:,.0f}, without {without:,.0f}: +{with_ - without:,.0f} "
                f"({with_ / without - 1:+.1%})"
            )
    finally:
        asyncio.run(embedded.drop_database(host, database))


if __name__ == "__main__":
    main()
