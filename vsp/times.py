"""Parsing the many ways edge boxes write a point in time.

Edge firmware in the field sends ISO 8601 (with or without an offset),
``YYYY-MM-DD HH:MM:SS``, or epoch seconds or milliseconds, as a number or a
string. Everything becomes an aware UTC-comparable datetime; a time without
an offset is read in the service's ``TIME_ZONE``.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from django.utils import timezone

# Outside this window a value is a unit mix-up or a broken clock, not an event time. Query bounds keep
# to the same window: nothing stored lies outside it.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# 10^11 seconds is the year 5138, so anything at or beyond it must be milliseconds.
_MILLISECONDS_THRESHOLD = 100_000_000_000

_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A date with a time of day; fromisoformat alone would also take a bare date.
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# For the OpenAPI schema: patterns of times parse_event_time / parse_query_time accept. They are a safe
# subset: years 2001-2098 (so that no offset takes a time out of the window) and days up to the 28th
# (a pattern knows no month lengths); the parsers accept more.
_SCHEMA_DATE = r"20(0[1-9]|[1-8][0-9]|9[0-8])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
SCHEMA_TIME_PATTERN = (
    rf"^{_SCHEMA_DATE}[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{{1,6}})?)?"
    r"(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?$"
)
SCHEMA_QUERY_TIME_PATTERN = rf"^$|{SCHEMA_TIME_PATTERN}|^{_SCHEMA_DATE}$"


class TimeFormatError(ValueError):
    """The value is not a point in time in any accepted format."""


def parse_event_time(value: object) -> datetime:
    """Parse an edge time value into an aware datetime, or raise ``TimeFormatError``."""
    if isinstance(value, bool):
        raise TimeFormatError("must be a time, not a boolean")
    if isinstance(value, int | float):
        return _from_epoch(value)
    if not isinstance(value, str):
        raise TimeFormatError("must be an ISO 8601 string, 'YYYY-MM-DD HH:MM:SS' or epoch seconds/milliseconds")
    text = value.strip()
    if _CONTROL.search(text):
        raise TimeFormatError("must not contain control characters")
    if _NUMBER.match(text):
        return _from_epoch(text)
    if not _DATE_TIME.match(text):
        raise TimeFormatError(f"{text[:40]!r} is not ISO 8601, 'YYYY-MM-DD HH:MM:SS' or epoch seconds/milliseconds")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TimeFormatError(f"{text[:40]!r} is not a valid date and time") from None
    if timezone.is_naive(parsed):
        try:
            parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
        except (OverflowError, ValueError):
            raise TimeFormatError(f"{text[:40]!r} is out of range") from None
    return _in_range(parsed)


def parse_query_time(value: object, bound: Literal["start", "end"] = "start") -> datetime:
    """A range bound in a query: the edge formats in the same window, or a bare date ``YYYY-MM-DD``.

    A date is a whole day in ``TIME_ZONE``: as a start it is that day's first
    instant, as an (inclusive) end its last microsecond, so ``before=2026-12-01``
    includes every alarm of December 1st.
    """
    if isinstance(value, str) and _DATE.match(value.strip()):
        return _day_bound(value.strip(), bound)
    return parse_event_time(value)


def day_start(day: date) -> datetime:
    """The first instant of a day in ``TIME_ZONE``, in UTC.

    Where clocks skip midnight, the wall time read with the offset before the jump is the jump
    itself, which is where the day starts; where they repeat it, the first midnight is the start.
    """
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone()).astimezone(UTC)


def local_date(moment: datetime) -> date:
    """The day in ``TIME_ZONE`` of an aware moment, whatever zone a request activated."""
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def _day_bound(text: str, bound: Literal["start", "end"]) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise TimeFormatError(f"{text!r} is not a valid date") from None
    start, following = day_start(day), day_start(day + timedelta(days=1))
    if following <= EARLIEST or start >= LATEST:
        raise TimeFormatError(f"{text!r} is outside {EARLIEST:%Y-%m-%d} .. {LATEST:%Y-%m-%d}")
    # A day the window's edge cuts is clamped to the window.
    if bound == "start":
        return max(start, EARLIEST)
    return min(following, LATEST) - timedelta(microseconds=1)


def _from_epoch(value: int | float | str) -> datetime:
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        raise TimeFormatError("epoch value is out of range") from None
    if not math.isfinite(number):
        raise TimeFormatError("must be a finite number")
    # Truncated to the microsecond, not rounded: a time just before the window's end must not round
    # onto it (fromtimestamp rounds 4102444799.9999995 up to 2100-01-01).
    unit = 1000 if abs(number) >= _MILLISECONDS_THRESHOLD else 1_000_000
    try:
        parsed = _EPOCH + timedelta(microseconds=math.floor(number * unit))
    except OverflowError:
        raise TimeFormatError("epoch value is out of range") from None
    return _in_range(parsed)


def _in_range(parsed: datetime) -> datetime:
    if not EARLIEST <= parsed < LATEST:
        raise TimeFormatError(f"{parsed.isoformat()} is outside {EARLIEST:%Y-%m-%d} .. {LATEST:%Y-%m-%d}")
    return parsed
