"""Exact alarm counts from the rollup table (``AlarmCount``), for statistics and page totals.

Writing: each alarm is counted once in every grain of ``AlarmCount``. ``change(before, after)`` records
that it moved from one set of buckets and dimensions to another, in the caller's transaction, as a
row or two of ``AlarmCountChange``; ``fold`` moves those into the counts in batches, as one upsert that
adds to them (never sets them), so concurrent writers compose, with its rows sorted, so two
transactions lock shared rows in the same order. Bulk writers (the seeder, retention) add to the
counts directly with ``add_alarms``. Readers add the changes not yet folded.

Reading: ``tally`` counts the alarms of a scope in half-open time spans. A span is cut into the
whole days in it (day grains), whole UTC hours in what is left at its ends (hour grains), and the
minutes at its very ends, counted from the alarms themselves. The sum is exact for any span and
any zone: where local midnight is not on the hour, the minutes around it are counted raw.
"""

from __future__ import annotations

import functools
import operator
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, IntegerField, Max, Min, Q, QuerySet, Sum, Value, When
from django.db.models import Count as CountRows
from django.db.models.functions import TruncHour

from alarms.models import AlarmCount, AlarmCountChange, AlarmEvent, AlarmLevel, AlarmStatus, HandleStatus
from vsp.db import retry_on_lock_conflict, snapshot
from vsp.times import day_start, local_date

__all__ = ["day_start", "local_date"]  # days as vsp.times counts them, for the callers of these counts

Grain = AlarmCount.Grain
DIMENSIONS = ("alarm_type", "alarm_level", "alarm_status", "handle_status")
# Each grain's key columns besides grain and bucket, in primary-key order.
_KEY = ("device_id", *DIMENSIONS)
_HOUR = timedelta(hours=1)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_of(moment: datetime) -> datetime:
    return day_start(local_date(moment))


def _ceil_hour(moment: datetime) -> datetime:
    floor = hour_of(moment)
    return floor if floor == moment else floor + _HOUR


@dataclass(frozen=True)
class Counted:
    """What one alarm contributes to the counts."""

    event_time: datetime
    device_id: str
    alarm_type: str
    alarm_level: int
    alarm_status: str
    handle_status: str

    @classmethod
    def of(cls, alarm: Any) -> Counted:
        """From an alarm, or a dict of its values."""
        if isinstance(alarm, dict):
            return cls(**{name: alarm[name] for name in COUNTED_FIELDS})
        return cls(**{name: getattr(alarm, name) for name in COUNTED_FIELDS})

    def rows(self) -> list[tuple[Any, ...]]:
        """Its key in each grain: (grain, bucket, device_id, type, level, alarm status, handle status)."""
        hour, day = hour_of(self.event_time), day_of(self.event_time)
        dims = (self.alarm_type, self.alarm_level, self.alarm_status, self.handle_status)
        return [key(grain, hour if grain in HOURLY else day, self.device_id, dims) for grain in Grain.values]


# The grains bucketed by UTC hour; the others by local day.
HOURLY = frozenset({Grain.HOUR.value, Grain.DEVICE_TOTAL_HOUR.value})
# What each grain keeps of (device_id, type, level, alarm status, handle status).
_KEPT = {
    Grain.HOUR: (False, True, True, True, True),
    Grain.DAY: (False, True, True, True, True),
    Grain.DEVICE_DAY: (True, True, True, True, True),
    Grain.DEVICE_TOTAL_DAY: (True, False, False, False, False),
    Grain.DEVICE_TOTAL_HOUR: (True, False, False, False, False),
    Grain.DEVICE_TYPE_DAY: (True, True, False, False, False),
    Grain.DEVICE_LEVEL_DAY: (True, False, True, False, False),
    Grain.DEVICE_STATUS_DAY: (True, False, False, True, False),
    Grain.DEVICE_HANDLE_DAY: (True, False, False, False, True),
}
_BLANK = ("", "", 0, "", "")
# A device's top-devices grain for a filter on one dimension.
_DEVICE_GRAIN_OF = {
    "alarm_type": Grain.DEVICE_TYPE_DAY,
    "alarm_level": Grain.DEVICE_LEVEL_DAY,
    "alarm_status": Grain.DEVICE_STATUS_DAY,
    "handle_status": Grain.DEVICE_HANDLE_DAY,
}


def key(grain: str, bucket: datetime, device_id: str, dims: tuple[Any, ...]) -> tuple[Any, ...]:
    """An alarm's row in one grain: the columns the grain keeps, blank the others."""
    values = (device_id, *dims)
    kept = _KEPT[Grain(grain)]
    return (grain, bucket, *(value if keep else blank for value, keep, blank in zip(values, kept, _BLANK, strict=True)))


COUNTED_FIELDS = tuple(field.name for field in fields(Counted))


def change(before: Counted | None, after: Counted | None) -> None:
    """Record that an alarm went from ``before`` to ``after`` (``None``: not there), in the caller's transaction.

    One short row per side (``AlarmCountChange``), folded into the counts later; every
    ``COUNTS_FOLD_EVERY`` changes this process records, it folds them after its commit.
    """
    if before == after:
        return
    rows = [(side, sign) for side, sign in ((before, -1), (after, 1)) if side is not None]
    params: list[Any] = []
    for side, sign in rows:
        assert side is not None
        params += [connection.ops.adapt_datetimefield_value(side.event_time), side.device_id, side.alarm_type]
        params += [side.alarm_level, side.alarm_status, side.handle_status, sign]
    with connection.cursor() as cursor:
        cursor.execute(_insert_changes(connection.vendor, len(rows)), params)
    if _unfolded.add(len(rows)):
        transaction.on_commit(fold, robust=True)


def change_many(moves: Iterable[tuple[Counted | None, Counted | None]]) -> None:
    """``change`` for many alarms, as one statement: a bulk handling's (before, after) of each alarm."""
    rows = [(side, sign) for before, after in moves if before != after for side, sign in ((before, -1), (after, 1))]
    params: list[Any] = []
    for side, sign in rows:
        if side is None:
            continue
        params += [connection.ops.adapt_datetimefield_value(side.event_time), side.device_id, side.alarm_type]
        params += [side.alarm_level, side.alarm_status, side.handle_status, sign]
    number = len(params) // (len(COUNTED_FIELDS) + 1)
    if not number:
        return
    with connection.cursor() as cursor:
        cursor.execute(_insert_changes_sql(number), params)  # not cached: the sizes of bulk calls vary
    if _unfolded.add(number):
        transaction.on_commit(fold, robust=True)


@functools.cache
def _insert_changes(vendor: str, number: int) -> str:
    """The insert of ``number`` change rows, built once: every report runs it."""
    return _insert_changes_sql(number)


def _insert_changes_sql(number: int) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in (*COUNTED_FIELDS, "change"))
    marks = ", ".join(["(" + ", ".join(["%s"] * (len(COUNTED_FIELDS) + 1)) + ")"] * number)
    return f"INSERT INTO {quote(AlarmCountChange._meta.db_table)} ({columns}) VALUES {marks}"


class _Unfolded:
    """How many changes this process recorded since it last started a fold."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0

    def add(self, number: int) -> bool:
        """Count ``number`` more; whether it is time to fold."""
        with self.lock:
            self.count += number
            if self.count < settings.COUNTS_FOLD_EVERY:
                return False
            self.count = 0
            return True


_unfolded = _Unfolded()


def fold(limit: int = 10_000) -> int:
    """Move up to ``limit`` committed changes into the counts, in one transaction; returns how many.

    Changes still being written (uncommitted, so locked) are skipped and folded next time; two
    folds at once take disjoint sets. Readers see the changes before or after, never both. Two folds
    adding new count rows next to each other can deadlock on the index gap between them (MySQL's
    upsert locks it): the server rolls one back, and that one runs again.
    """
    return retry_on_lock_conflict(functools.partial(_fold, limit))


def _fold(limit: int) -> int:
    with transaction.atomic():
        pending = (
            AlarmCountChange.objects.select_for_update(skip_locked=True)
            .order_by("id")
            .values_list("id", *COUNTED_FIELDS, "change")[:limit]
        )
        rows = list(pending)
        if not rows:
            return 0
        deltas: Counter[tuple[Any, ...]] = Counter()
        for _id, *values, sign in rows:
            for row in Counted(*values).rows():
                deltas[row] += sign
        add(deltas)
        AlarmCountChange.objects.filter(id__in=[row[0] for row in rows]).delete()
    return len(rows)


def add(deltas: Counter[tuple[Any, ...]] | dict[tuple[Any, ...], int]) -> None:
    """Add each delta to the count of its key, creating the row when it is new: one statement."""
    rows = sorted((key, delta) for key, delta in deltas.items() if delta)
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(AlarmCount._meta.db_table)
    columns = ["grain", "bucket", *_KEY]
    names = ", ".join(quote(column) for column in [*columns, "count"])
    values = ", ".join(["(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"] * len(rows))
    count = quote("count")
    if connection.vendor == "mysql":
        upsert = f"ON DUPLICATE KEY UPDATE {count} = {count} + VALUES({count})"
    else:
        conflict = ", ".join(quote(column) for column in columns)
        upsert = f"ON CONFLICT ({conflict}) DO UPDATE SET {count} = {table}.{count} + excluded.{count}"
    params: list[Any] = []
    for (grain, bucket, *key), delta in rows:
        params += [grain, connection.ops.adapt_datetimefield_value(bucket), *key, delta]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({names}) VALUES {values} {upsert}", params)


def add_alarms(alarms: Iterable[Counted], sign: int = 1) -> None:
    """Count many alarms in (``sign=1``) or out (``-1``) in one statement."""
    deltas: Counter[tuple[Any, ...]] = Counter()
    for alarm in alarms:
        for row in alarm.rows():
            deltas[row] += sign
    add(deltas)


# -- reading -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The alarms counted: every filter the counts can answer. ``None`` is "any"."""

    device_id: str | None = None
    alarm_type: str | None = None
    alarm_level: int | None = None
    alarm_status: str | None = None
    handle_status: str | None = None

    @property
    def dimensions(self) -> dict[str, Any]:
        return {name: value for name in DIMENSIONS if (value := getattr(self, name)) is not None}

    def alarm_filter(self) -> Q:
        device = {"device_id": self.device_id} if self.device_id is not None else {}
        return Q(**device, **self.dimensions)


@dataclass(frozen=True)
class Span:
    """``[start, end)``; ``None`` is unbounded. ``label`` names it in a tally's keys."""

    label: Any
    start: datetime | None
    end: datetime | None


By = Literal["dimensions", "device"] | None
_BY_COLUMNS: dict[By, tuple[str, ...]] = {"dimensions": DIMENSIONS, "device": ("device_id",), None: ()}


@dataclass(frozen=True)
class _Piece:
    kind: Literal["day", "hour", "raw"]
    start: datetime | None
    end: datetime | None
    label: Any


def _pieces(span: Span) -> list[_Piece]:
    start, end = span.start, span.end
    # The first local midnight at or after start, and the last at or before end.
    first = last = None
    if start is not None:
        first = day_of(start)
        if first < start:
            first = day_start(local_date(first) + timedelta(days=1))
    if end is not None:
        last = day_of(end)
    if start is not None and end is not None:
        if start >= end:
            return []
        if first >= last:  # type: ignore[operator]
            return _partial(start, end, span.label)  # no whole day inside
    pieces = [_Piece("day", first, last, span.label)]
    if start is not None and first is not None and start < first:
        pieces += _partial(start, first, span.label)
    if end is not None and last is not None and last < end:
        pieces += _partial(last, end, span.label)
    return pieces


def _partial(start: datetime, end: datetime, label: Any) -> list[_Piece]:
    first, last = _ceil_hour(start), hour_of(end)
    if first >= last:
        return [_Piece("raw", start, end, label)]
    pieces = [_Piece("hour", first, last, label)]
    if start < first:
        pieces.append(_Piece("raw", start, first, label))
    if last < end:
        pieces.append(_Piece("raw", last, end, label))
    return pieces


def _grains(scope: Scope, by: By) -> tuple[str, str | None]:
    """The grain for whole days and for whole hours (``None``: count those hours raw)."""
    if by == "device":
        if len(scope.dimensions) == 1:
            (dimension,) = scope.dimensions
            return _DEVICE_GRAIN_OF[dimension], None
        if scope.dimensions:
            return Grain.DEVICE_DAY, None
        return Grain.DEVICE_TOTAL_DAY, Grain.DEVICE_TOTAL_HOUR
    if scope.device_id is not None:
        return Grain.DEVICE_DAY, None
    return Grain.DAY, Grain.HOUR


# The columns of ``alarmcount_dims_idx`` before the type, and every value each one holds: a write
# stores only a choice (the API, admin and seeder validate against them).
_ENUMERATED: dict[str, list[Any]] = {
    "alarm_status": AlarmStatus.values,
    "handle_status": HandleStatus.values,
    "alarm_level": AlarmLevel.values,
}


def _every_value_before(scope: Scope) -> dict[str, list[Any]]:
    """``__in`` every value of the index's columns the scope leaves open, so the dimensions it filters
    on seek the index (MariaDB cannot skip a column of it): a few dozen ranges instead of the grain."""
    return {f"{name}__in": values for name, values in _ENUMERATED.items() if name not in scope.dimensions}


def _range_filter(field: str, pieces: Sequence[_Piece]) -> Q:
    """Where ``field`` falls in any of the pieces, adjacent ones merged into one range."""
    merged: list[list[datetime | None]] = []
    for piece in sorted(pieces, key=lambda piece: (piece.start is not None, piece.start)):
        if merged and merged[-1][1] is not None and merged[-1][1] == piece.start:
            merged[-1][1] = piece.end
        else:
            merged.append([piece.start, piece.end])
    ranges = []
    for start, end in merged:
        bounds = Q()
        if start is not None:
            bounds &= Q(**{f"{field}__gte": start})
        if end is not None:
            bounds &= Q(**{f"{field}__lt": end})
        if not bounds:
            return Q()  # unbounded: all of time
        ranges.append(bounds)
    return functools.reduce(operator.or_, ranges)


def tally(scope: Scope, spans: Sequence[Span], by: By = None) -> Counter[tuple[Any, tuple[Any, ...]]]:
    """Alarms of ``scope`` in each span: ``{(span label, key): count}``; the key is ``by``'s values."""
    pieces = [piece for span in spans for piece in _pieces(span)]
    day_grain, hour_grain = _grains(scope, by)
    by_day = [piece for piece in pieces if piece.kind == "day"]
    by_hour = [piece for piece in pieces if piece.kind == "hour"] if hour_grain else []
    raw = [piece for piece in pieces if piece.kind == "raw" or (piece.kind == "hour" and not hour_grain)]
    columns = _BY_COLUMNS[by]
    counts: Counter[tuple[Any, tuple[Any, ...]]] = Counter()
    for grain, part in ((day_grain, by_day), (hour_grain, by_hour)):
        if part and grain is not None:
            rows = AlarmCount.objects.filter(grain=grain, **scope.dimensions)
            if _KEPT[Grain(grain)][0]:  # a grain by device
                rows = rows.filter(**({"device_id": scope.device_id} if scope.device_id is not None else {}))
            if grain == Grain.DEVICE_DAY and scope.device_id is None:
                rows = rows.filter(**_every_value_before(scope))
            _sum_by_piece(counts, rows, "bucket", part, columns, Sum("count"))
    if by_day or by_hour:  # and the changes not yet folded into those counts
        changes = AlarmCountChange.objects.filter(scope.alarm_filter())
        _sum_by_piece(counts, changes, "event_time", [*by_day, *by_hour], columns, Sum("change"))
    if raw:  # the minutes the counts leave to the alarms themselves
        alarms = AlarmEvent.objects.filter(scope.alarm_filter())
        _sum_by_piece(counts, alarms, "event_time", raw, columns, CountRows("pk"))
    return +counts  # no zero or negative entries


def _sum_by_piece(
    counts: Counter[tuple[Any, tuple[Any, ...]]],
    rows: QuerySet[Any],
    field: str,
    pieces: Sequence[_Piece],
    columns: tuple[str, ...],
    total: Any,
) -> None:
    """Add ``total`` of the ``rows`` whose ``field`` falls in each piece, by the piece's label and ``columns``."""
    rows = rows.filter(_range_filter(field, pieces)).order_by()
    labels = {piece.label for piece in pieces}
    if len(labels) == 1:
        (label,) = labels
        if not columns:
            counts[label, ()] += rows.aggregate(n=total)["n"] or 0
            return
        for *key, number in rows.values_list(*columns).annotate(n=total):
            counts[label, tuple(key)] += number
        return
    which = Case(
        *(When(_range_filter(field, [piece]), then=Value(index)) for index, piece in enumerate(pieces)),
        output_field=IntegerField(),
    )
    for index, *key, number in rows.annotate(piece=which).values_list("piece", *columns).annotate(n=total):
        counts[pieces[index].label, tuple(key)] += number


def total(scope: Scope, start: datetime | None = None, end: datetime | None = None) -> int:
    """How many alarms of ``scope`` have an event time in ``[start, end)``."""
    return tally(scope, [Span(None, start, end)]).get((None, ()), 0)


def after(moment: datetime | None) -> datetime | None:
    """The half-open end for an inclusive one: times are stored to the microsecond."""
    return moment + timedelta(microseconds=1) if moment is not None else None


# -- correcting ----------------------------------------------------------------------------------------


def reconcile(start: datetime | None = None, end: datetime | None = None, *, progress: Any = None) -> Counter[str]:
    """Make the counts equal to the alarms stored, over ``[start, end)`` (default: all of time).

    A UTC day at a time for the hour grains, a local day at a time for the day grains: each chunk
    compares the alarms and their counts read in one snapshot, then adds the difference. Adding,
    not setting, is what makes it safe beside ingest: a write committed after the snapshot is in
    both the alarms and the counts, so the difference is unchanged by it. Returns the number of
    corrected rows per grain. ``progress`` is called with each chunk's first day.
    """
    while fold():
        pass  # fewer changes to read; the result is the same either way
    first, last = _extent(start, end)
    corrected: Counter[str] = Counter()
    if first is None or last is None:
        return corrected
    utc_days = _chunks(first, last, lambda moment: moment.replace(hour=0, minute=0, second=0, microsecond=0))
    local_days = _chunks(first, last, day_of)
    for chunk_start, chunk_end in utc_days:
        corrected += _reconcile_chunk(chunk_start, chunk_end, sorted(HOURLY), hourly=True)
    for chunk_start, chunk_end in local_days:
        if progress:
            progress(chunk_start)
        grains = [grain for grain in Grain.values if grain not in HOURLY]
        corrected += _reconcile_chunk(chunk_start, chunk_end, grains, hourly=False)
    AlarmCount.objects.filter(count=0).delete()  # what handling emptied
    return corrected


def _extent(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    """The earliest and latest moment in range that either an alarm or a count holds."""
    alarms = AlarmEvent.objects.order_by()
    changes = AlarmCountChange.objects.order_by()
    counts = AlarmCount.objects.order_by()
    if start is not None:
        alarms, changes = alarms.filter(event_time__gte=start), changes.filter(event_time__gte=start)
        counts = counts.filter(bucket__gte=hour_of(start))
    if end is not None:
        alarms, changes = alarms.filter(event_time__lt=end), changes.filter(event_time__lt=end)
        counts = counts.filter(bucket__lt=end)
    moments = [
        moment
        for rows, field in ((alarms, "event_time"), (changes, "event_time"), (counts, "bucket"))
        for moment in rows.aggregate(first=Min(field), last=Max(field)).values()
        if moment is not None
    ]
    if not moments:
        return None, None
    return min(moments), max(moments)


def _chunks(first: datetime, last: datetime, floor: Any) -> list[tuple[datetime, datetime]]:
    chunks = []
    chunk = floor(first.astimezone(UTC))
    while chunk <= last:
        following = floor(chunk + timedelta(hours=36))  # the next day's start, in any zone
        chunks.append((chunk, following))
        chunk = following
    return chunks


def _reconcile_chunk(start: datetime, end: datetime, grains: Sequence[str], *, hourly: bool) -> Counter[str]:
    with snapshot():
        alarms = AlarmEvent.objects.filter(event_time__gte=start, event_time__lt=end).order_by()
        truth: Counter[tuple[Any, ...]] = Counter()
        rows: QuerySet[Any, Any]
        if hourly:
            rows = alarms.annotate(hour=TruncHour("event_time", tzinfo=UTC)).values_list("hour", *_KEY)
        else:
            rows = alarms.values_list(*_KEY)
        for *values, number in rows.annotate(number=CountRows("pk")):
            bucket, (device_id, *dims) = (values[0], values[1:]) if hourly else (start, values)
            for grain in grains:
                truth[key(grain, bucket, device_id, tuple(dims))] += number
        stored = AlarmCount.objects.filter(grain__in=grains, bucket__gte=start, bucket__lt=end)
        held: Counter[tuple[Any, ...]] = Counter()
        for *stored_key, number in stored.values_list("grain", "bucket", *_KEY, "count"):
            held[tuple(stored_key)] += number
        unfolded = AlarmCountChange.objects.filter(event_time__gte=start, event_time__lt=end)
        for *values, sign in unfolded.values_list(*COUNTED_FIELDS, "change"):
            for row in Counted(*values).rows():
                if row[0] in grains:
                    held[row] += sign
        difference = {key: truth[key] - held[key] for key in truth.keys() | held.keys() if truth[key] != held[key]}
        add(difference)
    return Counter(key[0] for key in difference)
