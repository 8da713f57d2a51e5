"""Compressed responses: brotli or gzip, whichever the client takes, for any body of at least
``MINIMUM_SIZE`` bytes — Litestar's ``CompressionMiddleware`` and its compressors, wrapped
around the whole application so that every response passes it, the read by id that
``ReadById`` answers before any handler included."""

from __future__ import annotations

from functools import lru_cache

from litestar.config.compression import CompressionConfig
from litestar.enums import CompressionEncoding
from litestar.middleware.compression import CompressionMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

MINIMUM_SIZE = 1024
"""Smaller bodies go as they are: what compression saves there is less than it costs."""

CONFIG = CompressionConfig(
    backend="brotli",
    minimum_size=MINIMUM_SIZE,
    # The fastest settings keep most of the gain: a page of 200 officials, 88 KB, becomes
    # 12.8 KB (brotli 1) or 13.9 KB (gzip 1), where brotli 4 or gzip 6 (11.7 / 12.2 KB)
    # take three to four times as long, and gzip 9 (Litestar's default) seven.
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
        if _weight(parameters) > 0:
            accepted.add(coding.strip())
    for coding in (CompressionEncoding.BROTLI, CompressionEncoding.GZIP):
        if coding in accepted or "*" in accepted:
            return coding
    return None


def _weight(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


class Compression(CompressionMiddleware):
    """Litestar's middleware, with what costs a response it does not compress taken out.

    Litestar's own parses every request's headers into a ``Headers`` and makes a compressor
    for every request that accepts a coding, before it knows the body; for a small read by
    id that was half again the read's own cost (bench/RESULTS.md). Here ``Accept-Encoding``
    is looked up in the raw headers and the compressor is made once a body turns out worth
    compressing (at least ``minimum_size`` bytes, or streamed); then Litestar's send wrapper
    does the rest (``Content-Encoding``, ``Vary``, ``Content-Length``)."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app=app, config=CONFIG)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                coding = _chosen(value)
                if coding is not None:
                    await self.app(scope, receive, self._when_worth_it(send, coding, scope))
                    return
                break
        await self.app(scope, receive, send)

    def _when_worth_it(self, send: Send, coding: str, scope: Scope) -> Send:
        minimum = self.config.minimum_size
        start: Message | None = None
        compressing: Send | None = None

        async def wrapped(message: Message) -> None:
            nonlocal start, compressing
            if compressing is not None:
                await compressing(message)
            elif message["type"] == "http.response.start":
                start = message
            elif (
                message["type"] == "http.response.body"
                and start is not None
                and (message.get("more_body", False) or len(message["body"]) >= minimum)
            ):
                compressing = self.create_compression_send_wrapper(send, coding, scope)
                await compressing(start)
                await compressing(message)
            else:
                if start is not None:
                    await send(start)
                    start = None
                await send(message)

        return wrapped
