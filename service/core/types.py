"""Constrained types shared by every resource: each constraint is declared once here and
flows into validation and the OpenAPI contract alike."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from service.core.problems import FieldError, ProblemError

NO_NUL_PATTERN = r"^[^\x00]*$"
"""Text PostgreSQL can store: any character but NUL. Said in the contract so that a client
learns it from the schema (400), not from the database (the server still maps what PostgreSQL
refuses to a 422)."""

Name = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=300,
        pattern=NO_NUL_PATTERN,
        description="A name as written in its script.",
    ),
]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=NO_NUL_PATTERN)]
Text = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=20000, pattern=NO_NUL_PATTERN, description="A summary in prose."
    ),
]
FullText = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=500000,
        pattern=NO_NUL_PATTERN,
        description="A document's full text.",
    ),
]
Note = Annotated[
    str,
    msgspec.Meta(
        max_length=4000,
        pattern=NO_NUL_PATTERN,
        description="Free-text remark, e.g. where a fact comes from until it cites sources.",
    ),
]
Url = Annotated[
    str,
    msgspec.Meta(
        # Spaces and control characters spelled out: `\s` means different things in Python's
        # and in JSON Schema's (ECMA) regular expressions.
        pattern=r"^https?://[^\x00-\x20\x7f]+$",
        max_length=2000,
        description="An http(s) URL.",
    ),
]
LanguageTag = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        max_length=35,
        description="BCP 47 language tag, optionally with script or transliteration "
        "system, e.g. `ru`, `uk`, `en`, `ru-Latn`.",
        examples=["ru"],
    ),
]
COUNTRY_CODE_PATTERN = r"^[A-Z]{2}$"
CountryCode = Annotated[
    str,
    msgspec.Meta(
        pattern=COUNTRY_CODE_PATTERN,
        description="ISO 3166-1 alpha-2 country code.",
        examples=["UA"],
    ),
]
WIKIDATA_ID_PATTERN = r"^Q[1-9][0-9]{0,11}$"
WikidataId = Annotated[
    str,
    msgspec.Meta(
        pattern=WIKIDATA_ID_PATTERN,
        description="Wikidata item id (QID); unique across officials.",
        examples=["Q42"],
    ),
]

YEAR_PATTERN = r"(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
"""Years 0001–9999: no calendar has a year 0000."""
MONTH_DAY_PATTERN = r"-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
PARTIAL_DATE_PATTERN = rf"^{YEAR_PATTERN}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$"
"""What a regular expression can say of a partial date; a day its month lacks (February 30)
is left to the server (422)."""
INSTANT_PATTERN = (
    rf"^{YEAR_PATTERN}{MONTH_DAY_PATTERN}[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]"
    r"(:[0-5][0-9](\.[0-9]{1,6})?)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
"""An RFC 3339 instant with a time zone, as a query parameter (seconds optional)."""
PartialDate = Annotated[
    str,
    msgspec.Meta(
        pattern=PARTIAL_DATE_PATTERN,
        description="A date as precise as it is known: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.",
        examples=["2025-07-17"],
    ),
]
Precision = Literal["year", "month", "day"]
_PRECISIONS: dict[int, Precision] = {4: "year", 7: "month", 10: "day"}


def parse_partial_date(
    value: str | None, field: str, source: str = "body"
) -> tuple[date | None, Precision | None]:
    """``"2025-07"`` → ``(date(2025, 7, 1), "month")``; 422 for a date no calendar has."""
    if value is None:
        return None, None
    precision = _PRECISIONS[len(value)]
    padded = value + "-01-01"[: 10 - len(value)]
    try:
        return date.fromisoformat(padded), precision
    except ValueError:
        raise ProblemError(
            422,
            "invalid-date",
            f"{value!r} is not a date in the calendar.",
            errors=[FieldError(message="not a calendar date", field=field, source=source)],
        ) from None


def partial_date_bounds(value: str, field: str) -> tuple[date, date]:
    """First and last day of the period a partial date names (``2025`` → Jan 1 – Dec 31)."""
    start, precision = parse_partial_date(value, field, "query")
    assert start is not None
    if precision == "year" or (precision == "month" and start.month == 12):
        return start, start.replace(month=12, day=31)
    if precision == "month" and start.month < 12:
        following = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        return start, date.fromordinal(following.toordinal() - 1)
    return start, start


def date_range(date_from: str | None, date_to: str | None) -> dict[str, date | None]:
    """The ``from``/``to`` filters of a listing: from the first day of ``date_from``'s period
    to the last day of ``date_to``'s."""
    return {
        "from": None if date_from is None else partial_date_bounds(date_from, "from")[0],
        "to": None if date_to is None else partial_date_bounds(date_to, "to")[1],
    }


class OtherName(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Another name: a spelling in another script, a transliteration, a former name."""

    name: Name
    lang: LanguageTag | None = None
    note: Note | None = None


OtherNames = Annotated[list[OtherName], msgspec.Meta(max_length=50)]


class Citation(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Where a fact comes from: a source, and optionally the words quoted from it and where
    in it they stand."""

    source_id: UUID
    quote: Text | None = None
    locator: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                max_length=500,
                pattern=NO_NUL_PATTERN,
                description="Where in the source: page, paragraph, time.",
            ),
        ]
        | None
    ) = None


Citations = Annotated[
    list[Citation],
    msgspec.Meta(max_length=100, description="The sources this record rests on."),
]
