"""Alarm counts for dashboards: totals, breakdowns and a per-day trend.

Days are calendar days in ``TIME_ZONE``. Each day's count is a conditional
aggregate over UTC bounds computed here, so the database needs no time zone
tables (MySQL's CONVERT_TZ returns NULL without them) and the whole summary
costs four queries whatever the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from alarms.models import AlarmEvent, AlarmLevel, AlarmStatus, HandleStatus
from devices.models import EdgeDevice


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
            first, last = timezone.localtime(start).date(), timezone.localtime(end).date()
        elif start:
            first = timezone.localtime(start).date()
            last = max(today, first)
        elif end:
            last = timezone.localtime(end).date()
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


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def _day_filter(day: date) -> Q:
    return Q(event_time__gte=_local_midnight(day), event_time__lt=_local_midnight(day + timedelta(days=1)))


def alarm_statistics(
    queryset: QuerySet[AlarmEvent],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Summarise ``queryset`` (already filtered, including by time range)."""
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    days = DayRange.for_filters(start, end, today=today)
    queryset = queryset.order_by()

    aggregates: dict[str, Any] = {
        "total": Count("pk"),
        "today": Count("pk", filter=_day_filter(today)),
        "unhandled": Count("pk", filter=Q(handle_status=HandleStatus.UNHANDLED)),
    }
    aggregates |= {f"status_{s}": Count("pk", filter=Q(alarm_status=s)) for s in AlarmStatus.values}
    aggregates |= {f"handle_{s}": Count("pk", filter=Q(handle_status=s)) for s in HandleStatus.values}
    aggregates |= {f"level_{level}": Count("pk", filter=Q(alarm_level=level)) for level in AlarmLevel.values}
    aggregates |= {f"day_{day:%Y%m%d}": Count("pk", filter=_day_filter(day)) for day in days.days()}
    counts = queryset.aggregate(**aggregates)

    by_type = queryset.values("alarm_type").annotate(count=Count("pk")).order_by("-count", "alarm_type")
    top_devices = list(
        queryset.values("device_id")
        .annotate(count=Count("pk"))
        .order_by("-count", "device_id")[: settings.STATISTICS_TOP_DEVICES]
    )
    names = dict(
        EdgeDevice.objects.filter(device_id__in=[row["device_id"] for row in top_devices]).values_list(
            "device_id", "name"
        )
    )
    return {
        "total": counts["total"],
        "today": counts["today"],
        "unhandled": counts["unhandled"],
        "by_alarm_status": {s: counts[f"status_{s}"] for s in AlarmStatus.values},
        "by_handle_status": {s: counts[f"handle_{s}"] for s in HandleStatus.values},
        "by_level": {str(level): counts[f"level_{level}"] for level in AlarmLevel.values},
        "by_type": [{"alarm_type": row["alarm_type"], "count": row["count"]} for row in by_type],
        "by_device": [
            {"device_id": row["device_id"], "device_name": names.get(row["device_id"]) or None, "count": row["count"]}
            for row in top_devices
        ],
        "trend": [{"date": day.isoformat(), "count": counts[f"day_{day:%Y%m%d}"]} for day in days.days()],
        "trend_from": days.first.isoformat(),
        "trend_to": days.last.isoformat(),
    }
