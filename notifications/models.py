"""Where notifications go (channels), which alarms they are for (rules), and each one sent (deliveries).

A delivery row is the job's request: the dispatch job writes it (notifications.services), the engine
sends it, and the row records how that went. Its unique key (rule, channel, alarm, kind, n) makes
writing it twice harmless, so the dispatch may read the same alarm again.
"""

from __future__ import annotations

from datetime import datetime, time

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.db import models

from alarms.models import AlarmEvent, AlarmLevel
from vsp.db import IdentifierField


class Channel(models.Model):
    """One place a notification is sent: a signed webhook, a WeCom or DingTalk group robot, or email."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (JSON, HMAC-SHA256 signed)"
        WECOM = "wecom", "WeCom group robot (企业微信)"
        DINGTALK = "dingtalk", "DingTalk group robot (钉钉)"
        EMAIL = "email", "Email"

    objects: models.Manager[Channel] = models.Manager()

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    url = models.URLField(max_length=1000, blank=True, help_text="Webhook: the URL the JSON is posted to.")
    key = models.CharField(
        max_length=200, blank=True, help_text="WeCom: the robot's key. DingTalk: the robot's access_token."
    )
    secret = models.CharField(
        max_length=200,
        blank=True,
        help_text="Webhook: the HMAC key (required). DingTalk: the robot's signing secret (SEC…), if it signs.",
    )
    recipients = models.TextField(blank=True, help_text="Email: addresses, separated by commas or new lines.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def recipient_list(self) -> list[str]:
        return [item.strip() for item in self.recipients.replace("\n", ",").split(",") if item.strip()]

    def clean(self) -> None:
        needed = {
            self.Kind.WEBHOOK: ("url", "secret"),
            self.Kind.WECOM: ("key",),
            self.Kind.DINGTALK: ("key",),
            self.Kind.EMAIL: ("recipients",),
        }.get(self.Kind(self.kind) if self.kind in self.Kind.values else self.Kind.WEBHOOK, ())
        errors = {
            name: f"A {self.get_kind_display()} channel needs this." for name in needed if not getattr(self, name)
        }
        if self.kind == self.Kind.EMAIL:
            for address in self.recipient_list():
                try:
                    validate_email(address)
                except ValidationError:
                    errors["recipients"] = f"Not an email address: {address!r}"
        if errors:
            raise ValidationError(errors)


def _check_levels(value: object) -> None:
    if not isinstance(value, list) or any(level not in AlarmLevel.values for level in value):
        raise ValidationError("a list of levels from 1 to 4 (empty: every level)")


def _check_names(value: object) -> None:
    if not isinstance(value, list) or any(not isinstance(item, str) or not item.strip() for item in value):
        raise ValidationError('a list of names, e.g. ["no_helmet", "smoking"] (empty: any)')


class Rule(models.Model):
    """Which alarms are sent to which channels, how often, and when not.

    Levels, types and devices each match any value when left empty. One alarm of a (device, type)
    is sent per cooldown; none are sent in the quiet hours (the skip is logged); an alarm left
    UNHANDLED is sent again every ``remind_every`` minutes, at most ``remind_max`` times.
    """

    objects: models.Manager[Rule] = models.Manager()

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    levels = models.JSONField(
        default=list, blank=True, validators=[_check_levels], help_text="e.g. [1, 2]; empty: any."
    )
    alarm_types = models.JSONField(default=list, blank=True, validators=[_check_names], help_text="Empty: any type.")
    device_ids = models.JSONField(default=list, blank=True, validators=[_check_names], help_text="Empty: any device.")
    channels = models.ManyToManyField(Channel, related_name="rules")
    cooldown_seconds = models.PositiveIntegerField(
        default=300,
        validators=[MaxValueValidator(7 * 24 * 3600)],
        help_text="After an alarm is sent, others of the same device and type are not, for this long. 0: all.",
    )
    quiet_start = models.TimeField(null=True, blank=True, help_text="Quiet hours (local time), e.g. 22:00.")
    quiet_end = models.TimeField(
        null=True, blank=True, help_text="End of the quiet hours, e.g. 07:00 (may cross midnight)."
    )
    remind_every_minutes = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(7 * 24 * 60)],
        help_text="Remind while the alarm stays unhandled, every this many minutes. 0: never.",
    )
    remind_max = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(20)], help_text="At most this many reminders."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValidationError("Give both ends of the quiet hours, or neither.")
        if self.quiet_start is not None and self.quiet_start == self.quiet_end:
            raise ValidationError("The quiet hours start and end at the same time.")

    def matches(self, alarm: AlarmEvent) -> bool:
        return (
            self.enabled
            and (not self.levels or alarm.alarm_level in self.levels)
            and (not self.alarm_types or alarm.alarm_type in self.alarm_types)
            and (not self.device_ids or alarm.device_id in self.device_ids)
        )

    def is_quiet(self, local: datetime | time) -> bool:
        """Whether a local time of day falls in the quiet hours: [start, end), across midnight if end < start."""
        if self.quiet_start is None or self.quiet_end is None:
            return False
        moment = local.time() if isinstance(local, datetime) else local
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= moment < self.quiet_end
        return moment >= self.quiet_start or moment < self.quiet_end


class Cooldown(models.Model):
    """Until when a rule sends no other alarm of a (device, type); moved only by a conditional UPDATE."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="+")
    device_id = IdentifierField(max_length=64)
    alarm_type = models.CharField(max_length=64)
    until = models.DateTimeField()
    # The alarm that started the current window.
    alarm_id = IdentifierField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "device_id", "alarm_type"], name="notify_cooldown_key"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.device_id}/{self.alarm_type} until {self.until:%H:%M:%S}"


class Cursor(models.Model):
    """How far the dispatch has read the alarms, by their stored time (one row, ``name='alarms'``)."""

    name = models.CharField(max_length=32, primary_key=True)
    position = models.DateTimeField()
    # The first run's time: alarms stored before it are history, never read (not even going back).
    started_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.position:%Y-%m-%d %H:%M:%S}"


class Delivery(models.Model):
    """One message to one channel: an alarm's first notice, a reminder (``n`` = 1, 2, …) or a test."""

    class Kind(models.TextChoices):
        ALERT = "ALERT", "Alarm"
        REMINDER = "REMINDER", "Reminder"
        TEST = "TEST", "Test message"

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        SENDING = "SENDING", "Sending"
        SENT = "SENT", "Sent"
        FAILED = "FAILED", "Failed"
        SKIPPED = "SKIPPED", "Skipped"

    objects: models.Manager[Delivery] = models.Manager()

    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    # Null for a test message; an alarm's deliveries go with it when retention deletes it.
    alarm = models.ForeignKey(AlarmEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ALERT)
    n = models.PositiveSmallIntegerField(default=0, help_text="The reminder's number; 0 for the first notice.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    response_code = models.IntegerField(
        null=True, blank=True, help_text="The HTTP status (or SMTP code) of the last try."
    )
    created_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    # When the job's message was last sent: None until the dispatch sends it.
    sent_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "channel", "alarm", "kind", "n"], name="notify_delivery_once"),
        ]
        indexes = [
            # The dispatch: rows not sent, or left past their time; sending ones past their lease.
            models.Index(fields=["status", "due_at"], name="notify_status_due_idx"),
            # Reminders: first notices of the last hours.
            models.Index(fields=["kind", "created_at"], name="notify_kind_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.alarm_id or ''} → {self.channel_id}: {self.status}"
