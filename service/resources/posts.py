"""Posts: positions in an organization that exist whoever holds them (Minister of Defence of
Ukraine, Press Secretary of the President of Russia), and who held them on a date."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Request, Response, get
from litestar.params import QueryParameter

from service.core.pagination import (
    PAGE_HEADERS,
    CursorParam,
    Limit,
    Page,
    public_collection,
    standard_sorts,
)
from service.core.params import DisputedQuery, NameQuery, UpdatedSince
from service.core.problems import problem_responses
from service.core.records import RecordId, patch_of
from service.core.routes import ResourceRouter, record_handlers
from service.core.tables import TITLE_MATCHES, Table, page_of_existing, record_filters
from service.core.types import Citations, Note, Title
from service.resources import claims
from service.resources.tenures import HOLDERS_OF_POST, TenurePage

# --- structs -----------------------------------------------------------------------------------


class PostCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A position in an organization."""

    title: Title
    organization_id: UUID
    single_holder: bool = True
    """One holder at a time (a minister) or several (presidential aides); PostgreSQL refuses
    role changes that would give a one-holder post two holders at once."""
    citations: Citations = msgspec.field(default_factory=list)
    note: Note | None = None


PostPatch = patch_of(PostCreate)


class Post(PostCreate, kw_only=True, forbid_unknown_fields=False):
    id: UUID
    version: int
    """Revision number, +1 on every change; the ETag carries it."""
    created_at: datetime
    updated_at: datetime
    disputed: bool
    """True while claims about it disagree (see its `claims`); read-only."""


class PostPage(Page[Post]):
    """A page of posts."""


# --- queries -----------------------------------------------------------------------------------

TABLE = Table(
    table="posts",
    label="post",
    columns="id, version, created_at, updated_at, title, organization_id, single_holder, note",
    record=Post,
    create=PostCreate,
    writes=("title", "organization_id", "single_holder", "note"),
    params=lambda p: (p.title, p.organization_id, p.single_holder, p.note),
)

LISTING = TABLE.listing(
    PostPage,
    name="posts",
    sorts=standard_sorts(("title", str)),
    filters={
        "organization_id": "organization_id = {0}",
        "single_holder": "single_holder = {0}",
        "title": TITLE_MATCHES,
    },
)

CREATE_EXAMPLE: dict[str, Any] = {
    "title": "Minister of Defence of Ukraine",
    "organization_id": "0193a0a0-0000-7000-8000-000000000006",
    "single_holder": True,
}
PATCH_EXAMPLE: dict[str, Any] = {"note": "Appointed and dismissed by the Verkhovna Rada."}

# --- handlers ----------------------------------------------------------------------------------


@public_collection(
    LISTING,
    operation_id="listPosts",
    summary="List posts",
    description="Filter by organization, one-holder or not, and title (substring or close "
    "spelling, ignoring case and accents). Cursor-paginated.",
)
async def list_posts(
    request: Request[Any, Any, Any],
    organization_id: Annotated[UUID | None, QueryParameter()] = None,
    single_holder: Annotated[bool | None, QueryParameter()] = None,
    title: NameQuery = None,
    updated_since: UpdatedSince = None,
    disputed: DisputedQuery = None,
    sort: Annotated[Literal["id", "title", "-title"], QueryParameter()] = "id",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[PostPage]:
    filters = LISTING.where(
        organization_id=organization_id,
        single_holder=single_holder,
        title=title,
        **record_filters(updated_since, disputed),
    )
    return await LISTING.page(request, filters, limit=limit, cursor=cursor, sort=sort)


@get(
    "/{id:uuid}/holders",
    operation_id="listPostHolders",
    summary="Who held the post on a date",
    description="Derived from effective role changes: the tenures that include `at` "
    "(default: today). A tenure's `end` is the first day it was no longer held, so on the "
    "day of a dismissal the successor appointed that day is the holder.",
    response_headers=PAGE_HEADERS,
    responses=problem_responses(404),
)
async def list_post_holders(
    request: Request[Any, Any, Any],
    id: RecordId,
    at: Annotated[
        date | None, QueryParameter(description="The day asked about (`YYYY-MM-DD`).")
    ] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Response[TenurePage]:
    filters = HOLDERS_OF_POST.where(post_id=id, at=at or date.today())
    return await page_of_existing(
        request, HOLDERS_OF_POST, filters, TABLE, id, limit=limit, cursor=cursor
    )


def router() -> ResourceRouter:
    return ResourceRouter(
        "/v1/posts",
        tags=["posts"],
        route_handlers=[
            list_posts,
            list_post_holders,
            *record_handlers(
                TABLE,
                create_example=CREATE_EXAMPLE,
                patch_example=PATCH_EXAMPLE,
                name="Post",
                patch_type=PostPatch,
                referenced_by="role changes",
            ),
            claims.about(TABLE, "Post"),
        ],
    )
