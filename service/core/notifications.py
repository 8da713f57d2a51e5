"""Wake-ups from PostgreSQL: each process keeps one connection that LISTENs for the change
log's notifications and wakes everything in the process that waits for a change; other
channels share it (``ChangeSignal.also``: changes to API keys, for ``auth.KeyCache``).

- **One dedicated connection per process**, opened with ``asyncpg.connect``, not taken from the
  pool: a pooled connection goes back to the pool between requests, and the pool's release
  hook (``database._keep_session``) relies on no connection carrying LISTEN state. One per
  process, not per client, so a thousand streams cost one connection.
- **A notification is only a wake-up.** It carries nothing (see the changes migration) and
  may be lost — while this connection is down, or behind a pooler in transaction mode — so
  whoever is woken reads the log itself, and should also look now and then without one.
- **A generation counter** makes waiting safe: a waiter notes ``generation``, looks at what
  it wants, and waits only if the generation has not moved since; a wake-up landing between
  its look and its wait is not lost.
- **It reconnects by itself**, with backoff, after the database goes away, LISTENs again and
  then wakes everyone: changes may have committed while nobody listened. A server that shuts
  down closes the socket (asyncpg calls the termination listener at once); one that vanishes
  without a word (a network partition) is found by a ``select 1`` every ``check_every``
  seconds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import asyncpg

log = logging.getLogger("accord.notifications")

CHANNEL = "accord_changes"
"""What the history trigger notifies (sql/migrations/0010_changes.sql)."""

UNREACHABLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
"""What the database going away (or not being back yet) raises; ``OSError`` includes
timeouts."""

RECONNECT_MIN_S = 0.25
RECONNECT_MAX_S = 5.0


class Broadcast:
    """Wakes every waiter at once. Waiters hold no registration of their own (an
    ``asyncio.Event`` drops a cancelled waiter itself), so a waiter that goes away leaves
    nothing behind."""

    __slots__ = ("_event", "generation")

    def __init__(self) -> None:
        self.generation = 0
        self._event = asyncio.Event()

    def wake(self) -> None:
        self.generation += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, seen: int, deadline: float | None = None) -> bool:
        """Until the generation moves past ``seen`` (True), or the event loop's clock reaches
        ``deadline`` (False)."""
        if self.generation != seen:
            return True
        try:
            async with asyncio.timeout_at(deadline):
                await self._event.wait()
        except TimeoutError:
            return False
        return True


class ChangeSignal(Broadcast):
    """Woken by every NOTIFY on ``CHANNEL`` (and after every reconnection); ``listen`` is the
    background job that keeps the connection."""

    def __init__(self, url: str, *, check_every: float, connect_timeout: float) -> None:
        super().__init__()
        self.url = url
        self.check_every = check_every
        self.connect_timeout = connect_timeout
        self.connected = False
        self._channels: list[tuple[str, Callable[[], None], Callable[[bool], None]]] = []

    def also(
        self, channel: str, notified: Callable[[], None], live: Callable[[bool], None]
    ) -> None:
        """Listen on ``channel`` too, on the same connection (before ``listen`` starts):
        ``notified()`` on each of its notifications; ``live(True)`` each time it listens
        (again), ``live(False)`` as soon as the connection is known lost — whoever relies on
        the notifications must stop relying on them then, since those sent meanwhile are
        lost."""
        self._channels.append((channel, notified, live))

    def _notified(self, *_: Any) -> None:
        self.wake()

    def _live(self, live: bool) -> None:
        self.connected = live
        for _, _, callback in self._channels:
            callback(live)

    async def listen(self) -> None:
        """Runs until cancelled (at shutdown)."""
        delay = RECONNECT_MIN_S
        while True:
            try:
                conn = await asyncpg.connect(
                    self.url,
                    timeout=self.connect_timeout,
                    statement_cache_size=0,
                    server_settings={"application_name": "accord-listen"},
                )
            except UNREACHABLE as exc:
                log.warning("change notifications: cannot connect (%r); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            try:
                await self._listen_on(conn)
            except UNREACHABLE as exc:
                log.warning("change notifications: connection lost (%r); reconnecting", exc)
            except asyncio.CancelledError:
                # Shutdown: say goodbye to the server rather than drop the socket.
                with suppress(*UNREACHABLE):
                    await conn.close(timeout=1)
                raise
            else:
                log.warning("change notifications: the server closed the connection; reconnecting")
            finally:
                self._live(False)
                conn.terminate()
            delay = RECONNECT_MIN_S

    async def _listen_on(self, conn: asyncpg.Connection[asyncpg.Record]) -> None:
        lost = asyncio.Event()

        def terminated(_: object) -> None:
            self._live(False)
            lost.set()

        conn.add_termination_listener(terminated)
        await conn.add_listener(CHANNEL, self._notified)
        for channel, notified, _ in self._channels:
            await conn.add_listener(channel, lambda *_, notified=notified: notified())
        self._live(True)
        self.wake()
        while not lost.is_set():
            try:
                async with asyncio.timeout(self.check_every):
                    await lost.wait()
            except TimeoutError:
                await conn.execute("select 1", timeout=self.connect_timeout)
