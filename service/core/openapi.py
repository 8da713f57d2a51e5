"""What the contract says beyond Litestar's defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

# Litestar's own struct schema plugin, extended rather than rewritten (not re-exported publicly).
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin

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
