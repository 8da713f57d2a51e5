"""``python -m bench.inprocess URL PATH [-n N] [--floor]``: N GETs of PATH through the ASGI app
in this process (no server, no sockets), for callgrind: under
``valgrind --tool=callgrind --instr-atstart=no`` it turns the instrumentation on (with
``callgrind_control``) after start-up and ten warm-up requests, and off after the N, so the
instruction count divided by N is what one request costs this process (PostgreSQL's share
runs elsewhere and is not counted).

``ACCORD_RENDERED_PAGES=false`` measures the general path of a page."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
from typing import Any


async def _drive(app: Any, path: str, n: int) -> int:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await queue.put({"type": "lifespan.startup"})
    started = asyncio.Event()

    async def receive() -> dict[str, Any]:
        return await queue.get()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()
        elif message["type"] == "lifespan.startup.failed":
            raise RuntimeError(message)

    lifespan_scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    lifespan = asyncio.create_task(app(lifespan_scope, receive, send))
    await started.wait()
    raw_path, _, query = path.partition("?")
    size = 0
    for index in range(n + 10):
        if index == 10:
            _instrument("on")
        sent: list[dict[str, Any]] = []

        async def request_receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def request_send(message: dict[str, Any], into: list[Any] = sent) -> None:
            into.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": raw_path,
            "raw_path": raw_path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, request_receive, request_send)
        assert sent[0]["status"] == 200, sent
        size = len(sent[1]["body"])
    _instrument("off")
    await queue.put({"type": "lifespan.shutdown"})
    await lifespan
    return size


_UNDER_CALLGRIND = "--callgrind" in sys.argv


def _instrument(state: str) -> None:
    """Callgrind's instrumentation on or off, when running under it."""
    control = shutil.which("callgrind_control")
    if control and _UNDER_CALLGRIND:
        subprocess.run([control, "-i", state, str(os.getpid())], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--floor", action="store_true", help="the floor (bench/floor.py)")
    parser.add_argument(
        "--callgrind", action="store_true", help="running under valgrind --instr-atstart=no"
    )
    args = parser.parse_args()
    os.environ["ACCORD_DATABASE_URL"] = args.url
    os.environ.setdefault("ACCORD_WEBHOOK_CONCURRENCY", "0")
    app: Any
    if args.floor:
        from bench.floor import app
    else:
        from service.app import create_app

        app = create_app()
    size = asyncio.run(_drive(app, args.path, args.n))
    print(f"{args.n} requests, {size:,} B each")


if __name__ == "__main__":
    main()
