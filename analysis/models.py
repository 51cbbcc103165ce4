from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from alarms.models import AlarmEvent, AlarmLevel
from vsp.locale import label_fields


class Verdict(models.TextChoices):
    REAL = "REAL", _("Real alarm")
    FALSE_ALARM = "FALSE_ALARM", _("False alarm")
    UNCERTAIN = "UNCERTAIN", _("Uncertain")


class AlarmLlmAnalysis(models.Model):
    """A multimodal LLM's second opinion on one alarm's snapshot, and the job that asks for it.

    The row is the job's request. A staff request commits it with the staff action; a report commits
    its request in the alarm row itself (``AlarmEvent.analysis_requested``), which the dispatch job
    turns into this row. So no job is lost when the broker is down. ``due_at`` says when it should
    run, and ``sent_at`` when its message was sent (analysis.services.dispatch sends what is not, or
    is late).
    """

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Pending")
        RUNNING = "RUNNING", _("Running")
        DONE = "DONE", _("Done")
        FAILED = "FAILED", _("Failed")

    Verdict = Verdict

    objects: models.Manager[AlarmLlmAnalysis] = models.Manager()

    # Indexed by analysis_alarm_time_idx, which leads with it: a report writes one index fewer.
    alarm = models.ForeignKey(AlarmEvent, on_delete=models.CASCADE, related_name="analyses", db_index=False)
    model_name = models.CharField(max_length=128)
    prompt_version = models.CharField(max_length=32, blank=True)
    # Who asked: "auto" (a rule, at report time) or the staff member's name.
    requested_by = models.CharField(max_length=150, default="auto")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    verdict = models.CharField(max_length=16, choices=Verdict.choices, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    description = models.TextField(blank=True)
    risk_level = models.PositiveSmallIntegerField(null=True, blank=True)
    # [{"label": ..., "box": [x1, y1, x2, y2], "confidence": ...}] when the model gave them (pixels).
    detected_objects = models.JSONField(default=list, blank=True)
    # The model's text as it came, and whether it could not be read as the JSON asked for.
    raw_text = models.TextField(blank=True)
    parse_error = models.BooleanField(default=False)
    # The chat-completions request (the image replaced by its size and type) and the response body.
    request = models.JSONField(null=True, blank=True)
    raw_response = models.JSONField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # The verdict marked the alarm a false alarm by the rule's policy (a handling log entry says so too).
    auto_ignored = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField(null=True, blank=True)
    # When its job's message was last sent: None until the dispatch job (or a staff request) sends it.
    sent_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("LLM analysis")
        verbose_name_plural = _("LLM analyses")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["alarm", "created_at"], name="analysis_alarm_time_idx"),
            # The dispatch: requests not sent, or left past their time; running ones past their lease.
            models.Index(fields=["status", "due_at"], name="analysis_status_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} on {self.alarm_id}: {self.verdict or self.status}"


def _check_levels(value: object) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError(_("name at least one level"))
    unknown = [level for level in value if level not in AlarmLevel.values]
    if unknown:
        raise ValidationError(gettext("levels are 1 to 4, not %(unknown)s") % {"unknown": unknown})


def _all_levels() -> list[int]:
    return list(AlarmLevel.values)


class AnalysisRule(models.Model):
    """Which alarms of a type get a second opinion, and what a confident false-alarm verdict may do.

    A type without a rule of its own follows the rule for every type (``alarm_type`` left empty);
    with neither, every alarm with a snapshot is analysed and nothing is marked.
    """

    alarm_type = models.CharField(
        max_length=64, unique=True, blank=True, help_text=_("Empty: the rule for every type without one of its own.")
    )
    enabled = models.BooleanField(default=True, help_text=_("Analyse this type's alarms as they are reported."))
    levels = models.JSONField(default=_all_levels, validators=[_check_levels], help_text=_("The levels analysed."))
    site_context = models.TextField(
        blank=True, help_text=_("A sentence about the site for the prompt, e.g. 'a chemical plant; smoking is banned'.")
    )
    auto_ignore = models.BooleanField(
        default=False,
        help_text=_("Mark an unhandled alarm IGNORED when the model calls it a false alarm, confidently."),
    )
    auto_ignore_confidence = models.FloatField(
        default=0.9, validators=[MinValueValidator(0.5), MaxValueValidator(1.0)], help_text=_("The confidence needed.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("analysis rule")
        ordering = ["alarm_type"]

    def __str__(self) -> str:
        return self.alarm_type or gettext("every type")

    def covers(self, level: int) -> bool:
        return self.enabled and level in self.levels


# Labels for the fields Django names after their attribute, translatable (vsp.locale.label_fields).
label_fields(
    AlarmLlmAnalysis,
    {
        "alarm": _("alarm"),
        "model_name": _("model name"),
        "prompt_version": _("prompt version"),
        "requested_by": _("requested by"),
        "status": _("status"),
        "verdict": _("verdict"),
        "confidence": _("confidence"),
        "description": _("description"),
        "risk_level": _("risk level"),
        "detected_objects": _("detected objects"),
        "raw_text": _("raw text"),
        "parse_error": _("parse error"),
        "request": _("request"),
        "raw_response": _("raw response"),
        "prompt_tokens": _("prompt tokens"),
        "completion_tokens": _("completion tokens"),
        "cost": _("cost"),
        "attempts": _("attempts"),
        "error": _("error"),
        "auto_ignored": _("auto ignored"),
        "created_at": _("created at"),
        "due_at": _("due at"),
        "sent_at": _("sent at"),
        "lease_until": _("lease until"),
        "started_at": _("started at"),
        "finished_at": _("finished at"),
        "latency_ms": _("latency ms"),
    },
)
label_fields(
    AnalysisRule,
    {
        "alarm_type": _("alarm type"),
        "enabled": _("enabled"),
        "levels": _("levels"),
        "site_context": _("site context"),
        "auto_ignore": _("auto ignore"),
        "auto_ignore_confidence": _("auto ignore confidence"),
        "updated_at": _("updated at"),
    },
    verbose_name_plural=_("analysis rules"),
)
