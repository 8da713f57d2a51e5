"""Property tests for the shared mechanisms: cursors, partial dates, merge patch."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.core.pagination import CursorCodec
from service.core.problems import ProblemError
from service.core.records import merge_patch
from service.core.types import parse_partial_date, partial_date_bounds

codec = CursorCodec(b"k" * 32)
keys = st.tuples(st.text(max_size=50), st.uuids()) | st.tuples(st.dates(), st.uuids())


@given(keys)
def test_cursor_round_trip(values: tuple[Any, UUID]) -> None:
    types = (type(values[0]), UUID)
    cursor = codec.encode("listing:sort", list(values))
    assert codec.decode("listing:sort", cursor, types) == values


@given(keys, st.data())
def test_any_changed_byte_is_refused(values: tuple[Any, UUID], data: st.DataObject) -> None:
    cursor = codec.encode("listing:sort", list(values))
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(ProblemError) as refused:
        codec.decode("listing:sort", forged, (type(values[0]), UUID))
    assert refused.value.status == 400


@given(keys)
def test_a_cursor_is_bound_to_its_listing(values: tuple[Any, UUID]) -> None:
    cursor = codec.encode("one:id", list(values))
    with pytest.raises(ProblemError):
        codec.decode("other:id", cursor, (type(values[0]), UUID))


@given(st.text(max_size=80))
def test_arbitrary_strings_are_refused_as_cursors_not_crashes(text: str) -> None:
    with pytest.raises(ProblemError):
        codec.decode("listing:sort", text, (str, UUID))


@given(st.dates(min_value=date(1, 1, 1)), st.sampled_from(["year", "month", "day"]))
def test_partial_dates_round_trip_with_their_precision(day: date, precision: str) -> None:
    text = {
        "year": f"{day.year:04d}",
        "month": f"{day.year:04d}-{day.month:02d}",
        "day": day.isoformat(),
    }[precision]
    start, parsed_precision = parse_partial_date(text, "f")
    assert parsed_precision == precision
    assert start is not None
    first, last = partial_date_bounds(text, "f")
    assert first == start <= day <= last
    assert first.year == last.year


@given(st.integers(1, 9999), st.integers(1, 12), st.integers(29, 31))
def test_days_no_calendar_has_are_422(year: int, month: int, day: int) -> None:
    text = f"{year:04d}-{month:02d}-{day:02d}"
    try:
        date(year, month, day)
    except ValueError:
        with pytest.raises(ProblemError) as refused:
            parse_partial_date(text, "f")
        assert refused.value.status == 422
    else:
        assert parse_partial_date(text, "f") == (date(year, month, day), "day")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)
objects = st.dictionaries(st.text(max_size=3), json_values, max_size=5)


@given(objects)
def test_empty_patch_changes_nothing(target: dict[str, Any]) -> None:
    assert merge_patch(target, {}) == target


@given(objects, objects)
def test_patch_is_idempotent(target: dict[str, Any], patch: dict[str, Any]) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once


@given(objects, objects)
def test_patch_members_win_and_nulls_remove(target: dict[str, Any], patch: dict[str, Any]) -> None:
    result = merge_patch(target, patch)
    for key, value in patch.items():
        if value is None:
            assert key not in result
        elif not isinstance(value, dict):
            assert result[key] == value
    for key in target.keys() - patch.keys():
        assert result[key] == target[key]


def test_rfc_7396_appendix_a_examples() -> None:
    assert merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert merge_patch({"a": "b"}, {"a": None}) == {}
    assert merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert merge_patch([1, 2], {"a": "b", "c": None}) == {"a": "b"}
    assert merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}
