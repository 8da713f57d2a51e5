"""One streamed download timed as a client sees it — the time to the first byte, the whole
time, the bytes on the wire — for the benchmarks of streamed answers (bench.export,
bench.popolo)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Download:
    first_byte: float
    """Seconds from the request to the first bytes of the body."""
    seconds: float
    """Seconds from the request to the end of the body."""
    wire_bytes: int
    """The body as sent (compressed when the coding asked for was taken)."""
    body: bytes | None
    """The body decoded, when kept."""


def download(url: str, *, coding: str = "identity", keep: bool = False) -> Download:
    """``GET url`` read to its end as fast as the client can, asking for ``coding``; the body
    decoded and kept with ``keep``, else only counted as it comes (decoding costs the client
    time the server's figures should not include)."""
    started = time.perf_counter()
    first = 0.0
    body = bytearray()
    with (
        httpx.Client(timeout=600, headers={"Accept-Encoding": coding}) as client,
        client.stream("GET", url) as response,
    ):
        response.raise_for_status()
        chunks = response.iter_bytes() if keep else response.iter_raw()
        for chunk in chunks:
            if not first:
                first = time.perf_counter() - started
            if keep:
                body += chunk
        wire = response.num_bytes_downloaded
    return Download(first, time.perf_counter() - started, wire, bytes(body) if keep else None)
