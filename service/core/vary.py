"""One ``Vary`` header on every response, naming every request header its content depends on.

Three layers each add a reason: a collection or an export answers by ``Accept`` (JSON, NDJSON
or CSV), compression by ``Accept-Encoding``, and CORS by ``Origin``. Litestar's CORS
middleware *replaces* the ``Vary`` a response carries with ``Vary: Origin``, so a shared cache
would key a page by origin only and could hand CSV to a client that asked for JSON. So, when
CORS is configured, ``Remembered`` (app-level middleware, inside CORS) keeps what the response
said in the request's scope, and ``Merged`` (the outermost wrapper, outside CORS and
compression) writes one ``Vary`` of everything: the response's reasons, then those added
outside it, each once. Without CORS nothing replaces a ``Vary`` and neither layer is
installed: the hot path pays nothing."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

_KEPT = "accord.vary"
"""The scope's key for what the response said (a list of header values)."""


def _values(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    return [value for name, value in headers if name.lower() == b"vary"]


class Remembered(ASGIMiddleware):
    """Keeps the ``Vary`` values a response starts with in its scope, before CORS replaces
    them."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def remembering(message: Message) -> None:
            if message["type"] == "http.response.start":
                scope[_KEPT] = _values(list(message.get("headers", ())))  # type: ignore[literal-required]
            await send(message)

        await next_app(scope, receive, remembering)


class Merged:
    """The outermost wrapper: one ``Vary`` header of what the response said (as
    ``Remembered`` kept it) and what the layers around it added, each name once (case
    ignored), in that order."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return

        async def merging(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                kept: list[bytes] = scope.get(_KEPT, [])  # type: ignore[assignment]
                merged = merge([*kept, *_values(headers)])
                if merged:
                    rest = [(name, value) for name, value in headers if name.lower() != b"vary"]
                    message["headers"] = [*rest, (b"vary", merged)]
            await send(message)

        await self.app(scope, receive, merging)


def merge(values: list[bytes]) -> bytes:
    """``Vary`` values (each a comma-separated list) as one, each name once, case ignored, in
    the order first named; ``*`` alone if any is ``*``."""
    names: dict[bytes, bytes] = {}
    for value in values:
        for part in value.split(b","):
            name = part.strip()
            if name:
                names.setdefault(name.lower(), name)
    if b"*" in names:
        return b"*"
    return b", ".join(names.values())
