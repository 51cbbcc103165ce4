"""Admin for the second opinion: the analyses, the rules, the agreement page, and the alarm's own page.

The alarm's admin page (alarms.admin) gets the latest analysis beside the snapshot, with the boxes
the model gave drawn over it, the alarm's analyses inline, and an action to request one; this app
extends that admin rather than alarms knowing about analyses.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from alarms import alarm_types
from alarms.admin import AlarmEventAdmin
from alarms.models import AlarmEvent, AlarmLevel
from alarms.snapshots import snapshot_link
from analysis import agreement, services
from analysis.api import AgreementQuery
from analysis.models import AlarmLlmAnalysis, AnalysisRule

_HISTORY = 20
# The agreement page's "by" choices, as staff read them (the values are the API's).
GROUPING_LABELS = {"none": _("nothing"), "type": _("type"), "device": _("device"), "model": _("model")}
_VERDICT_COLOURS = {"REAL": "#ba2121", "FALSE_ALARM": "#417690", "UNCERTAIN": "#a26d00"}


def verdict_badge(analysis: AlarmLlmAnalysis) -> str:
    if analysis.status != AlarmLlmAnalysis.Status.DONE:
        return format_html("<strong>{}</strong>", analysis.get_status_display())
    confidence = f" {analysis.confidence:.2f}" if analysis.confidence is not None else ""
    return format_html(
        '<strong style="color:{}">{}{}</strong>',
        _VERDICT_COLOURS.get(analysis.verdict, "inherit"),
        analysis.get_verdict_display(),
        confidence,
    )


def snapshot_with_boxes(alarm: AlarmEvent, analysis: AlarmLlmAnalysis | None, *, height: int = 360) -> str:
    """The snapshot with the model's boxes over it (drawn by analysis/boxes.js once the image's size is known)."""
    link = snapshot_link(alarm)
    if link is None:
        return alarm.get_snapshot_status_display()
    boxes = [item for item in (analysis.detected_objects if analysis else []) if "box" in item]
    return format_html(
        '<figure class="vsp-boxes" data-boxes="{}" style="position:relative;display:inline-block;margin:0">'
        '<img src="{}" alt="snapshot" style="max-height:{}px;display:block">'
        '<svg style="position:absolute;inset:0;width:100%;height:100%;pointer-events:none"></svg></figure>',
        json.dumps(boxes, ensure_ascii=False),
        link,
        height,
    )


@admin.action(description=_("Ask the LLM for a second opinion"), permissions=["analyze"])
def request_analyses(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> None:
    alarm_ids = list(queryset.values_list("alarm_id", flat=True)[:200])
    asked, refused = 0, []
    for alarm_id in alarm_ids:
        try:
            services.request_by_staff(alarm_id, name=request.user.get_username())
            asked += 1
        except services.NotAnalysable as exc:
            refused.append(str(exc))
    if asked:
        done = gettext("%(count)d analyses requested (or already waiting).") % {"count": asked}
        modeladmin.message_user(request, done, messages.SUCCESS)
    for reason in sorted(set(refused))[:5]:
        modeladmin.message_user(request, reason, messages.WARNING)


class _MayAnalyze:
    def has_analyze_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("analysis.add_alarmllmanalysis"))


class AlarmWithAnalysesAdmin(_MayAnalyze, AlarmEventAdmin):
    """The alarm's admin, with its second opinions."""

    actions = (request_analyses,)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*super().get_readonly_fields(request, obj), "second_opinion", "analysis_history"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return [
            # Found by its fields, not its title, which is translated.
            (
                name,
                {**options, "fields": (*options["fields"], "second_opinion")}
                if "snapshot" in options["fields"]
                else options,
            )
            for name, options in super().get_fieldsets(request, obj)
        ] + [(_("LLM analyses"), {"fields": ("analysis_history",), "classes": ("collapse",)})]

    @admin.display(description=_("analyses, newest first"))
    def analysis_history(self, alarm: AlarmEvent) -> str:
        rows = alarm.analyses.order_by("-created_at", "-id")[:_HISTORY]
        if not rows:
            return "—"
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
            *(_("requested"), _("by"), _("verdict"), _("model · prompt"), _("attempts")),
            format_html_join(
                "",
                '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{} · {}</td><td>{}</td></tr>',
                (
                    (
                        reverse("admin:analysis_alarmllmanalysis_change", args=[row.pk]),
                        timezone.localtime(row.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                        row.requested_by,
                        verdict_badge(row),
                        row.model_name,
                        row.prompt_version,
                        row.attempts,
                    )
                    for row in rows
                ),
            ),
        )

    class Media:
        js = ("analysis/boxes.js",)

    @admin.display(description=_("LLM second opinion"))
    def second_opinion(self, alarm: AlarmEvent) -> str:
        latest = alarm.analyses.order_by("-created_at", "-id").first()
        if latest is None:
            return "—"
        return format_html(
            '<div style="display:flex;gap:16px;align-items:flex-start">{}<div>{}<p>{}</p>'
            "<p>{} {} · {} {} · {} ms</p></div></div>",
            snapshot_with_boxes(alarm, latest),
            verdict_badge(latest),
            latest.description or latest.error or "",
            _("risk level"),
            latest.risk_level or "—",
            latest.model_name,
            latest.prompt_version,
            latest.latency_ms if latest.latency_ms is not None else "—",
        )


admin.site.unregister(AlarmEvent)
admin.site.register(AlarmEvent, AlarmWithAnalysesAdmin)


@admin.register(AlarmLlmAnalysis)
class AlarmLlmAnalysisAdmin(_MayAnalyze, admin.ModelAdmin):
    change_list_template = "admin/analysis/alarmllmanalysis/change_list.html"
    list_display = ("alarm", "created_at", "status", "opinion", "risk_level", "model_name", "prompt_version",
                    "attempts", "latency_ms", "cost", "auto_ignored")  # fmt: skip
    list_filter = ("status", "verdict", "parse_error", "auto_ignored", "model_name", "prompt_version")
    search_fields = ("alarm__alarm_id", "description")
    list_select_related = ("alarm",)
    list_per_page = 50
    show_full_result_count = False
    actions = ("run_again",)
    readonly_fields = ("alarm", "boxes", "status", "verdict", "confidence", "description", "risk_level",
                       "detected_objects", "parse_error", "raw_text", "error", "auto_ignored", "model_name",
                       "prompt_version", "requested_by", "attempts", "latency_ms", "prompt_tokens",
                       "completion_tokens", "cost", "created_at", "started_at", "finished_at", "due_at",
                       "lease_until", "pretty_request", "pretty_response")  # fmt: skip
    fields = readonly_fields

    class Media:
        js = ("analysis/boxes.js",)

    @admin.display(description=_("verdict"), ordering="verdict")
    def opinion(self, analysis: AlarmLlmAnalysis) -> str:
        return verdict_badge(analysis)

    @admin.display(description=_("snapshot and boxes"))
    def boxes(self, analysis: AlarmLlmAnalysis) -> str:
        return snapshot_with_boxes(analysis.alarm, analysis)

    @admin.display(description=_("request (image left out)"))
    def pretty_request(self, analysis: AlarmLlmAnalysis) -> str:
        return format_html("<pre>{}</pre>", json.dumps(analysis.request, ensure_ascii=False, indent=2))

    @admin.display(description=_("response"))
    def pretty_response(self, analysis: AlarmLlmAnalysis) -> str:
        return format_html("<pre>{}</pre>", json.dumps(analysis.raw_response, ensure_ascii=False, indent=2))

    @admin.action(description=_("Ask again (a new analysis of the same alarms)"), permissions=["analyze"])
    def run_again(self, request: HttpRequest, queryset: QuerySet[AlarmLlmAnalysis]) -> None:
        request_analyses(self, request, AlarmEvent.objects.filter(pk__in=queryset.values("alarm_id")))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        agreement_view = self.admin_site.admin_view(self.agreement_view)
        return [path("agreement/", agreement_view, name="analysis_agreement"), *super().get_urls()]

    def agreement_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        # The API's parameters and defaults, grouped by type unless asked otherwise.
        query = AgreementQuery(data={"by": "type", **request.GET.dict()})
        errors = (
            [] if query.is_valid() else [f"{name}: {' '.join(map(str, said))}" for name, said in query.errors.items()]
        )
        if errors:
            query = AgreementQuery(data={"by": "type"})
            query.is_valid(raise_exception=True)
        values = query.validated_data
        result = agreement.agreement(
            start=values["start"], end=values["end"], by=values["by"], system_handler=services.SYSTEM_HANDLER
        )
        for group in result["groups"]:
            if group.get("alarm_type"):
                group["type_name"] = alarm_types.display_name(group["alarm_type"])  # as every page names types
        context = {
            **self.admin_site.each_context(request),
            "title": _("Model verdicts against staff outcomes"),
            "opts": self.model._meta,
            "result": result,
            "groupings": [(name, GROUPING_LABELS.get(name, name)) for name in agreement.GROUPINGS],
            "by": values["by"],
            "start": timezone.localtime(values["start"]).strftime("%Y-%m-%d %H:%M:%S"),
            "end": timezone.localtime(values["end"]).strftime("%Y-%m-%d %H:%M:%S"),
            "errors": errors,
            "verdicts": ["REAL", "FALSE_ALARM", "UNCERTAIN"],
            "changelist": reverse("admin:analysis_alarmllmanalysis_changelist"),
        }
        return render(request, "admin/analysis/agreement.html", context, status=400 if errors else 200)


class AnalysisRuleForm(forms.ModelForm):
    levels = forms.TypedMultipleChoiceField(
        choices=AlarmLevel.choices, coerce=int, widget=forms.CheckboxSelectMultiple, help_text=_("The levels analysed.")
    )

    class Meta:
        model = AnalysisRule
        fields = ("alarm_type", "enabled", "levels", "site_context", "auto_ignore", "auto_ignore_confidence")


@admin.register(AnalysisRule)
class AnalysisRuleAdmin(admin.ModelAdmin):
    form = AnalysisRuleForm
    list_display = ("__str__", "enabled", "levels", "auto_ignore", "auto_ignore_confidence", "updated_at")
    list_filter = ("enabled", "auto_ignore")
