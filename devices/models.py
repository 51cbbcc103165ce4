from __future__ import annotations

from django.db import models

from vsp.db import IdentifierField


class EdgeDevice(models.Model):
    """An AI camera box in the field.

    Rows appear on a device's first sign of life (a report, later a heartbeat)
    or when staff add one; ``device_id`` is the box's own identifier and the
    key alarms refer to.
    """

    class Status(models.TextChoices):
        ONLINE = "ONLINE", "Online"
        OFFLINE = "OFFLINE", "Offline"
        UNKNOWN = "UNKNOWN", "Unknown"

    device_id = IdentifierField(max_length=64, primary_key=True)
    name = models.CharField(max_length=128, blank=True)
    location = models.CharField(max_length=255, blank=True, help_text="Where the box is: site, building, scene.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNKNOWN)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True, help_text="Last heartbeat, report or resolve.")
    last_ip = models.GenericIPAddressField(null=True, blank=True)
    version = models.CharField(max_length=64, blank=True, help_text="Firmware or software version.")
    info = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["device_id"]
        indexes = [models.Index(fields=["status", "last_seen"], name="device_status_seen_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.device_id})" if self.name else self.device_id

    @property
    def display_name(self) -> str:
        return self.name or self.device_id
