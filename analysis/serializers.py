from __future__ import annotations

from rest_framework import serializers

from analysis.models import AlarmLlmAnalysis
from vsp.compat.representation import CompatRepresentation


class AnalysisSerializer(serializers.ModelSerializer):
    """An LLM's opinion on an alarm, as the APIs show it."""

    class Meta:
        model = AlarmLlmAnalysis
        fields = [
            "id",
            "model_name",
            "prompt_version",
            "status",
            "verdict",
            "description",
            "risk_level",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "latency_ms",
        ]
        read_only_fields = fields


class AnalysisCompatSerializer(CompatRepresentation, AnalysisSerializer):
    renames = {"created_at": "createTime", "finished_at": "finishedTime", "started_at": "startedTime"}
