"""A client of Accord's change stream on a bare socket, light enough for a thousand at once
in one process (an HTTP library's client costs more than the server's side of a stream):
HTTP/1.1 with chunked transfer, events parsed as the Server-Sent Events specification reads
the fields the server sends. Used by tests/test_stream.py and bench/streams.py."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Event:
    id: str | None = None
    event: str | None = None
    data: str | None = None
    comment: str | None = None

    @property
    def change(self) -> dict[str, Any]:
        assert self.data is not None, self
        change: dict[str, Any] = json.loads(self.data)
        return change


class EventStream:
    """A stream client on a bare socket (light enough for a thousand at once): HTTP/1.1,
    chunked transfer, events parsed as the SSE specification reads them (the fields this
    server sends)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        status: int,
        headers: dict[str, str],
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.status = status
        self.headers = headers
        self.body = b""
        self.buffer = b""

    @classmethod
    async def open(cls, port: int, query: str, headers: dict[str, str]) -> EventStream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = [
            f"GET /v1/changes{query} HTTP/1.1",
            "Host: 127.0.0.1",
            "Accept: text/event-stream",
            *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(request) + "\r\n\r\n").encode())
        status = int((await reader.readline()).split()[1])
        head: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            head[name.strip().lower()] = value.strip()
        stream = cls(reader, writer, status, head)
        if "content-length" in head:
            stream.body = await reader.readexactly(int(head["content-length"]))
        return stream

    async def _chunk(self) -> None:
        size = int((await self.reader.readline()).strip(), 16)
        if size == 0:
            raise EOFError("the stream ended")
        self.buffer += await self.reader.readexactly(size)
        await self.reader.readexactly(2)

    async def next(self, seconds: float = 10) -> Event:
        """The next event or comment."""
        async with asyncio.timeout(seconds):
            while b"\n\n" not in self.buffer:
                await self._chunk()
        block, self.buffer = self.buffer.split(b"\n\n", 1)
        event = Event()
        for line in block.decode().split("\n"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if not field:
                event.comment = value
            elif field in {"id", "event", "data"}:
                setattr(event, field, value)
        return event

    async def changes(self, count: int, seconds: float = 10) -> list[Event]:
        """The next ``count`` events, heartbeats skipped."""
        found: list[Event] = []
        async with asyncio.timeout(seconds):
            while len(found) < count:
                event = await self.next(seconds)
                if event.comment is None:
                    found.append(event)
        return found

    async def ended(self) -> bool:
        """Whether the server ended the stream (the last chunk of a chunked body)."""
        try:
            await self.changes(1, 10)
        except EOFError:
            return True
        return False

    def drop(self) -> None:
        """Gone without a word, like a client whose network failed."""
        self.writer.transport.abort()
