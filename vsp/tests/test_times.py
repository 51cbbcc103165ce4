"""Edge time parsing (vsp.times)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from django.test import override_settings
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from vsp.times import (
    SCHEMA_QUERY_TIME_PATTERN,
    SCHEMA_TIME_PATTERN,
    TimeFormatError,
    parse_event_time,
    parse_query_time,
)

INSTANT = datetime(2026, 11, 27, 2, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-27T10:00:00+08:00",
        "2026-11-27T02:00:00Z",
        "2026-11-27T10:00:00",
        "2026-11-27 10:00:00",
        "2026-11-27 10:00",
        1795744800,
        1795744800000,
        "1795744800",
        " 1795744800000 ",
    ],
)
def test_each_format_means_the_same_instant(value: object) -> None:
    assert parse_event_time(value) == INSTANT


@override_settings(TIME_ZONE="Europe/Berlin")
def test_a_naive_time_is_read_in_the_configured_zone() -> None:
    with timezone.override("Europe/Berlin"):
        assert parse_event_time("2026-11-27 03:00:00") == INSTANT


@pytest.mark.parametrize(
    "value",
    [True, None, [], {}, "", "now", "2026-11-27", "27/11/2026 10:00", float("nan"), float("inf"), 10**20, -1, "1e5"],
)
def test_anything_else_is_refused(value: object) -> None:
    with pytest.raises(TimeFormatError):
        parse_event_time(value)


def test_the_millisecond_threshold_sits_between_plausible_seconds_and_milliseconds() -> None:
    # 99,999,999,999 seconds is beyond 2100 (refused); the same digits +1 are milliseconds in 1973 (refused too).
    with pytest.raises(TimeFormatError):
        parse_event_time(99_999_999_999)
    assert parse_event_time(4_102_444_799) == datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize("value", ["2026-11-27T10:00:00\x00", "2026-11-27\x0010:00:00", "1795744800\x00"])
def test_a_control_character_anywhere_is_refused(value: str) -> None:
    with pytest.raises(TimeFormatError, match="control characters"):
        parse_event_time(value)


def test_queries_and_the_edge_share_one_window() -> None:
    for parse in (parse_event_time, parse_query_time):
        assert parse("2000-01-01T00:00:00+00:00") == datetime(2000, 1, 1, tzinfo=UTC)
        with pytest.raises(TimeFormatError):
            parse("1999-12-31T23:59:59+00:00")
        with pytest.raises(TimeFormatError):
            parse("2100-01-01T00:00:00+00:00")


def test_a_query_date_is_a_whole_day_in_the_configured_zone() -> None:
    # TIME_ZONE is Asia/Shanghai in the test settings.
    assert parse_query_time("2026-12-01") == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert parse_query_time("2026-12-01", "end") == datetime(2026, 12, 1, 15, 59, 59, 999999, tzinfo=UTC)
    assert parse_query_time("2099-12-31", "end") == datetime(2099, 12, 31, 15, 59, 59, 999999, tzinfo=UTC)


@override_settings(TIME_ZONE="Europe/Berlin")
def test_a_query_date_on_a_daylight_saving_day_has_its_real_length() -> None:
    start, end = parse_query_time("2026-03-29"), parse_query_time("2026-03-29", "end")
    assert (start, end) == (
        datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 21, 59, 59, 999999, tzinfo=UTC),
    )


def test_the_days_the_window_s_edges_cut_are_clamped_to_it() -> None:
    # In Asia/Shanghai 2000-01-01 begins before the window (1999-12-31 16:00 UTC) and 2100-01-01 ends after it.
    assert parse_query_time("2000-01-01") == datetime(2000, 1, 1, tzinfo=UTC)
    assert parse_query_time("2000-01-01", "end") == datetime(2000, 1, 1, 15, 59, 59, 999999, tzinfo=UTC)
    assert parse_query_time("2100-01-01") == datetime(2099, 12, 31, 16, 0, tzinfo=UTC)
    assert parse_query_time("2100-01-01", "end") == datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


@pytest.mark.parametrize("value", ["2026-02-30", "1999-12-31", "2100-01-02", "2026-12-01\x00", "20261201"])
def test_a_bad_or_out_of_window_query_date_is_refused(value: str) -> None:
    for bound in ("start", "end"):
        with pytest.raises(TimeFormatError):
            parse_query_time(value, bound)


def test_the_schema_s_epoch_bounds_are_the_window() -> None:
    assert parse_event_time(946_684_800) == datetime(2000, 1, 1, tzinfo=UTC)
    for value in (946_684_799.999, 4_102_444_800, 4_102_444_800_000, 946_684_799_999):
        with pytest.raises(TimeFormatError):
            parse_event_time(value)
    assert parse_event_time(4_102_444_799.999) < datetime(2100, 1, 1, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(SCHEMA_TIME_PATTERN, fullmatch=True))
def test_every_time_the_schema_calls_valid_parses(value: str) -> None:
    parse_event_time(value)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(SCHEMA_QUERY_TIME_PATTERN, fullmatch=True).filter(bool))
def test_every_query_time_the_schema_calls_valid_parses(value: str) -> None:
    parse_query_time(value, "start")
    parse_query_time(value, "end")


def test_an_epoch_just_before_the_window_s_end_does_not_round_onto_it() -> None:
    last = datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_event_time(math.nextafter(4_102_444_800, 0)) == last
    assert parse_event_time(math.nextafter(4_102_444_800_000, 0)) == last
