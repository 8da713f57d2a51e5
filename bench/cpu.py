"""What one request costs in CPU time, the API worker's and PostgreSQL's apart, for sizing API
pods and read replicas (deploy/README.md, "Operating Accord"). Requests a second on a shared
2-core machine say as much about what else runs as about Accord; CPU seconds a request, read
from the processes themselves, much less::

    .venv/bin/python -m bench.cpu                   # 100k rows, 10 s a scenario
    .venv/bin/python -m bench.cpu --rows 20000 --seconds 3
    .venv/bin/python -m bench.cpu --floor           # the floor's costs too, and Accord's over them

Its own database (``accord_bench_cpu_<pid>_<random>``, dropped at the end), one uvicorn worker,
wrk with 8 connections (enough to keep the worker busy; more only queue). PostgreSQL's share is
the CPU time of the server processes serving the worker's pool (``application_name =
'accord'`` in that database), so the server must run on this machine. Figures only: nothing
here asserts a speed."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
from dataclasses import dataclass

import asyncpg
import psutil

from bench import load
from bench.__main__ import PAGE_200, _samples, prepare, server
from bench.export import free_port
from service import embedded
from service.settings import default_data_dir

CONNECTIONS = 8


@dataclass(frozen=True)
class Cost:
    scenario: str
    requests: int
    api_ms: float
    postgres_ms: float

    def line(self) -> str:
        total = self.api_ms + self.postgres_ms
        return (
            f"| {self.scenario} | {self.requests:,} | {self.api_ms:.3f} | "
            f"{self.postgres_ms:.3f} | {1000 / self.api_ms:,.0f} | "
            f"{1000 / self.postgres_ms:,.0f} | {1000 / total:,.0f} |"
        )


HEADER = (
    "| scenario | requests | API CPU ms / request | PostgreSQL CPU ms / request "
    "| requests/s per API core | requests/s per PostgreSQL core | per core, both |\n"
    "|---|---|---|---|---|---|---|"
)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def _backends(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "select pid from pg_stat_activity "
            "where datname = current_database() and application_name = 'accord'"
        )
    finally:
        await conn.close()
    return [row["pid"] for row in rows]


def _postgres_cpu(pids: list[int]) -> dict[int, float]:
    spent = {}
    for pid in pids:
        try:
            spent[pid] = _cpu(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    return spent


def measure(url: str, seconds: float, app: str = "service.asgi:app") -> list[Cost]:
    samples = asyncio.run(_samples(url))
    by_id = [f"/v1/officials/{ident}" for ident in samples["ids"]]
    scenarios = {
        "get_by_id": by_id,
        "list_page_1": ["/v1/officials?limit=50"],
        "page_200": [PAGE_200],
        "timeline_page_1": ["/v1/timeline?limit=50"],
    }
    wrk = load.ensure_wrk()
    port = free_port()
    costs = []
    # One worker: uvicorn runs it in the process it starts, no supervisor.
    with server(app, url, port, 1) as worker:
        base = f"http://127.0.0.1:{port}"
        for scenario, paths in scenarios.items():
            # Warm up: the pool grows to its size, plans and caches settle.
            load.run(wrk, base, "GET", paths, seconds=2, connections=CONNECTIONS)
            pids = asyncio.run(_backends(url))
            postgres_before = _postgres_cpu(pids)
            api_before = _cpu(worker)
            result = load.run(wrk, base, "GET", paths, seconds=seconds, connections=CONNECTIONS)
            api_spent = _cpu(worker) - api_before
            pids = asyncio.run(_backends(url))
            postgres_after = _postgres_cpu(pids)
            postgres_spent = sum(
                spent - postgres_before.get(pid, 0.0) for pid, spent in postgres_after.items()
            )
            requests = round(result.requests_per_second * seconds)
            assert result.errors == 0, f"{scenario}: {result.errors} errors"
            costs.append(
                Cost(
                    scenario,
                    requests,
                    api_spent * 1000 / requests,
                    postgres_spent * 1000 / requests,
                )
            )
            print(costs[-1].line(), file=sys.stderr)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--floor",
        action="store_true",
        help="measure the floor (bench/floor.py) too: where Accord's extra CPU a request goes",
    )
    args = parser.parse_args()
    host = asyncio.run(
        embedded.find_server(os.environ.get("ACCORD_DATABASE_URL"), default_data_dir())
    )
    database = f"accord_bench_cpu_{os.getpid()}_{secrets.token_hex(3)}"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        url, _ = asyncio.run(prepare(host, database, args.rows))
        print(HEADER, file=sys.stderr)
        costs = measure(url, args.seconds)
        floors = measure(url, args.seconds, "bench.floor:app") if args.floor else []
    finally:
        asyncio.run(embedded.drop_database(host, database))
    print(
        f"{args.rows:,} rows, 1 worker, wrk {CONNECTIONS} connections, "
        f"{args.seconds:g} s a scenario"
    )
    print(HEADER)
    for cost in costs:
        print(cost.line())
    for floor in floors:
        print(floor.line().replace("| ", "| floor ", 1))
    for cost, floor in zip(costs, floors, strict=False):  # (none without --floor)
        print(
            f"{cost.scenario}: Accord's CPU a request over the floor's — API "
            f"{cost.api_ms / floor.api_ms:.2f}x, "
            f"PostgreSQL {cost.postgres_ms / floor.postgres_ms:.2f}x"
        )


if __name__ == "__main__":
    main()
