"""Compressed responses: brotli or gzip, whichever the client takes, for any body of at least
``MINIMUM_SIZE`` bytes — Litestar's ``CompressionMiddleware`` and its compressors, wrapped
around the whole application so that every response passes it; a read by id that
``routes.ReadsById`` answers before it is compressed with its ``sending``."""

from __future__ import annotations

from functools import lru_cache

from litestar.config.compression import CompressionConfig
from litestar.enums import CompressionEncoding, ScopeType
from litestar.middleware.compression import CompressionMiddleware
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from service.core.responses import quality

MINIMUM_SIZE = 1024
"""Smaller bodies go as they are: what compression saves there is less than it costs."""

CONFIG = CompressionConfig(
    backend="brotli",
    minimum_size=MINIMUM_SIZE,
    # The fastest settings keep most of the gain at a fraction of the cost: a page of 200
    # officials (88 KB, 14.6M instructions to answer) becomes 12.8 KB with brotli 1 for 1.9M
    # instructions more, 13.9 KB with gzip 1 for 3.1M; brotli 4 and gzip 6 make 11.7 and
    # 12.2 KB for 5.7M and 6.3M; gzip 9, Litestar's default, takes twice gzip 6's time.
    brotli_quality=1,
    gzip_compress_level=1,
    brotli_gzip_fallback=True,
)


@lru_cache(maxsize=256)
def _chosen(accept_encoding: bytes) -> str | None:
    """The coding to answer a request's ``Accept-Encoding`` with: brotli, else gzip, else
    none; a coding with ``q=0`` is refused, ``*`` stands for any. Clients send a handful of
    distinct values, so each is parsed once."""
    accepted = set()
    for item in accept_encoding.decode("latin-1").lower().split(","):
        coding, _, parameters = item.partition(";")
        if quality(parameters) > 0:
            accepted.add(coding.strip())
    for coding in (CompressionEncoding.BROTLI, CompressionEncoding.GZIP):
        if coding in accepted or "*" in accepted:
            return coding
    return None


class Compression:
    """An ASGI app that compresses what ``app`` answers, with Litestar's compression middleware
    and without what that costs a response it does not compress.

    Litestar's middleware parses every request's headers into a ``Headers`` and makes a
    compressor for every request that accepts a coding, before it knows the body: 25k
    instructions on a small read by id (365k) without ``Accept-Encoding``, 170k with it.
    Here ``Accept-Encoding`` is looked up in the raw headers and Litestar's compressing send
    is made once a body turns out worth compressing (at least ``minimum_size`` bytes, or
    streamed); it then does the rest (``Content-Encoding``, ``Vary``, ``Content-Length``).
    Not a subclass: Litestar wraps the ``__call__`` of each in a check of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.litestar = CompressionMiddleware(app=app, config=CONFIG)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            for name, value in scope["headers"]:
                if name == b"accept-encoding":
                    send = self.sending(send, value, scope)
                    break
        await self.app(scope, receive, send)

    def sending(self, send: Send, accept_encoding: bytes, scope: Scope) -> Send:
        """``send``, compressing what is worth it for a request with this `Accept-Encoding`
        (for ``routes.ReadsById``, which answers some reads before this app)."""
        coding = _chosen(accept_encoding)
        return send if coding is None else self._when_worth_it(send, coding, scope)

    def _when_worth_it(self, send: Send, coding: str, scope: Scope) -> Send:
        minimum = CONFIG.minimum_size
        start: HTTPResponseStartEvent | None = None
        rest: Send | None = None  # where the response goes once its first body shows what to do

        async def wrapped(message: Message) -> None:
            nonlocal start, rest
            if rest is not None:
                await rest(message)
            elif message["type"] == "http.response.start":
                if _compressible(message):
                    start = message
                else:
                    rest = send
                    await send(message)
            elif message["type"] == "http.response.body" and start is not None:
                worth = message.get("more_body", False) or len(message["body"]) >= minimum
                rest = (
                    self.litestar.create_compression_send_wrapper(send, coding, scope)
                    if worth
                    else send
                )
                await rest(start)
                await rest(message)
            else:
                await send(message)

        return wrapped


def _compressible(start: HTTPResponseStartEvent) -> bool:
    """Not an event stream, which must reach the client as it is written, its headers before
    any event; nor a response already encoded.

    A bulk export (``service.core.bulk``) is compressed: Litestar's compressors flush after
    every body message, so each ~64 KiB chunk leaves compressed as it comes (memory bounded by
    the compressor's window, the headers with the first chunk, ~20 ms in) and 1M role
    changes cross the wire in a tenth of the bytes (bench/RESULTS.md)."""
    for name, value in start.get("headers", ()):
        if name == b"content-encoding" or (
            name == b"content-type" and value.startswith(b"text/event-stream")
        ):
            return False
    return True
