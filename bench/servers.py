"""``.venv/bin/python -m bench.servers [--rows N] [--rounds R] [--seconds S]``: which ASGI
server ``accord serve`` should use. Accord under uvicorn (uvloop, httptools — what ``serve``
runs) and under granian, both running at once on one throwaway database, measured in
alternating rounds (uvicorn, granian, uvicorn, …) with 1 and 2 workers, on a read by id and a
list page of 50; prints each round, then the medians and their ratio. Figures only."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys

from bench import load
from bench.__main__ import _samples, prepare, server
from service import embedded
from service.settings import default_data_dir

SERVERS = ("uvicorn", "granian")


def measure(url: str, rounds: int, seconds: float, connections: int) -> list[str]:
    wrk = load.ensure_wrk()
    samples = asyncio.run(_samples(url))
    scenarios = {
        "get_by_id": [f"/v1/officials/{ident}" for ident in samples["ids"]],
        "list_page": ["/v1/officials?limit=50"],
    }
    lines = []
    for workers in (1, 2):
        with (
            server("service.asgi:app", url, 8811, workers, "uvicorn"),
            server("service.asgi:app", url, 8812, workers, "granian"),
        ):
            ports = dict(zip(SERVERS, (8811, 8812), strict=True))
            for port in ports.values():  # warm up
                load.run(
                    wrk,
                    f"http://127.0.0.1:{port}",
                    "GET",
                    scenarios["get_by_id"],
                    seconds=2,
                    connections=connections,
                )
            for name, paths in scenarios.items():
                results: dict[str, list[load.Result]] = {kind: [] for kind in SERVERS}
                for number in range(rounds):
                    # Alternate which goes first, so neither always follows the other.
                    order = SERVERS if number % 2 == 0 else SERVERS[::-1]
                    for kind in order:
                        result = load.run(
                            wrk,
                            f"http://127.0.0.1:{ports[kind]}",
                            "GET",
                            paths,
                            seconds=seconds,
                            connections=connections,
                        )
                        results[kind].append(result)
                        print(
                            f"{name} {workers}w {kind} round {number}: "
                            f"{result.requests_per_second:,.0f} r/s p99 {result.p99_ms:.1f} ms",
                            file=sys.stderr,
                        )
                rps = {
                    k: statistics.median(r.requests_per_second for r in v)
                    for k, v in results.items()
                }
                p99 = {k: statistics.median(r.p99_ms for r in v) for k, v in results.items()}
                wins = sum(
                    g.requests_per_second > u.requests_per_second
                    for u, g in zip(results["uvicorn"], results["granian"], strict=True)
                )
                lines.append(
                    f"{name}, {workers} worker(s), {rounds} rounds of {seconds:g} s: uvicorn "
                    f"{rps['uvicorn']:,.0f} r/s (p99 {p99['uvicorn']:.1f} ms), granian "
                    f"{rps['granian']:,.0f} r/s (p99 {p99['granian']:.1f} ms); granian / uvicorn "
                    f"{rps['granian'] / rps['uvicorn']:.2f}, faster in {wins} of {rounds} rounds"
                )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    host = asyncio.run(
        embedded.find_server(os.environ.get("ACCORD_DATABASE_URL"), default_data_dir())
    )
    database = f"accord_bench_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        url, _ = asyncio.run(prepare(host, database, args.rows))
        print("\n".join(measure(url, args.rounds, args.seconds, args.connections)))
    finally:
        asyncio.run(embedded.drop_database(host, database))


if __name__ == "__main__":
    main()
