"""``.venv/bin/python -m bench.popolo [--rows 100000] [--runs 3]``

What the Popolo export costs: the benchmark's synthetic data (``--rows`` officials with names
in two scripts, posts held in turn, their role changes and tenures, loaded with COPY) on a
throwaway database, served by one uvicorn worker as ``accord serve`` runs it. Each run reads
``GET /v1/export/popolo`` to its end (uncompressed; a last run asks for brotli) and prints
the time to the first byte, the whole time, the bytes and records sent and their rate, and
the worker's memory before and after (a streamed export should not grow with the data).
Figures only: nothing here asserts a speed."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets

import msgspec

from bench.__main__ import prepare, server
from bench.download import download
from service import embedded
from service.settings import default_data_dir

PORT = 8809
"""Next to the ports the main benchmark (8801–8807) and bench.streams (8808) use."""


class _Counts(msgspec.Struct):
    """Only how many of each: decoding the whole document into dicts would measure this
    script, not the server."""

    persons: list[msgspec.Raw]
    organizations: list[msgspec.Raw]
    posts: list[msgspec.Raw]
    memberships: list[msgspec.Raw]
    events: list[msgspec.Raw]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.popolo", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    postgres = asyncio.run(
        embedded.find_server(os.environ.get("ACCORD_DATABASE_URL"), default_data_dir())
    )
    name = f"accord_bench_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        url, counts = asyncio.run(prepare(postgres, name, args.rows))
        loaded = {k: v for k, v in counts.items() if not k.endswith("_x1000")}
        print(f"loaded {loaded}")
        with server("service.asgi:app", url, PORT, 1) as worker:
            before = worker.memory_info().rss / 2**20
            for run, encoding in [(n, "identity") for n in range(1, args.runs + 1)] + [
                (args.runs + 1, "br")
            ]:
                got = download(
                    f"http://127.0.0.1:{PORT}/v1/export/popolo", coding=encoding, keep=True
                )
                first, took, wire, body = got.first_byte, got.seconds, got.wire_bytes, got.body
                assert body is not None
                sent = msgspec.json.decode(body, type=_Counts)
                records = sum(len(getattr(sent, f)) for f in _Counts.__struct_fields__)
                rss = worker.memory_info().rss / 2**20
                print(
                    f"run {run} ({encoding}): first byte {first * 1000:.0f} ms, whole "
                    f"{took:.2f} s, {len(body) / 2**20:.1f} MiB ({wire / 2**20:.1f} MiB sent, "
                    f"{len(body) / 2**20 / took:.1f} MiB/s), "
                    f"{records:,} records ({records / took:,.0f}/s: {len(sent.persons):,} "
                    f"persons, {len(sent.memberships):,} memberships); worker RSS "
                    f"{before:.0f} → {rss:.0f} MB"
                )
    finally:
        asyncio.run(embedded.drop_database(postgres, name))


if __name__ == "__main__":
    main()
