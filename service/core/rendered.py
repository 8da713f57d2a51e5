"""A page's items rendered as JSON by PostgreSQL, byte for byte as msgspec encodes them.

A listing's rows become structs (``RowTo``: by column name) and then JSON; for a page of 50
records that Python work — a dict and a ``msgspec.convert`` per row, the nested citations and
lists decoded from jsonb only to be encoded again — costs more than the query. So a listing
whose rows ``RowTo`` makes asks PostgreSQL for each item's JSON text instead
(``render_sql``), derived once from the struct's fields and the select's column types: every
field in the struct's order, with msgspec's spelling of every value (``Z`` instants with six
fractional digits or none, ``1.0`` for an integral float, compact separators, nested objects
in their struct's field order whatever order jsonb keeps their keys in, a missing key as its
default). What it cannot spell exactly it does not claim: a type it does not know makes the
listing keep the general path (``prepare`` returns ``None``), and a value out of the range it
spells (a float outside 1e-4..1e15, an instant outside years 1–9999) makes that item ``NULL``,
on which the page is made the general way. A test asks every listing both ways and compares
the bytes (``tests/test_rendered.py``)."""

from __future__ import annotations

import functools
import itertools
import operator
import types
import typing
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import asyncpg
import msgspec
from msgspec import inspect

S = TypeVar("S", bound=msgspec.Struct)


class RowTo(Generic[S]):
    """Row → struct, by column name; columns the struct lacks (sort keys) are ignored. It
    names its struct, so a listing can have PostgreSQL render the same JSON instead.
    ``unchecked`` makes the struct's ``unchecked`` twin instead: for a row only to be
    encoded (a read)."""

    __slots__ = ("struct", "twin")

    def __init__(self, struct: type[S]) -> None:
        self.struct = struct
        self.twin = unchecked(struct)

    def __call__(self, row: asyncpg.Record) -> S:
        return msgspec.convert(dict(row.items()), self.struct)

    def unchecked(self, row: asyncpg.Record) -> Any:
        return msgspec.convert(dict(row.items()), self.twin)


@functools.cache
def unchecked(struct: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """``struct``'s twin without its constraints (patterns, lengths, bounds), for rows that
    were checked as they were written and are read only to be encoded: the same fields,
    names, order, defaults and configuration, so the same JSON (``tests/test_rendered.py``
    compares the bytes for every record of the worked example), made from a row in a
    quarter of the time — the patterns of an official's names and language tags were three
    quarters of making one (2.76 against 0.67 µs)."""
    hints = typing.get_type_hints(struct, include_extras=True)
    config = struct.__struct_config__
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for field in msgspec.structs.fields(struct):
        kind = _loose(hints[field.name])
        if field.default is not msgspec.NODEFAULT:
            fields.append((field.name, kind, field.default))
        elif field.default_factory is not msgspec.NODEFAULT:
            fields.append((field.name, kind, msgspec.field(default_factory=field.default_factory)))
        else:
            fields.append((field.name, kind))
    return msgspec.defstruct(
        f"{struct.__name__}Unchecked",
        fields,
        module=struct.__module__,
        kw_only=True,
        rename={field.name: field.encode_name for field in msgspec.structs.fields(struct)},
        omit_defaults=config.omit_defaults,
        array_like=config.array_like,
        tag=config.tag,
        tag_field=config.tag_field,
    )


def _loose(kind: Any) -> Any:
    """A type without the constraints in it, its structs ``unchecked``."""
    origin = typing.get_origin(kind)
    if origin is typing.Annotated:
        return _loose(typing.get_args(kind)[0])
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return unchecked(kind)
    if origin in (typing.Union, types.UnionType):
        return functools.reduce(operator.or_, [_loose(arg) for arg in typing.get_args(kind)])
    if origin in (list, tuple, set, frozenset, dict):
        return origin[tuple(_loose(arg) for arg in typing.get_args(kind))]
    return kind


class _UnsupportedError(Exception):
    """A type (or a column type for it) this module cannot spell as msgspec does."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _strip(kind: inspect.Type) -> inspect.Type:
    while isinstance(kind, inspect.Metadata):
        kind = kind.type
    return kind


def _nullable(kind: inspect.Type) -> tuple[inspect.Type, bool]:
    """The type without ``None``, and whether ``None`` was allowed."""
    kind = _strip(kind)
    if isinstance(kind, inspect.UnionType) and any(
        isinstance(_strip(t), inspect.NoneType) for t in kind.types
    ):
        rest = [_strip(t) for t in kind.types if not isinstance(_strip(t), inspect.NoneType)]
        return (rest[0] if len(rest) == 1 else inspect.UnionType(tuple(rest))), True
    return kind, False


def _is_text(kind: inspect.Type) -> bool:
    return isinstance(kind, inspect.StrType) or (
        isinstance(kind, inspect.LiteralType) and all(isinstance(v, str) for v in kind.values)
    )


_names = itertools.count()


def _float(expr: str) -> str:
    """msgspec's spelling of a float8 where it agrees with PostgreSQL's shortest one (plain
    decimals between 1e-4 and 1e15), else NULL. ``1.0``, not ``1``."""
    return (
        f"(case when {expr}::text = '0' then '0.0' when {expr}::text = '-0' then '-0.0' "
        f"when abs({expr}) >= 1e-4 and abs({expr}) < 1e15 then "
        f"(case when {expr} = trunc({expr}) then trunc({expr})::numeric::text || '.0' "
        f"else {expr}::text end) end)"
    )


def _instant(expr: str) -> str:
    return (
        f"(case when {expr} >= '0001-01-01Z' and {expr} < '10000-01-01Z' then '\"' || "
        f"replace(to_char({expr} at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
        f"'.000000', '') || 'Z\"' end)"
    )


def _day(expr: str) -> str:
    return (
        f"(case when {expr} >= '0001-01-01' and {expr} <= '9999-12-31' then "
        f"'\"' || to_char({expr}, 'YYYY-MM-DD') || '\"' end)"
    )


def _scalar(kind: inspect.Type, expr: str, column_type: str) -> str:
    """A non-null column value of a scalar type, by its PostgreSQL type."""
    kind = _strip(kind)
    if isinstance(kind, inspect.UUIDType) and column_type == "uuid":
        return f"('\"' || {expr}::text || '\"')"
    if _is_text(kind) and column_type in ("text", "varchar"):
        return f"to_json({expr})::text"
    if isinstance(kind, inspect.IntType) and column_type in ("int2", "int4", "int8"):
        return f"{expr}::text"
    if isinstance(kind, inspect.BoolType) and column_type == "bool":
        return f"(case when {expr} then 'true' else 'false' end)"
    if isinstance(kind, inspect.FloatType) and column_type in ("float4", "float8"):
        return _float(f"{expr}::float8")
    if isinstance(kind, inspect.DateTimeType) and column_type == "timestamptz":
        return _instant(expr)
    if isinstance(kind, inspect.DateType) and column_type == "date":
        return _day(expr)
    raise _UnsupportedError(f"{kind!r} from {column_type}")


def _aggregate(element: str, source: str, alias: str) -> str:
    """``[e1,e2,…]`` of the rendered elements of ``source`` (rows ``alias(v, n)``); NULL when
    any element could not be rendered (``string_agg`` would skip it)."""
    x = f"x{next(_names)}"
    return (
        f"(select case when count(*) = count({x}.j) then "  # noqa: S608
        f"coalesce('[' || string_agg({x}.j, ',' order by {x}.n) || ']', '[]') end "
        f"from (select {element} as j, {alias}.n from {source}) {x})"
    )


def _column(kind: inspect.Type, expr: str, column_type: str) -> str:
    """The JSON of a row's column ``expr`` (of PostgreSQL type ``column_type``) as a field of
    type ``kind``."""
    kind, nullable = _nullable(kind)
    if column_type in ("jsonb", "json"):
        value = expr if column_type == "jsonb" else f"{expr}::jsonb"
        return _json(kind, value, nullable)
    if column_type.endswith("[]"):  # asyncpg names an array type by its element's
        if not isinstance(kind, inspect.ListType):
            raise _UnsupportedError(f"{kind!r} from {column_type}")
        e = f"e{next(_names)}"
        item = _scalar(_strip(kind.item_type), f"{e}.v", column_type[:-2])
        rendered = _aggregate(item, f"unnest({expr}) with ordinality {e}(v, n)", e)
    else:
        rendered = _scalar(kind, expr, column_type)
    if nullable:
        return f"(case when {expr} is null then 'null' else {rendered} end)"
    return rendered


def _json(kind: inspect.Type, value: str, nullable: bool) -> str:
    """The JSON of a jsonb value as a field of type ``kind``, spelled as msgspec would after
    decoding it into that type."""
    inner = _json_inner(kind, value)
    if nullable:
        return f"(case when {value} is null or jsonb_typeof({value}) = 'null' then 'null' else {inner} end)"  # noqa: E501
    return inner


def _json_inner(kind: inspect.Type, value: str) -> str:
    kind = _strip(kind)
    typeof = f"jsonb_typeof({value})"
    if _is_text(kind):
        return f"(case when {typeof} = 'string' then {value}::text end)"
    if isinstance(kind, inspect.UUIDType):
        return f"(case when {typeof} = 'string' then '\"' || ({value} #>> '{{}}')::uuid::text || '\"' end)"  # noqa: E501
    if isinstance(kind, inspect.BoolType):
        return f"(case when {typeof} = 'boolean' then {value}::text end)"
    if isinstance(kind, inspect.IntType):
        return f"(case when {typeof} = 'number' and {value}::text ~ '^-?[0-9]+$' then {value}::text end)"  # noqa: E501
    if isinstance(kind, inspect.UnionType):
        return _json_union(kind, value)
    if isinstance(kind, inspect.ListType):
        e = f"e{next(_names)}"
        item_kind, item_nullable = _nullable(kind.item_type)
        item = _json(item_kind, f"{e}.v", item_nullable)
        rendered = _aggregate(item, f"jsonb_array_elements({value}) with ordinality {e}(v, n)", e)
        return f"(case when {typeof} = 'array' then {rendered} end)"
    if isinstance(kind, inspect.StructType):
        return _json_struct(kind, value)
    raise _UnsupportedError(repr(kind))


def _json_union(kind: inspect.UnionType, value: str) -> str:
    """A union of scalars (a claim's ``object_value``): its JSON as jsonb keeps it."""
    typeof = f"jsonb_typeof({value})"
    accepted = []
    for member in (_strip(t) for t in kind.types):
        if isinstance(member, inspect.StrType):
            accepted.append(f"{typeof} = 'string'")
        elif isinstance(member, inspect.BoolType):
            accepted.append(f"{typeof} = 'boolean'")
        elif isinstance(member, inspect.IntType):
            accepted.append(f"({typeof} = 'number' and {value}::text ~ '^-?[0-9]+$')")
        else:
            raise _UnsupportedError(repr(kind))
    return f"(case when {' or '.join(accepted)} then {value}::text end)"


def _json_struct(kind: inspect.StructType, value: str) -> str:
    """A jsonb object as the struct: its fields in order, a missing one as its default."""
    config = kind.cls.__struct_config__
    if config.omit_defaults or config.tag is not None or config.array_like:
        raise _UnsupportedError(repr(kind))
    parts = []
    for index, field in enumerate(kind.fields):
        if _unset(field):
            raise _UnsupportedError(f"{kind.cls.__name__}.{field.name} may be left out")
        field_kind, field_nullable = _nullable(field.type)
        present = _json(field_kind, f"({value} -> {_literal(field.name)})", field_nullable)
        default = _default(field)
        if default is None:
            rendered = f"(case when {value} ? {_literal(field.name)} then {present} end)"
        else:
            rendered = (
                f"(case when {value} ? {_literal(field.name)} then {present} "
                f"else {_literal(default)} end)"
            )
        key = ("{" if index == 0 else ",") + msgspec.json.encode(field.encode_name).decode()
        parts.append(f"{_literal(key + ':')} || {rendered}")
    body = " || ".join(parts) + " || '}'" if parts else "'{}'"
    return f"(case when jsonb_typeof({value}) = 'object' then {body} end)"


def _unset(field: inspect.Field) -> bool:
    """Whether the field may be left out (``UNSET``): not required, yet without a default."""
    return (
        not field.required
        and field.default is msgspec.NODEFAULT
        and field.default_factory is msgspec.NODEFAULT
    )


def _default(field: inspect.Field) -> str | None:
    """The JSON of a field's default, or None when it has none (or one left out: UNSET)."""
    if field.default is not msgspec.NODEFAULT:
        if field.default is msgspec.UNSET:
            return None
        return msgspec.json.encode(field.default).decode()
    if field.default_factory is not msgspec.NODEFAULT:
        return msgspec.json.encode(field.default_factory()).decode()
    return None


def item_sql(struct: type[msgspec.Struct], columns: dict[str, str], source: str) -> str:
    """SQL for the JSON text of one item of ``struct`` made from a row of ``source`` (an
    alias) whose columns (name → PostgreSQL type) are ``columns``. Raises ``_UnsupportedError``."""
    info = inspect.type_info(struct)
    assert isinstance(info, inspect.StructType)
    config = struct.__struct_config__
    if config.omit_defaults or config.tag is not None or config.array_like:
        raise _UnsupportedError(struct.__name__)
    parts = []
    for field in info.fields:
        key = msgspec.json.encode(field.encode_name).decode() + ":"
        if field.name in columns:
            value = _column(field.type, f"{source}.{_quote(field.name)}", columns[field.name])
        elif _unset(field):
            continue  # an embed (``?include=``) the listing does not select: left out
        else:
            default = _default(field)
            if default is None:
                raise _UnsupportedError(f"{struct.__name__}.{field.name} is not selected")
            value = _literal(default)
        parts.append((key, value))
    if not parts:
        raise _UnsupportedError(struct.__name__)
    pieces = [
        f"{_literal(('{' if index == 0 else ',') + key)} || {value}"
        for index, (key, value) in enumerate(parts)
    ]
    return " || ".join(pieces) + " || '}'"


async def prepare(
    conn: Any, select: str, struct: type[msgspec.Struct], source: str = "s"
) -> str | None:
    """The item SQL for rows of ``select`` (a listing's select, no where/order/limit), or None
    when some field cannot be rendered exactly (the listing keeps the general path)."""
    statement = await conn.prepare(f"select * from ({select}) {source} limit 0")  # noqa: S608
    columns = {a.name: a.type.name for a in statement.get_attributes()}
    try:
        item = item_sql(struct, columns, source)
    except _UnsupportedError:
        return None
    # Valid SQL, or a startup error rather than a failing page.
    await conn.prepare(f"select {item} from ({select}) {source} limit 0")  # noqa: S608
    return item


def struct_of(make: Callable[[asyncpg.Record], Any]) -> type[msgspec.Struct] | None:
    """The struct a listing's rows become, when they become it by column name."""
    return make.struct if isinstance(make, RowTo) else None
