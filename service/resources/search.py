"""Search across officials (every name and spelling), organizations, posts, memoranda,
agreements and statements. Names match ignoring case and accents and tolerating misspellings
(trigram indexes); text matches words, `"phrases"` and `prefix*` (tsvector indexes). Results
are ranked, each with its kind and a link."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Request, Response, get
from litestar.params import QueryParameter

from service.core.pagination import PAGE_HEADERS, CursorParam, Limit, Listing, Page, SortKey
from service.core.problems import problem_responses
from service.core.routes import ResourceRouter
from service.core.tables import row_to
from service.core.types import NO_NUL_PATTERN

# --- structs -----------------------------------------------------------------------------------

ResultKind = Literal["official", "organization", "post", "memorandum", "agreement", "statement"]


class SearchResult(msgspec.Struct, kw_only=True):
    kind: ResultKind
    id: UUID
    title: str
    """The name or title (a statement's first words)."""
    href: str
    rank: float
    """Higher is closer: 1 for an exact name or title; names rank by how well the query
    matches any of them and the main one, text by its words."""


class SearchPage(Page[SearchResult]):
    """A page of search results, best first."""


# --- queries -----------------------------------------------------------------------------------

_WORDS = re.compile(r'"([^"]*)"|(\S+)')
_NOT_WORD = re.compile(r"[^\w]")


def text_query(q: str) -> str | None:
    """The tsquery for the text part of a search: every word must match, `"a b"` is a
    phrase, `word*` a prefix; anything else in the input is dropped, so any text is safe."""
    terms = []
    for phrase, word in _WORDS.findall(q):
        if phrase:
            words = [w for w in (_NOT_WORD.sub("", part) for part in phrase.split()) if w]
            if words:
                terms.append("(" + " <-> ".join(words) + ")")
        elif cleaned := _NOT_WORD.sub("", word):
            terms.append(cleaned + (":*" if word.endswith("*") else ""))
    return " & ".join(terms) or None


# $1 is the query as typed (names), $2 its tsquery (text; null when it has no words). A name
# ranks by its best-matching spelling and by the main name, so `Ukraine` puts the state before
# the posts whose titles contain it.
#
# Each is read through a scalar subquery, which PostgreSQL runs once per search (an InitPlan)
# and cannot see into while planning: seen, the query's text made it estimate every trigram
# and text condition on the tables' statistics at every search, and a plan that depends on
# the text cannot be kept for the next one. Unseen, one plan serves every search, on the same
# indexes: the backend's CPU for a search went from 7.8 to 4.8 ms (a name) and from 8.6 to
# 5.9 ms (a phrase).
_NAMES = "(select accord_fold($1))"
_LIKE = "(select accord_contains($1))"
_WORDS_QUERY = "(select to_tsquery('simple', accord_fold($2)))"
_NAMED = f"""
    select {{kind}} as kind, id, {{title}} as title,
           ((word_similarity({_NAMES}, {{names}})
             + similarity({_NAMES}, accord_fold({{title}}))) / 2)::float8 as rank
      from {{table}}
     where {{names}} like {_LIKE} or {_NAMES} <% {{names}}"""  # noqa: S608
_TITLED = f"""
    select {{kind}} as kind, id, title,
           greatest(word_similarity({_NAMES}, accord_fold(title)),
                    ts_rank(search_text, {_WORDS_QUERY}))::float8
      from {{table}}
     where accord_fold(title) like {_LIKE} or {_NAMES} <% accord_fold(title)
        or search_text @@ {_WORDS_QUERY}"""  # noqa: S608
_HITS = " union all ".join(
    [
        _NAMED.format(kind="'official'", title="name", names="search_names", table="officials"),
        _NAMED.format(
            kind="'organization'", title="name", names="search_names", table="organizations"
        ),
        _NAMED.format(kind="'post'", title="title", names="accord_fold(title)", table="posts"),
        _TITLED.format(kind="'memorandum'", table="memoranda"),
        _TITLED.format(kind="'agreement'", table="agreements"),
        f"""
    select 'statement', id, accord_shorten(quote, 200),
           ts_rank(search_text, {_WORDS_QUERY})::float8
      from statements
     where search_text @@ {_WORDS_QUERY}""",  # noqa: S608
    ]
)

LISTING = Listing(
    page_type=SearchPage,
    name="search",
    select=f"select hits.*, accord_href(hits.kind, hits.id) as href from ({_HITS}) hits",  # noqa: S608
    sorts={
        "rank": SortKey(
            (
                ("hits.rank", "rank", float),
                ("hits.kind", "kind", str),
                ("hits.id", "id", UUID),
            ),
            descending=True,
        )
    },
    default_sort="rank",
    make=row_to(SearchResult),
    filters={"kind": "hits.kind = {0}"},
)

# --- handlers ----------------------------------------------------------------------------------


@get(
    "/",
    operation_id="search",
    summary="Search everything",
    description="Officials by any name or spelling in any script (`Medinskiy`, `Medinski`, "
    "`Мединский` all find Vladimir Medinsky), organizations, posts, memoranda, agreements "
    'and statements. Text matches every word, `"exact phrases"` and `prefix*`. Best '
    "first; cursor-paginated.",
    response_headers=PAGE_HEADERS,
    responses=problem_responses(422),
)
async def search(
    request: Request[Any, Any, Any],
    q: Annotated[
        str,
        QueryParameter(
            min_length=1, max_length=200, pattern=NO_NUL_PATTERN, description="What to find."
        ),
    ],
    kind: Annotated[ResultKind | None, QueryParameter()] = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Response[SearchPage]:
    filters = LISTING.where(kind=kind)
    return await LISTING.page(
        request, filters, limit=limit, cursor=cursor, leading=(q, text_query(q))
    )


def router() -> ResourceRouter:
    return ResourceRouter("/v1/search", tags=["search"], route_handlers=[search])
