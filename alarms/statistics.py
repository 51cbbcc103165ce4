"""Alarm counts for dashboards: totals, breakdowns and a per-day trend.

Days are calendar days in ``TIME_ZONE``, bounded by UTC instants computed here, so the database
needs no time zone tables (MySQL's CONVERT_TZ returns NULL without them). The numbers come from
the rollup counts (``alarms.counts``) when the filters are ones they count by, and from the alarms
otherwise; both give the same answer, which the tests check.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from alarms import counts
from alarms.models import AlarmEvent, AlarmLevel, AlarmStatus, HandleStatus
from devices.models import EdgeDevice
from vsp.db import snapshot


class RangeTooLong(ValueError):
    pass


@dataclass(frozen=True)
class DayRange:
    first: date
    last: date

    @classmethod
    def for_filters(cls, start: datetime | None, end: datetime | None, *, today: date) -> DayRange:
        """The days the trend covers: the filtered range, or the last few days up to today."""
        span = timedelta(days=settings.STATISTICS_DEFAULT_DAYS - 1)
        if start and end:
            first, last = counts.local_date(start), counts.local_date(end)
        elif start:
            first = counts.local_date(start)
            last = max(today, first)
        elif end:
            last = counts.local_date(end)
            first = last - span
        else:
            first, last = today - span, today
        if last < first:
            first = last
        if (last - first).days + 1 > settings.STATISTICS_MAX_DAYS:
            raise RangeTooLong(f"the time range spans more than {settings.STATISTICS_MAX_DAYS} days")
        return cls(first, last)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=offset) for offset in range((self.last - self.first).days + 1)]


def _day_filter(day: date) -> Q:
    return Q(event_time__gte=counts.day_start(day), event_time__lt=counts.day_start(day + timedelta(days=1)))


def alarm_statistics(
    queryset: QuerySet[AlarmEvent],
    *,
    scope: counts.Scope | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Summarise the alarms of ``queryset`` (already filtered, including by the inclusive time range).

    With a ``scope`` that describes the same filters, the numbers come from the counts
    (``alarms.counts``), read in one snapshot; without, from the alarms themselves.
    """
    now = now or timezone.now()
    today = counts.local_date(now)
    days = DayRange.for_filters(start, end, today=today)
    if scope is None:
        return _summary(*_counted_from_alarms(queryset.order_by(), today, days), days)
    with snapshot():
        return _summary(*_counted_from_counts(scope, start, end, today, days), days)


# What a summary is made of: counts per (type, level, alarm status, handle status), per day
# (today included), and per device.
Tallies = tuple[Counter[tuple[Any, ...]], dict[date, int], int, Counter[str]]


def _counted_from_alarms(queryset: QuerySet[AlarmEvent], today: date, days: DayRange) -> Tallies:
    aggregates = {"today": Count("pk", filter=_day_filter(today))}
    aggregates |= {f"day_{day:%Y%m%d}": Count("pk", filter=_day_filter(day)) for day in days.days()}
    totals = queryset.aggregate(**aggregates)
    by_dimensions = Counter(
        {tuple(row[:-1]): row[-1] for row in queryset.values_list(*counts.DIMENSIONS).annotate(n=Count("pk"))}
    )
    by_device = Counter(dict(queryset.values_list("device_id").annotate(n=Count("pk"))))
    trend = {day: totals[f"day_{day:%Y%m%d}"] for day in days.days()}
    return by_dimensions, trend, totals["today"], by_device


def _counted_from_counts(
    scope: counts.Scope, start: datetime | None, end: datetime | None, today: date, days: DayRange
) -> Tallies:
    end = counts.after(end)  # the filters' end is inclusive; spans are half-open
    whole = [counts.Span(None, start, end)]
    by_dimensions = Counter({key: n for (_, key), n in counts.tally(scope, whole, "dimensions").items()})
    by_device = Counter({key[0]: n for (_, key), n in counts.tally(scope, whole, "device").items()})

    def of_day(day: date) -> counts.Span:
        first, following = counts.day_start(day), counts.day_start(day + timedelta(days=1))
        return counts.Span(day, max(first, start) if start else first, min(following, end) if end else following)

    wanted = days.days() if days.first <= today <= days.last else [*days.days(), today]
    tallied = counts.tally(scope, [of_day(day) for day in wanted])
    trend = {day: tallied.get((day, ()), 0) for day in days.days()}
    return by_dimensions, trend, tallied.get((today, ()), 0), by_device


def _summary(
    by_dimensions: Counter[tuple[Any, ...]], trend: dict[date, int], today: int, by_device: Counter[str], days: DayRange
) -> dict[str, Any]:
    def total_by(index: int) -> Counter[Any]:
        totals: Counter[Any] = Counter()
        for key, n in by_dimensions.items():
            totals[key[index]] += n
        return totals

    by_type, by_level, by_status, by_handle = (total_by(index) for index in range(4))
    top_devices = sorted(+by_device, key=lambda device_id: (-by_device[device_id], device_id))
    top_devices = top_devices[: settings.STATISTICS_TOP_DEVICES]
    names = dict(EdgeDevice.objects.filter(device_id__in=top_devices).values_list("device_id", "name"))
    return {
        "total": sum(by_dimensions.values()),
        "today": today,
        "unhandled": by_handle[HandleStatus.UNHANDLED],
        "by_alarm_status": {s: by_status[s] for s in AlarmStatus.values},
        "by_handle_status": {s: by_handle[s] for s in HandleStatus.values},
        "by_level": {str(level): by_level[level] for level in AlarmLevel.values},
        "by_type": [
            {"alarm_type": kind, "count": by_type[kind]}
            for kind in sorted(+by_type, key=lambda kind: (-by_type[kind], kind))
        ],
        "by_device": [
            {"device_id": device_id, "device_name": names.get(device_id) or None, "count": by_device[device_id]}
            for device_id in top_devices
        ],
        "trend": [{"date": day.isoformat(), "count": trend[day]} for day in days.days()],
        "trend_from": days.first.isoformat(),
        "trend_to": days.last.isoformat(),
    }
