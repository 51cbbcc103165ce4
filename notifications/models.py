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
from django.utils.translation import gettext_lazy as _

from alarms.models import AlarmEvent, AlarmLevel
from vsp.db import IdentifierField

# What each kind of channel cannot send without.
_NEEDED: dict[str, tuple[str, ...]] = {
    "webhook": ("url", "secret"),
    "wecom": ("key",),
    "dingtalk": ("key",),
    "email": ("recipients",),
}


class Channel(models.Model):
    """One place a notification is sent: a signed webhook, a WeCom or DingTalk group robot, or email."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", _("Webhook (JSON, HMAC-SHA256 signed)")
        WECOM = "wecom", _("WeCom group robot")
        DINGTALK = "dingtalk", _("DingTalk group robot")
        EMAIL = "email", _("Email")

    objects: models.Manager[Channel] = models.Manager()

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    enabled = models.BooleanField(_("enabled"), default=True)
    url = models.URLField(_("URL"), max_length=1000, blank=True, help_text=_("Webhook: the URL the JSON is posted to."))
    key = models.CharField(
        _("key"), max_length=200, blank=True, help_text=_("WeCom: the robot's key. DingTalk: the robot's access_token.")
    )
    secret = models.CharField(
        _("secret"),
        max_length=200,
        blank=True,
        help_text=_("Webhook: the HMAC key (required). DingTalk: the robot's signing secret (SEC…), if it signs."),
    )
    recipients = models.TextField(
        _("recipients"), blank=True, help_text=_("Email: addresses, separated by commas or new lines.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def recipient_list(self) -> list[str]:
        return [item.strip() for item in self.recipients.replace("\n", ",").split(",") if item.strip()]

    def clean(self) -> None:
        needed = _NEEDED.get(self.kind, ())  # an unknown kind is the field's own error
        errors = {
            name: _("A %(kind)s channel needs this.") % {"kind": self.get_kind_display()}
            for name in needed
            if not getattr(self, name)
        }
        if self.kind == self.Kind.EMAIL:
            for address in self.recipient_list():
                try:
                    validate_email(address)
                except ValidationError:
                    errors["recipients"] = _("Not an email address: %(address)s") % {"address": address}
        if errors:
            raise ValidationError(errors)


def _check_levels(value: object) -> None:
    if not isinstance(value, list) or any(level not in AlarmLevel.values for level in value):
        raise ValidationError(_("a list of levels from 1 to 4 (empty: every level)"))


def _check_names(value: object) -> None:
    if not isinstance(value, list) or any(not isinstance(item, str) or not item.strip() for item in value):
        raise ValidationError(_('a list of names, e.g. ["no_helmet", "smoke"] (empty: any)'))


class Rule(models.Model):
    """Which alarms are sent to which channels, how often, and when not.

    Levels, types and devices each match any value when left empty. One alarm of a (device, type)
    is sent per cooldown; none are sent in the quiet hours (the skip is logged); an alarm left
    UNHANDLED is sent again every ``remind_every`` minutes, at most ``remind_max`` times.
    """

    objects: models.Manager[Rule] = models.Manager()

    name = models.CharField(_("name"), max_length=100, unique=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    levels = models.JSONField(
        _("levels"), default=list, blank=True, validators=[_check_levels], help_text=_("e.g. [1, 2]; empty: any.")
    )
    alarm_types = models.JSONField(
        _("alarm types"), default=list, blank=True, validators=[_check_names], help_text=_("Empty: any type.")
    )
    device_ids = models.JSONField(
        _("devices"), default=list, blank=True, validators=[_check_names], help_text=_("Empty: any device.")
    )
    channels = models.ManyToManyField(Channel, related_name="rules", verbose_name=_("channels"))
    cooldown_seconds = models.PositiveIntegerField(
        _("cooldown (seconds)"),
        default=300,
        validators=[MaxValueValidator(7 * 24 * 3600)],
        help_text=_("After an alarm is sent, others of the same device and type are not, for this long. 0: all."),
    )
    quiet_start = models.TimeField(
        _("quiet hours start"), null=True, blank=True, help_text=_("Quiet hours (local time), e.g. 22:00.")
    )
    quiet_end = models.TimeField(
        _("quiet hours end"),
        null=True,
        blank=True,
        help_text=_("End of the quiet hours, e.g. 07:00 (may cross midnight)."),
    )
    remind_every_minutes = models.PositiveIntegerField(
        _("remind every (minutes)"),
        default=0,
        validators=[MaxValueValidator(7 * 24 * 60)],
        help_text=_("Remind while the alarm stays unhandled, every this many minutes. 0: never."),
    )
    remind_max = models.PositiveSmallIntegerField(
        _("at most (reminders)"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text=_("At most this many reminders."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("notification rule")
        verbose_name_plural = _("notification rules")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValidationError(_("Give both ends of the quiet hours, or neither."))
        if self.quiet_start is not None and self.quiet_start == self.quiet_end:
            raise ValidationError(_("The quiet hours start and end at the same time."))

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
        ALERT = "ALERT", _("Alarm")
        REMINDER = "REMINDER", _("Reminder")
        TEST = "TEST", _("Test message")

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Pending")
        SENDING = "SENDING", _("Sending")
        SENT = "SENT", _("Sent")
        FAILED = "FAILED", _("Failed")
        SKIPPED = "SKIPPED", _("Skipped")

    objects: models.Manager[Delivery] = models.Manager()

    rule = models.ForeignKey(
        Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries", verbose_name=_("rule")
    )
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("channel"))
    # Null for a test message; an alarm's deliveries go with it when retention deletes it.
    alarm = models.ForeignKey(
        AlarmEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("alarm")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.ALERT)
    n = models.PositiveSmallIntegerField(
        _("reminder no."), default=0, help_text=_("The reminder's number; 0 for the first notice.")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    response_code = models.IntegerField(
        _("response code"), null=True, blank=True, help_text=_("The HTTP status (or SMTP code) of the last try.")
    )
    created_at = models.DateTimeField(_("created at"))
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    # When the job's message was last sent: None until the dispatch sends it.
    sent_at = models.DateTimeField(_("job sent at"), null=True, blank=True)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
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
