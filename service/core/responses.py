"""The one response class every resource answers with on success."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec
from litestar import Response
from litestar.types import Receive, Scope, Send

T = TypeVar("T")

_encode = msgspec.json.encode
_JSON = (b"content-type", b"application/json")


def quality(parameters: str) -> float:
    """The ``q`` weight among the parameters of one item of an ``Accept``-style header
    (``;q=0.5``), 1 when absent; an unreadable one counts as 0 (refused). Content negotiation
    (``service.core.bulk``) and compression both weigh what a client takes with it."""
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


class Encoded(Response[T], Generic[T]):
    """A JSON response encoded by msgspec as it is made, sent as two ASGI messages.

    Handlers still declare ``Response[Record]`` (which is what the contract documents);
    Litestar's route handler calls ``to_asgi_response`` on whatever ``Response`` it gets, and
    this one is already its own ASGI app. Litestar's general ``Response`` builds a mutable
    header container, resolves media type, cookies and background tasks and re-checks the
    body on every request — a measurable share of a one-row read (see bench/RESULTS.md)."""

    __slots__ = ("_body", "_content", "_headers", "_status")

    def __init__(
        self,
        content: T | None,
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        # Deliberately not Response.__init__: nothing here needs its machinery.
        self._status = status_code
        self._content = content
        pairs = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
        if status_code in (204, 304):
            self._body = b""
        else:
            self._body = _encode(content)
            pairs.append(_JSON if media_type is None else (b"content-type", media_type.encode()))
        pairs.append((b"content-length", str(len(self._body)).encode()))
        self._headers = pairs

    @classmethod
    def tagged(cls, content: T, tag: str) -> Encoded[T]:
        """200 with ``content`` and its ``ETag`` (a read's answer): the headers as the
        constructor makes them, without its general conversion."""
        response = cls.__new__(cls)
        response._status = 200
        response._content = content
        response._body = body = _encode(content)
        response._headers = [(b"etag", tag.encode()), _JSON, (b"content-length", b"%d" % len(body))]
        return response

    @property
    def content(self) -> T:  # type: ignore[override]
        """What was encoded, for code that looks inside a response."""
        return self._content  # type: ignore[return-value]

    def to_asgi_response(self, *_: Any, **__: Any) -> Encoded[T]:  # type: ignore[override]
        return self

    async def __call__(self, scope: Scope, _: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self._status, "headers": self._headers}
        )
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await send({"type": "http.response.body", "body": self._body, "more_body": False})

    def parts(self) -> tuple[int, list[list[str]], bytes]:
        """Status, headers and body, as an idempotent write stores them for a replay."""
        return (
            self._status,
            [[name.decode(), value.decode()] for name, value in self._headers],
            self._body,
        )


class Stored(Encoded[Any]):
    """A stored response played back as it was sent, marked ``Idempotent-Replayed``."""

    def __init__(self, status: int, headers: list[list[str]], body: bytes) -> None:
        self._status = status
        self._content = None
        self._body = body
        self._headers = [(name.encode(), value.encode()) for name, value in headers]
        self._headers.append((b"idempotent-replayed", b"true"))
