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
percentiles come exactly. The backlog is read from the alarms by ``alarm_backlog_idx`` alone. The
range is bounded (at most ``STATISTICS_MAX_DAYS``; by default the last ``STATISTICS_DEFAULT_DAYS``
days). Figures on a million alarms: bench/README.md, "Ops metrics on a million alarms".
"""

from __future__ import annotations

import array
import hashlib
import itertools
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Model, QuerySet
from django.utils import timezone

from alarms import counts
from alarms.filters import AlarmEventFilterSet
from alarms.models import (
    AlarmEvent,
    AlarmHandleLog,
    AlarmStatus,
    AlarmTiming,
    AlarmTimingDay,
    AlarmTimingRollup,
    HandleStatus,
    minute_of_day,
)
from alarms.statistics import DayRange
from devices.models import EdgeDevice
from vsp.db import EpochMicroseconds, epoch_microseconds, from_epoch_microseconds

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
Grain = AlarmTimingRollup.Grain
# The rollup grain that answers a filter, and one that groups.
_FILTER_GRAIN = {"alarm_type": Grain.TYPE, "device_id": Grain.DEVICE, "alarm_level": Grain.LEVEL}
_GROUP_GRAIN: dict[Grouping, str] = {
    "type": Grain.TYPE,
    "device": Grain.DEVICE,
    "handler": Grain.HANDLER,
    "shift": Grain.SHIFT,
}


def significant(seconds: int) -> int:
    """A duration to three significant figures, rounded down: exact below 1,000 s, within 1 % above."""
    if seconds < 1000:
        return seconds
    step = 10
    while seconds >= step * 1000:
        step *= 10
    return seconds - seconds % step


class Histogram(Counter[int]):
    """How many alarms took each duration (whole seconds), and the exact sum of those durations.

    The mean is exact. Percentiles read the durations to three significant figures (``significant``),
    as a day's rollup keeps them, so a range reads the same whether its days come rolled up or not.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0
        self.folded = True  # whether every duration counted is already to three significant figures

    def add(self, durations: list[int]) -> None:
        self.update(durations)
        self.seconds += sum(durations)
        self.folded = self.folded and not durations

    def add_packed(self, packed: bytes | memoryview, seconds: int) -> None:
        """Add a rollup's histogram (``packed``) and the exact sum of its durations."""
        pairs = _unpack(packed)
        get = self.get  # not self[value] += alarms: Counter's __missing__ is a Python call per new value
        for value, alarms in zip(pairs[::2], pairs[1::2], strict=True):
            self[value] = get(value, 0) + alarms
        self.seconds += seconds

    def rolled(self) -> list[tuple[int, int]]:
        """The histogram as a rollup keeps it, to three significant figures, shortest first."""
        if self.folded:
            return sorted(self.items())
        folded: Counter[int] = Counter()
        for seconds, alarms in self.items():
            folded[seconds if seconds < 1000 else significant(seconds)] += alarms
        return sorted(folded.items())

    def packed(self) -> bytes:
        """``rolled()`` as a rollup stores it: unsigned 32-bit little-endian seconds and alarms in turn."""
        pairs = array.array("I", itertools.chain.from_iterable(self.rolled()))
        if sys.byteorder == "big":
            pairs.byteswap()
        return pairs.tobytes()

    def mean(self) -> float | None:
        total = self.total()
        return self.seconds / total if total else None

    def percentile(self, fraction: float) -> float | None:
        """Linear between the nearest ranks of the sorted durations; None of none."""
        return self.percentiles(fraction)[0]

    def percentiles(self, *fractions: float) -> list[float | None]:
        """``percentile`` of each fraction, from one walk along the ranked durations."""
        total = self.total()
        if not total:
            return [None for _ in fractions]
        positions = [(total - 1) * fraction for fraction in fractions]
        ranks = sorted({rank for position in positions for rank in (math.floor(position), math.ceil(position))})
        at: dict[int, int] = {}
        passed = 0
        pending = iter(ranks)
        rank = next(pending)
        for seconds, alarms in self.rolled():
            passed += alarms
            while passed > rank:  # the durations ranked up to passed - 1 are all this one
                at[rank] = seconds
                rank = next(pending, total)
            if rank == total:
                break
        found: list[float | None] = []
        for position in positions:
            below, above = math.floor(position), math.ceil(position)
            found.append(at[below] + (at[above] - at[below]) * (position - below))
        return found


assert array.array("I").itemsize == 4, "a packed histogram is of 32-bit integers"


def _unpack(packed: bytes | memoryview) -> array.array[int]:
    pairs = array.array("I")
    pairs.frombytes(packed)
    if sys.byteorder == "big":
        pairs.byteswap()
    return pairs


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
    backlog: list[int] = field(default_factory=list)  # stored times of the unhandled alarms, epoch µs

    def summary(self, now: datetime) -> dict[str, Any]:
        stored = min(self.backlog, default=None)
        oldest = from_epoch_microseconds(stored) if stored is not None else None
        now_us = epoch_microseconds(now)
        ages = sorted((now_us - stored) / 1_000_000 for stored in self.backlog)
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
    p50, p90 = histogram.percentiles(0.5, 0.9)
    return {
        f"{name}_seconds": _seconds(histogram.mean()),
        f"{name}_p50_seconds": _seconds(p50),
        f"{name}_p90_seconds": _seconds(p90),
    }


def shift_at_minute(minute: int) -> str:
    return next((shift.name for shift in settings.SHIFTS if shift.covers(minute)), "")


def shift_of(moment: datetime) -> str:
    """The name of the shift on duty at ``moment`` (in TIME_ZONE), or ``""`` if none is."""
    return shift_at_minute(minute_of_day(moment))


class _ShiftsByMinute(dict[int, str]):
    """The shift on duty at each UTC minute since the epoch (in the current time zone), worked out once a
    minute: an offset from UTC holds for whole minutes, and the backlog's alarms share few of them."""

    def __init__(self) -> None:
        super().__init__()
        self.zone = timezone.get_current_timezone()

    def __missing__(self, minute: int) -> str:
        name = self[minute] = shift_of(datetime.fromtimestamp(minute * 60, self.zone))
        return name


@dataclass(frozen=True)
class MetricsRange:
    alarms: QuerySet[AlarmEvent]
    timings: QuerySet[AlarmTiming]
    start: datetime
    end: datetime
    # Whether the days' rollups can answer the filters (event-time range and at most one of type, device,
    # level), and that one filter as (its grain, key).
    rollable: bool = False
    filtered: tuple[str, str] | None = None


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
    dimensions = given & set(_TIMING_FILTERS)
    for name in dimensions:
        timings = timings.filter(**{_TIMING_FILTERS[name]: cleaned[name]})
    others = given - {*_TIMING_FILTERS, *_RANGE_FILTERS, "ordering"}
    if others:
        timings = timings.filter(alarm__in=alarms.values("pk"))  # besides the range, read by its own index
    rollable = not others and len(dimensions) <= 1 and not given & {"created_after", "created_before"}
    filtered = None
    if rollable and dimensions:
        (name,) = dimensions
        filtered = (_FILTER_GRAIN[name], str(cleaned[name]))
    return MetricsRange(alarms, timings, start, end or now, rollable, filtered)


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

    # Whole past days from their rollups where they are fresh and answer the filters; the rest (today, the
    # ends of the range, stale days) from the timings.
    timings = covered.timings
    plan = _rollup_plan(covered, group_by)
    if plan is not None:
        rolled = _fresh_days(covered.start, covered.end)
        if rolled:
            (overall_grain, overall_key), group_grain = plan
            rollups = AlarmTimingRollup.objects.filter(day__in=rolled).order_by()
            for rollup in rollups.filter(grain=overall_grain, key=overall_key):
                _add_rollup(overall, rollup)
            if group_grain is not None:
                grouped = rollups.filter(grain=group_grain)
                if covered.filtered and covered.filtered[0] == group_grain:
                    grouped = grouped.filter(key=covered.filtered[1])
                for rollup in grouped:
                    _add_rollup(tally_of(rollup.key), rollup)
            for first, last in _runs(rolled):
                timings = timings.exclude(event_time__gte=counts.day_start(first), event_time__lt=_day_end(last))
    # One row per handled alarm, read off alarmtiming_figures_idx alone (no table row is read), and folded
    # a chunk at a time by Counter.update, which counts in C.
    handled = timings.values_list(*columns, "acknowledge_seconds", "resolve_seconds", "handle_status")
    rows = handled.iterator(chunk_size=_CHUNK)
    while chunk := list(itertools.islice(rows, _CHUNK)):
        _count_into(overall, chunk)
        if column:
            by_group: dict[str, list[tuple[Any, ...]]] = {}
            for row in chunk:
                by_group.setdefault(key(row[0]), []).append(row)
            for name, members in by_group.items():
                _count_into(tally_of(name), members)
    _count_backlog(covered, group_by, overall, tally_of)
    return overall, groups


def _count_backlog(
    covered: MetricsRange, group_by: Grouping | None, overall: _Tally, tally_of: Callable[[str], _Tally]
) -> None:
    """Add the range's unhandled alarms' stored times to the overall tally and to their group's."""
    # The stored times come as integers (a datetime a row was a second a month), read off
    # alarm_backlog_idx alone.
    backlog = covered.alarms.filter(handle_status=HandleStatus.UNHANDLED).annotate(
        stored_us=EpochMicroseconds("created_at")
    )
    if group_by is None:
        overall.backlog.extend(backlog.values_list("stored_us", flat=True).iterator(chunk_size=_CHUNK))
        return
    backlogs: dict[str, list[int]] = defaultdict(list)
    if group_by == "shift":
        on_duty = _ShiftsByMinute()
        for stored in backlog.values_list("stored_us", flat=True).iterator(chunk_size=_CHUNK):
            backlogs[on_duty[stored // 60_000_000]].append(stored)
    else:
        for name, stored in backlog.values_list(_BACKLOG_COLUMN[group_by], "stored_us").iterator(chunk_size=_CHUNK):
            backlogs[name].append(stored)
    for name, stored_times in backlogs.items():
        overall.backlog.extend(stored_times)
        tally_of(name).backlog.extend(stored_times)


# The alarm column a backlog is grouped by; shifts are worked out from the stored time.
_BACKLOG_COLUMN: dict[Grouping, str] = {"type": "alarm_type", "device": "device_id", "handler": "handler"}


_CHUNK = 5000


def _rollup_plan(covered: MetricsRange, group_by: Grouping | None) -> tuple[tuple[str, str], str | None] | None:
    """The rollup (grain, key) of the overall figures and the grain of the groups; None if rollups cannot say."""
    if not covered.rollable:
        return None
    group_grain = _GROUP_GRAIN[group_by] if group_by else None
    if covered.filtered is None:
        return (Grain.ALL, ""), group_grain
    if group_grain is None or group_grain == covered.filtered[0]:
        return covered.filtered, group_grain
    return None  # filtered on one column and grouped by another: a day rolls up each alone


def _add_rollup(tally: _Tally, rollup: AlarmTimingRollup) -> None:
    tally.acknowledge.add_packed(rollup.acknowledge_histogram, rollup.acknowledge_seconds)
    tally.resolve.add_packed(rollup.resolve_histogram, rollup.resolve_seconds)
    tally.handle_statuses.update(rollup.handle_statuses)


def _day_end(day: date) -> datetime:
    return counts.day_start(day + timedelta(days=1))


def rollup_settings() -> str:
    """A digest of what a day's rollup depends on besides its timings: the zone its days and shifts are
    in, and the shifts."""
    shifts = ",".join(f"{shift.name}={shift.start}-{shift.end}" for shift in settings.SHIFTS)
    return hashlib.sha256(f"{settings.TIME_ZONE};{shifts}".encode()).hexdigest()[:32]


def _fresh_days(start: datetime, end: datetime) -> list[date]:
    """The days wholly inside ``[start, end]`` whose rollups are fresh, built with the settings of now."""
    first = counts.local_date(start)
    if counts.day_start(first) < start:
        first += timedelta(days=1)
    last = counts.local_date(end + timedelta(microseconds=1)) - timedelta(days=1)  # the last to end by the end
    if last < first:
        return []
    return sorted(_fresh_markers(first, last))


def _fresh_markers(first: date, last: date) -> QuerySet[AlarmTimingDay, date]:
    """The days from ``first`` to ``last`` whose rollups are fresh and built with the settings of now."""
    markers = AlarmTimingDay.objects.filter(day__gte=first, day__lte=last, fresh=True, made_with=rollup_settings())
    return markers.values_list("day", flat=True)


def _runs(days: list[date]) -> Iterator[tuple[date, date]]:
    """Sorted days as runs of consecutive ones: (first, last) of each."""
    for _, run in itertools.groupby(enumerate(days), key=lambda pair: pair[1] - timedelta(days=pair[0])):
        members = [day for _, day in run]
        yield members[0], members[-1]


def _count_into(tally: _Tally, rows: list[tuple[Any, ...]]) -> None:
    """Count timing rows (…, acknowledge seconds, resolve seconds or None, handle status) into ``tally``."""
    tally.acknowledge.add([row[-3] for row in rows])
    tally.resolve.add([row[-2] for row in rows if row[-2] is not None])
    tally.handle_statuses.update(row[-1] for row in rows)


def _groups(group_by: Grouping, groups: dict[str, _Tally], now: datetime) -> list[dict[str, Any]]:
    names = sorted(groups) if group_by != "shift" else list(groups)
    rows = [{"key": name, **groups[name].summary(now)} for name in names]
    if group_by == "device":
        devices = dict(EdgeDevice.objects.filter(device_id__in=names).values_list("device_id", "name"))
        for row in rows:
            row["device_name"] = devices.get(row["key"]) or None
    return rows


# A day is rolled up this long after it ends, when no handling that began in it can still be uncommitted.
_SETTLE = timedelta(minutes=10)


def roll_up(now: datetime | None = None, *, every: bool = False) -> list[date]:
    """Roll up every past day whose rollup is missing or stale (``every``: every past day), oldest first;
    the days rolled up."""
    now = now or timezone.now()
    first = AlarmTiming.objects.aggregate(first=Min("event_time"))["first"]
    if first is None:
        return []
    day, last = counts.local_date(first), counts.local_date(now - _SETTLE) - timedelta(days=1)
    fresh = set() if every else set(_fresh_markers(day, last))
    made = []
    while day <= last:
        if day not in fresh:
            roll_up_day(day)
            made.append(day)
        day += timedelta(days=1)
    return made


def roll_up_day(day: date) -> None:
    """Sum one past day's timings into its rollup (``AlarmTimingRollup``) and mark the day fresh."""
    AlarmTimingDay.objects.bulk_create([AlarmTimingDay(day=day)], ignore_conflicts=True)
    with transaction.atomic():
        # Locked before the timings are read: a handling that changes one either waits and marks the day
        # stale after this commits, or has committed before the read (AlarmTimingDay).
        AlarmTimingDay.objects.select_for_update().get(day=day)
        made_with = rollup_settings()
        shifts = [shift_at_minute(minute) for minute in range(24 * 60)]
        tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
        timings = AlarmTiming.objects.filter(event_time__gte=counts.day_start(day), event_time__lt=_day_end(day))
        rows = (
            timings.order_by()
            .values_list(
                *("alarm_type", "device_id", "first_handler", "stored_minute", "alarm_level"),
                *("acknowledge_seconds", "resolve_seconds", "handle_status"),
            )
            .iterator(chunk_size=_CHUNK)
        )
        while chunk := list(itertools.islice(rows, _CHUNK)):
            groups: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
            for row in chunk:
                groups[Grain.TYPE, row[0]].append(row)
                groups[Grain.DEVICE, row[1]].append(row)
                groups[Grain.HANDLER, row[2]].append(row)
                groups[Grain.SHIFT, shifts[row[3]]].append(row)
                groups[Grain.LEVEL, str(row[4])].append(row)
            groups[Grain.ALL, ""] = chunk
            for group, members in groups.items():
                _count_into(tallies[group], members)
        AlarmTimingRollup.objects.filter(day=day).delete()
        AlarmTimingRollup.objects.bulk_create(
            [
                AlarmTimingRollup(
                    day=day,
                    grain=grain,
                    key=key,
                    acknowledged=tally.acknowledge.total(),
                    acknowledge_seconds=tally.acknowledge.seconds,
                    acknowledge_histogram=tally.acknowledge.packed(),
                    resolved=tally.resolve.total(),
                    resolve_seconds=tally.resolve.seconds,
                    resolve_histogram=tally.resolve.packed(),
                    handle_statuses=dict(tally.handle_statuses),
                )
                for (grain, key), tally in tallies.items()
            ],
            batch_size=500,
        )
        AlarmTimingDay.objects.filter(day=day).update(fresh=True, made_with=made_with, built_at=timezone.now())


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
