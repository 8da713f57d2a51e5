"""``python -m bench.inprocess URL PATH [-n N] [--floor] [--method M --body JSON -H 'Name: v']``:
N requests to PATH through the ASGI app in this process (no server, no sockets), for
callgrind: under ``valgrind --tool=callgrind --instr-atstart=no`` (with ``--callgrind``) it
turns the instrumentation on (with ``callgrind_control``) after start-up and ten warm-up
requests, and off after the N, so the instruction count divided by N is what one request
costs this process (PostgreSQL's share runs elsewhere and is not counted).

A write (``--method POST`` or ``PATCH``) carries a new API key with the ``write`` scope, made
in the database first; ``{id}`` in PATH is replaced, request after request, by one official's
id after another (``/v1/officials/{id}``). ``--compare`` runs Accord and the floor
(``bench/floor.py``) under callgrind itself and prints each one's instructions per request and
their ratio, e.g. the writes of issue 13:

    python -m bench.inprocess URL /v1/officials --compare --method POST \\
        --body '{"name": "Bench Official", "other_names": [{"name": "Бенч"}]}'
    python -m bench.inprocess URL '/v1/officials/{id}' --compare --method PATCH \\
        -H 'If-Match: *' -H 'Content-Type: application/merge-patch+json' \\
        --body '{"note": "benchmarked"}'

``ACCORD_RENDERED_PAGES=false`` measures the general path of a page."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from service.core import auth

_WRITTEN = {"POST": 201, "PATCH": 200, "DELETE": 204}


async def _ids(url: str, path: str) -> list[str]:
    """``path`` with ``{id}`` replaced by one official's id after another: a server reads
    a different record at almost every request, and whatever is cached by path misses."""
    conn = await asyncpg.connect(url)
    try:
        ids = [str(r["id"]) for r in await conn.fetch("select id from officials limit 500")]
    finally:
        await conn.close()
    return [path.replace("{id}", ident) for ident in ids]


async def _writer(url: str, path: str) -> tuple[str, list[str]]:
    """A write key's ``Authorization`` header, and the paths to write to."""
    authorization = await _key(url)
    return authorization, await _ids(url, path)


async def _key(url: str) -> str:
    """A new API key's ``Authorization`` header, with the ``write`` scope."""
    conn = await asyncpg.connect(url)
    try:
        _, token = await auth.create_key(conn, "bench.inprocess", ["write"])
    finally:
        await conn.close()
    return f"Bearer {token}"


async def _drive(
    app: Any, paths: list[str], n: int, method: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> int:
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
    size = 0
    expected = _WRITTEN.get(method, 200)
    for index in range(n + 10):
        if index == 10:
            _instrument("on")
        sent: list[dict[str, Any]] = []

        async def request_receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def request_send(message: dict[str, Any], into: list[Any] = sent) -> None:
            into.append(message)

        raw_path, _, query = paths[index % len(paths)].partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": raw_path,
            "raw_path": raw_path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [
                (b"host", b"127.0.0.1"),
                *headers,
                *([(b"content-length", str(len(body)).encode())] if body else []),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, request_receive, request_send)
        assert sent[0]["status"] == expected, sent
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


def _compare(argv: list[str], n: int) -> None:
    """This command under callgrind, for Accord and for the floor; instructions per request."""
    counts = {}
    with tempfile.TemporaryDirectory() as out:
        for who in ("accord", "floor"):
            command = [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}/callgrind.{who}",
                sys.executable,
                "-m",
                "bench.inprocess",
                *argv,
                "--callgrind",
                *(["--floor"] if who == "floor" else []),
            ]
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONHASHSEED": "0"},
                check=False,
            )
            found = re.search(r"Collected : (\d+)", done.stderr)
            if done.returncode != 0 or found is None:
                raise RuntimeError(done.stderr[-3000:])
            counts[who] = int(found.group(1)) / n
            kept = Path(tempfile.gettempdir()) / f"accord-callgrind.{who}"
            shutil.copy(f"{out}/callgrind.{who}", kept)
            print(f"{who}: {counts[who]:,.0f} instructions a request (profile: {kept})")
    print(f"floor / accord: {counts['floor'] / counts['accord']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.inprocess",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--floor", action="store_true", help="the floor (bench/floor.py)")
    parser.add_argument("--method", default="GET", choices=["GET", "POST", "PATCH"])
    parser.add_argument("--body", default="", help="the request's body")
    parser.add_argument(
        "-H", dest="headers", action="append", default=[], help="a header, 'Name: value'"
    )
    parser.add_argument(
        "--compare", action="store_true", help="run Accord and the floor under callgrind"
    )
    parser.add_argument(
        "--callgrind", action="store_true", help="running under valgrind --instr-atstart=no"
    )
    args = parser.parse_args()
    if args.compare:
        argv = [a for a in sys.argv[1:] if a != "--compare"]
        _compare(argv, args.n)
        return
    os.environ["ACCORD_DATABASE_URL"] = args.url
    os.environ.setdefault("ACCORD_WEBHOOK_CONCURRENCY", "0")
    headers = [
        (name.strip().lower().encode(), value.strip().encode())
        for name, _, value in (header.partition(":") for header in args.headers)
    ]
    paths = [args.path]
    if args.method != "GET":
        authorization, paths = asyncio.run(_writer(args.url, args.path))
        headers.append((b"authorization", authorization.encode()))
    elif "{id}" in args.path:
        paths = asyncio.run(_ids(args.url, args.path))
        if not any(name == b"content-type" for name, _ in headers):
            headers.append((b"content-type", b"application/json"))
    app: Any
    if args.floor:
        from bench.floor import app
    else:
        from service.app import create_app

        app = create_app()
    body = args.body.encode()
    size = asyncio.run(_drive(app, paths, args.n, args.method, headers, body))
    print(f"{args.n} requests, {size:,} B each")


if __name__ == "__main__":
    main()
