"""Query parameters several resources share. Constraints sit on the parameter itself:
Litestar applies (and documents) constraints of an optional query parameter only from there,
not from a constrained type inside ``X | None``."""

from __future__ import annotations

from typing import Annotated

from litestar.params import QueryParameter

from service.core.types import (
    COUNTRY_CODE_PATTERN,
    INSTANT_PATTERN,
    NO_NUL_PATTERN,
    PARTIAL_DATE_PATTERN,
    WIKIDATA_ID_PATTERN,
)

NameQuery = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=200,
        pattern=NO_NUL_PATTERN,
        description="Matches any name or spelling, in any script, ignoring case and accents "
        "and tolerating small misspellings.",
    ),
]
CountryQuery = Annotated[
    str | None,
    QueryParameter(pattern=COUNTRY_CODE_PATTERN, description="ISO 3166-1 alpha-2 code."),
]
WikidataQuery = Annotated[
    str | None, QueryParameter(pattern=WIKIDATA_ID_PATTERN, description="Wikidata QID.")
]
DateFrom = Annotated[
    str | None,
    QueryParameter(
        name="from",
        pattern=PARTIAL_DATE_PATTERN,
        description="On or after this day; a partial date counts from its first day "
        "(`2025-07` → July 1).",
    ),
]
DateTo = Annotated[
    str | None,
    QueryParameter(
        name="to",
        pattern=PARTIAL_DATE_PATTERN,
        description="On or before this day; a partial date counts to its last day "
        "(`2025` → December 31).",
    ),
]
UpdatedSince = Annotated[
    str | None,
    QueryParameter(
        pattern=INSTANT_PATTERN,
        description="Only records created or changed at or after this instant (RFC 3339 with "
        "a time zone, e.g. `2025-07-17T00:00:00Z`), to sync incrementally.",
    ),
]
DisputedQuery = Annotated[
    bool | None,
    QueryParameter(
        description="`true`: only records that claims disagree about; `false`: only the others."
    ),
]
