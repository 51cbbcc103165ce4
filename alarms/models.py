"""The alarm tables: an event, its edge extras, its handling log, early resolves."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Case, F, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce, NullIf
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from alarms.exceptions import InvalidStatusTransition
from devices.models import EdgeDevice
from vsp.db import IdentifierField
from vsp.locale import label_fields
from vsp.times import local_date

# The edge contract's alphabet for alarm ids; also what URL routes accept.
ALARM_ID_PATTERN = r"[A-Za-z0-9_.:-]{1,64}"
alarm_id_validator = RegexValidator(rf"^{ALARM_ID_PATTERN}\Z", "Use 1-64 characters from letters, digits and _ . : -")


class AlarmLevel(models.IntegerChoices):
    """1 is the most severe (一级), as in Chinese alarm practice."""

    CRITICAL = 1, _("Level 1 (critical)")
    MAJOR = 2, _("Level 2 (major)")
    MINOR = 3, _("Level 3 (minor)")
    INFO = 4, _("Level 4 (info)")


class AlarmStatus(models.TextChoices):
    NEW = "NEW", _("New")
    CONFIRMED = "CONFIRMED", _("Confirmed")
    RESOLVED = "RESOLVED", _("Resolved")


class HandleStatus(models.TextChoices):
    UNHANDLED = "UNHANDLED", _("Unhandled")
    HANDLING = "HANDLING", pgettext_lazy("handle status", "Handling")
    HANDLED = "HANDLED", _("Handled")
    IGNORED = "IGNORED", _("Ignored (false alarm)")


class SnapshotStatus(models.TextChoices):
    NONE = "NONE", _("No snapshot")
    EXTERNAL = "EXTERNAL", _("At a URL of the edge's")
    STORED = "STORED", _("In the snapshot store")
    PENDING = "PENDING", _("Upload pending")
    PRUNED = "PRUNED", _("Deleted by retention")


class AlarmSource(models.TextChoices):
    EDGE = "EDGE", _("Edge report")
    MANUAL = "MANUAL", _("Entered by staff")


class AlarmEventQuerySet(models.QuerySet["AlarmEvent"]):
    def with_device_name(self) -> AlarmEventQuerySet:
        """Annotate ``device_name`` from the device table in the same query (NULL if unknown or unnamed).

        Also what else the representation reads from other tables: ``assignee_name`` (NULL: nobody) and
        ``incident_count`` (NULL without an incident).
        """
        names = EdgeDevice.objects.filter(device_id=OuterRef("device_id")).values("name")[:1]
        assignees = get_user_model().objects.filter(pk=OuterRef("assignee_id")).values("username")[:1]
        sizes = Incident.objects.filter(pk=OuterRef("incident_id")).values("count")[:1]
        return self.annotate(
            device_name=NullIf(Subquery(names), Value("")),
            assignee_name=Subquery(assignees),
            incident_count=Subquery(sizes),
        )


# Forward order of alarm_status: staff may move an alarm along it, never back.
ALARM_STATUS_ORDER = {AlarmStatus.NEW: 0, AlarmStatus.CONFIRMED: 1, AlarmStatus.RESOLVED: 2}


class AlarmEvent(models.Model):
    alarm_id = IdentifierField(max_length=64, primary_key=True, validators=[alarm_id_validator])
    alarm_type = models.CharField(max_length=64)
    # The device's id as the edge sent it; not a foreign key, so that an alarm
    # outlives its device row and ingest takes no lock on the device table
    # beyond its own last-seen update.
    device_id = IdentifierField(max_length=64)
    scene_id = models.CharField(max_length=64, blank=True)
    event_time = models.DateTimeField()
    alarm_level = models.PositiveSmallIntegerField(
        choices=AlarmLevel.choices,
        default=AlarmLevel.MINOR,
        validators=[MinValueValidator(1), MaxValueValidator(4)],
    )
    alarm_status = models.CharField(max_length=16, choices=AlarmStatus.choices, default=AlarmStatus.NEW)
    handle_status = models.CharField(max_length=16, choices=HandleStatus.choices, default=HandleStatus.UNHANDLED)
    # An http(s) URL of the edge's, or the key of an object in the snapshot store.
    snapshot_url = models.CharField(max_length=2048, blank=True)
    snapshot_status = models.CharField(max_length=8, choices=SnapshotStatus.choices, default=SnapshotStatus.NONE)
    thumbnail_key = models.CharField(max_length=512, blank=True)
    snapshot_pinned = models.BooleanField(
        default=False, help_text=_("Keep the snapshot when retention prunes old ones.")
    )
    confidence_score = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    duration_ms = models.BigIntegerField(null=True, blank=True)
    end_time = models.DateTimeField(
        null=True, blank=True, help_text=_("Time of the last frame, from the edge resolve.")
    )
    resolve_type = models.CharField(max_length=32, blank=True)
    handler = models.CharField(max_length=150, blank=True, help_text=_("Who last handled the alarm."))
    handle_remark = models.TextField(blank=True)
    handle_time = models.DateTimeField(null=True, blank=True)
    # The storm it belongs to: alarms of one (device, scene, type) close together (alarms.models.Incident).
    # The incident's index below serves this key too, so no index of its own (one fewer for a report to write).
    incident = models.ForeignKey(
        "Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="alarms", db_index=False
    )
    # Who is to look at the alarm (bulk-assign, admin's assign action); cleared if the user is deleted.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_alarms"
    )
    source = models.CharField(max_length=8, choices=AlarmSource.choices, default=AlarmSource.EDGE)
    # A second opinion (analysis/) wanted at report time and not yet turned into its analysis row: the
    # request rides in the report's own INSERT, so that asking for it costs the report no statement.
    analysis_requested = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AlarmEventQuerySet.as_manager()

    class Meta:
        ordering = ["-event_time", "-alarm_id"]
        indexes = [
            # The default list, newest first, and the statistics range scans.
            models.Index(fields=["event_time"], name="alarm_time_idx"),
            models.Index(fields=["device_id", "event_time"], name="alarm_device_time_idx"),
            models.Index(fields=["alarm_status", "event_time"], name="alarm_status_time_idx"),
            models.Index(fields=["handle_status", "event_time"], name="alarm_handle_time_idx"),
            # The ops metrics' backlog (the unhandled alarms of a range), read off this index alone: by
            # alarm_handle_time_idx each of a month's 110k unhandled alarms on a million was looked up in
            # the table, 3.2 s, against 0.3 s. Not that index widened: the list's sort by (event_time,
            # alarm_id) within a handle status would no longer be the index's order.
            models.Index(
                fields=["handle_status", "event_time", "created_at", "alarm_type", "device_id", "handler"],
                name="alarm_backlog_idx",
            ),
            models.Index(fields=["alarm_type", "event_time"], name="alarm_type_time_idx"),
            # sceneId is a filter of the Yudao alarm page, and not one the counts keep: its page and its
            # total read this index. On 1M alarms without it, page 1 and its total took 1.4 s.
            models.Index(fields=["scene_id", "event_time"], name="alarm_scene_time_idx"),
            # Catch-up after a reconnect, the live page and createTime[] ranges.
            models.Index(fields=["created_at", "alarm_id"], name="alarm_created_idx"),
            # Staff notify messages (vsp/compat/notify.py) count level-1/2 alarms since a time. Measured on
            # MariaDB 10.11, 1M alarms, 78k in the last week: an unread count of 25 ms with it, 800 without.
            # Lists sorted by level read it too, going on by the stored time (alarms.filters.SORTED_THEN).
            models.Index(fields=["alarm_level", "created_at"], name="alarm_level_created_idx"),
            # The native list sorted by handling time (the latest handled first): read off this index,
            # not by sorting every alarm (1.0 s on a million).
            models.Index(fields=["handle_time"], name="alarm_handled_idx"),
            # The analysis dispatch finds the requests the reports carried, oldest first.
            models.Index(fields=["analysis_requested", "created_at"], name="alarm_analysis_wanted_idx"),
            # An incident's alarms, and whether any is still unhandled (Incident.status), off the index.
            models.Index(fields=["incident", "handle_status"], name="alarm_incident_idx"),
        ]
        permissions = [
            ("handle_alarmevent", "Can handle alarms"),
            ("export_alarmevent", "Can export alarms"),
        ]

    def __str__(self) -> str:
        return f"{self.alarm_id} {self.alarm_type} @ {self.device_id}"

    def check_alarm_status_change(self, new_status: str) -> None:
        """Staff move ``alarm_status`` forward (NEW → CONFIRMED → RESOLVED) or leave it; never back."""
        if ALARM_STATUS_ORDER[AlarmStatus(new_status)] < ALARM_STATUS_ORDER[AlarmStatus(self.alarm_status)]:
            raise InvalidStatusTransition("alarm_status", self.alarm_status, new_status)


class AlarmCount(models.Model):
    """How many alarms share a time bucket and a value of each dimension statistics group by.

    Statistics and page totals sum these rows instead of counting alarms (``alarms.counts``). Every
    write that changes an alarm's bucket or dimensions changes them in the same transaction, and
    ``manage.py reconcile_alarm_counts`` corrects any drift. A ``grain`` is one way of counting; each
    alarm is counted once in each grain:

    - ``h``: per UTC hour, by type, level, alarm status and handle status;
    - ``d``: the same per day in TIME_ZONE (``bucket`` is the day's first instant);
    - ``dv``: per day, device, type, level and both statuses, for statistics of one device;
    - ``dn``/``hn``: per day / hour and device only, for the top devices;
    - ``dt``/``dl``/``ds``/``dh``: per day, device and one dimension, for the top devices of a filter on it.

    Columns a grain does not count by hold ``""`` (``0`` for the level).
    """

    class Grain(models.TextChoices):
        HOUR = "h", "hour"
        DAY = "d", "day"
        DEVICE_DAY = "dv", "day and device, all dimensions"
        DEVICE_TOTAL_DAY = "dn", "day and device"
        DEVICE_TOTAL_HOUR = "hn", "hour and device"
        DEVICE_TYPE_DAY = "dt", "day, device and type"
        DEVICE_LEVEL_DAY = "dl", "day, device and level"
        DEVICE_STATUS_DAY = "ds", "day, device and alarm status"
        DEVICE_HANDLE_DAY = "dh", "day, device and handle status"

    pk = models.CompositePrimaryKey(
        "grain", "bucket", "device_id", "alarm_type", "alarm_level", "alarm_status", "handle_status"
    )
    grain = models.CharField(max_length=2, choices=Grain.choices)
    bucket = models.DateTimeField()
    # As the alarm's own columns, so that the two compare and group alike on every database.
    device_id = IdentifierField(max_length=64, blank=True)
    alarm_type = models.CharField(max_length=64, blank=True)
    alarm_level = models.PositiveSmallIntegerField(default=0)
    alarm_status = models.CharField(max_length=16, blank=True)
    handle_status = models.CharField(max_length=16, blank=True)
    count = models.IntegerField()

    class Meta:
        indexes = [
            # The statistics of one device read its own rows of grain dv, not every device's.
            models.Index(fields=["grain", "device_id", "bucket"], name="alarmcount_device_idx"),
            # The top devices of a filter on two or more dimensions sum the dv rows that match it, read
            # off this index alone (``count`` is in it); ``alarms.counts`` names every value of the
            # columns the filter leaves open, so the ones it sets are seeked. On 1M alarms (400k dv
            # rows), all time: 210–310 ms without it, 12–37 ms with it.
            models.Index(
                fields=[
                    *("grain", "alarm_status", "handle_status", "alarm_level", "alarm_type"),
                    *("bucket", "device_id", "count"),
                ],
                name="alarmcount_dims_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.grain} {self.bucket:%Y-%m-%d %H:%M} {self.count}"


class AlarmCountChange(models.Model):
    """A change to the counts not yet folded into ``AlarmCount``: an alarm counted in (+1) or out (-1).

    Writers append these, one short row per alarm written, instead of updating the five count rows
    each alarm has (which cost ingest a fifth of its throughput); ``alarms.counts.fold`` moves them
    into ``AlarmCount`` in batches, and readers add the ones not yet folded.
    """

    id = models.BigAutoField(primary_key=True)
    event_time = models.DateTimeField()
    device_id = IdentifierField(max_length=64)
    alarm_type = models.CharField(max_length=64)
    alarm_level = models.PositiveSmallIntegerField()
    alarm_status = models.CharField(max_length=16)
    handle_status = models.CharField(max_length=16)
    change = models.SmallIntegerField()

    def __str__(self) -> str:
        return f"{self.change:+d} {self.alarm_type} @ {self.device_id}"


class AlarmEventExt(models.Model):
    """What the edge sent beyond the fixed fields (bbox, bind_id…), kept as sent."""

    alarm = models.OneToOneField(AlarmEvent, on_delete=models.CASCADE, primary_key=True, related_name="ext")
    ext_data = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("alarm extension data")

    def __str__(self) -> str:
        return f"ext of {self.alarm_id}"


class AlarmHandleLog(models.Model):
    """One staff action on an alarm: who changed what, from which status to which."""

    alarm = models.ForeignKey(AlarmEvent, on_delete=models.CASCADE, related_name="handle_logs")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text as well: the log must still read right after the user is deleted.
    actor_name = models.CharField(max_length=150)
    from_handle_status = models.CharField(max_length=16, choices=HandleStatus.choices)
    to_handle_status = models.CharField(max_length=16, choices=HandleStatus.choices)
    from_alarm_status = models.CharField(max_length=16, choices=AlarmStatus.choices)
    to_alarm_status = models.CharField(max_length=16, choices=AlarmStatus.choices)
    remark = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["alarm", "created_at"], name="handlelog_alarm_time_idx")]

    def __str__(self) -> str:
        return f"{self.alarm_id}: {self.from_handle_status} → {self.to_handle_status} by {self.actor_name}"


class IncidentStatus(models.TextChoices):
    OPEN = "OPEN", _("Open (an alarm is unhandled)")
    HANDLED = "HANDLED", _("Every alarm handled")


def incident_key(device_id: str, scene_id: str, alarm_type: str) -> str:
    """The grouping key of an alarm, as a fixed-width digest: the three fields may hold any text."""
    return hashlib.sha256(json.dumps([device_id, scene_id, alarm_type]).encode()).hexdigest()


class Incident(models.Model):
    """A storm: alarms of one (device, scene, type), each within INCIDENT_WINDOW seconds of the last.

    Every alarm keeps its own row and points here. The database decides which incident an alarm
    joins (``alarms.services`` ``_join_incident``): ``current_key`` is unique, held by the one incident
    of its key that new alarms still join, and cleared when an alarm comes after the window has
    passed, so concurrent reports of one key all meet at one row, however many at once.
    """

    id = models.BigAutoField(primary_key=True)
    device_id = IdentifierField(max_length=64)
    scene_id = models.CharField(max_length=64, blank=True)
    alarm_type = models.CharField(max_length=64)
    # incident_key() while alarms of the key join this incident; NULL once a later one has started.
    current_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    count = models.PositiveIntegerField(default=1, help_text=_("How many alarms joined it."))
    first_time = models.DateTimeField(help_text=_("Event time of its first alarm."))
    last_time = models.DateTimeField(help_text=_("Event time of its last alarm."))
    highest_level = models.PositiveSmallIntegerField(
        choices=AlarmLevel.choices, help_text=_("The most severe level among its alarms (1 is the most severe).")
    )
    status = models.CharField(max_length=8, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_time", "-id"]
        indexes = [
            models.Index(fields=["last_time"], name="incident_last_idx"),
            models.Index(fields=["device_id", "last_time"], name="incident_device_last_idx"),
            models.Index(fields=["status", "last_time"], name="incident_status_last_idx"),
        ]

    def __str__(self) -> str:
        return gettext("incident #%(id)s: %(count)s × %(type)s @ %(device)s") % {
            "id": self.pk,
            "count": self.count,
            "type": self.alarm_type,
            "device": self.device_id,
        }


class BulkHandleJob(models.Model):
    """A bulk handling of every alarm a filter matches, run as a job (``alarms.tasks.run_bulk_handle_job``).

    The row is the job's request and its progress: written in the request's transaction, then moved on
    a batch at a time, each batch in the transaction that handles its alarms, so that a job run again
    (a redelivered message) goes on after the last batch it committed and handles nothing twice.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Waiting for a worker")
        RUNNING = "RUNNING", _("Running")
        DONE = "DONE", _("Done")
        FAILED = "FAILED", _("Failed")

    id = models.BigAutoField(primary_key=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    # The list's filter parameters (alarms.filters.AlarmEventFilterSet), as the request gave them.
    filters = models.JSONField(default=dict)
    handle_status = models.CharField(max_length=16, choices=HandleStatus.choices)
    alarm_status = models.CharField(max_length=16, choices=AlarmStatus.choices, blank=True)
    # None: the request left each alarm's remark as it is.
    remark = models.TextField(null=True, blank=True)  # noqa: DJ001 (None is "not given", "" clears the remark)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    # How many alarms matched when the job was asked for; alarms stored or changed since may move ``done`` past it.
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    not_found = models.PositiveIntegerField(default=0)
    forbidden = models.PositiveIntegerField(default=0)
    invalid_transition = models.PositiveIntegerField(default=0)
    # The last alarm id of the last committed batch: the job goes on after it, in primary-key order.
    cursor = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"bulk handling #{self.pk}: {self.status} {self.done}/{self.total}"


class PendingSnapshot(models.Model):
    """Image bytes that could not be stored yet; ``manage.py retry_snapshots`` finishes the upload."""

    alarm = models.OneToOneField(
        AlarmEvent, on_delete=models.CASCADE, primary_key=True, related_name="pending_snapshot"
    )
    data = models.BinaryField()
    attempts = models.PositiveIntegerField(default=1)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"pending snapshot of {self.alarm_id}"


class PendingResolve(models.Model):
    """An edge resolve that arrived before its report; applied when the report lands."""

    alarm_id = IdentifierField(max_length=64, primary_key=True)
    duration_ms = models.BigIntegerField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    resolve_type = models.CharField(max_length=32, blank=True)
    # The device whose key sent it (blank with open ingest): applied only to that device's alarm.
    device_id = IdentifierField(max_length=64, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["received_at"], name="pendingresolve_received_idx")]

    def __str__(self) -> str:
        return f"pending resolve of {self.alarm_id}"


class AlarmMessage(models.Model):
    """An alarm as a staff notify message (Yudao's 站内信): the integer id the frontend sends back.

    ``AlarmEvent``'s key is text; Yudao's frontend passes message ids back as numbers
    (``update-read?ids=1,2``). The row is made the first time the alarm is listed as a message
    (``vsp/compat/notify.py``), never on ingest, and its id does not change after that.
    """

    id = models.BigAutoField(primary_key=True)
    alarm = models.OneToOneField(AlarmEvent, on_delete=models.CASCADE, related_name="message")

    def __str__(self) -> str:
        return f"message #{self.pk} of {self.alarm_id}"


class AlarmMessageRead(models.Model):
    """One user marked one alarm's message read (``update-read``); the first time is kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    alarm = models.ForeignKey(AlarmEvent, on_delete=models.CASCADE, related_name="message_reads")
    read_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "alarm"], name="alarmmessageread_once")]

    def __str__(self) -> str:
        return f"{self.alarm_id} read by user {self.user_id}"


class AlarmMessageCursor(models.Model):
    """``update-all-read``: every message of the user's created up to ``read_through`` is read.

    One row per user instead of a row per message, so "all read" costs the same for ten messages
    or a million. ``read_at`` is when it was last moved, the read time of the messages it covers.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    read_through = models.DateTimeField()
    read_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"user {self.user_id} read through {self.read_through:%Y-%m-%d %H:%M:%S}"


class AlarmType(models.Model):
    """What staff call an alarm type code (``no_helmet`` → 未戴安全帽), edited in admin.

    Alarms keep the code the edge sent; every page, dictionary and export shows the name from here
    (``alarms.alarm_types``), and a code without a row as itself.
    """

    class Colour(models.TextChoices):
        # Yudao's dictionary colour types (Element Plus tag types), which its pages draw the tag with.
        DEFAULT = "default", _("Grey")
        PRIMARY = "primary", _("Blue")
        SUCCESS = "success", _("Green")
        INFO = "info", _("Light grey")
        WARNING = "warning", _("Orange")
        DANGER = "danger", _("Red")

    code = models.CharField(_("code"), max_length=64, unique=True, help_text=_("As the edge sends it in alarm_type."))
    name_zh = models.CharField(_("Chinese name"), max_length=64)
    name_en = models.CharField(_("English name"), max_length=64, blank=True, help_text=_("Empty: the Chinese name."))
    colour = models.CharField(_("colour"), max_length=8, choices=Colour.choices, default=Colour.PRIMARY)
    sort = models.PositiveSmallIntegerField(_("sort"), default=0, help_text=_("Lists show smaller numbers first."))

    class Meta:
        verbose_name = _("alarm type")
        verbose_name_plural = _("alarm types")
        ordering = ["sort", "code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.name_zh})"


# Labels for the fields Django names after their attribute, translatable (vsp.locale.label_fields).
label_fields(
    AlarmEvent,
    {
        "alarm_id": _("alarm id"),
        "alarm_type": _("alarm type"),
        "device_id": _("device id"),
        "scene_id": _("scene id"),
        "event_time": _("event time"),
        "alarm_level": _("alarm level"),
        "alarm_status": _("alarm status"),
        "handle_status": _("handle status"),
        "snapshot_url": _("snapshot url"),
        "snapshot_status": _("snapshot status"),
        "thumbnail_key": _("thumbnail key"),
        "snapshot_pinned": _("snapshot pinned"),
        "confidence_score": _("confidence score"),
        "duration_ms": _("duration ms"),
        "end_time": _("end time"),
        "resolve_type": _("resolve type"),
        "handler": _("handler"),
        "handle_remark": _("handle remark"),
        "handle_time": _("handle time"),
        "incident": _("incident"),
        "assignee": _("assignee"),
        "source": _("source"),
        "analysis_requested": _("analysis requested"),
        "created_at": _("created at"),
        "updated_at": _("updated at"),
    },
    verbose_name=_("alarm event"),
    verbose_name_plural=_("alarm events"),
)
label_fields(AlarmEventExt, {"alarm": _("alarm"), "ext_data": _("ext data")})
label_fields(
    AlarmHandleLog,
    {
        "alarm": _("alarm"),
        "actor": _("actor"),
        "actor_name": _("actor name"),
        "from_handle_status": _("from handle status"),
        "to_handle_status": _("to handle status"),
        "from_alarm_status": _("from alarm status"),
        "to_alarm_status": _("to alarm status"),
        "remark": _("remark"),
        "created_at": _("created at"),
    },
    verbose_name=_("alarm handle log"),
    verbose_name_plural=_("alarm handle logs"),
)
label_fields(
    Incident,
    {
        "id": _("id"),
        "device_id": _("device id"),
        "scene_id": _("scene id"),
        "alarm_type": _("alarm type"),
        "current_key": _("current key"),
        "count": _("count"),
        "first_time": _("first time"),
        "last_time": _("last time"),
        "highest_level": _("highest level"),
        "status": _("status"),
        "created_at": _("created at"),
        "updated_at": _("updated at"),
    },
    verbose_name=_("incident"),
    verbose_name_plural=_("incidents"),
)
label_fields(
    BulkHandleJob,
    {
        "id": _("id"),
        "status": _("status"),
        "filters": _("filters"),
        "handle_status": _("handle status"),
        "alarm_status": _("alarm status"),
        "remark": _("remark"),
        "actor": _("actor"),
        "actor_name": _("actor name"),
        "total": _("total"),
        "done": _("done"),
        "updated": _("updated"),
        "not_found": _("not found"),
        "forbidden": _("forbidden"),
        "invalid_transition": _("invalid transition"),
        "cursor": _("cursor"),
        "error": _("error"),
        "created_at": _("created at"),
        "updated_at": _("updated at"),
        "finished_at": _("finished at"),
    },
    verbose_name=_("bulk handling job"),
    verbose_name_plural=_("bulk handling jobs"),
)


class AlarmTiming(models.Model):
    """How long staff took with one alarm: its first handling and its first resolve, for ``alarms.metrics``.

    Made by the alarm's first handling-log row and moved by the later ones (``record``, run from the
    log's ``post_save`` in the handling's transaction), so that the metrics of a week read this table's
    rows of the week by its own index instead of joining every handling log to its alarm (13 s for one
    day on a million alarms, the log table scanned whole). Bulk handling writes its own
    (``record_many``) and the seeder its alarms'; other logs written without ``save()`` are folded in
    by ``manage.py rebuild_alarm_timings``. Durations are whole seconds.
    """

    alarm = models.OneToOneField(AlarmEvent, on_delete=models.CASCADE, primary_key=True, related_name="timing")
    # The alarm's own values, copied so that the metrics' filters and groups read no other table.
    event_time = models.DateTimeField()
    stored_at = models.DateTimeField()
    # Minute of the day (TIME_ZONE) the alarm was stored at, which the shifts are made of.
    stored_minute = models.PositiveSmallIntegerField()
    alarm_type = models.CharField(max_length=64)
    device_id = IdentifierField(max_length=64)
    alarm_level = models.PositiveSmallIntegerField()
    first_handler = models.CharField(max_length=150)
    acknowledged_at = models.DateTimeField()
    acknowledge_seconds = models.PositiveIntegerField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolve_seconds = models.PositiveIntegerField(null=True, blank=True)
    # As the latest log left it: the alarm's handle status now.
    handle_status = models.CharField(max_length=16, choices=HandleStatus.choices)

    class Meta:
        indexes = [
            # The metrics of an event-time range read this index alone: every column they filter, group
            # and sum by is in it. Without the figures in it, a week of a million alarms (190k handled)
            # read each row by its key: 2.7 s.
            models.Index(
                fields=[
                    *("event_time", "alarm_type", "device_id", "alarm_level", "first_handler", "stored_minute"),
                    *("handle_status", "acknowledge_seconds", "resolve_seconds"),
                ],
                name="alarmtiming_figures_idx",
            ),
            models.Index(fields=["stored_at"], name="alarmtiming_stored_idx"),
        ]

    def __str__(self) -> str:
        return f"timing of {self.alarm_id}: {self.acknowledge_seconds} s to acknowledge"

    @staticmethod
    def record_many(logs: list[AlarmHandleLog]) -> None:
        """``record`` for the logs of one bulk handling (one per alarm, all to the same statuses, at one time).

        Three statements whatever their number: which alarms have a timing already, one UPDATE of those
        (a resolve's seconds, which differ per alarm, picked by a CASE), one INSERT of the others; and one
        marking their past days' rollups stale, if any.
        """
        if not logs:
            return
        if len({(log.to_handle_status, log.to_alarm_status, log.created_at) for log in logs}) != 1:
            for log in logs:
                AlarmTiming.record(log)
            return
        AlarmTimingDay.touch(log.alarm.event_time for log in logs)
        first = logs[0]
        resolved = first.to_alarm_status == AlarmStatus.RESOLVED
        since_stored = {
            log.alarm.pk: max(0, int((log.created_at - log.alarm.created_at).total_seconds())) for log in logs
        }
        timed = set(AlarmTiming.objects.filter(pk__in=list(since_stored)).values_list("pk", flat=True))
        if timed:
            changes: dict[str, Any] = {"handle_status": first.to_handle_status}
            if resolved:  # the first resolve stays
                seconds = Case(*(When(pk=pk, then=Value(since_stored[pk])) for pk in timed), default=None)
                changes["resolved_at"] = Coalesce(F("resolved_at"), Value(first.created_at))
                changes["resolve_seconds"] = Coalesce(F("resolve_seconds"), seconds)
            AlarmTiming.objects.filter(pk__in=timed).update(**changes)
        AlarmTiming.objects.bulk_create(
            [
                AlarmTiming._first(log, since_stored[log.alarm.pk], resolved)
                for log in logs
                if log.alarm.pk not in timed
            ],
            ignore_conflicts=True,
        )

    @staticmethod
    def _first(log: AlarmHandleLog, since_stored: int, resolved: bool) -> AlarmTiming:
        """The timing row of an alarm whose first handling ``log`` is."""
        alarm = log.alarm
        return AlarmTiming(
            **AlarmTiming.first_values(
                alarm.pk, alarm.event_time, alarm.created_at, alarm.alarm_type, alarm.device_id, alarm.alarm_level,
                handler=log.actor_name, handled_at=log.created_at, handle_status=log.to_handle_status,
                resolved=resolved, since_stored=since_stored,
            )
        )  # fmt: skip

    @staticmethod
    def first_values(
        alarm_id: str, event_time: datetime, stored_at: datetime, alarm_type: str, device_id: str, alarm_level: int,
        *, handler: str, handled_at: datetime, handle_status: str, resolved: bool, since_stored: int,
    ) -> dict[str, Any]:  # fmt: skip
        """The columns of the timing row an alarm's first handling makes (also the seeder's rows)."""
        return {
            "alarm_id": alarm_id,
            "event_time": event_time,
            "stored_at": stored_at,
            "stored_minute": minute_of_day(stored_at),
            "alarm_type": alarm_type,
            "device_id": device_id,
            "alarm_level": alarm_level,
            "first_handler": handler,
            "acknowledged_at": handled_at,
            "acknowledge_seconds": since_stored,
            "resolved_at": handled_at if resolved else None,
            "resolve_seconds": since_stored if resolved else None,
            "handle_status": handle_status,
        }

    @staticmethod
    def record(log: AlarmHandleLog) -> None:
        """Fold one new handling-log row into its alarm's timing (the alarm's row is locked by its handling)."""
        alarm = log.alarm
        resolved = log.to_alarm_status == AlarmStatus.RESOLVED
        since_stored = max(0, int((log.created_at - alarm.created_at).total_seconds()))
        changes: dict[str, Any] = {"handle_status": log.to_handle_status}
        if resolved:  # the first resolve stays
            changes["resolved_at"] = Coalesce(F("resolved_at"), Value(log.created_at))
            changes["resolve_seconds"] = Coalesce(F("resolve_seconds"), Value(since_stored))
        if not AlarmTiming.objects.filter(pk=alarm.pk).update(**changes):
            AlarmTiming.objects.bulk_create([AlarmTiming._first(log, since_stored, resolved)], ignore_conflicts=True)
        AlarmTimingDay.touch([alarm.event_time])


class AlarmTimingDay(models.Model):
    """Whether a past day's timings are rolled up (``AlarmTimingRollup``), and with which settings.

    The metrics of a whole day read its rollup only while it is ``fresh``: a change to any of the
    day's timings (a later handling, a delete, the seeder, a rebuild) marks it stale in the writer's
    transaction (``touch``), and the day is read from its timings until the rollup job builds it again.
    The job locks this row before it reads the timings, so a change either waits for the build and marks
    it stale after, or commits before the build reads. Today is never rolled up.
    """

    day = models.DateField(primary_key=True)
    fresh = models.BooleanField(default=False)
    # A digest of TIME_ZONE and SHIFTS as the day was built with (``alarms.metrics.rollup_settings``):
    # another configuration makes the day stale.
    made_with = models.CharField(max_length=64, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"timings of {self.day}: {'fresh' if self.fresh else 'stale'}"

    @staticmethod
    def touch(event_times: Iterable[datetime]) -> None:
        """Mark the days of these alarms' event times stale, where they are rolled up (before today)."""
        today = local_date(timezone.now())
        days = sorted({day for moment in event_times if (day := local_date(moment)) < today})
        if days:  # one statement, its rows locked in key order, so two writers cannot deadlock on them
            AlarmTimingDay.objects.filter(day__in=days, fresh=True).update(fresh=False)


class AlarmTimingRollup(models.Model):
    """One day's timings summed per type, device, handler, shift, level, and all of them (``grain``).

    A histogram is the pairs (seconds, alarms), shortest first, with the durations to three significant
    figures (``alarms.metrics.significant``): exact below 1,000 s, within 1 % above. It is kept as
    unsigned 32-bit little-endian integers, seconds and alarms in turn (``Histogram.packed``): a month by
    device is 15,000 rows, and JSON took 1.5 s to decode them where bytes take 10 ms. The totals are
    exact.
    """

    class Grain(models.TextChoices):
        ALL = "all"
        TYPE = "type"
        DEVICE = "device"
        HANDLER = "handler"
        SHIFT = "shift"
        LEVEL = "level"

    day = models.DateField()
    grain = models.CharField(max_length=8, choices=Grain.choices)
    key = models.CharField(max_length=150, blank=True)
    acknowledged = models.PositiveIntegerField()
    acknowledge_seconds = models.PositiveBigIntegerField()
    acknowledge_histogram = models.BinaryField()
    resolved = models.PositiveIntegerField()
    resolve_seconds = models.PositiveBigIntegerField()
    resolve_histogram = models.BinaryField()
    # {handle status: alarms} as the day's timings hold them now.
    handle_statuses = models.JSONField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["grain", "day", "key"], name="alarmtimingrollup_key")]

    def __str__(self) -> str:
        return f"timings of {self.day} by {self.grain} {self.key!r}: {self.acknowledged}"


def minute_of_day(moment: datetime) -> int:
    local = timezone.localtime(moment)
    return local.hour * 60 + local.minute


@receiver(post_save, sender=AlarmHandleLog)
def _time_handling(sender: type[AlarmHandleLog], instance: AlarmHandleLog, created: bool, **kwargs: Any) -> None:
    if created and not kwargs.get("raw"):
        AlarmTiming.record(instance)
