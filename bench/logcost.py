"""What the request log costs a read by id, in instructions (callgrind), in-process.

``python -m bench.logcost`` runs itself under ``valgrind --tool=callgrind`` three times: for
no read, and for ``--requests`` reads with the request log (``service.core.logs.RequestLog``:
request id, ``X-Request-ID``, the JSON line) and without it (the app it wraps, called
directly); it prints instructions per read with and without, and the difference. The reads go to the
ASGI app directly (no server, no socket), on the worked example in a throwaway database; the
lines go to /dev/null, so the write's system call is not counted (callgrind counts user-space
instructions)."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

RECORD = "/v1/officials/0193a0a1-0000-7000-8000-000000000001"


async def _reads(url: str, count: int, logged: bool) -> None:
    from service.app import create_app
    from service.settings import Settings

    # Without metrics, so that the request log is the outermost wrapper.
    app = create_app(Settings(database_url=url, log_format="json"), measured=False)
    handler = app.asgi_handler if logged else app.asgi_handler.app  # type: ignore[attr-defined]
    messages: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        messages.append(message)

    async with app.lifespan():
        for _ in range(count):
            scope: Any = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": RECORD,
                "raw_path": RECORD.encode(),
                "root_path": "",
                "query_string": b"",
                "headers": [(b"host", b"bench"), (b"accept", b"*/*")],
                "client": ("127.0.0.1", 50000),
                "server": ("127.0.0.1", 8000),
                "state": {},
                "app": app,
                "litestar_app": app,
            }
            await handler(scope, receive, send)
    assert all(m["status"] == 200 for m in messages if m["type"] == "http.response.start")


def _instructions(url: str, count: int, logged: bool) -> int:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.logcost",
            "--inner",
            url,
            str(count),
            "1" if logged else "0",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        found = re.search(r"Collected : (\d+)", done.stderr)
        assert found, done.stderr[-2000:]
        return int(found[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--inner", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        url, count, logged = args.inner
        with open(os.devnull, "w") as sink:
            sys.stderr = sink
            asyncio.run(_reads(url, int(count), logged == "1"))
        return
    from service import embedded
    from tests.conftest import _server_url, create_database

    server = _server_url()
    name = f"accord_bench_logs_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = asyncio.run(create_database(server, name))
    try:
        # Starting and stopping costs the same with the log on and off: counted once.
        base = _instructions(url, 0, True)
        per_read = {
            logged: (_instructions(url, args.requests, logged) - base) / args.requests
            for logged in (True, False)
        }
        print(f"instructions per read by id, request log on:  {per_read[True]:,.0f}")
        print(f"instructions per read by id, request log off: {per_read[False]:,.0f}")
        extra = per_read[True] - per_read[False]
        print(f"the request log's share: {extra:,.0f} ({extra / per_read[False]:.1%})")
    finally:
        asyncio.run(embedded.drop_database(server, name))


if __name__ == "__main__":
    main()
