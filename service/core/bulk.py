"""Bulk responses: a body made while it is sent, from one consistent snapshot of the database.

The shared signature (``streamed``) is the one every bulk export plugs into: a producer of byte
chunks run on a pooled connection. This module holds the minimal implementation the Popolo
export needs on its own; the NDJSON/CSV exports bring the full one, with the same signature."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from typing import Any

import anyio
import asyncpg
from litestar import Litestar, Response
from litestar.types import Message, Receive, Scope, Send

from service.core.database import Connection, Pool

Produce = Callable[[Connection], AsyncIterator[bytes]]
"""What a bulk response sends: chunks of its body, read on the connection it is given."""

_LAST_SEQ = "select last_seq from change_log"
_PATIENT = "set local idle_in_transaction_session_timeout = '10min'"


class Streamed(Response[Any]):
    """Runs ``produce`` on a pooled connection inside a ``repeatable read, read only``
    transaction, so every chunk comes from one snapshot however long the body takes; the
    change log's position read in that snapshot goes out as ``Accord-Seq`` before the first
    chunk. When the client goes away, the producer is cancelled (asyncpg cancels the running
    query) and the connection goes back to the pool. Failures before the headers (the
    database is down) reach the exception handlers as any handler's would: a problem."""

    __slots__ = ("_filename", "_media_type", "_produce")

    def __init__(self, produce: Produce, *, media_type: str, filename: str | None) -> None:
        # Not Response.__init__: this response is its own ASGI app (see Encoded).
        self._produce = produce
        self._media_type = media_type
        self._filename = filename

    def to_asgi_response(self, *_: Any, **__: Any) -> Streamed:  # type: ignore[override]
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pool: Pool = Litestar.from_scope(scope).state.pool
        async with pool.acquire() as conn:
            transaction = conn.transaction(isolation="repeatable_read", readonly=True)
            await transaction.start()
            try:
                # The pool ends a session idle in a transaction for 60 s; a client reading a
                # large body slowly keeps this one waiting on it between chunks for longer.
                await conn.execute(_PATIENT)
                seq = await conn.fetchval(_LAST_SEQ)
                headers = [
                    (b"content-type", self._media_type.encode()),
                    (b"accord-seq", str(seq).encode()),
                ]
                if self._filename is not None:
                    disposition = f'attachment; filename="{self._filename}"'
                    headers.append((b"content-disposition", disposition.encode()))
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                if scope.get("method") == "HEAD":
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                await _send_until_disconnect(self._produce(conn), receive, send)
            finally:
                # Nothing to commit; a connection a cancelled query left unusable is closed by
                # the pool on release.
                with suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                    await transaction.rollback()


async def _send_until_disconnect(
    chunks: AsyncIterator[bytes], receive: Receive, send: Send
) -> None:
    async with anyio.create_task_group() as group:

        async def pump() -> None:
            try:
                async for chunk in chunks:
                    if chunk:
                        message: Message = {
                            "type": "http.response.body",
                            "body": chunk,
                            "more_body": True,
                        }
                        await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                close = getattr(chunks, "aclose", None)
                if close is not None:
                    with anyio.CancelScope(shield=True):
                        await close()
            group.cancel_scope.cancel()

        group.start_soon(pump)
        while True:
            received = await receive()
            if received["type"] == "http.disconnect":
                group.cancel_scope.cancel()
                return


def streamed(produce: Produce, *, media_type: str, filename: str | None) -> Response[Any]:
    """A 200 whose body ``produce`` writes from one snapshot, with ``Accord-Seq`` (see
    ``Streamed``); ``filename`` makes it a download (``Content-Disposition``)."""
    return Streamed(produce, media_type=media_type, filename=filename)
