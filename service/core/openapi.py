"""What the contract says beyond Litestar's defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

# Litestar's own struct schema plugin, extended rather than rewritten (not re-exported publicly).
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import Link, OpenAPI, OpenAPIResponse

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
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
    """OpenAPI links from each create operation to what can be done with the record it made
    (get, change, delete, its history and claims), so clients and schemathesis's stateful
    phase can chain real calls: the new record's `id` fills the `{id}` of each."""
    operations = {
        operation.operation_id: operation
        for item in (document.paths or {}).values()
        for operation in (item.get, item.post, item.patch, item.delete)
        if operation is not None and operation.operation_id
    }
    for operation_id, operation in operations.items():
        if not operation_id.startswith("create") or operation.responses is None:
            continue
        created = operation.responses.get("201")
        if not isinstance(created, OpenAPIResponse):
            continue
        name = operation_id.removeprefix("create")
        targets = [f"get{name}", f"update{name}", f"delete{name}", f"list{name}History"]
        targets.append(f"list{name}Claims")
        created.links = {
            target: Link(
                operation_id=target,
                parameters={"id": "$response.body#/id"},
                description=f"`id` of the created record into `{target}`.",
            )
            for target in targets
            if target in operations
        }
