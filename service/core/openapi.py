"""What the contract says beyond Litestar's defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

# Litestar's own struct schema plugin, extended rather than rewritten (not re-exported publicly).
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import (
    Link,
    OpenAPI,
    OpenAPIResponse,
    Operation,
    Reference,
    RequestBody,
    Schema,
)

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Structs that refuse unknown fields say so: ``additionalProperties: false``, so clients
    and contract tests know an extra member is a 400."""

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        if field_definition.type_.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        return schema


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
