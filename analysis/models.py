from __future__ import annotations

from django.db import models

from alarms.models import AlarmEvent


class AlarmLlmAnalysis(models.Model):
    """A multimodal LLM's second opinion on one alarm's snapshot."""

    class Verdict(models.TextChoices):
        REAL = "REAL", "Real alarm"
        FALSE_ALARM = "FALSE_ALARM", "False alarm"
        UNSURE = "UNSURE", "Unsure"

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        RUNNING = "RUNNING", "Running"
        DONE = "DONE", "Done"
        FAILED = "FAILED", "Failed"

    alarm = models.ForeignKey(AlarmEvent, on_delete=models.CASCADE, related_name="analyses")
    model_name = models.CharField(max_length=128)
    prompt_version = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    verdict = models.CharField(max_length=16, choices=Verdict.choices, blank=True)
    description = models.TextField(blank=True)
    risk_level = models.PositiveSmallIntegerField(null=True, blank=True)
    raw_response = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = "LLM analysis"
        verbose_name_plural = "LLM analyses"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["alarm", "created_at"], name="analysis_alarm_time_idx")]

    def __str__(self) -> str:
        return f"{self.model_name} on {self.alarm_id}: {self.verdict or self.status}"
