"""Logs and request ids: one line per request and the service's own lines (lifecycle, errors,
uvicorn's, Litestar's), all through one structlog processor chain, as JSON or for a console;
the request id that ties a client's call to its lines, taken from ``X-Request-ID`` when it is
a sane token and made otherwise, echoed on every response and put in every problem detail.

What never reaches a line: request bodies, headers (``Authorization``, cookies), query
strings. A request's line names its API key by id (``api_key_id``, which the write guards
set), never by token."""

from __future__ import annotations

import logging
import random
import re
import sys
import time
from contextvars import ContextVar
from typing import Any, Literal

import msgspec
import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import EventDict, Processor, WrappedLogger

from service.core.metrics import METRICS_PATH, RequestTallies

Format = Literal["json", "console"]

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_DESCRIPTION = (
    "This request's id: the `X-Request-ID` the request sent when it is 1–128 characters of "
    "`A–Z a–z 0–9 . _ ~ : -`, else one made here (a UUIDv7). Problem details carry it as "
    "`request_id`, and every log line of the request names it."
)
REQUEST_ID_PATTERN = "^[A-Za-z0-9._~:-]{1,128}$"
_SANE = re.compile(REQUEST_ID_PATTERN[1:-1].encode()).fullmatch


def new_request_id() -> str:
    """A UUIDv7 (RFC 9562): milliseconds since the epoch, then 74 random bits; so ids made
    in one process sort by time, as their log lines do. The bits come from ``random`` (no
    system call): a request id names a request, it guards nothing. The millisecond's part is
    spelled once per millisecond (most requests fall in one already spelled), the rest cut
    from one hexadecimal string: 8.1k instructions an id, against 9.5k with printf-style `%x`
    of its numbers."""
    global _millisecond  # noqa: PLW0603
    ms = time.time_ns() // 1_000_000
    if ms != _millisecond[0]:
        h = f"{ms:012x}"
        _millisecond = (ms, f"{h[:8]}-{h[8:]}-7")
    # 19 digits: rand_a (3), then the variant digit (two random bits under 0b10), rand_b.
    r = random.getrandbits(76).to_bytes(10, "big").hex()
    return f"{_millisecond[1]}{r[1:4]}-{_VARIANT[r[4]]}{r[5:8]}-{r[8:]}"


_millisecond = (0, "")
"""The last millisecond an id was made in, and its part of the id."""
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""A random hexadecimal digit as the variant's (RFC 9562: 0b10 and two random bits)."""


class _Request:
    """What the request's line needs from inside the app: its id, and the problem ``type`` of
    an error answer (``problems`` notes it when it builds the body)."""

    __slots__ = ("id", "problem_type")

    def __init__(self, ident: str) -> None:
        self.id = ident
        self.problem_type: str | None = None


_current: ContextVar[_Request | None] = ContextVar("accord_request", default=None)


def problem_noted(problem_type: str) -> str:
    """Notes a problem answer's ``type`` for the request's log line; the request's id, for
    the problem's body (a new one outside any request)."""
    current = _current.get()
    if current is None:
        return new_request_id()
    current.problem_type = problem_type
    return current.id


class RequestLog:
    """The ASGI app around everything else (compression included, so ``bytes`` are what went
    on the wire): gives the request its id, adds ``X-Request-ID`` to the response, and writes
    the request's line once the app has answered; hands each request but a scrape of the
    metrics to ``tallies``."""

    def __init__(
        self, app: ASGIApp, lines: RequestLines, tallies: RequestTallies | None = None
    ) -> None:
        self.app = app
        self.lines = lines
        self.tallies = tallies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        ident = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if _SANE(value):
                    ident = value.decode("ascii")
                break
        request = _Request(ident or new_request_id())
        header = (b"x-request-id", request.id.encode("ascii"))
        status = 0
        sent = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        path = scope["path"]
        tallies = self.tallies if path != METRICS_PATH else None
        if tallies is not None:
            tallies.in_progress += 1
        token = _current.set(request)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            route = scope.get("path_template")
            if tallies is not None:
                tallies.in_progress -= 1
                tallies.record(method, route, status, elapsed)
            if self.lines.written(status):
                self._line(scope, request, method, route, path, status, elapsed, sent)
            _current.reset(token)

    def _line(
        self,
        scope: Scope,
        request: _Request,
        method: str,
        route: str | None,
        path: str,
        status: int,
        elapsed: float,
        sent: int,
    ) -> None:
        state = scope.get("state")
        client = scope.get("client")
        self.lines.request(
            _Line(
                "",
                # 0: the app ended (an error, or the client left) before it answered.
                "info" if 0 < status < 500 else "error",
                "request",
                request.id,
                method,
                route,
                path,
                status,
                round(elapsed * 1000, 3),
                sent,
                client[0] if client else None,
                str(state["api_key_id"]) if state and "api_key_id" in state else None,
                # (A write may make a problem it does not answer with: the answer an
                # idempotent retry would get.)
                request.problem_type if status >= 400 else None,
            )
        )


class _Line(msgspec.Struct, omit_defaults=True):
    """A request's line: the fields every line starts with (``time``, ``level``, ``event``),
    then the request's; the key and the problem only where there are some. As a struct it is
    made and encoded by msgspec at once, with no dict to build."""

    time: str
    level: str
    event: str
    request_id: str
    method: str
    route: str | None
    path: str
    status: int
    duration_ms: float
    bytes: int
    client: str | None
    api_key_id: str | None = None
    problem_type: str | None = None


_encode_line = msgspec.json.Encoder().encode


# --- the processor chain ----------------------------------------------------------------------


def _request_id(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Every line written while a request is served names it."""
    if "request_id" not in event:
        current = _current.get()
        if current is not None:
            event["request_id"] = current.id
    return event


def _not_extra(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """What ``ExtraAdder`` takes for extras and is not: uvicorn's message again with terminal
    colours, the message another handler (pytest's) formatted already."""
    event.pop("color_message", None)
    event.pop("message", None)
    return event


def _json(_: WrappedLogger, __: str, event: EventDict) -> str:
    """One JSON object a line, time, level and event first; what msgspec cannot encode as
    it is becomes its ``str``."""
    ordered = {
        "time": event.pop("time", None),
        "level": event.pop("level", None),
        "event": event.pop("event", None),
        **event,
    }
    return msgspec.json.encode(ordered, enc_hook=str).decode()


_clock = (0, "")
"""The last second stamped, and its text: formatting a time costs more than the rest of a
request's line, and most lines fall in a second already formatted."""


def _now() -> str:
    """UTC, ISO 8601 to the microsecond (``2026-12-05T23:56:58.502031Z``)."""
    global _clock  # noqa: PLW0603
    now = time.time()
    second, text = _clock
    if int(now) != second:
        second = int(now)
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _clock = (second, text)
    return f"{text}.{int((now - second) * 1_000_000):06d}Z"


def _time(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    event["time"] = _now()
    return event


_SHARED: list[Processor] = [structlog.processors.add_log_level, _time, _request_id]


def _renderer(format: Format) -> list[Processor]:
    if format == "json":
        return [structlog.processors.format_exc_info, _json]
    return [
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), timestamp_key="time"),
    ]


class _Stderr:
    """structlog's output: each line to the ``sys.stderr`` of the moment (pytest swaps it for
    every test and closes the old one, which a stream captured once would write to)."""

    def msg(self, line: str) -> None:
        sys.stderr.write(line + "\n")

    debug = info = warning = error = critical = exception = msg


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The standard library's lines (accord's, uvicorn's, Litestar's, asyncpg's), formatted by
    the same chain and written where structlog writes."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class RequestLines:
    """Where the request lines go. As JSON they are written here, in the very shape the chain
    gives every other line (``time``, ``level``, ``event`` first): a request line is the one
    line of the hot path, and the chain's processors, bound-logger call and level dispatch
    cost a read by id more than everything else the line takes. For a console they go
    through the chain's renderer."""

    def __init__(self, format: Format, level: str, logger: Any) -> None:
        self.json = format == "json"
        self.info = _LEVELS.get(level, logging.ERROR) <= logging.INFO
        self.logger = logger

    def written(self, status: int) -> bool:
        """Whether the line of a request answered with ``status`` is written (an error's
        always; 0: no answer)."""
        return self.info or not 0 < status < 500

    def request(self, line: _Line) -> None:
        """Writes a line ``written`` says is written."""
        error = line.level == "error"
        line.time = _now()
        if self.json:
            sys.stderr.write(_encode_line(line).decode() + "\n")
            return
        fields = msgspec.structs.asdict(line)
        for name in ("time", "level", "event"):
            del fields[name]
        for name in ("api_key_id", "problem_type"):
            if fields[name] is None:
                del fields[name]
        if error:
            self.logger.error("request", **fields)
        else:
            self.logger.info("request", **fields)


def default_format() -> Format:
    return "console" if sys.stderr.isatty() else "json"


_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING}


def configure(format: Format | None, level: str) -> RequestLines:
    """Sends every standard-library line through the chain (one handler on the root logger,
    replacing the one an earlier call put there), takes uvicorn's error lines in and its
    access lines out (the request log replaces them); where the request lines go."""
    format = format or default_format()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            *_SHARED,
            structlog.stdlib.ExtraAdder(),
            _not_extra,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_renderer(format)],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    logging.getLogger("accord").setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        server = logging.getLogger(name)
        server.handlers.clear()
        server.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # bind(): the logger itself, not the lazy proxy that would make one at every call.
    logger = structlog.wrap_logger(
        _Stderr(),
        processors=[*_SHARED, *_renderer(format)],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.ERROR)),
    ).bind()
    return RequestLines(format, level, logger)
