"""The life of an alarm: reported, resolved by the edge, handled by staff.

Services take clean values (validation of HTTP input happens in serializers),
write in one transaction, and leave the database to decide races: a unique
primary key makes reports idempotent, conditional updates make resolves safe
to repeat. Nothing here knows about HTTP.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import secrets
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NoReturn, TypeVar

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Value, When
from django.dispatch import receiver
from django.test.signals import setting_changed
from django.utils import timezone

from alarms import counts, events, signals, snapshots
from alarms.exceptions import (
    AlarmIdTaken,
    AlarmNotFound,
    AlarmOfAnotherDevice,
    IncidentNotFound,
    InvalidStatusTransition,
    TooManyAlarms,
)
from alarms.filters import AlarmEventFilterSet
from alarms.models import (
    AlarmEvent,
    AlarmEventExt,
    AlarmEventQuerySet,
    AlarmHandleLog,
    AlarmLevel,
    AlarmSource,
    AlarmStatus,
    AlarmTiming,
    BulkHandleJob,
    HandleStatus,
    Incident,
    IncidentStatus,
    PendingResolve,
    PendingSnapshot,
    SnapshotStatus,
    incident_key,
)
from devices.events import device_status_event
from devices.models import EdgeDevice
from devices.services import record_sign_of_life
from vsp.db import Insert, is_duplicate_key, retry_on_lock_conflict
from vsp.images import SnapshotImage
from vsp.publish import announce_together

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Every report makes these inserts; built once (vsp.db.Insert), they skip the ORM's per-save compile.
insert_alarm = Insert(AlarmEvent)
insert_ext = Insert(AlarmEventExt)


class _StoredRecently:
    """Ids of alarms this process saw stored in the last few minutes, at most REPORT_REPEATS_REMEMBERED.

    A box that did not get its answer sends the report again, and in a storm that is most of the
    traffic; such a repeat is answered from here, as the database would answer it (the id is stored),
    without a transaction. Only ids known to be committed are here: a miss simply asks the database.
    """

    def __init__(self) -> None:
        self._ids: OrderedDict[str, tuple[str, float]] = OrderedDict()  # alarm id -> (its device, when seen)
        self._lock = threading.Lock()

    def device_of(self, alarm_id: str) -> str | None:
        """The device an alarm id was seen stored for, lately; None when this process does not know."""
        seen = self._ids.get(alarm_id)
        if seen is None or time.monotonic() - seen[1] >= settings.REPORT_REPEATS_REMEMBERED_SECONDS:
            return None
        return seen[0]

    def add(self, alarm_id: str, device_id: str) -> None:
        with self._lock:
            self._ids[alarm_id] = (device_id, time.monotonic())
            self._ids.move_to_end(alarm_id)
            while len(self._ids) > settings.REPORT_REPEATS_REMEMBERED:
                self._ids.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._ids.clear()


_stored_recently = _StoredRecently()


@receiver(setting_changed)
def _database_or_cache_changed(setting: str, **kwargs: Any) -> None:
    if setting in ("DATABASES", "CACHES"):  # what this process saw stored was elsewhere
        _stored_recently.clear()


HANDLE_PERMISSION = "alarms.handle_alarmevent"

# A report racing a resolve of the same alarm can deadlock (they lock the alarm
# and the pending-resolve row in opposite orders); the loser simply runs again.
_DEADLOCK_ATTEMPTS = 3


@dataclass(frozen=True)
class AlarmReport:
    alarm_id: str
    alarm_type: str
    device_id: str
    event_time: datetime
    scene_id: str = ""
    alarm_level: int = AlarmLevel.MINOR
    snapshot_url: str = ""
    confidence_score: float | None = None
    ext_data: dict[str, Any] | None = None
    source: str = AlarmSource.EDGE
    # An image sent with the report, already checked; stored after the alarm commits.
    snapshot_image: SnapshotImage | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ReportResult:
    alarm_id: str
    created: bool


@dataclass(frozen=True)
class EdgeResolve:
    alarm_id: str
    duration_ms: int | None = None
    last_frame_time: datetime | None = None
    resolve_type: str | None = None

    def changes(self) -> dict[str, Any]:
        """The alarm columns this resolve sets; fields the edge left out stay as they are."""
        values: dict[str, Any] = {"duration_ms": self.duration_ms, "end_time": self.last_frame_time}
        if self.resolve_type is not None:
            values["resolve_type"] = self.resolve_type
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class ResolveResult:
    alarm_id: str
    applied: bool


@dataclass(frozen=True)
class Actor:
    """Who is handling an alarm: a Django user, or a name from an upstream gateway."""

    name: str
    user: User | None = field(default=None, compare=False)

    @classmethod
    def of(cls, user: User | AnonymousUser) -> Actor:
        if not isinstance(user, User):
            raise TypeError("handling an alarm needs a logged-in user")
        return cls(name=user.get_username(), user=user)

    def may_handle(self) -> bool:
        """Whether this actor may handle alarms: a user needs ``alarms.handle_alarmevent``.

        The permission covers every alarm alike (there is no per-alarm scoping); a name without a
        user (an upstream gateway, the analysis) speaks for a caller authorised before it got here.
        """
        return self.user is None or self.user.has_perm(HANDLE_PERMISSION)


def report_alarm(report: AlarmReport, *, client_ip: str | None = None, now: datetime | None = None) -> ReportResult:
    """Store an alarm once; a repeat of the same ``alarm_id`` changes nothing.

    The insert itself decides: concurrent identical reports all try it, the
    primary key lets exactly one through, the others see a duplicate and
    answer ``created=False``. A resolve that arrived early is applied in the
    same transaction, and the device is registered or marked as seen.
    """
    now = now or timezone.now()
    if _stored_recently.device_of(report.alarm_id) == report.device_id:
        return _repeated(report, client_ip=client_ip, now=now)

    def attempt() -> ReportResult:
        alarm = AlarmEvent(
            alarm_id=report.alarm_id,
            alarm_type=report.alarm_type,
            device_id=report.device_id,
            scene_id=report.scene_id,
            event_time=report.event_time,
            alarm_level=report.alarm_level,
            snapshot_url=report.snapshot_url,
            snapshot_status=_snapshot_status(report),
            confidence_score=report.confidence_score,
            source=report.source,
        )
        image = report.snapshot_image
        if image is not None:
            alarm.snapshot_url = snapshots.snapshot_key(alarm, image.extension)
        with transaction.atomic():
            signals.alarm_reporting.send(AlarmEvent, alarm=alarm)
            # Before the insert, which then carries the incident; a repeat's rollback takes the join back.
            _join_incident(alarm, now)
            try:
                insert_alarm(alarm)
            except IntegrityError as exc:
                if not is_duplicate_key(exc):
                    raise
                # The primary key decided: the alarm is stored already. Nothing more runs in this transaction.
                transaction.set_rollback(True)
                created = False
            else:
                created = True
                transaction.on_commit(functools.partial(_stored_recently.add, report.alarm_id, report.device_id))
                if report.ext_data is not None:
                    insert_ext(AlarmEventExt(alarm=alarm, ext_data=report.ext_data))
                _apply_pending_resolve(alarm)
                # As AlarmEventQuerySet.with_device_name() would annotate it, for the event.
                alarm.device_name, came_online = _device_seen(report, client_ip=client_ip, now=now)  # type: ignore[attr-defined]
                # A box that came online with this report: its status first, then the alarm, sent together
                # (one round trip to Redis, one write per socket).
                status = device_status_event(report.device_id) if came_online else None
                announced = [status] if status is not None else []
                if image is None:
                    announced.append(events.alarm_event(events.ALARM_CREATED, alarm))
                else:
                    # The bytes commit with the alarm (an outbox), so no crash can lose them; the upload
                    # runs after commit, and the event after it carries the stored snapshot.
                    PendingSnapshot.objects.create(alarm=alarm, data=image.data, attempts=0)
                    transaction.on_commit(functools.partial(_store_then_announce, alarm, image.data), robust=True)
                announce_together(announced)
                # Last, so that the counts' rows, which every report of the hour shares, stay locked briefly.
                counts.change(None, counts.Counted.of(alarm))
        if not created:
            owner = AlarmEvent.objects.filter(pk=report.alarm_id).values_list("device_id", flat=True).first()
            if owner is not None and owner != report.device_id:
                _refuse_taken_id(report, owner, client_ip=client_ip, now=now)
            _stored_recently.add(report.alarm_id, report.device_id)
            return _repeated(report, client_ip=client_ip, now=now)
        return ReportResult(report.alarm_id, created=True)

    return _retry_on_deadlock(attempt)


def _join_incident(alarm: AlarmEvent, now: datetime) -> None:
    """Put the alarm in the incident of its (device, scene, type): one statement to join, two to start one.

    An incident holds its key (``current_key``, unique) while alarms join it. The first statement adds
    the alarm to the incident holding the key if that one's last alarm is at most INCIDENT_WINDOW
    before this one, or else frees the key (the old incident stays as it is); when nothing was joined,
    the second inserts a new incident holding the key. Joining an existing row is one conditional
    UPDATE by the unique key, so concurrent reports of one key queue on that row and each counts
    once, and its answer carries the incident's id and new count. Two reports starting the same incident
    at once: the unique key lets one insert through, and the other's transaction starts over
    (``_retry_on_deadlock``) and joins it. Sets ``alarm.incident_id`` and ``alarm.incident_count``
    (for the event).
    """
    if not settings.INCIDENT_WINDOW:
        return
    key = incident_key(alarm.device_id, alarm.scene_id, alarm.alarm_type)
    adapt = connection.ops.adapt_datetimefield_value
    moment, cutoff = adapt(alarm.event_time), adapt(alarm.event_time - timedelta(seconds=settings.INCIDENT_WINDOW))
    stamp = adapt(now)
    with connection.cursor() as cursor:
        joined = _joined_incident(cursor, key, moment, cutoff, alarm.alarm_level, stamp)
        if joined is None:
            values = [alarm.device_id, alarm.scene_id, alarm.alarm_type, key, moment, moment, alarm.alarm_level]
            try:
                cursor.execute(_incident_insert(connection.vendor), [*values, IncidentStatus.OPEN, stamp, stamp])
            except IntegrityError as exc:
                if not is_duplicate_key(exc):
                    raise
                # Another report inserted the key first and has committed. Starting over (rather than
                # joining in this transaction, which holds a shared lock on the key since the error)
                # lets the reports that lost queue on the row instead of deadlocking on it.
                raise _IncidentStartedMeanwhile(key) from None
            joined = (cursor.fetchone()[0], 1)
    alarm.incident_id, alarm.incident_count = joined  # type: ignore[attr-defined]  # as with_device_name() has it


def _joined_incident(cursor: Any, key: str, moment: Any, cutoff: Any, level: int, stamp: Any) -> tuple[int, int] | None:
    """Join the incident holding ``key`` if it is recent, else free the key: (its id, its count) or None."""
    if connection.vendor == "mysql":
        # In the order of the statement's placeholders: each assignment tests the cutoff first.
        params = [cutoff, cutoff, moment, cutoff, level, cutoff, cutoff, stamp, cutoff, cutoff, cutoff, moment, key]
        cursor.execute(_INCIDENT_JOIN_MYSQL, params)
        joined = cursor.lastrowid  # the incident's id and new count, set only if it joined; else 0
        if not joined:
            return None
        return int(joined) >> _COUNT_BITS, int(joined) & _COUNT_MASK
    # SQLite: one writer at a time, so the plain statements are enough.
    table = connection.ops.quote_name(Incident._meta.db_table)
    cursor.execute(f"UPDATE {table} SET current_key = NULL WHERE current_key = %s AND last_time < %s", [key, cutoff])
    cursor.execute(
        f"UPDATE {table} SET count = count + 1, first_time = MIN(first_time, %s), last_time = MAX(last_time, %s),"
        " highest_level = MIN(highest_level, %s), status = %s, updated_at = %s WHERE current_key = %s"
        " RETURNING id, count",
        [moment, moment, level, IncidentStatus.OPEN, stamp, key],
    )
    row = cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else None


# One statement: if the incident holding the key had an alarm at most the window before this one, count this
# alarm into it; if not, free the key. What it joined comes back in the statement's own answer: LAST_INSERT_ID
# carries the incident's id and its new count in one number (id above the low _COUNT_BITS, the count in
# them), which the client reads as lastrowid; a separate read of the count cost a statement per report
# (measured: ingest 0.87–0.95 of the seed's with it, bench/README.md). The count it carries stops at
# _COUNT_MASK (the column does not); ids stay below 2**40. MariaDB runs the assignments left to right, so
# `id` sees the new count and last_time, which the others test, comes last.
_COUNT_BITS = 24
_COUNT_MASK = (1 << _COUNT_BITS) - 1
_INCIDENT_JOIN_MYSQL = f"""UPDATE `alarms_incident` SET
    `count` = IF(`last_time` >= %s, `count` + 1, `count`),
    `first_time` = IF(`last_time` >= %s, LEAST(`first_time`, %s), `first_time`),
    `highest_level` = IF(`last_time` >= %s, LEAST(`highest_level`, %s), `highest_level`),
    `status` = IF(`last_time` >= %s, 'OPEN', `status`),
    `updated_at` = IF(`last_time` >= %s, %s, `updated_at`),
    `id` = IF(`last_time` >= %s,
        LAST_INSERT_ID((`id` << {_COUNT_BITS}) | LEAST(`count`, {_COUNT_MASK})) >> {_COUNT_BITS}, `id`),
    `current_key` = IF(`last_time` >= %s, `current_key`, NULL),
    `last_time` = IF(`last_time` >= %s, GREATEST(`last_time`, %s), `last_time`)
WHERE `current_key` = %s"""


@functools.cache
def _incident_insert(vendor: str) -> str:
    """A new incident holding its key, with this alarm as its first; its id."""
    quote = connection.ops.quote_name
    given = ("device_id", "scene_id", "alarm_type", "current_key", "first_time", "last_time", "highest_level")
    columns = ", ".join(quote(name) for name in (*given, "status", "created_at", "updated_at", "count"))
    marks = ", ".join(["%s"] * (len(given) + 3))
    return f"INSERT INTO {quote(Incident._meta.db_table)} ({columns}) VALUES ({marks}, 1) RETURNING {quote('id')}"


def _refresh_incidents(incident_ids: Iterable[int | None]) -> None:
    """An incident is open while any of its alarms is unhandled: set it so after its alarms were handled."""
    ids = sorted({pk for pk in incident_ids if pk is not None})
    if not ids:
        return
    unhandled = AlarmEvent.objects.filter(incident_id=OuterRef("pk"), handle_status=HandleStatus.UNHANDLED)
    Incident.objects.filter(pk__in=ids).update(
        status=Case(When(Exists(unhandled), then=Value(IncidentStatus.OPEN)), default=Value(IncidentStatus.HANDLED)),
        updated_at=timezone.now(),
    )


def _refuse_taken_id(report: AlarmReport, owner: str, *, client_ip: str | None, now: datetime) -> NoReturn:
    """Another device reported this id first: this report would be lost behind a ``created: false``.

    Logged, counted on the reporting device (admin shows it) and refused, so the box knows. Still a sign
    of life of that box.
    """
    logger.warning("refused a report of %s by %s: the alarm is %s's", report.alarm_id, report.device_id, owner)
    if report.source == AlarmSource.EDGE:
        record_sign_of_life(report.device_id, ip=client_ip, now=now)
        EdgeDevice.objects.filter(pk=report.device_id).update(id_conflicts=F("id_conflicts") + 1)
    raise AlarmIdTaken(report.alarm_id, owner, report.device_id)


def _repeated(report: AlarmReport, *, client_ip: str | None, now: datetime) -> ReportResult:
    """A report of an alarm already stored: nothing changes, but the box is evidently alive."""
    if report.source == AlarmSource.EDGE:
        record_sign_of_life(report.device_id, ip=client_ip, now=now)
    return ReportResult(report.alarm_id, created=False)


def _device_seen(report: AlarmReport, *, client_ip: str | None, now: datetime) -> tuple[str | None, bool]:
    """The reporting device's name for the alarm's event, and whether the report brought it ONLINE (an
    edge report is a sign of life); the caller announces that change with the alarm."""
    if report.source == AlarmSource.EDGE:
        seen = record_sign_of_life(report.device_id, ip=client_ip, now=now, announce=False)
        return seen.name or None, seen.came_online
    name = EdgeDevice.objects.filter(pk=report.device_id).values_list("name", flat=True).first()
    return name or None, False


def _store_then_announce(alarm: AlarmEvent, data: bytes) -> None:
    snapshots.store(alarm, data)
    events.alarm_changed(events.ALARM_CREATED, alarm)


def _snapshot_status(report: AlarmReport) -> str:
    if report.snapshot_image is not None:
        return SnapshotStatus.PENDING
    if report.snapshot_url.startswith(("http://", "https://")):
        return SnapshotStatus.EXTERNAL
    return SnapshotStatus.STORED if report.snapshot_url else SnapshotStatus.NONE


def _speaks_for(key_device: str | None, device_id: str) -> bool:
    """Whose alarms an edge message may change: a device key its own device's only; open ingest any."""
    return not key_device or key_device == device_id


def _apply_pending_resolve(alarm: AlarmEvent) -> None:
    # Locking read: if a resolve for this alarm is being written right now, wait
    # for it rather than miss it (see resolve_alarm for the other half).
    if not _pending_resolve_exists(alarm.alarm_id):
        return
    pending = PendingResolve.objects.get(alarm_id=alarm.alarm_id)
    if not _speaks_for(pending.device_id, alarm.device_id):
        logger.warning(
            "ignoring an early resolve of %s sent with %s's key; the alarm is %s's",
            alarm.alarm_id, pending.device_id, alarm.device_id,
        )  # fmt: skip
        pending.delete()
        return
    alarm.alarm_status = AlarmStatus.RESOLVED
    update_fields = ["alarm_status", "updated_at"]
    for name, value in (
        ("duration_ms", pending.duration_ms),
        ("end_time", pending.end_time),
        ("resolve_type", pending.resolve_type or None),
    ):
        if value is not None:
            setattr(alarm, name, value)
            update_fields.append(name)
    alarm.save(update_fields=update_fields)
    pending.delete()


def _pending_resolve_exists(alarm_id: str) -> bool:
    """A locking probe for an early resolve, run by every report: one indexed read, as plain SQL.

    The ORM's query for it cost more than both inserts of a report together; the row is read
    through the ORM only in the rare case that it is there.
    """
    table, column = PendingResolve._meta.db_table, PendingResolve._meta.pk.column
    quote = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""  # SQLite locks the whole file
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {quote(table)} WHERE {quote(column)} = %s{lock}", [alarm_id])
        return cursor.fetchone() is not None


def resolve_alarm(
    resolve: EdgeResolve, *, client_ip: str | None = None, key_device: str | None = None, now: datetime | None = None
) -> ResolveResult:
    """The edge says the event is over: record how long it lasted and mark it resolved.

    Never touches what staff decided (handle status, remark, handler).
    Repeating a resolve is harmless. A resolve for an alarm not yet reported
    is kept and applied when the report lands (``applied=False``). With a
    device key, only that device's alarm: another's raises AlarmOfAnotherDevice.
    """
    now = now or timezone.now()
    changes = {**resolve.changes(), "alarm_status": AlarmStatus.RESOLVED, "updated_at": now}
    alarm = AlarmEvent.objects.filter(pk=resolve.alarm_id)
    # The database applies _speaks_for, not an earlier read: the update matches only an alarm the key may change.
    target = alarm.filter(device_id=key_device) if key_device else alarm

    def resolved() -> ResolveResult:
        events.alarm_changed(events.ALARM_RESOLVED, alarm.with_device_name().get())
        return ResolveResult(resolve.alarm_id, applied=True)

    def resolve_target() -> bool:
        """Resolve the alarm if the key may; the counts move with its status."""
        before = target.select_for_update().values(*counts.COUNTED_FIELDS).first()
        if before is None:
            return False
        target.update(**changes)
        counts.change(counts.Counted.of(before), counts.Counted.of({**before, "alarm_status": AlarmStatus.RESOLVED}))
        return True

    def attempt() -> ResolveResult:
        with transaction.atomic():
            if resolve_target():
                return resolved()
            owner = alarm.values_list("device_id", flat=True).first()
            if owner is not None and not _speaks_for(key_device, owner):
                raise AlarmOfAnotherDevice(resolve.alarm_id, owner, key_device or "")
            PendingResolve.objects.update_or_create(
                alarm_id=resolve.alarm_id,
                defaults={
                    "duration_ms": resolve.duration_ms,
                    "end_time": resolve.last_frame_time,
                    "resolve_type": resolve.resolve_type or "",
                    "device_id": key_device or "",
                    "received_at": now,
                },
            )
            # The report may have been inserted, uncommitted, since the first
            # locking read; this second one waits for it. Whichever of the two
            # transactions comes second applies the resolve.
            if resolve_target():
                PendingResolve.objects.filter(alarm_id=resolve.alarm_id).delete()
                return resolved()
            return ResolveResult(resolve.alarm_id, applied=False)

    result = _retry_on_deadlock(attempt)
    if result.applied:
        # The edge speaking about its alarm is a sign of life of its device.
        device_id = key_device or alarm.values_list("device_id", flat=True).first()
        if device_id is not None:
            record_sign_of_life(device_id, ip=client_ip, now=now)
    return result


def handle_alarm(
    alarm_id: str,
    *,
    handle_status: str,
    actor: Actor,
    alarm_status: str | None = None,
    remark: str | None = None,
    now: datetime | None = None,
) -> AlarmEvent:
    """Record a staff decision on an alarm, and log it.

    ``alarm_status`` only moves forward (NEW → CONFIRMED → RESOLVED). When it
    is not given, handling a NEW alarm in any way acknowledges it (CONFIRMED).
    ``handle_status`` may move freely, so a handled alarm can be reopened.
    """
    now = now or timezone.now()
    with transaction.atomic():
        try:
            alarm = AlarmEvent.objects.with_device_name().select_for_update().get(pk=alarm_id)
        except AlarmEvent.DoesNotExist:
            raise AlarmNotFound(alarm_id) from None
        from_handle, from_status = alarm.handle_status, alarm.alarm_status
        counted = counts.Counted.of(alarm)
        if alarm_status is None:
            acknowledged = handle_status != HandleStatus.UNHANDLED and from_status == AlarmStatus.NEW
            alarm_status = AlarmStatus.CONFIRMED if acknowledged else from_status
        alarm.check_alarm_status_change(alarm_status)
        alarm.handle_status = handle_status
        alarm.alarm_status = alarm_status
        alarm.handler = actor.name
        alarm.handle_time = now
        if remark is not None:
            alarm.handle_remark = remark
        alarm.save(
            update_fields=["handle_status", "alarm_status", "handler", "handle_time", "handle_remark", "updated_at"]
        )
        AlarmHandleLog.objects.create(
            alarm=alarm,
            actor=actor.user,
            actor_name=actor.name,
            from_handle_status=from_handle,
            to_handle_status=handle_status,
            from_alarm_status=from_status,
            to_alarm_status=alarm_status,
            remark=remark or "",
            created_at=now,
        )
        counts.change(counted, counts.Counted.of(alarm))
        _refresh_incidents([alarm.incident_id])
        events.alarm_changed(events.ALARM_UPDATED, alarm)
    return alarm


# --- staff decisions in bulk -----------------------------------------------------------------

BulkOutcome = Literal["updated", "not_found", "forbidden", "invalid_transition"]
UPDATED: BulkOutcome = "updated"
NOT_FOUND: BulkOutcome = "not_found"
FORBIDDEN: BulkOutcome = "forbidden"
INVALID_TRANSITION: BulkOutcome = "invalid_transition"
BULK_OUTCOMES: tuple[BulkOutcome, ...] = (UPDATED, NOT_FOUND, FORBIDDEN, INVALID_TRANSITION)


def distinct_ids(alarm_ids: Iterable[str]) -> list[str]:
    """The ids once each, in the order first given; at most BULK_HANDLE_MAX_IDS (else TooManyAlarms)."""
    ids = list(dict.fromkeys(alarm_ids))
    if len(ids) > settings.BULK_HANDLE_MAX_IDS:
        raise TooManyAlarms(len(ids), settings.BULK_HANDLE_MAX_IDS)
    return ids


def bulk_handle(
    alarm_ids: Iterable[str],
    *,
    handle_status: str,
    actor: Actor,
    alarm_status: str | None = None,
    remark: str | None = None,
    now: datetime | None = None,
) -> dict[str, BulkOutcome]:
    """``handle_alarm`` for many alarms in one transaction; each id's outcome.

    ``updated``: handled, logged, counted and announced once, however often the id was given.
    ``not_found``: no such alarm. ``forbidden``: the actor lacks the handle permission (which covers
    every alarm alike). ``invalid_transition``: ``alarm_status`` would move the alarm back; it is left
    as it was. At most BULK_HANDLE_MAX_IDS distinct ids (TooManyAlarms).
    """
    ids = distinct_ids(alarm_ids)
    now = now or timezone.now()
    if not actor.may_handle():
        return _refused(ids)

    def attempt() -> dict[str, BulkOutcome]:
        with transaction.atomic():
            return _handle_locked(ids, handle_status, alarm_status, remark, actor, now)

    return _retry_on_deadlock(attempt)


def bulk_assign(
    alarm_ids: Iterable[str], *, assignee: User | None, actor: Actor, now: datetime | None = None
) -> dict[str, BulkOutcome]:
    """Give many alarms to one staff member (``None``: to nobody); each id's outcome, as ``bulk_handle``.

    An assignment changes no status: it is announced, but neither logged as a handling nor counted.
    """
    ids = distinct_ids(alarm_ids)
    now = now or timezone.now()
    if not actor.may_handle():
        return _refused(ids)

    def attempt() -> dict[str, BulkOutcome]:
        with transaction.atomic():
            results: dict[str, BulkOutcome] = dict.fromkeys(ids, NOT_FOUND)
            alarms = _lock_in_order(AlarmEvent.objects.filter(pk__in=ids))
            if alarms:
                AlarmEvent.objects.filter(pk__in=[alarm.pk for alarm in alarms]).update(
                    assignee=assignee, updated_at=now
                )
            for alarm in alarms:
                alarm.assignee, alarm.updated_at = assignee, now
                alarm.assignee_name = assignee.get_username() if assignee else None  # type: ignore[attr-defined]
                events.alarm_changed(events.ALARM_UPDATED, alarm)
                results[alarm.pk] = UPDATED
            return results

    return _retry_on_deadlock(attempt)


def _refused(ids: list[str]) -> dict[str, BulkOutcome]:
    existing = set(AlarmEvent.objects.filter(pk__in=ids).values_list("pk", flat=True))
    return {alarm_id: FORBIDDEN if alarm_id in existing else NOT_FOUND for alarm_id in ids}


def _lock_in_order(alarms: AlarmEventQuerySet) -> list[AlarmEvent]:
    """Lock the alarms in primary-key order, as every bulk write does: two of them over the same alarms
    wait for each other instead of deadlocking, and a single ``handle_alarm`` locks one row only."""
    return list(alarms.with_device_name().order_by("pk").select_for_update())


def _handle_locked(
    ids: list[str], handle_status: str, alarm_status: str | None, remark: str | None, actor: Actor, now: datetime
) -> dict[str, BulkOutcome]:
    """The handling of ``bulk_handle``, in the caller's transaction."""
    results: dict[str, BulkOutcome] = dict.fromkeys(ids, NOT_FOUND)
    by_status: defaultdict[str, list[AlarmEvent]] = defaultdict(list)
    logs, moves = [], []
    for alarm in _lock_in_order(AlarmEvent.objects.filter(pk__in=ids)):
        from_handle, from_status = alarm.handle_status, alarm.alarm_status
        # As handle_alarm: without a status given, handling a NEW alarm acknowledges it.
        acknowledged = handle_status != HandleStatus.UNHANDLED and from_status == AlarmStatus.NEW
        to_status = alarm_status or (AlarmStatus.CONFIRMED if acknowledged else from_status)
        try:
            alarm.check_alarm_status_change(to_status)
        except InvalidStatusTransition:
            results[alarm.pk] = INVALID_TRANSITION
            continue
        before = counts.Counted.of(alarm)
        alarm.handle_status, alarm.alarm_status, alarm.handler = handle_status, to_status, actor.name
        alarm.handle_time = alarm.updated_at = now
        if remark is not None:
            alarm.handle_remark = remark
        by_status[to_status].append(alarm)
        moves.append((before, counts.Counted.of(alarm)))
        logs.append(
            AlarmHandleLog(
                alarm=alarm,
                actor=actor.user,
                actor_name=actor.name,
                from_handle_status=from_handle,
                to_handle_status=handle_status,
                from_alarm_status=from_status,
                to_alarm_status=to_status,
                remark=remark or "",
                created_at=now,
            )
        )
        results[alarm.pk] = UPDATED
    # One UPDATE per status the alarms end in (at most three), not one per alarm.
    values: dict[str, Any] = {"handle_status": handle_status, "handler": actor.name, "handle_time": now}
    if remark is not None:
        values["handle_remark"] = remark
    for to_status, alarms in by_status.items():
        AlarmEvent.objects.filter(pk__in=[alarm.pk for alarm in alarms]).update(
            alarm_status=to_status, updated_at=now, **values
        )
    AlarmHandleLog.objects.bulk_create(logs)
    AlarmTiming.record_many(logs)  # bulk_create sends no post_save: the metrics' timings are kept here
    counts.change_many(moves)
    _refresh_incidents(alarm.incident_id for alarms in by_status.values() for alarm in alarms)
    for alarms in by_status.values():
        for alarm in alarms:
            events.alarm_changed(events.ALARM_UPDATED, alarm)
    return results


def handle_incident(
    incident_id: int,
    *,
    handle_status: str,
    actor: Actor,
    alarm_status: str | None = None,
    remark: str | None = None,
    now: datetime | None = None,
) -> dict[str, BulkOutcome]:
    """``bulk_handle`` over the incident's open (unhandled) alarms, BULK_HANDLE_MAX_IDS at a time; each one's outcome.

    Raises IncidentNotFound. Alarms that join the incident meanwhile are left for the next triage.
    """
    if not Incident.objects.filter(pk=incident_id).exists():
        raise IncidentNotFound(incident_id)
    now = now or timezone.now()
    open_alarms = AlarmEvent.objects.filter(incident_id=incident_id, handle_status=HandleStatus.UNHANDLED)
    ids = list(open_alarms.order_by("pk").values_list("pk", flat=True))
    results: dict[str, BulkOutcome] = {}
    for start in range(0, len(ids), settings.BULK_HANDLE_MAX_IDS):
        batch = ids[start : start + settings.BULK_HANDLE_MAX_IDS]
        results.update(
            bulk_handle(
                batch, handle_status=handle_status, alarm_status=alarm_status, remark=remark, actor=actor, now=now
            )
        )
    return results


# --- bulk handling of a filter, as a job ------------------------------------------------------


class JobFilterInvalid(ValueError):
    """A job's stored filters no longer validate (a filter renamed since, say)."""


def start_bulk_handle_job(
    filters: dict[str, str],
    *,
    handle_status: str,
    actor: Actor,
    alarm_status: str | None = None,
    remark: str | None = None,
    now: datetime | None = None,
) -> BulkHandleJob:
    """Ask for every alarm ``filters`` (the list's parameters, valid) match to be handled, by a job.

    The job's row commits with this transaction and its message is sent once it has: a rollback
    leaves neither. ``total`` is how many match now.
    """
    now = now or timezone.now()
    with transaction.atomic():
        job = BulkHandleJob.objects.create(
            filters=filters,
            handle_status=handle_status,
            alarm_status=alarm_status or "",
            remark=remark,
            actor=actor.user,
            actor_name=actor.name,
            total=_job_filterset(filters).count(),
            created_at=now,
            updated_at=now,
        )
        transaction.on_commit(functools.partial(send_bulk_handle_job, job.pk), robust=True)
    return job


def send_bulk_handle_job(job_id: int) -> None:
    """Send the job's message; a failure is logged, and the job stays PENDING."""
    from vsp.celery import app  # the engine, not the tasks module: that imports this one

    try:
        app.send_task("alarms.tasks.run_bulk_handle_job", (job_id,), retry=False)
    except Exception as exc:  # the broker being down must not fail the request that committed the job
        logger.warning("bulk handling job %s not sent: %s: %s", job_id, type(exc).__name__, exc)


def _job_filterset(filters: dict[str, str]) -> AlarmEventFilterSet:
    filterset = AlarmEventFilterSet(filters, queryset=AlarmEvent.objects.all())
    if not filterset.is_valid():
        raise JobFilterInvalid(str(dict(filterset.errors)))
    return filterset


def run_bulk_handle_job(job_id: int, *, now: datetime | None = None) -> BulkHandleJob | None:
    """Run a job to its end, a batch of BULK_HANDLE_MAX_IDS at a time; None if there is no such job.

    Safe to run twice, even at once: each batch locks the job row and goes on after the last batch
    committed. An actor deleted since, or stored filters that no longer validate, fail the job.
    """
    while _bulk_handle_job_step(job_id, now=now):
        pass
    return BulkHandleJob.objects.filter(pk=job_id).first()


def _bulk_handle_job_step(job_id: int, *, now: datetime | None = None) -> bool:
    """Handle the job's next batch with its progress, in one transaction; False when nothing is left."""

    def attempt() -> bool:
        moment = now or timezone.now()
        with transaction.atomic():
            job = BulkHandleJob.objects.select_for_update().select_related("actor").filter(pk=job_id).first()
            if job is None or job.status in (BulkHandleJob.Status.DONE, BulkHandleJob.Status.FAILED):
                return False
            if job.actor is None:
                return _finish_job(job, moment, error="the user who asked for this job has been deleted")
            try:
                matching = _job_filterset(job.filters).qs
            except JobFilterInvalid as exc:
                return _finish_job(job, moment, error=f"the job's filters are not valid: {exc}")
            # A locking read in key order: what matches now, locked until the batch commits.
            batch = (
                matching.filter(pk__gt=job.cursor)
                .order_by("pk")
                .select_for_update()
                .values_list("pk", flat=True)[: settings.BULK_HANDLE_MAX_IDS]
            )
            ids = list(batch)
            if not ids:
                return _finish_job(job, moment)
            actor = Actor(name=job.actor_name, user=job.actor)
            if actor.may_handle():
                results = _handle_locked(ids, job.handle_status, job.alarm_status or None, job.remark, actor, moment)
            else:
                results = dict.fromkeys(ids, FORBIDDEN)
            for outcome in results.values():
                setattr(job, outcome, getattr(job, outcome) + 1)
            job.done += len(ids)
            job.cursor = ids[-1]
            job.status = BulkHandleJob.Status.RUNNING
            job.updated_at = moment
            job.save()
            return True

    return _retry_on_deadlock(attempt)


def _finish_job(job: BulkHandleJob, now: datetime, *, error: str = "") -> bool:
    job.status = BulkHandleJob.Status.FAILED if error else BulkHandleJob.Status.DONE
    job.error = error
    job.updated_at = job.finished_at = now
    job.save()
    return False


def resend_stalled_bulk_handle_jobs(now: datetime | None = None, *, limit: int = 100) -> int:
    """Send again the jobs that have not moved for BULK_JOB_RESEND_AFTER seconds; how many.

    A job's message can be lost (the broker refused it after the request committed) or its worker
    can die; its row stays, and a run more is harmless (``run_bulk_handle_job``).
    """
    now = now or timezone.now()
    stalled = BulkHandleJob.objects.filter(
        status__in=(BulkHandleJob.Status.PENDING, BulkHandleJob.Status.RUNNING),
        updated_at__lt=now - timedelta(seconds=settings.BULK_JOB_RESEND_AFTER),
    )
    ids = list(stalled.order_by("updated_at").values_list("pk", flat=True)[:limit])
    for job_id in ids:
        send_bulk_handle_job(job_id)
    # Not again before another while: a job still waiting for a busy worker is not sent over and over.
    BulkHandleJob.objects.filter(pk__in=ids).update(updated_at=now)
    return len(ids)


def fail_bulk_handle_job(job_id: int, error: str) -> None:
    """The job gave up (its retries spent): say why on its row."""
    now = timezone.now()
    BulkHandleJob.objects.filter(pk=job_id).exclude(status=BulkHandleJob.Status.DONE).update(
        status=BulkHandleJob.Status.FAILED, error=error[:2000], updated_at=now, finished_at=now
    )


def new_alarm_id(now: datetime) -> str:
    """``ALT`` + local ``YYYYMMDDHHMMSS`` + 8 hex digits, as the seed service made them."""
    return f"ALT{timezone.localtime(now):%Y%m%d%H%M%S}{secrets.token_hex(4).upper()}"


def create_manual_alarm(values: dict[str, Any], *, now: datetime | None = None) -> str:
    """Store an alarm entered by staff; returns its new id."""
    now = now or timezone.now()
    event_time = values.pop("event_time", now)
    while True:
        # 32 random bits per second make a clash vanishingly rare; if one happens, draw again.
        report = AlarmReport(alarm_id=new_alarm_id(now), event_time=event_time, source=AlarmSource.MANUAL, **values)
        with contextlib.suppress(AlarmIdTaken):
            if report_alarm(report, now=now).created:
                return report.alarm_id


def retry_pending_snapshots(limit: int = 100) -> tuple[int, int]:
    """Try the pending snapshot uploads again; returns (stored, still pending). Each stored one is announced."""
    stored = failed = 0
    # Fewest attempts first: one image the store keeps refusing cannot hold up the others.
    for pending in PendingSnapshot.objects.order_by("attempts", "updated_at")[:limit]:
        alarm = AlarmEvent.objects.with_device_name().get(pk=pending.alarm_id)
        if snapshots.store(alarm, bytes(pending.data), quick=False):
            stored += 1
            events.alarm_changed(events.ALARM_UPDATED, alarm)
        else:
            failed += 1
    return stored, failed


class _IncidentStartedMeanwhile(Exception):
    """A concurrent report started the incident this one was starting (``_join_incident``): run it again."""


def _retry_on_deadlock(operation: Callable[[], T]) -> T:
    return retry_on_lock_conflict(operation, attempts=_DEADLOCK_ATTEMPTS, retry_also=(_IncidentStartedMeanwhile,))
