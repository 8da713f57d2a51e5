"""Instructions a request costs a served worker: one uvicorn worker (uvloop, httptools, as the
benchmark runs it) under callgrind, wrk sending the requests, Accord's and the floor's::

    .venv/bin/python -m bench.served                           # reads by id, 20k rows
    .venv/bin/python -m bench.served --path '/v1/officials?limit=50' --seconds 20
    PYTHONPATH=/tmp/variants .venv/bin/python -m bench.served --app mine:app --app bench.floor:app
                                                   # any ASGI app, e.g. a variant under study

Requests a second on this shared 2-core machine vary by ±20 % from run to run; instructions
hardly do. Unlike ``bench.inprocess`` this counts what serving costs — uvicorn's parsing and
sending, the event loop — and what a server meets that one path asked over and over hides:
Litestar's router keeps what it made of each path it saw, and a read by id's path is new
almost every time. The worker's instrumentation is on only while wrk measures; what it does
meanwhile without any request (its background tasks: the metrics sampler, the webhook
deliverer's polls) is measured first, idle, and taken off. Its own database
(``accord_bench_served_<pid>_<random>``, dropped at the end). Figures only."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench import load
from bench.__main__ import _samples, prepare, server
from bench.export import free_port
from service import embedded
from service.settings import default_data_dir

CONNECTIONS = 8
IDLE_SECONDS = 5.0


def _control(pid: int, *arguments: str) -> None:
    control = shutil.which("callgrind_control")
    assert control, "callgrind_control (valgrind) is missing"
    subprocess.run([control, *arguments, str(pid)], check=True, capture_output=True)


def _total(profile: Path) -> int:
    """The instructions a callgrind dump counted."""
    found = re.search(r"^(?:summary|totals): (\d+)", profile.read_text(), re.MULTILINE)
    assert found, profile
    return int(found.group(1))


def per_request(app: str, url: str, paths: list[str], seconds: float) -> tuple[int, float]:
    """Requests answered while measured, and the instructions each cost ``app``'s worker."""
    wrk = load.ensure_wrk()
    port = free_port()
    with tempfile.TemporaryDirectory() as out:
        profile = Path(out) / "callgrind.out"
        wrapper = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={profile}",
        ]
        with server(app, url, port, 1, env={"PYTHONHASHSEED": "0"}, wrapper=wrapper) as worker:
            base = f"http://127.0.0.1:{port}"
            load.run(wrk, base, "GET", paths, seconds=3, connections=CONNECTIONS)  # warm up
            _control(worker.pid, "--zero")
            _control(worker.pid, "-i", "on")
            time.sleep(IDLE_SECONDS)
            _control(worker.pid, "--dump=idle")  # and zeroes the counters
            result = load.run(wrk, base, "GET", paths, seconds=seconds, connections=CONNECTIONS)
            _control(worker.pid, "--dump=busy")
            _control(worker.pid, "-i", "off")
            dumps = sorted(Path(out).glob("callgrind.out.*"))
            idle, busy = (_total(dump) for dump in dumps[-2:])
        assert result.errors == 0, f"{app}: {result.errors} errors"
        requests = round(result.requests_per_second * seconds)
        return requests, (busy - idle * seconds / IDLE_SECONDS) / requests


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.served", description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--path", default=None, help="what to ask (default: officials by id, one after another)"
    )
    parser.add_argument(
        "--app",
        action="append",
        default=None,
        help="an ASGI app to measure, module:attribute (default: Accord's and the floor's)",
    )
    args = parser.parse_args()
    apps = args.app or ["service.asgi:app", "bench.floor:app"]
    host = asyncio.run(
        embedded.find_server(os.environ.get("ACCORD_DATABASE_URL"), default_data_dir())
    )
    database = f"accord_bench_served_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        url, _ = asyncio.run(prepare(host, database, args.rows))
        samples = asyncio.run(_samples(url))
        paths = [args.path] if args.path else [f"/v1/officials/{i}" for i in samples["ids"]]
        counted = {}
        for app in apps:
            requests, cost = per_request(app, url, paths, args.seconds)
            counted[app] = cost
            print(f"{app}: {cost:,.0f} instructions a request ({requests:,} requests)", flush=True)
    finally:
        asyncio.run(embedded.drop_database(host, database))
    if len(apps) > 1:
        ratio = counted[apps[-1]] / counted[apps[0]]
        print(f"{paths[0]}: {apps[-1]}'s instructions over {apps[0]}'s: {ratio:.2f}")


if __name__ == "__main__":
    main()
