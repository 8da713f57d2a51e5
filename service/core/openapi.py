"""What the contract says beyond Litestar's defaults."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

# Litestar's own struct schema plugin, extended rather than rewritten (not re-exported publicly).
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.enums import ParamType
from litestar.openapi.spec import (
    Discriminator,
    License,
    Link,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Schema,
)
from litestar.typing import FieldDefinition
from litestar.utils.typing import get_type_hints_with_generics_resolved

from service.core.bulk import CSV_CELLS
from service.core.logs import REQUEST_ID_DESCRIPTION, REQUEST_ID_HEADER, REQUEST_ID_PATTERN
from service.core.problems import PROBLEM_HEADERS
from service.core.replica import LSN_HEADER, LSN_PATTERN, MIN_LSN_HEADER

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """What Litestar's struct schemas leave out:

    - structs that refuse unknown fields say so (``additionalProperties: false``), so clients
      and contract tests know an extra member is a 400;
    - a struct declared as a subclass of a generic one (``class OfficialPage(Page[Official])``)
      gets its fields with the type arguments filled in: ``items`` is an array of `Official`,
      not of ``{type: object}``, so a generated client can read a page's items;
    - a constrained string in a union of several types (a claim's `object_value`: text,
      number or boolean) keeps its constraints, beside the ``oneOf`` (where JSON Schema
      applies them to strings only);
    - a struct that accepts unknown fields is a record, only ever encoded (every struct a
      request is decoded into refuses them), and msgspec encodes each of its fields, default
      or not, unless it is ``UNSET`` (an embed not asked for): those fields are required, so a
      generated client types a record's ``note`` as ``str | None``, not as possibly absent;
      so is a tagged struct's tag (a change's `resource`), which a discriminator reads."""

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        struct = field_definition.type_
        if struct.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        properties = schema.properties if schema.properties is not None else {}
        for name, annotation in _generic_fields(struct).items():
            properties[name] = schema_creator.for_field_definition(
                FieldDefinition.from_annotation(annotation, name=name)
            )
        info = msgspec.inspect.type_info(struct)
        assert isinstance(info, msgspec.inspect.StructType)
        config = struct.__struct_config__
        if not config.forbid_unknown_fields and not config.omit_defaults:
            # msgspec.inspect shows an UNSET default as neither required nor defaulted, and a
            # tagged struct's tag (a change's `resource`), always encoded, not as a field.
            schema.required = sorted(
                [
                    field.encode_name
                    for field in info.fields
                    if field.required
                    or field.default is not msgspec.NODEFAULT
                    or field.default_factory is not msgspec.NODEFAULT
                ]
                + ([info.tag_field] if info.tag_field is not None else [])
            )
        for field in info.fields:
            prop = properties.get(field.encode_name)
            if isinstance(prop, Schema) and isinstance(field.type, msgspec.inspect.UnionType):
                _string_constraints(prop, field.type)
        return schema


def _generic_fields(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """The fields a generic base declares with a type variable, with the type arguments the
    struct's declaration gives (``{"items": list[Official]}`` for ``Page[Official]``)."""
    fields: dict[str, Any] = {}
    for base in getattr(struct, "__orig_bases__", ()):
        origin = typing.get_origin(base)
        if not (isinstance(origin, type) and issubclass(origin, msgspec.Struct)):
            continue
        declared = typing.get_type_hints(origin, include_extras=True)
        resolved = get_type_hints_with_generics_resolved(
            base, include_extras=True, type_hints=declared
        )
        fields.update(
            (name, resolved[name]) for name, hint in declared.items() if _has_type_var(hint)
        )
    return fields


def _string_constraints(prop: Schema, union: msgspec.inspect.UnionType) -> None:
    for member in union.types:
        if isinstance(member, msgspec.inspect.StrType):
            prop.pattern = prop.pattern or member.pattern
            prop.min_length = prop.min_length or member.min_length
            prop.max_length = prop.max_length or member.max_length


def _has_type_var(hint: Any) -> bool:
    return isinstance(hint, TypeVar) or any(_has_type_var(arg) for arg in typing.get_args(hint))


def finish(document: OpenAPI, webhooks: dict[str, PathItem | Reference] | None = None) -> None:
    """What the contract says beyond what Litestar generates from the handlers, so that it
    passes the redocly recommended rules and a generated client gets types for everything:

    - the requests Accord itself sends (``webhooks``, which Litestar's handlers cannot
      describe) are the document's top-level ``webhooks`` (OpenAPI 3.1);
    - every operation says who may call it: a write names its scheme, a public read
      ``security: []``;
    - every response header has a schema, and error responses document the headers they
      carry (``Retry-After`` on 429 and 503, ``WWW-Authenticate`` on 401); every response of
      Accord's (not of the webhooks' receivers) carries ``X-Request-ID``;
    - a ``oneOf``/``anyOf`` with a single branch (an optional member that cannot be ``null``,
      such as a required field in a merge patch) is that branch, and a schema left as nothing
      but a reference (a change's `record`) is that reference;
    - a ``oneOf`` of structs told apart by a constant member (a change's `resource`) names
      it as its ``discriminator``, so a generated client picks the right model at once;
    - every collection (an operation answering a page with ``next_cursor``) documents its
      exports beside the page: ``application/x-ndjson``, a line per item, and ``text/csv``;
    - every read but health takes ``Accord-Min-LSN`` and every write's success carries
      ``Accord-LSN`` (``service.core.replica``: read-your-writes on a replica);
    - the licence is named."""
    document.info.license = License(name="Apache-2.0", identifier="Apache-2.0")
    document.webhooks = webhooks
    if document.components is not None:
        document.components.headers = {
            **(document.components.headers or {}),
            _REQUEST_ID: OpenAPIHeader(
                description=REQUEST_ID_DESCRIPTION,
                required=True,
                schema=Schema(type=OpenAPIType.STRING, pattern=REQUEST_ID_PATTERN),
            ),
        }
    components = (document.components.schemas or {}) if document.components else {}
    positions = _position_components()
    items = [
        *((item, True) for item in (document.paths or {}).values()),
        *((item, False) for item in (webhooks or {}).values()),
    ]
    for item, ours in items:
        if isinstance(item, Reference):
            continue
        for operation in (item.get, item.put, item.post, item.patch, item.delete, item.head):
            if operation is None:
                continue
            if operation.security is None:
                operation.security = []
            _document_exports(operation, components)
            if ours:  # not the requests Accord sends (webhooks)
                _document_positions(operation, positions, read=operation is item.get)
            for status, response in (operation.responses or {}).items():
                if not isinstance(response, OpenAPIResponse):
                    continue
                headers = response.headers if response.headers is not None else {}
                headers.update(
                    (name, OpenAPIHeader(description=description, schema=_STRING))
                    for name, description in PROBLEM_HEADERS.get(int(status), {}).items()
                    if name not in headers
                )
                if ours:
                    headers[REQUEST_ID_HEADER] = Reference(f"#/components/headers/{_REQUEST_ID}")
                for header in headers.values():
                    if isinstance(header, OpenAPIHeader) and header.schema is None:
                        header.schema = _STRING
                response.headers = headers or None

    def tidy(schema: Schema) -> Schema | Reference:
        _collapse_lone_branches(schema)
        _discriminate(schema, components)
        return _reference_of(schema)

    _rewrite(document, tidy)


_STRING = Schema(type=OpenAPIType.STRING)
_REQUEST_ID = "RequestId"

CSV_TEXT = (
    "Every matching item (`limit` does not apply; a `cursor` starts after its page) as " + CSV_CELLS
)
NDJSON_TEXT = (
    "Every matching item (`limit` does not apply; a `cursor` starts after its page), one "
    "per line, each exactly as the JSON page has it, read in one snapshot (`Accord-Seq`)."
)


def _document_exports(operation: Operation, components: dict[str, Schema]) -> None:
    """A collection's 200 is its JSON page, or the export ``Listing.page`` streams for
    ``Accept: application/x-ndjson`` (each line an item, the page's item schema) or
    ``text/csv``."""
    ok = (operation.responses or {}).get("200")
    media = (
        ok.content.get("application/json")
        if isinstance(ok, OpenAPIResponse) and ok.content
        else None
    )
    page = media.schema if media is not None else None
    if not isinstance(ok, OpenAPIResponse) or not isinstance(page, Reference):
        return
    schema = components.get(page.ref.rsplit("/", 1)[-1])
    properties = (schema.properties or {}) if schema is not None else {}
    items = properties.get("items")
    if "next_cursor" not in properties or not isinstance(items, Schema) or items.items is None:
        return
    ok.content = {**(ok.content or {}), **lines_content(items.items, NDJSON_TEXT, CSV_TEXT)}


MIN_LSN_TEXT = (
    "Read-your-writes: the `Accord-LSN` of a write this read must see (`16/B374D848`). A read "
    "replica answers only once it has replayed that position, else the primary does; a value "
    "that is not such a position is read on the primary. Without it, a read may come from a "
    "replica up to `ACCORD_REPLICA_MAX_LAG_S` seconds behind."
)
LSN_TEXT = (
    "The primary's WAL position after this write committed; send it back as `Accord-Min-LSN` "
    "on a read that must see the write."
)


def _position_components() -> tuple[Parameter, OpenAPIHeader]:
    """``Accord-Min-LSN`` and ``Accord-LSN``, as every read and write documents them."""
    return (
        Parameter(
            name=MIN_LSN_HEADER,
            param_in=ParamType.HEADER,
            required=False,
            description=MIN_LSN_TEXT,
            # No `pattern`: see service.core.replica.NOT_A_POSITION.
            schema=Schema(type=OpenAPIType.STRING),
        ),
        OpenAPIHeader(
            description=LSN_TEXT,
            required=True,
            schema=Schema(type=OpenAPIType.STRING, pattern=LSN_PATTERN),
        ),
    )


def _document_positions(
    operation: Operation, positions: tuple[Parameter, OpenAPIHeader], *, read: bool
) -> None:
    """``Accord-Min-LSN`` on a read (health aside), ``Accord-LSN`` on a write's successes."""
    min_lsn, lsn = positions
    if read:
        if "health" not in (operation.tags or []):
            operation.parameters = [*(operation.parameters or []), min_lsn]
        return
    for status, response in (operation.responses or {}).items():
        if isinstance(response, OpenAPIResponse) and status.startswith("2"):
            response.headers = {**(response.headers or {}), LSN_HEADER: lsn}


def lines_content(
    item: Schema | Reference, lines: str, csv: str = CSV_CELLS
) -> dict[str, OpenAPIMediaType]:
    """The NDJSON and CSV forms of many records, as an export answers them and an import
    takes them: NDJSON lines each an ``item`` (``lines`` says what they are), CSV as text
    (``csv`` says how it is written)."""
    return {
        "application/x-ndjson": OpenAPIMediaType(
            schema=Schema(all_of=[item], description=lines)
            if isinstance(item, Reference)
            else dataclasses.replace(item, description=lines)
        ),
        "text/csv": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, description=csv)),
    }


def _rewrite(node: Any, tidy: Callable[[Schema], Any]) -> Any:
    """``node`` with every schema object in it, innermost first, replaced by what ``tidy``
    makes of it (the schema itself, changed in place, or what stands for it)."""
    if isinstance(node, list):
        node[:] = [_rewrite(value, tidy) for value in node]
    elif isinstance(node, dict):
        node.update((key, _rewrite(value, tidy)) for key, value in node.items())
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for field in dataclasses.fields(node):
            setattr(node, field.name, _rewrite(getattr(node, field.name), tidy))
        if isinstance(node, Schema):
            return tidy(node)
    return node


def _collapse_lone_branches(schema: Schema) -> None:
    for keyword in ("one_of", "any_of"):
        branches = getattr(schema, keyword)
        if branches is not None and len(branches) == 1:
            setattr(schema, keyword, None)
            _fold(schema, branches[0])


def _reference_of(value: Schema) -> Schema | Reference:
    """A schema that is only ``allOf`` one reference (what folding a lone branch leaves when
    nothing stands beside it) is the reference: an ``allOf`` of one says nothing more, and
    redocly's rules refuse it."""
    if (
        value.all_of is not None
        and len(value.all_of) == 1
        and isinstance(value.all_of[0], Reference)
        and dataclasses.replace(value, all_of=None) == Schema()
    ):
        return value.all_of[0]
    return value


def _discriminate(schema: Schema, components: dict[str, Schema]) -> None:
    """Name the member whose constant tells a ``oneOf``'s component schemas apart."""
    branches = schema.one_of or []
    if len(branches) < 2 or not all(isinstance(b, Reference) for b in branches):
        return
    refs = [b.ref for b in branches if isinstance(b, Reference)]
    targets = [components.get(ref.rsplit("/", 1)[-1]) for ref in refs]
    for name in (targets[0].properties or {}) if targets[0] else {}:
        constants = [_constant(target, name) for target in targets]
        if None not in constants and len(set(constants)) == len(constants):
            mapping = {str(value): ref for value, ref in zip(constants, refs, strict=True)}
            schema.discriminator = Discriminator(property_name=name, mapping=mapping)
            return


def _constant(schema: Schema | None, member: str) -> Any:
    prop = (schema.properties or {}).get(member) if schema else None
    return prop.const if isinstance(prop, Schema) else None


def _fold(target: Schema, branch: Schema | Reference) -> None:
    """Put a lone branch's keywords into the schema that held it (a reference stays a
    reference, under ``allOf``, so the schema's own description and constraints still
    apply)."""
    if isinstance(branch, Reference):
        target.all_of = [*(target.all_of or []), branch]
        return
    for field in dataclasses.fields(branch):
        value = getattr(branch, field.name)
        if value is not None and getattr(target, field.name) is None:
            setattr(target, field.name, value)


def link_created_records(document: OpenAPI) -> None:
    """OpenAPI links from each create operation to what can be done with the record it made,
    so clients and schemathesis's stateful phase can chain real calls:

    - the new record's `id` fills the `{id}` of every operation under its path (get, change,
      delete, history, claims and its own sub-collections: versions, cited-by, tenures…);
    - it fills the `<name>_id` member of every other create that refers to such a record (a new
      negotiation's id into the body of a new round, delegation or memorandum)."""
    operations = [
        (path, operation.operation_id, operation)
        for path, item in (document.paths or {}).items()
        for operation in (item.get, item.post, item.patch, item.delete)
        if operation is not None and operation.operation_id
    ]
    creates = {
        operation_id: (path, operation)
        for path, operation_id, operation in operations
        if operation_id.startswith("create") and "{" not in path
    }
    for name, (path, operation) in creates.items():
        created = (operation.responses or {}).get("201")
        if not isinstance(created, OpenAPIResponse):
            continue
        links: dict[str, Link | Reference] = {}
        for target_path, target, _ in operations:
            if target_path.startswith(f"{path}/{{id}}"):
                links[target] = Link(
                    operation_id=target,
                    parameters={"id": "$response.body#/id"},
                    description=f"`id` of the created record into `{target}`.",
                )
        member = _snake(name.removeprefix("create")) + "_id"
        for other, (_, other_operation) in creates.items():
            if other != name and member in _body_members(document, other_operation):
                links[other] = Link(
                    operation_id=other,
                    request_body={member: "$response.body#/id"},
                    description=f"`id` of the created record as `{member}` of `{other}`.",
                )
        created.links = links or None


def _snake(name: str) -> str:
    """`RoleChange` → `role_change`."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _body_members(document: OpenAPI, operation: Operation) -> set[str]:
    """The members of an operation's JSON request body (its schema is a component, referred
    to directly or as the one part of an `allOf` that carries the examples)."""
    body = operation.request_body
    if not isinstance(body, RequestBody):
        return set()
    media = body.content.get("application/json")
    schema = media.schema if media is not None else None
    if isinstance(schema, Schema) and schema.all_of and len(schema.all_of) == 1:
        schema = schema.all_of[0]
    if isinstance(schema, Reference):
        components = (document.components.schemas or {}) if document.components else {}
        schema = components.get(schema.ref.rsplit("/", 1)[-1])
    if not isinstance(schema, Schema):
        return set()
    return set(schema.properties or {})
