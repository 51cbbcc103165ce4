from __future__ import annotations

from typing import Any

from rest_framework import serializers

from analysis.models import AlarmLlmAnalysis
from vsp.compat.representation import epoch_ms


class AnalysisSerializer(serializers.ModelSerializer):
    """An LLM's opinion on an alarm, as the native API shows it."""

    class Meta:
        model = AlarmLlmAnalysis
        fields = [
            "id",
            "alarm",
            "model_name",
            "prompt_version",
            "requested_by",
            "status",
            "verdict",
            "confidence",
            "description",
            "risk_level",
            "detected_objects",
            "parse_error",
            "raw_text",
            "prompt_tokens",
            "completion_tokens",
            "cost",
            "attempts",
            "error",
            "auto_ignored",
            "created_at",
            "started_at",
            "finished_at",
            "latency_ms",
        ]
        read_only_fields = fields


def compat_analysis(analysis: AlarmLlmAnalysis | None) -> dict[str, Any] | None:
    """The analysis as the compat ``get`` and the ``alarm.analyzed`` event carry it (CONTRACT §8)."""
    if analysis is None:
        return None
    return {
        "id": analysis.pk,
        "status": analysis.status,
        "verdict": analysis.verdict or None,
        "confidence": analysis.confidence,
        "description": analysis.description,
        "riskLevel": analysis.risk_level,
        "objects": analysis.detected_objects,
        "parseError": analysis.parse_error,
        "autoIgnored": analysis.auto_ignored,
        "model": analysis.model_name,
        "promptVersion": analysis.prompt_version,
        "latencyMs": analysis.latency_ms,
        "error": analysis.error or None,
        "createTime": epoch_ms(analysis.created_at),
        "finishTime": epoch_ms(analysis.finished_at),
    }
