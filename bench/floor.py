"""The floor: a bare ASGI callable — no framework — with asyncpg and msgspec, running the very
SQL Accord runs for an official (``service.resources.officials.TABLE``) on the same pool
settings. Whatever Accord costs above this is the price of the framework and our mechanisms.
It does only what the benchmark asks of it and nothing a real service would need.

The writes (``_create``, ``_patch``) run the statements an Accord write runs, in one
transaction: the INSERT (or the locked read and the UPDATE) and the history row, numbered in
the change log as the transaction commits (``service.core.history.write``, migration 0017),
naming the API key of the ``Authorization`` header as its author — and nothing else: no key
check, no validation beyond msgspec's decoding. ``POST /floor/officials-bare`` is the create
without its change row: set against the floor's create, it shows what keeping the change log
costs a write.

The pages (``GET /v1/officials``, ``/v1/timeline``, ``/v1/search``, see ``page``) are made the
most direct way there is: PostgreSQL renders each item's JSON (``service.core.rendered``, the
SQL Accord's listing runs), the floor reads the change-log position, signs the cursor and joins
the bytes. The benchmark checks that each answers Accord's body byte for byte before it
measures."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

import msgspec

from service.core import history
from service.core.database import Pool, create_pool, transaction
from service.core.pagination import CursorCodec, Listing
from service.resources import officials, search, timeline
from service.resources.officials import TABLE
from service.settings import Settings

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_state: dict[str, Any] = {}
_JSON = [(b"content-type", b"application/json")]
_PAGES: dict[str, tuple[Listing[Any], int]] = {
    "/v1/officials": (officials.LISTING, 50),
    "/v1/timeline": (timeline.LISTING, 50),
    "/v1/search": (search.LISTING, 20),
}
"""The collections the floor pages, with their default limit."""


async def _send(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _header(scope: dict[str, Any], name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            settings = Settings.from_env()
            assert settings.database_url
            pool = _state["pool"] = await create_pool(settings.database_url, settings)
            secret = await pool.fetchval("select secret from accord_secret")
            _state["codec"] = CursorCodec(bytes(secret))
            await send({"type": "lifespan.startup.complete"})
        else:
            await _state["pool"].close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    pool = _state["pool"]
    method, path = scope["method"], scope["path"]
    if method == "GET" and path in _PAGES:
        await page(scope, send, pool, path)
        return
    if method == "POST" and path in _CREATES:
        await _create(pool, scope, receive, send, logged=path != "/floor/officials-bare")
        return
    try:
        ident = uuid.UUID(path.removeprefix("/v1/officials/"))
    except ValueError:
        await _send(send, 404, b"{}", _JSON)
        return
    if method == "GET":
        row = await pool.fetchrow(TABLE.get_sql, ident)
        if row is None:
            await _send(send, 404, b"{}", _JSON)
            return
        etag = b'"%d"' % row["version"]
        if etag in (_header(scope, b"if-none-match") or b""):
            await _send(send, 304, b"", [(b"etag", etag)])
            return
        await _send(send, 200, _encode(dict(row.items())), [*_JSON, (b"etag", etag)])
        return
    if method == "PATCH":
        await _patch(pool, ident, scope, receive, send)
        return
    await _send(send, 405, b"{}", _JSON)


_CREATES = ("/v1/officials", "/floor/officials-logged", "/floor/officials-bare")
_FIELDS = ("name", "other_names", "wikidata_id", "nationality_id", "citations", "note")
"""The fields an official's history compares (``OfficialCreate``'s)."""


def _actor(scope: dict[str, Any]) -> uuid.UUID | None:
    """The API key's id, read from ``Bearer accord_<id>_<secret>`` and not checked."""
    header = _header(scope, b"authorization")
    if header is None:
        return None
    return uuid.UUID(hex=header.split(b"_")[1].decode())


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    old, new = msgspec.to_builtins(before), msgspec.to_builtins(after)
    return {
        name: {"before": old.get(name), "after": new.get(name)}
        for name in _FIELDS
        if old.get(name) != new.get(name)
    }


async def _create(
    pool: Pool, scope: dict[str, Any], receive: Any, send: Any, *, logged: bool
) -> None:
    data = _decode(await _body(receive))
    async with transaction(pool) as conn:
        row = await conn.fetchrow(
            TABLE.insert_sql,
            data["name"],
            data.get("other_names", []),
            data.get("wikidata_id"),
            data.get("nationality_id"),
            data.get("note"),
        )
        assert row is not None
        record = dict(row.items())
        if logged:
            await history.write(
                conn,
                kind=TABLE.kind,
                record_id=row["id"],
                operation="create",
                version=row["version"],
                changes=_changes({}, record),
                actor=_actor(scope),
            )
    await _send(send, 201, _encode(record), [*_JSON, (b"etag", b'"%d"' % row["version"])])


async def _patch(
    pool: Pool, ident: uuid.UUID, scope: dict[str, Any], receive: Any, send: Any
) -> None:
    patch = _decode(await _body(receive))
    async with transaction(pool) as conn:
        row = await conn.fetchrow(TABLE.lock_sql, ident)
        assert row is not None
        before = dict(row.items())
        current = {**before, **patch}
        row = await conn.fetchrow(
            TABLE.update_sql,
            ident,
            current["name"],
            current["other_names"],
            current["wikidata_id"],
            current["nationality_id"],
            current["note"],
        )
        assert row is not None
        after = dict(row.items())
        await history.write(
            conn,
            kind=TABLE.kind,
            record_id=ident,
            operation="update",
            version=row["version"],
            changes=_changes(before, after),
            actor=_actor(scope),
        )
    await _send(send, 200, _encode(after), [*_JSON, (b"etag", b'"%d"' % row["version"])])


async def page(scope: dict[str, Any], send: Any, pool: Pool, path: str) -> None:
    """A page of officials, of the timeline or of search results: the JSON of each item as
    PostgreSQL renders it, joined; the cursor of the last; nothing validated."""
    listing, limit = _PAGES[path]
    params = dict(parse_qsl(scope["query_string"].decode()))
    limit = int(params.get("limit", limit))
    key = listing.sorts[listing.default_sort]
    scope_name = listing.scope()
    codec: CursorCodec = _state["codec"]
    after = None
    if "cursor" in params:
        after = codec.decode(scope_name, params["cursor"], tuple(t for _, _, t in key.columns))
    leading: tuple[Any, ...] = ()
    if "q" in params:
        leading = (params["q"], search.text_query(params["q"]))
    sql, args = listing.query([], limit=limit, after=after, leading=leading)
    async with pool.acquire() as conn:
        fast = await listing.rendered_sql(conn, sql, key)
        assert fast is not None
        rows = await conn.fetch(fast, *args)
        seq = rows[0]["seq"] if rows else await conn.fetchval("select last_seq from change_log")
    headers = [(b"accord-seq", str(seq).encode()), (b"vary", b"Accept")]
    cursor = None
    if len(rows) > limit:
        cursor = codec.encode(scope_name, [rows[limit - 1][name] for _, name, _ in key.columns])
        query = urlencode(
            [*((k, v) for k, v in params.items() if k != "cursor"), ("cursor", cursor)]
        )
        headers.append((b"link", f'<{path}?{query}>; rel="next"'.encode()))
    items = b",".join(row[0] for row in rows[:limit])
    body = b'{"items":[%s],"next_cursor":%s}' % (items, _encode(cursor))
    await _send(send, 200, body, [*headers, *_JSON])
