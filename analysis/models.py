from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from alarms.models import AlarmEvent, AlarmLevel


class Verdict(models.TextChoices):
    REAL = "REAL", "Real alarm"
    FALSE_ALARM = "FALSE_ALARM", "False alarm"
    UNCERTAIN = "UNCERTAIN", "Uncertain"


class AlarmLlmAnalysis(models.Model):
    """A multimodal LLM's second opinion on one alarm's snapshot, and the job that asks for it.

    The row is the job's request. A staff request commits it with the staff action; a report commits
    its request in the alarm row itself (``AlarmEvent.analysis_requested``), which the dispatch job
    turns into this row. So no job is lost when the broker is down. ``due_at`` says when it should
    run, and ``sent_at`` when its message was sent (analysis.services.dispatch sends what is not, or
    is late).
    """

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        RUNNING = "RUNNING", "Running"
        DONE = "DONE", "Done"
        FAILED = "FAILED", "Failed"

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
        verbose_name = "LLM analysis"
        verbose_name_plural = "LLM analyses"
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
        raise ValidationError("name at least one level")
    unknown = [level for level in value if level not in AlarmLevel.values]
    if unknown:
        raise ValidationError(f"levels are 1 to 4, not {unknown}")


def _all_levels() -> list[int]:
    return list(AlarmLevel.values)


class AnalysisRule(models.Model):
    """Which alarms of a type get a second opinion, and what a confident false-alarm verdict may do.

    A type without a rule of its own follows the rule for every type (``alarm_type`` left empty);
    with neither, every alarm with a snapshot is analysed and nothing is marked.
    """

    alarm_type = models.CharField(
        max_length=64, unique=True, blank=True, help_text="Empty: the rule for every type without one of its own."
    )
    enabled = models.BooleanField(default=True, help_text="Analyse this type's alarms as they are reported.")
    levels = models.JSONField(default=_all_levels, validators=[_check_levels], help_text="The levels analysed.")
    site_context = models.TextField(
        blank=True, help_text="A sentence about the site for the prompt, e.g. 'a chemical plant; smoking is banned'."
    )
    auto_ignore = models.BooleanField(
        default=False, help_text="Mark an unhandled alarm IGNORED when the model calls it a false alarm, confidently."
    )
    auto_ignore_confidence = models.FloatField(
        default=0.9, validators=[MinValueValidator(0.5), MaxValueValidator(1.0)], help_text="The confidence needed."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "analysis rule"
        ordering = ["alarm_type"]

    def __str__(self) -> str:
        return self.alarm_type or "every type"

    def covers(self, level: int) -> bool:
        return self.enabled and level in self.levels
