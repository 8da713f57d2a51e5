"""What every single-record operation shares: ETags from the row's version, conditional
requests (``If-None-Match`` → 304, ``If-Match`` → 412), 201 with ``Location``, and JSON merge
patch (RFC 7396) validated exactly like a create."""

from __future__ import annotations

import typing
from typing import Annotated, Any, TypeVar
from uuid import UUID

import msgspec
from litestar import Request
from litestar.datastructures import ResponseHeader
from litestar.params import HeaderParameter, PathParameter

from service.core.problems import FieldError, ProblemError
from service.core.responses import Encoded

S = TypeVar("S", bound=msgspec.Struct)
C = TypeVar("C", bound=msgspec.Struct)


IF_NONE_MATCH_MAX = 1024
IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-None-Match",
        max_length=IF_NONE_MATCH_MAX,
        description="An ETag from an earlier read; 304 with no body when it still matches.",
    ),
]
IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        max_length=1024,
        description="The ETag the change is based on; 412 if the record has changed since.",
    ),
]

RecordId = Annotated[UUID, PathParameter(description="The record's id.")]

ETAG_HEADER = ResponseHeader(
    name="ETag",
    description="Version tag of the record, for If-Match / If-None-Match.",
    required=True,
    documentation_only=True,
)
LOCATION_HEADER = ResponseHeader(
    name="Location",
    description="URL of the created record.",
    required=True,
    documentation_only=True,
)


def etag(version: int, checksum: int | None = None) -> str:
    """``"7"``: the record's version; ``"7-1a2b3c4d"`` when the representation also holds
    values derived from other records (the checksum follows those)."""
    return f'"{version}"' if checksum is None else f'"{version}-{checksum:08x}"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",")]


def fresh(if_none_match: str | None, tag: str) -> bool:
    """True when the client's copy is current (weak comparison, RFC 9110 §13.1.2)."""
    if if_none_match is None:
        return False
    tags = [tag.removeprefix("W/") for tag in _tags(if_none_match)]
    return "*" in tags or tag in tags


def _version_of(tag: str) -> str | None:
    """The record version a strong ETag names (``"7"`` and ``"7-1a2b3c4d"`` both name 7)."""
    if len(tag) < 3 or not tag.startswith('"') or not tag.endswith('"'):
        return None
    return tag[1:-1].split("-", 1)[0]


def check_if_match(if_match: str | None, version: int) -> None:
    """412 unless ``If-Match`` is absent, ``*`` or names the current version (strong
    comparison, RFC 9110 §13.1.1). A write changes only the record's own fields, so any ETag
    of its current version will do, whatever derived values it was read with."""
    if if_match is None:
        return
    tags = _tags(if_match)
    if "*" not in tags and str(version) not in {_version_of(tag) for tag in tags}:
        raise ProblemError(
            412,
            "stale",
            f"The record is at ETag {etag(version)}; re-read it and apply the change again.",
        )


def written(item: S, tag: str) -> Encoded[S]:
    return Encoded(item, headers={"ETag": tag})


def created(request: Request[Any, Any, Any], item: S, tag: str) -> Encoded[S]:
    location = f"{request.url.path.rstrip('/')}/{getattr(item, 'id')}"  # noqa: B009
    return Encoded(item, status_code=201, headers={"ETag": tag, "Location": location})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge member by member, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def patched(current: msgspec.Struct, patch: msgspec.Struct, create_type: type[C]) -> C:
    """The create struct that results from applying ``patch`` to ``current``, validated as a
    create would be."""
    fields = create_type.__struct_fields__
    document = msgspec.to_builtins(current)
    target = {name: document[name] for name in fields if document.get(name) is not None}
    merged = merge_patch(target, msgspec.to_builtins(patch))
    try:
        return msgspec.convert(merged, create_type)
    except msgspec.ValidationError as exc:
        raise ProblemError(
            422,
            "invalid-result",
            f"The patched record would be invalid: {exc}",
            errors=[FieldError(message=str(exc), source="body")],
        ) from None


def patch_of(create_type: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """The merge-patch body for a create struct: every field optional; fields that may be
    absent on create may also be ``null`` (which removes them)."""
    info = msgspec.inspect.type_info(create_type)
    assert isinstance(info, msgspec.inspect.StructType)
    hints = typing.get_type_hints(create_type, include_extras=True)
    fields: list[tuple[str, Any, Any]] = []
    for field in info.fields:
        annotation = hints[field.name]
        if not field.required:
            annotation = annotation | None
        fields.append((field.name, annotation | msgspec.UnsetType, msgspec.UNSET))
    return msgspec.defstruct(
        f"{create_type.__name__.removesuffix('Create')}Patch",
        fields,
        kw_only=True,
        forbid_unknown_fields=True,
        module=create_type.__module__,
    )
