"""``.venv/bin/python -m bench.streams [--clients 1000] [--writes 5]``

What many open change streams cost one worker: a uvicorn process serving Accord (as
``accord serve`` does, one worker, the default pool) on a throwaway database, and
``--clients`` streams held open by this process. It prints the worker's memory before and
with the streams open, how long a read takes with and without them, how long each of
``--writes`` writes takes to reach every stream, and the worker's memory after further rounds
of streams opened and dropped (it should level off: nothing is left behind). Figures only:
nothing here asserts a speed."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time

import asyncpg
import httpx
import psutil

from bench.__main__ import server
from bench.sse import EventStream
from service import embedded, migrations
from service.core import auth
from service.settings import default_data_dir


async def _database(server: str, name: str) -> tuple[str, str]:
    """A migrated database and a write key on it."""
    url = await embedded.recreate_database(server, name)
    conn = await asyncpg.connect(url)
    try:
        await migrations.migrate(conn)
        _, token = await auth.create_key(conn, "bench streams", ["write"])
    finally:
        await conn.close()
    return url, token


PORT = 8808
"""Next to the ports the main benchmark's servers use (8801–8807)."""


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def _measure(
    port: int, token: str, worker: psutil.Process, clients: int, writes: int
) -> None:
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as api:

        async def reads(count: int) -> list[float]:
            took = []
            for _ in range(count):
                started = time.perf_counter()
                response = await api.get("/v1/organizations", params={"limit": 5})
                took.append(time.perf_counter() - started)
                response.raise_for_status()
            return took

        async def open_all(since: int) -> list[EventStream]:
            streams: list[EventStream] = []
            for first in range(0, clients, 100):
                batch = min(100, clients - first)
                streams += await asyncio.gather(
                    *(EventStream.open(port, f"?since={since}", {}) for _ in range(batch))
                )
            return streams

        await reads(200)  # warm up
        alone = await reads(200)
        rss_before = worker.memory_info().rss
        since = int((await api.get("/v1/changes", params={"limit": 1})).headers["accord-seq"])
        streams = await open_all(since)
        await asyncio.sleep(1)
        rss_open = worker.memory_info().rss
        meanwhile = await reads(200)
        print(
            f"{clients} streams on one worker: RSS {rss_before / 2**20:.1f} MB before, "
            f"{rss_open / 2**20:.1f} MB with them open "
            f"({(rss_open - rss_before) / clients / 1024:.1f} KB a stream)"
        )
        print(
            f"a page of 5 organizations: median {_ms(statistics.median(alone))} alone, "
            f"{_ms(statistics.median(meanwhile))} with the streams open "
            f"(p99 {_ms(sorted(alone)[197])} / {_ms(sorted(meanwhile)[197])}, max "
            f"{_ms(max(alone))} / {_ms(max(meanwhile))})"
        )
        for number in range(writes):
            arrivals = [asyncio.create_task(stream.changes(1, 30)) for stream in streams]
            await asyncio.sleep(0.3)
            started = time.perf_counter()
            response = await api.post(
                "/v1/organizations", json={"name": f"Streamed {number}", "kind": "other"}
            )
            response.raise_for_status()
            committed = time.perf_counter() - started
            took = []
            for arrival in asyncio.as_completed(arrivals):
                await arrival
                took.append(time.perf_counter() - started)
            print(
                f"write {number + 1}: answered in {_ms(committed)}, at every stream within "
                f"{_ms(max(took))} (median {_ms(statistics.median(took))})"
            )
        for stream in streams:
            stream.drop()
        rounds = []
        for _ in range(3):
            again = await open_all(since)
            await asyncio.gather(*(stream.changes(writes, 30) for stream in again))
            for stream in again:
                stream.drop()
            await asyncio.sleep(1)
            rounds.append(f"{worker.memory_info().rss / 2**20:.1f}")
        print(
            f"RSS after each further round of {clients} streams opened, read and dropped: "
            f"{', '.join(rounds)} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.streams", description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--writes", type=int, default=5)
    args = parser.parse_args()
    postgres = asyncio.run(
        embedded.find_server(os.environ.get("ACCORD_DATABASE_URL"), default_data_dir())
    )
    name = f"accord_bench_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        url, token = asyncio.run(_database(postgres, name))
        with server("service.asgi:app", url, PORT, 1) as worker:
            asyncio.run(_measure(PORT, token, worker, args.clients, args.writes))
    finally:
        asyncio.run(embedded.drop_database(postgres, name))


if __name__ == "__main__":
    main()
