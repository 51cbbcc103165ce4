from __future__ import annotations

from datetime import datetime

from django.apps import apps
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from vsp.db import IdentifierField
from vsp.locale import label_fields


class EdgeDeviceQuerySet(models.QuerySet["EdgeDevice"]):
    def with_today_alarm_count(self, now: datetime | None = None) -> EdgeDeviceQuerySet:
        """Annotate ``today_alarm_count``: alarms since local midnight (TIME_ZONE), in the same query."""
        alarm_model = apps.get_model("alarms", "AlarmEvent")
        midnight = timezone.localtime(now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
        counts = (
            alarm_model.objects.filter(device_id=OuterRef("device_id"), event_time__gte=midnight)
            .order_by()
            .values("device_id")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return self.annotate(today_alarm_count=Coalesce(Subquery(counts), 0))


class EdgeDevice(models.Model):
    """An AI camera box in the field.

    Rows appear on a device's first sign of life (a report, later a heartbeat)
    or when staff add one; ``device_id`` is the box's own identifier and the
    key alarms refer to.
    """

    class Status(models.TextChoices):
        ONLINE = "ONLINE", _("Online")
        OFFLINE = "OFFLINE", _("Offline")
        UNKNOWN = "UNKNOWN", _("Unknown")

    device_id = IdentifierField(max_length=64, primary_key=True)
    name = models.CharField(max_length=128, blank=True)
    location = models.CharField(max_length=255, blank=True, help_text=_("Where the box is: site, building, scene."))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNKNOWN)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True, help_text=_("Last heartbeat, report or resolve."))
    last_ip = models.GenericIPAddressField(null=True, blank=True)
    version = models.CharField(max_length=64, blank=True, help_text=_("Firmware or software version."))
    info = models.JSONField(default=dict, blank=True)
    offline_after = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(10)],
        help_text=_("Seconds without a sign of life before this box counts as offline; empty: DEVICE_OFFLINE_AFTER."),
    )
    id_conflicts = models.PositiveIntegerField(
        default=0, help_text=_("Reports this box sent with an alarm id another device's alarm has (refused with 409).")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EdgeDeviceQuerySet.as_manager()

    class Meta:
        ordering = ["device_id"]
        indexes = [models.Index(fields=["status", "last_seen"], name="device_status_seen_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.device_id})" if self.name else self.device_id


class DeviceStatusChange(models.Model):
    """One change of a device's status, for the history staff read and the events dashboards get."""

    class Reason(models.TextChoices):
        SIGN_OF_LIFE = "SIGN_OF_LIFE", _("Heartbeat, report or resolve")
        TIMEOUT = "TIMEOUT", _("No sign of life in time")

    device = models.ForeignKey(EdgeDevice, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=EdgeDevice.Status.choices)
    to_status = models.CharField(max_length=16, choices=EdgeDevice.Status.choices)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    # The sign of life the decision rests on (for a timeout: the last one before it).
    last_seen = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["device", "changed_at"], name="statuschange_device_time_idx")]

    def __str__(self) -> str:
        return f"{self.device_id}: {self.from_status} → {self.to_status}"


class DeviceKey(models.Model):
    """A secret one edge box presents on ingest; only its SHA-256 is kept."""

    device = models.ForeignKey(EdgeDevice, on_delete=models.CASCADE, related_name="keys")
    digest = models.CharField(max_length=64, unique=True)
    # The first characters, so staff can tell keys apart without seeing them.
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.device_id})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# Labels for the fields Django names after their attribute, translatable (vsp.locale.label_fields).
label_fields(
    EdgeDevice,
    {
        "device_id": _("device id"),
        "name": _("name"),
        "location": _("location"),
        "status": _("status"),
        "last_heartbeat": _("last heartbeat"),
        "last_seen": _("last seen"),
        "last_ip": _("last ip"),
        "version": _("version"),
        "info": _("info"),
        "offline_after": _("offline after"),
        "id_conflicts": _("id conflicts"),
        "created_at": _("created at"),
        "updated_at": _("updated at"),
    },
    verbose_name=_("edge device"),
    verbose_name_plural=_("edge devices"),
)
label_fields(
    DeviceStatusChange,
    {
        "device": _("device"),
        "from_status": _("from status"),
        "to_status": _("to status"),
        "reason": _("reason"),
        "last_seen": _("last seen"),
        "changed_at": _("changed at"),
    },
    verbose_name=_("device status change"),
    verbose_name_plural=_("device status changes"),
)
label_fields(
    DeviceKey,
    {
        "device": _("device"),
        "digest": _("digest"),
        "prefix": _("prefix"),
        "created_at": _("created at"),
        "created_by": _("created by"),
        "last_used_at": _("last used at"),
        "revoked_at": _("revoked at"),
    },
    verbose_name=_("device key"),
    verbose_name_plural=_("device keys"),
)
