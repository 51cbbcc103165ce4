from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from analysis.models import AlarmLlmAnalysis


@admin.register(AlarmLlmAnalysis)
class AlarmLlmAnalysisAdmin(admin.ModelAdmin):
    list_display = ("alarm", "model_name", "status", "verdict", "risk_level", "created_at", "latency_ms")
    list_filter = ("status", "verdict", "model_name")
    search_fields = ("alarm__alarm_id", "description")
    list_select_related = ("alarm",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
