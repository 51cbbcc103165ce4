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

Durations are whole seconds. ``p50``/``p90`` are percentiles, linear between the nearest ranks
(numpy's default). A group is the alarm's type, device, handler (who took it up first; for the
backlog, who handled it last, ``""`` for alarms nobody handled) or the shift (``settings.SHIFTS``) on
duty when the alarm was stored.

The handled alarms' figures come from ``AlarmTiming`` (a row per handled alarm), read off one index
that holds every column they need, folded into a histogram per duration, from which means and
percentiles come exactly. The backlog is read from the alarms by ``alarm_handle_time_idx``. The
range is bounded (at most ``STATISTICS_MAX_DAYS``; by default the last ``STATISTICS_DEFAULT_DAYS``
days). Figures on a million alarms: bench/README.md, "Ops metrics on a million alarms".
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.db.models import Model, QuerySet
from django.utils import timezone

from alarms import counts
from alarms.filters import AlarmEventFilterSet
from alarms.models import AlarmEvent, AlarmHandleLog, AlarmStatus, AlarmTiming, HandleStatus, minute_of_day
from alarms.statistics import DayRange
from devices.models import EdgeDevice

Grouping = Literal["type", "device", "handler", "shift"]
GROUPINGS: tuple[Grouping, ...] = ("type", "device", "handler", "shift")
# The timing column each grouping sums by; shifts are made of the stored minutes.
_TIMING_COLUMN: dict[Grouping, str] = {
    "type": "alarm_type",
    "device": "device_id",
    "handler": "first_handler",
    "shift": "stored_minute",
}
# The filters a timing row answers itself; any other one is applied through the alarms.
_TIMING_FILTERS = {"alarm_type": "alarm_type", "device_id": "device_id", "alarm_level": "alarm_level"}
_RANGE_FILTERS = ("event_time_after", "event_time_before", "created_after", "created_before")


class Histogram(Counter[int]):
    """How many alarms took each whole number of seconds."""

    def mean(self) -> float | None:
        total = self.total()
        return sum(seconds * n for seconds, n in self.items()) / total if total else None

    def percentile(self, fraction: float) -> float | None:
        """Linear between the nearest ranks of the sorted durations; None of none."""
        total = self.total()
        if not total:
            return None
        ranked = sorted(self.items())

        def at(rank: int) -> int:
            passed = 0
            for seconds, n in ranked:
                passed += n
                if passed > rank:
                    return seconds
            return ranked[-1][0]

        position = (total - 1) * fraction
        below, above = math.floor(position), math.ceil(position)
        return at(below) + (at(above) - at(below)) * (position - below)


def percentile(ordered: list[float], fraction: float) -> float | None:
    """The ``fraction`` percentile of sorted values, linear between the nearest ranks; None of none."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    below, above = math.floor(position), math.ceil(position)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


@dataclass
class _Tally:
    acknowledge: Histogram = field(default_factory=Histogram)
    resolve: Histogram = field(default_factory=Histogram)
    handle_statuses: Counter[str] = field(default_factory=Counter)
    backlog: list[datetime] = field(default_factory=list)  # stored times of the unhandled alarms

    def summary(self, now: datetime) -> dict[str, Any]:
        oldest = min(self.backlog, default=None)
        ages = sorted((now - stored).total_seconds() for stored in self.backlog)
        handled = sum(n for status, n in self.handle_statuses.items() if status != HandleStatus.UNHANDLED)
        ignored = self.handle_statuses[HandleStatus.IGNORED]
        return {
            "acknowledged": self.acknowledge.total(),
            **_durations("mtta", self.acknowledge),
            "resolved": self.resolve.total(),
            **_durations("mttr", self.resolve),
            "handled": handled,
            "false_alarms": ignored,
            "false_alarm_rate": round(ignored / handled, 4) if handled else None,
            "backlog": {
                "count": len(self.backlog),
                "oldest": timezone.localtime(oldest).isoformat() if oldest else None,
                "oldest_age_seconds": _seconds((now - oldest).total_seconds()) if oldest else None,
                "median_age_seconds": _seconds(percentile(ages, 0.5)),
            },
        }


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _durations(name: str, histogram: Histogram) -> dict[str, float | None]:
    return {
        f"{name}_seconds": _seconds(histogram.mean()),
        f"{name}_p50_seconds": _seconds(histogram.percentile(0.5)),
        f"{name}_p90_seconds": _seconds(histogram.percentile(0.9)),
    }


def shift_at_minute(minute: int) -> str:
    return next((shift.name for shift in settings.SHIFTS if shift.covers(minute)), "")


def shift_of(moment: datetime) -> str:
    """The name of the shift on duty at ``moment`` (in TIME_ZONE), or ``""`` if none is."""
    return shift_at_minute(minute_of_day(moment))


# How a backlog alarm's (stored time, type, device, handler) is grouped.
_BACKLOG_KEYS: dict[Grouping, Callable[[tuple[Any, ...]], str]] = {
    "type": lambda row: row[1],
    "device": lambda row: row[2],
    "handler": lambda row: row[3],
    "shift": lambda row: shift_of(row[0]),
}


@dataclass(frozen=True)
class MetricsRange:
    alarms: QuerySet[AlarmEvent]
    timings: QuerySet[AlarmTiming]
    start: datetime
    end: datetime


def metrics_range(filterset: AlarmEventFilterSet, now: datetime) -> MetricsRange:
    """The alarms and timings the metrics cover and the bounds of their range; call after ``is_valid()``.

    Without a lower bound (event time or stored), the range starts ``STATISTICS_DEFAULT_DAYS`` days
    back (today included); it spans at most ``STATISTICS_MAX_DAYS`` (``RangeTooLong`` otherwise).
    """
    cleaned = filterset.form.cleaned_data
    alarms = filterset.qs.order_by()
    timings = AlarmTiming.objects.order_by()
    for name, lookup in (("event_time_after", "gte"), ("event_time_before", "lte")):
        if cleaned.get(name) is not None:
            timings = timings.filter(**{f"event_time__{lookup}": cleaned[name]})
    for name, lookup in (("created_after", "gte"), ("created_before", "lte")):
        if cleaned.get(name) is not None:
            timings = timings.filter(**{f"stored_at__{lookup}": cleaned[name]})
    start = cleaned.get("event_time_after") or cleaned.get("created_after")
    end = cleaned.get("event_time_before") or cleaned.get("created_before")
    if start is None:
        last = counts.local_date(end) if end else counts.local_date(now)
        start = counts.day_start(last - timedelta(days=settings.STATISTICS_DEFAULT_DAYS - 1))
        alarms, timings = alarms.filter(event_time__gte=start), timings.filter(event_time__gte=start)
    DayRange.for_filters(start, end or now, today=counts.local_date(now))  # raises RangeTooLong
    given = {name for name, value in cleaned.items() if value not in (None, "", [])}
    for name in given & set(_TIMING_FILTERS):
        timings = timings.filter(**{_TIMING_FILTERS[name]: cleaned[name]})
    if given - {*_TIMING_FILTERS, *_RANGE_FILTERS, "ordering"}:
        timings = timings.filter(alarm__in=alarms.values("pk"))  # besides the range, read by its own index
    return MetricsRange(alarms, timings, start, end or now)


def alarm_metrics(
    filterset: AlarmEventFilterSet, *, group_by: Grouping | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """MTTA, MTTR, false-alarm rate and backlog of the filtered alarms, overall and per group."""
    now = now or timezone.now()
    covered = metrics_range(filterset, now)
    overall, groups = _tallies(covered, group_by)
    result: dict[str, Any] = {
        "from": timezone.localtime(covered.start).isoformat(),
        "to": timezone.localtime(covered.end).isoformat(),
        "generated_at": timezone.localtime(now).isoformat(),
        "overall": overall.summary(now),
    }
    if group_by:
        result["group_by"] = group_by
        result["groups"] = _groups(group_by, groups, now)
    return result


def _tallies(covered: MetricsRange, group_by: Grouping | None) -> tuple[_Tally, dict[str, _Tally]]:
    column = _TIMING_COLUMN[group_by] if group_by else None
    columns = (column,) if column else ()

    shifts = [shift_at_minute(minute) for minute in range(24 * 60)] if group_by == "shift" else []

    def key(value: Any) -> str:
        return shifts[value] if shifts else value

    overall = _Tally()
    groups: dict[str, _Tally] = {}
    if group_by == "shift":  # every shift is listed, in the configured order, even one without alarms
        groups = {shift.name: _Tally() for shift in settings.SHIFTS}

    def tally_of(name: str) -> _Tally:
        tally = groups.get(name)
        if tally is None:  # not setdefault(name, _Tally()): that built a tally for every row (1.7 s a month)
            tally = groups[name] = _Tally()
        return tally

    # One row per handled alarm, read off alarmtiming_figures_idx alone (no table row is read), and folded
    # a chunk at a time by Counter.update, which counts in C.
    handled = covered.timings.values_list(*columns, "acknowledge_seconds", "resolve_seconds", "handle_status")
    rows = handled.iterator(chunk_size=_CHUNK)
    while chunk := list(itertools.islice(rows, _CHUNK)):
        _count_into(overall, chunk)
        if column:
            by_group: dict[str, list[tuple[Any, ...]]] = {}
            for row in chunk:
                by_group.setdefault(key(row[0]), []).append(row)
            for name, members in by_group.items():
                _count_into(tally_of(name), members)
    backlog = covered.alarms.filter(handle_status=HandleStatus.UNHANDLED)
    for row in backlog.values_list("created_at", "alarm_type", "device_id", "handler").iterator(chunk_size=_CHUNK):
        overall.backlog.append(row[0])
        if group_by:
            tally_of(_BACKLOG_KEYS[group_by](row)).backlog.append(row[0])
    return overall, groups


_CHUNK = 5000


def _count_into(tally: _Tally, rows: list[tuple[Any, ...]]) -> None:
    """Count timing rows (…, acknowledge seconds, resolve seconds or None, handle status) into ``tally``."""
    tally.acknowledge.update(row[-3] for row in rows)
    tally.resolve.update(row[-2] for row in rows if row[-2] is not None)
    tally.handle_statuses.update(row[-1] for row in rows)


def _groups(group_by: Grouping, groups: dict[str, _Tally], now: datetime) -> list[dict[str, Any]]:
    names = sorted(groups) if group_by != "shift" else list(groups)
    rows = [{"key": name, **groups[name].summary(now)} for name in names]
    if group_by == "device":
        devices = dict(EdgeDevice.objects.filter(device_id__in=names).values_list("device_id", "name"))
        for row in rows:
            row["device_name"] = devices.get(row["key"]) or None
    return rows


def rebuild_timings(
    timing_model: type[Model] = AlarmTiming,
    log_model: type[Model] = AlarmHandleLog,
    *,
    batch: int = 5000,
    chunk: int = 20_000,
) -> int:
    """Make every alarm's timing again from its handling logs; returns how many alarms were handled.

    For logs written without ``save()`` (``manage.py seed_alarms``, bulk writes) and the migration that
    made the table; the models may be a migration's historical ones.
    """
    timing_model._default_manager.all().delete()
    made = 0
    pending: list[Model] = []
    for timing in _timings_from_logs(timing_model, log_model, chunk):
        pending.append(timing)
        if len(pending) >= batch:
            made += len(timing_model._default_manager.bulk_create(pending, ignore_conflicts=True))
            pending = []
    made += len(timing_model._default_manager.bulk_create(pending, ignore_conflicts=True))
    return made


def _timings_from_logs(timing_model: type[Model], log_model: type[Model], chunk: int) -> Iterator[Model]:
    timing: Any = None
    for alarm_id, logged_at, actor, to_status, to_handle, stored, event_time, kind, device, level in _logs_by_alarm(
        log_model, chunk
    ):
        since_stored = max(0, int((logged_at - stored).total_seconds()))
        if timing is None or timing.alarm_id != alarm_id:
            if timing is not None:
                yield timing
            timing = timing_model(
                alarm_id=alarm_id,
                event_time=event_time,
                stored_at=stored,
                stored_minute=minute_of_day(stored),
                alarm_type=kind,
                device_id=device,
                alarm_level=level,
                first_handler=actor,
                acknowledged_at=logged_at,
                acknowledge_seconds=since_stored,
            )
        timing.handle_status = to_handle
        if to_status == AlarmStatus.RESOLVED and timing.resolved_at is None:
            timing.resolved_at, timing.resolve_seconds = logged_at, since_stored
    if timing is not None:
        yield timing


def _logs_by_alarm(log_model: type[Model], chunk: int) -> Iterator[tuple[Any, ...]]:
    """Every log row with its alarm's values, by alarm and time, read in chunks of whole alarms.

    In chunks by alarm id: the MySQL driver holds a whole result in memory (900 MB for a million logs).
    A chunk is at least one alarm's logs, so ``chunk`` must be more than any alarm has.
    """
    after = None
    while True:
        logs = log_model._default_manager.order_by("alarm_id", "created_at", "id")
        if after is not None:
            logs = logs.filter(alarm_id__gt=after)
        rows = list(
            logs.values_list(
                "alarm_id",
                "created_at",
                "actor_name",
                "to_alarm_status",
                "to_handle_status",
                "alarm__created_at",
                "alarm__event_time",
                "alarm__alarm_type",
                "alarm__device_id",
                "alarm__alarm_level",
            )[:chunk]
        )
        full = len(rows) == chunk
        if full and rows[0][0] != rows[-1][0]:  # the last alarm's logs may go on: it comes whole next time
            last = rows[-1][0]
            rows = [row for row in rows if row[0] != last]
        yield from rows
        if not full:
            return
        after = rows[-1][0]
