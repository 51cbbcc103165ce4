"""Ops metrics: how fast staff take up and resolve alarms, how many are false, how old the backlog is.

Of the alarms a filter selects (``AlarmEventFilterSet``, the list's and the statistics' filters):

- **MTTA**, mean time to acknowledge: from the alarm's storing (``created_at``) to its first logged
  staff decision (``AlarmHandleLog``), whatever it was. The stored time, not the edge's
  ``event_time``: staff cannot act on an alarm before it is stored, and a box that was offline for an
  hour and uploads late would otherwise charge its delay to them. A second handling changes nothing.
- **MTTR**, mean time to resolve: from the storing to the first staff decision that left the alarm
  ``RESOLVED``. An edge resolve alone is the event ending, not staff resolving it, and is not counted.
- **False-alarm rate**: IGNORED among the alarms handled now (handle status other than UNHANDLED).
- **Backlog**: the alarms unhandled now (never handled, or reopened), with the oldest's and the median
  age at ``now``.

``p50``/``p90`` are percentiles, linear between the nearest ranks (numpy's default). A group is the
alarm's type, device, first handler (who took it up; ``""`` for alarms nobody handled yet) or the shift
(``settings.SHIFTS``) on duty when the alarm was stored.

Everything is read in two indexed queries: the handling logs of the range's alarms, joined to their
alarm (``handlelog_alarm_time_idx`` per alarm of the range), and the range's unhandled alarms
(``alarm_handle_time_idx``). The range is bounded (the statistics' longest, ``STATISTICS_MAX_DAYS``;
by default the last ``STATISTICS_DEFAULT_DAYS`` days), so the work grows with the range, not the table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from alarms import counts
from alarms.filters import AlarmEventFilterSet
from alarms.models import AlarmEvent, AlarmHandleLog, AlarmStatus, HandleStatus
from alarms.statistics import DayRange
from devices.models import EdgeDevice

Grouping = Literal["type", "device", "handler", "shift"]
GROUPINGS: tuple[Grouping, ...] = ("type", "device", "handler", "shift")


@dataclass
class _Timing:
    """One alarm of the range as the metrics see it."""

    created_at: datetime
    alarm_type: str
    device_id: str
    handle_status: str
    first_handled: tuple[datetime, int] | None = None  # (time, log id): the earliest log row
    first_handler: str = ""
    resolved_at: datetime | None = None


@dataclass
class _Tally:
    acknowledge: list[float] = field(default_factory=list)
    resolve: list[float] = field(default_factory=list)
    handled: int = 0
    ignored: int = 0
    backlog: list[datetime] = field(default_factory=list)  # stored times of the unhandled alarms

    def add(self, timing: _Timing) -> None:
        if timing.first_handled is not None:
            self.acknowledge.append((timing.first_handled[0] - timing.created_at).total_seconds())
        if timing.resolved_at is not None:
            self.resolve.append((timing.resolved_at - timing.created_at).total_seconds())
        if timing.handle_status == HandleStatus.UNHANDLED:
            self.backlog.append(timing.created_at)
        else:
            self.handled += 1
            self.ignored += timing.handle_status == HandleStatus.IGNORED

    def summary(self, now: datetime) -> dict[str, Any]:
        oldest = min(self.backlog, default=None)
        ages = [(now - stored).total_seconds() for stored in self.backlog]
        return {
            "acknowledged": len(self.acknowledge),
            **_durations("mtta", self.acknowledge),
            "resolved": len(self.resolve),
            **_durations("mttr", self.resolve),
            "handled": self.handled,
            "false_alarms": self.ignored,
            "false_alarm_rate": round(self.ignored / self.handled, 4) if self.handled else None,
            "backlog": {
                "count": len(self.backlog),
                "oldest": timezone.localtime(oldest).isoformat() if oldest else None,
                "oldest_age_seconds": _seconds((now - oldest).total_seconds()) if oldest else None,
                "median_age_seconds": _seconds(percentile(sorted(ages), 0.5)),
            },
        }


def percentile(ordered: list[float], fraction: float) -> float | None:
    """The ``fraction`` percentile of sorted values, linear between the nearest ranks; None of none."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    below, above = math.floor(position), math.ceil(position)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _durations(name: str, values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    return {
        f"{name}_seconds": _seconds(sum(ordered) / len(ordered)) if ordered else None,
        f"{name}_p50_seconds": _seconds(percentile(ordered, 0.5)),
        f"{name}_p90_seconds": _seconds(percentile(ordered, 0.9)),
    }


def shift_of(moment: datetime) -> str:
    """The name of the shift on duty at ``moment`` (in TIME_ZONE), or ``""`` if none is."""
    local = timezone.localtime(moment)
    minute = local.hour * 60 + local.minute
    return next((shift.name for shift in settings.SHIFTS if shift.covers(minute)), "")


_KEYS: dict[Grouping, Callable[[_Timing], str]] = {
    "type": lambda timing: timing.alarm_type,
    "device": lambda timing: timing.device_id,
    "handler": lambda timing: timing.first_handler,
    "shift": lambda timing: shift_of(timing.created_at),
}


def metrics_range(filterset: AlarmEventFilterSet, now: datetime) -> tuple[QuerySet[AlarmEvent], datetime, datetime]:
    """The alarms the metrics cover and the bounds of their range; call after ``is_valid()``.

    Without a lower bound (event time or stored), the range starts ``STATISTICS_DEFAULT_DAYS`` days
    back (today included); it spans at most ``STATISTICS_MAX_DAYS`` (``RangeTooLong`` otherwise).
    """
    cleaned = filterset.form.cleaned_data
    start = cleaned.get("event_time_after") or cleaned.get("created_after")
    end = cleaned.get("event_time_before") or cleaned.get("created_before")
    queryset = filterset.qs.order_by()
    if start is None:
        last = counts.local_date(end) if end else counts.local_date(now)
        start = counts.day_start(last - timedelta(days=settings.STATISTICS_DEFAULT_DAYS - 1))
        queryset = queryset.filter(event_time__gte=start)
    DayRange.for_filters(start, end or now, today=counts.local_date(now))  # raises RangeTooLong
    return queryset, start, end or now


def alarm_metrics(
    filterset: AlarmEventFilterSet, *, group_by: Grouping | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """MTTA, MTTR, false-alarm rate and backlog of the filtered alarms, overall and per group."""
    now = now or timezone.now()
    queryset, start, end = metrics_range(filterset, now)
    timings = _timings(queryset)
    overall = _Tally()
    groups: dict[str, _Tally] = {}
    key = _KEYS[group_by] if group_by else None
    if group_by == "shift":  # every shift is listed, in the configured order, even one without alarms
        groups = {shift.name: _Tally() for shift in settings.SHIFTS}
    for timing in timings:
        overall.add(timing)
        if key is not None:
            groups.setdefault(key(timing), _Tally()).add(timing)
    result: dict[str, Any] = {
        "from": timezone.localtime(start).isoformat(),
        "to": timezone.localtime(end).isoformat(),
        "generated_at": timezone.localtime(now).isoformat(),
        "overall": overall.summary(now),
    }
    if group_by:
        result["group_by"] = group_by
        result["groups"] = _groups(group_by, groups, now)
    return result


def _groups(group_by: Grouping, groups: dict[str, _Tally], now: datetime) -> list[dict[str, Any]]:
    names = sorted(groups) if group_by != "shift" else list(groups)
    rows = [{"key": name, **groups[name].summary(now)} for name in names]
    if group_by == "device":
        devices = dict(EdgeDevice.objects.filter(device_id__in=names).values_list("device_id", "name"))
        for row in rows:
            row["device_name"] = devices.get(row["key"]) or None
    return rows


def _timings(queryset: QuerySet[AlarmEvent]) -> Iterable[_Timing]:
    """The range's alarms that were handled or are unhandled now, with their first handling and resolve."""
    timings: dict[str, _Timing] = {}
    logs = AlarmHandleLog.objects.filter(alarm__in=queryset.values("pk")).values_list(
        "alarm_id",
        "id",
        "created_at",
        "actor_name",
        "to_alarm_status",
        "alarm__created_at",
        "alarm__alarm_type",
        "alarm__device_id",
        "alarm__handle_status",
    )
    # Folded here, in any order: sorting them in the query would sort every log row of the range.
    for (
        alarm_id,
        log_id,
        logged_at,
        actor,
        to_status,
        created_at,
        alarm_type,
        device_id,
        handle_status,
    ) in logs.iterator(chunk_size=5000):
        timing = timings.get(alarm_id)
        if timing is None:
            timing = timings[alarm_id] = _Timing(created_at, alarm_type, device_id, handle_status)
        if timing.first_handled is None or (logged_at, log_id) < timing.first_handled:
            timing.first_handled, timing.first_handler = (logged_at, log_id), actor
        if to_status == AlarmStatus.RESOLVED and (timing.resolved_at is None or logged_at < timing.resolved_at):
            timing.resolved_at = logged_at
    unhandled = queryset.filter(handle_status=HandleStatus.UNHANDLED).values_list(
        "alarm_id", "created_at", "alarm_type", "device_id"
    )
    for alarm_id, created_at, alarm_type, device_id in unhandled.iterator(chunk_size=5000):
        if alarm_id not in timings:  # never handled
            timings[alarm_id] = _Timing(created_at, alarm_type, device_id, HandleStatus.UNHANDLED)
    return timings.values()
