"""What a bulk export costs: ``GET /v1/export/role-changes.ndjson`` and ``.csv`` from a running
server, uncompressed and asking brotli — MB/s, rows/s, time to the first byte, and the
server's RSS before and at its peak while the export runs (sampled every 20 ms), since an
export must stream in constant memory whatever its size; then ``accord export`` of the same.

``python3 -m service bench`` runs it on its database; on its own, with a database of its
own holding 1M role changes (about 1.43M rows in all)::

    .venv/bin/python -m bench.export                    # 1M role changes
    .venv/bin/python -m bench.export --role-changes 100000

Figures only: nothing here asserts a speed."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.data import HOLDERS_PER_POST
from bench.download import download
from service import embedded
from service.settings import default_data_dir

RESOURCE = "role-changes"


@dataclass
class Export:
    what: str
    rows: int
    wire_bytes: int
    seconds: float
    first_byte_ms: float
    rss_before_mb: float
    rss_peak_mb: float

    def line(self) -> str:
        mb = self.wire_bytes / 1e6
        return (
            f"| {self.what} | {self.rows:,} | {mb:,.1f} | {mb / self.seconds:,.1f} | "
            f"{self.rows / self.seconds:,.0f} | {self.first_byte_ms:,.0f} | "
            f"{self.rss_before_mb:.0f} → {self.rss_peak_mb:.0f} |"
        )


HEADER = (
    "| export | rows | MB sent | MB/s | rows/s | first byte ms | server RSS MB before → peak |\n"
    "|---|---|---|---|---|---|---|"
)


class Peak:
    """The largest RSS of a process tree, sampled in a thread while a block runs."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def rss_mb(self) -> float:
        workers = self.process.children(recursive=True) or [self.process]
        rss: int = max(worker.memory_info().rss for worker in workers)
        return rss / 2**20

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.rss_mb())
            except psutil.NoSuchProcess:
                return  # it has ended (a short `accord export`): its peak is what was seen
            time.sleep(0.02)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def one(base: str, process: psutil.Process, fmt: str, coding: str, rows: int) -> Export:
    """One export, read as fast as the client can, its bytes counted as they come."""
    url = f"{base}/v1/export/{RESOURCE}.{fmt}"
    before = Peak(process).rss_mb()
    with Peak(process) as peak:
        got = download(url, coding=coding)
    what = f"{fmt}" + ("" if coding == "identity" else f", {coding}")
    return Export(
        what,
        rows,
        got.wire_bytes,
        got.seconds,
        got.first_byte * 1000,
        before,
        max(before, peak.peak),
    )


def cli(url: str, fmt: str, rows: int) -> Export:
    """``accord export`` of the same to a file: no HTTP; RSS is the command's own."""
    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory) / f"{RESOURCE}.{fmt}"
        command = [sys.executable, "-m", "service.cli", "export", RESOURCE, "--format", fmt]
        started = time.perf_counter()
        process = subprocess.Popen(
            [*command, "-o", str(target)],
            env={**os.environ, "ACCORD_DATABASE_URL": url},
            stderr=subprocess.DEVNULL,
        )
        watched = psutil.Process(process.pid)
        with Peak(watched) as peak:
            process.wait()
        seconds = time.perf_counter() - started
        size = target.stat().st_size
    return Export(f"accord export --format {fmt}", rows, size, seconds, 0, 0, peak.peak)


def free_port() -> int:
    """A port nothing listens on: benchmarks of other branches may run on this machine too."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def measure(url: str, base: str, process: psutil.Process, rows: int) -> list[str]:
    """The export table for the server at ``base`` (``process``) on database ``url``."""
    results = []
    for fmt in ("ndjson", "csv"):
        for coding in ("identity", "br"):
            result = one(base, process, fmt, coding, rows)
            print(result.line(), file=sys.stderr)
            results.append(result)
    for fmt in ("ndjson", "csv"):
        result = cli(url, fmt, rows)
        print(result.line(), file=sys.stderr)
        results.append(result)
    return [HEADER, *(result.line() for result in results)]


def main() -> None:
    from bench.__main__ import prepare, server

    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__)
    parser.add_argument("--role-changes", type=int, default=1_000_000)
    args = parser.parse_args()
    # The synthetic load makes 7 role changes a post and a post per 10 rows.
    rows = -(-args.role_changes * 10 // (2 * HOLDERS_PER_POST - 1))
    host = asyncio.run(
        embedded.find_server(os.environ.get("ACCORD_DATABASE_URL"), default_data_dir())
    )
    database = f"accord_bench_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        url, counts = asyncio.run(prepare(host, database, rows))
        changes = counts["role_changes"]
        print(f"{changes:,} role changes", file=sys.stderr)
        port = free_port()
        with server("service.asgi:app", url, port, 1) as process:
            lines = measure(url, f"http://127.0.0.1:{port}", process, changes)
        print("\n".join(lines))
    finally:
        asyncio.run(embedded.drop_database(host, database))


if __name__ == "__main__":
    main()
