"""Django admin for alarms: triage lists, and handling from the change page through the service."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from alarms import alarm_types, counts, services
from alarms.exceptions import InvalidStatusTransition, TooManyAlarms
from alarms.filters import SORTED_THEN
from alarms.models import (
    AlarmEvent,
    AlarmEventExt,
    AlarmHandleLog,
    AlarmStatus,
    AlarmTimingDay,
    AlarmType,
    HandleStatus,
    Incident,
)
from alarms.snapshots import snapshot_link, thumbnail_link
from devices.models import EdgeDevice
from vsp.filters import total_ordering
from vsp.pagination import DeferredJoinPaginator
from vsp.times import TimeFormatError, parse_query_time

# The list's level column; the choices' labels ("Level 1 (critical)") are for filters and forms.
SHORT_LEVELS = {1: _("Level 1"), 2: _("Level 2"), 3: _("Level 3"), 4: _("Level 4")}

# What staff decide; everything else on an alarm came from the edge and is read-only here.
HANDLING_FIELDS = ("handle_status", "alarm_status", "handle_remark")


class AlarmHandleForm(forms.ModelForm):
    handle_status = forms.ChoiceField(choices=HandleStatus.choices)
    alarm_status = forms.ChoiceField(
        choices=AlarmStatus.choices, help_text=_("Moves forward only: NEW → CONFIRMED → RESOLVED.")
    )

    class Meta:
        model = AlarmEvent
        fields = (*HANDLING_FIELDS, "snapshot_pinned")

    def clean_alarm_status(self) -> str:
        new_status: str = self.cleaned_data["alarm_status"]
        # The instance still holds the stored values here (the form copies its data in after cleaning).
        try:
            self.instance.check_alarm_status_change(new_status)
        except InvalidStatusTransition as exc:
            raise forms.ValidationError(str(exc)) from None
        return new_status


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=User.objects.filter(is_staff=True, is_active=True).order_by("username"),
        required=False,
        label=_("Assignee"),
        empty_label=_("(nobody)"),
        help_text=_("Leave empty to unassign."),
    )


# Admin actions of the alarm list, whatever else a subclass adds (AlarmEventAdmin._get_base_actions).
TRIAGE_ACTIONS = ("confirm_alarms", "resolve_alarms", "ignore_alarms", "assign_alarms")
# How many ids of one outcome the message names before it only counts the rest.
_NAMED_IDS = 20
# The outcomes as the admin message names them (the APIs answer the codes themselves).
_OUTCOME_LABELS = {
    services.UPDATED: _("updated"),
    services.NOT_FOUND: _("not found"),
    services.FORBIDDEN: _("forbidden"),
    services.INVALID_TRANSITION: _("invalid transition"),
}


def _outcome_message(results: dict[str, services.BulkOutcome]) -> tuple[str, int]:
    """The admin message for a bulk action's per-id outcomes, and its level (a warning unless all updated)."""
    by_outcome: dict[str, list[str]] = {}
    for alarm_id, outcome in results.items():
        by_outcome.setdefault(outcome, []).append(alarm_id)
    parts = []
    for outcome in services.BULK_OUTCOMES:
        ids = by_outcome.get(outcome, [])
        if not ids:
            continue
        named = ", ".join(ids[:_NAMED_IDS])
        if len(ids) > _NAMED_IDS:
            more = len(ids) - _NAMED_IDS
            named = gettext("%(ids)s and %(more)d more") % {"ids": named, "more": more}
        parts.append(
            gettext("%(outcome)s: %(count)d (%(ids)s)")
            % {"outcome": _OUTCOME_LABELS[outcome], "count": len(ids), "ids": named}
        )
    level = messages.SUCCESS if set(by_outcome) <= {services.UPDATED} else messages.WARNING
    # Translators: what separates the outcomes in the message ("updated: 2 (…); not found: 1 (…)").
    return gettext("; ").join(parts) or gettext("no alarms selected"), level


def _too_many_message(limit: int) -> str:
    return gettext("at most %(limit)d alarms per action; narrow the selection or use bulk-handle-filtered") % {
        "limit": limit
    }


def _handle_in_bulk(model_admin: admin.ModelAdmin, request: HttpRequest, ids: list[str], **decision: Any) -> None:
    try:
        results = services.bulk_handle(ids, actor=services.Actor.of(request.user), **decision)
    except TooManyAlarms as exc:
        model_admin.message_user(request, _too_many_message(exc.limit), messages.ERROR)
        return
    model_admin.message_user(request, *_outcome_message(results))


def _assign_in_bulk(
    model_admin: admin.ModelAdmin, request: HttpRequest, ids: list[str], selected: list[Any], action: str
) -> HttpResponse | None:
    """An assign action: the page to pick whom (posting ``selected`` back to ``action``), then the outcome."""
    if len(ids) > settings.BULK_HANDLE_MAX_IDS:
        limit = settings.BULK_HANDLE_MAX_IDS
        message = gettext("at most %(limit)d alarms per action; narrow the selection") % {"limit": limit}
        model_admin.message_user(request, message, messages.ERROR)
        return None
    form = AssignForm(request.POST if request.POST.get("confirmed") else None)
    if form.is_bound and form.is_valid():
        assignee = form.cleaned_data["assignee"]
        results = services.bulk_assign(ids, assignee=assignee, actor=services.Actor.of(request.user))
        model_admin.message_user(request, *_outcome_message(results))
        return None
    alarms = list(AlarmEvent.objects.filter(pk__in=ids).order_by("pk"))
    return _assign_page(model_admin, request, alarms, selected, form, action)


def _assign_page(
    model_admin: admin.ModelAdmin, request: HttpRequest, alarms: list[Any], selected: list[Any], form: Any, action: str
) -> TemplateResponse:
    """The page between an assign action and its outcome: whom to give ``alarms`` to; it posts ``selected`` back."""
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": gettext("Assign alarms"),
        "alarms": alarms,
        "selected": selected,
        "form": form,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/alarms/assign.html", context)


class IncidentListFilter(admin.SimpleListFilter):
    """The alarms of one incident (``?incident=<id>``), linked from the incident list; offers no choices."""

    title = _("incident")
    parameter_name = "incident"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, f"#{value}")] if value else []

    def has_output(self) -> bool:
        return self.value() is not None

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(incident_id=int(value)) if value.isdigit() else queryset.none()


class AlarmEventExtInline(admin.StackedInline):
    model = AlarmEventExt
    can_delete = False
    readonly_fields = ("pretty_ext_data",)
    fields = ("pretty_ext_data",)
    verbose_name_plural = _("Edge extension data")

    @admin.display(description=_("ext_data"))
    def pretty_ext_data(self, ext: AlarmEventExt) -> str:
        return format_html("<pre>{}</pre>", json.dumps(ext.ext_data, ensure_ascii=False, indent=2))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AlarmHandleLogInline(admin.TabularInline):
    model = AlarmHandleLog
    can_delete = False
    extra = 0
    fields = (
        "created_at",
        "actor_name",
        "from_handle_status",
        "to_handle_status",
        "from_alarm_status",
        "to_alarm_status",
        "remark",
    )
    readonly_fields = fields
    verbose_name_plural = _("Handling log")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RegisteredDeviceFilter(admin.SimpleListFilter):
    """By device, choosing among the registered boxes: a DISTINCT over every alarm took seconds on millions."""

    title = _("device")
    parameter_name = "device_id"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        devices = EdgeDevice.objects.order_by("device_id").values_list("device_id", "name")
        return [(device_id, f"{device_id} ({name})" if name else device_id) for device_id, name in devices]

    def has_output(self) -> bool:
        return True  # applied even to a box never registered, and listed once there are some

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(device_id=self.value()) if self.value() else queryset


class AlarmTypeFilter(admin.SimpleListFilter):
    """By type, by its display name: the named types in their order, then codes only the alarms carry."""

    title = _("alarm type")
    parameter_name = "alarm_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = alarm_types.display_names()
        seen = AlarmEvent.objects.order_by("alarm_type").values_list("alarm_type", flat=True).distinct()
        return [*names.items(), *((code, code) for code in seen if code not in names)]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(alarm_type=self.value()) if self.value() else queryset


def _choices(name: str) -> list[str] | None:
    """The values a filter on the field may take, as the change list's query string has them; ``None``: any."""
    choices = getattr(AlarmEvent._meta.get_field(name), "choices", None)
    return [str(value) for value, _ in choices] if choices else None


# The change list's filter parameters the counts answer (alarms.counts.Scope), and the values they may take.
_COUNTED_PARAMETERS = {f"{name}__exact": (name, _choices(name)) for name in counts.DIMENSIONS}
_COUNTED_PARAMETERS["device_id"] = ("device_id", None)
_LIST_PARAMETERS = {"o", "p"}  # ordering and page number: no bearing on the total


def _counted(request: HttpRequest) -> int | None:
    """The change list's total from the counts, or ``None`` (count the rows) for any other filter or search."""
    scope: dict[str, Any] = {}
    bounds: dict[str, datetime] = {}
    for name, values in request.GET.lists():
        value = values[-1]
        if name in _LIST_PARAMETERS:
            continue
        if name in _COUNTED_PARAMETERS and len(values) == 1:
            field, allowed = _COUNTED_PARAMETERS[name]
            if allowed is not None and value not in allowed:
                return None  # the change list refuses it itself
            scope[field] = int(value) if field == "alarm_level" else value
        elif name in ("event_time__gte", "event_time__lt") and len(values) == 1 and (moment := _moment(value)):
            bounds[name] = moment
        else:
            return None
    return counts.total(counts.Scope(**scope), bounds.get("event_time__gte"), bounds.get("event_time__lt"))


class AlarmChangeList(ChangeList):
    def get_ordering(self, request: HttpRequest, queryset: Any) -> list[Any]:
        """A sort by one column, read off that column's index rather than by sorting every alarm."""
        return total_ordering(super().get_ordering(request, queryset), SORTED_THEN, self.lookup_opts.pk.name)


def _moment(value: str) -> datetime | None:
    """A bound as DateFieldListFilter writes it (an aware local midnight), or a date: its first instant."""
    try:
        return parse_query_time(value, "start")
    except TimeFormatError:
        return None


@admin.register(AlarmEvent)
class AlarmEventAdmin(admin.ModelAdmin):
    form = AlarmHandleForm
    list_display = (
        "thumbnail",
        "alarm_id",
        "event_time",
        "type_name",
        "device_id",
        # Short, and both statuses in one column, so that the list fits a 1366 px screen beside its filters.
        "level",
        "statuses",
        "handled_by",
    )
    list_filter = (
        "alarm_status",
        "handle_status",
        "alarm_level",
        AlarmTypeFilter,
        "source",
        ("event_time", admin.DateFieldListFilter),
        RegisteredDeviceFilter,
    )
    search_fields = ("alarm_id", "alarm_type", "device_id", "scene_id", "handle_remark")
    list_per_page = 50
    show_full_result_count = False
    readonly_fields = (
        "alarm_id",
        "alarm_type",
        "type_name",
        "device_id",
        "scene_id",
        "event_time",
        "alarm_level",
        "snapshot",
        "confidence_score",
        "duration_ms",
        "end_time",
        "resolve_type",
        "handler",
        "handle_time",
        "assignee",
        "source",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (_("Handling"), {"fields": HANDLING_FIELDS}),
        (_("Snapshot"), {"fields": ("snapshot", "snapshot_pinned")}),
        (
            _("Event"),
            {
                "fields": (
                    "alarm_id",
                    "type_name",
                    "alarm_type",
                    "alarm_level",
                    "event_time",
                    "device_id",
                    "scene_id",
                    "confidence_score",
                    "source",
                )
            },
        ),
        (_("End (from the edge)"), {"fields": ("duration_ms", "end_time", "resolve_type")}),
        (_("Record"), {"fields": ("handler", "handle_time", "assignee", "created_at", "updated_at")}),
    )
    inlines = (AlarmEventExtInline, AlarmHandleLogInline)

    def _get_base_actions(self) -> list[Any]:
        """The triage actions as well as the class's ``actions``, which a subclass (analysis) replaces."""
        base = list(super()._get_base_actions())  # type: ignore[misc]  # not in the stubs
        named = {name for _, name, _ in base}
        return base + [self.get_action(name) for name in TRIAGE_ACTIONS if name not in named]

    def has_handle_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("alarms.handle_alarmevent")

    def _bulk(self, request: HttpRequest, queryset: Any, **decision: Any) -> None:
        ids = list(queryset.order_by().values_list("pk", flat=True)[: settings.BULK_HANDLE_MAX_IDS + 1])
        _handle_in_bulk(self, request, ids, **decision)

    @admin.action(description=_("Confirm the selected alarms (handling)"), permissions=["handle"])
    def confirm_alarms(self, request: HttpRequest, queryset: Any) -> None:
        self._bulk(request, queryset, handle_status=HandleStatus.HANDLING, alarm_status=AlarmStatus.CONFIRMED)

    @admin.action(description=_("Resolve the selected alarms (handled)"), permissions=["handle"])
    def resolve_alarms(self, request: HttpRequest, queryset: Any) -> None:
        self._bulk(request, queryset, handle_status=HandleStatus.HANDLED, alarm_status=AlarmStatus.RESOLVED)

    @admin.action(description=_("Mark the selected alarms as false alarms (ignored)"), permissions=["handle"])
    def ignore_alarms(self, request: HttpRequest, queryset: Any) -> None:
        self._bulk(request, queryset, handle_status=HandleStatus.IGNORED)

    @admin.action(description=_("Assign the selected alarms to a staff member"), permissions=["handle"])
    def assign_alarms(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        """First a page to pick whom; its form posts the action again, confirmed."""
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: settings.BULK_HANDLE_MAX_IDS + 1])
        return _assign_in_bulk(self, request, ids, ids, "assign_alarms")

    def get_list_filter(self, request: HttpRequest) -> Any:
        return (*super().get_list_filter(request), IncidentListFilter)

    def delete_model(self, request: HttpRequest, obj: AlarmEvent) -> None:
        """An alarm deleted here leaves the statistics counts and its day's metrics rollup with it."""
        with transaction.atomic():
            super().delete_model(request, obj)
            counts.add_alarms([counts.Counted.of(obj)], sign=-1)
            AlarmTimingDay.touch([obj.event_time])

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        with transaction.atomic():
            gone = [counts.Counted.of(row) for row in queryset.select_for_update().values(*counts.COUNTED_FIELDS)]
            super().delete_queryset(request, queryset)
            counts.add_alarms(gone, sign=-1)
            AlarmTimingDay.touch(alarm.event_time for alarm in gone)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return AlarmChangeList

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: Any,
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> DeferredJoinPaginator:
        """Pages whose total comes from the statistics counts when the list's filters are ones they keep."""
        return DeferredJoinPaginator(queryset, per_page, orphans, allow_empty_first_page, count=_counted(request))

    @admin.display(description=_("snapshot"))
    def snapshot(self, alarm: AlarmEvent) -> str:
        full, thumb = snapshot_link(alarm), thumbnail_link(alarm)
        if full is None:
            return alarm.get_snapshot_status_display()
        return format_html(
            '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="snapshot" style="max-height:{}px"></a>',
            full,
            thumb or full,
            self.thumbnail_height,
        )

    @admin.display(description=_("snapshot"))
    def thumbnail(self, alarm: AlarmEvent) -> str:
        thumb = thumbnail_link(alarm)
        return format_html('<img src="{}" alt="" style="max-height:40px">', thumb) if thumb else "—"

    thumbnail_height = 240

    @admin.display(description=_("level"), ordering="alarm_level")
    def level(self, alarm: AlarmEvent) -> str:
        return str(SHORT_LEVELS.get(alarm.alarm_level, alarm.alarm_level))

    @admin.display(description=_("status"), ordering="handle_status")
    def statuses(self, alarm: AlarmEvent) -> str:
        return format_html("{}<br>{}", alarm.get_alarm_status_display(), alarm.get_handle_status_display())

    @admin.display(description=_("type"), ordering="alarm_type")
    def type_name(self, alarm: AlarmEvent) -> str:
        return alarm_types.display_name(alarm.alarm_type)

    @admin.display(description=_("handler"))
    def handled_by(self, alarm: AlarmEvent) -> str:
        # Not a sort: no index holds the handler, and sorting every alarm by it took 1.3 s on a million.
        return alarm.handler or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Alarms come from the edge, or from POST /api/v1/alerts/ which assigns an ALT… id.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("alarms.handle_alarmevent")

    def save_model(self, request: HttpRequest, obj: AlarmEvent, form: forms.ModelForm, change: bool) -> None:
        if not (change and form.has_changed()):
            return
        changed = set(form.changed_data)
        if "snapshot_pinned" in changed:
            AlarmEvent.objects.filter(pk=obj.pk).update(snapshot_pinned=form.cleaned_data["snapshot_pinned"])
        if not changed & set(HANDLING_FIELDS):
            return
        try:
            services.handle_alarm(
                obj.pk,
                handle_status=form.cleaned_data["handle_status"],
                # Untouched fields are "not given", so handling a NEW alarm acknowledges it as the APIs do,
                # and an unchanged remark is not logged again.
                alarm_status=form.cleaned_data["alarm_status"] if "alarm_status" in changed else None,
                remark=form.cleaned_data["handle_remark"] if "handle_remark" in changed else None,
                actor=services.Actor.of(request.user),
            )
        except InvalidStatusTransition as exc:  # someone else moved it on meanwhile
            self.message_user(request, str(exc), messages.ERROR)


@admin.register(AlarmType)
class AlarmTypeAdmin(admin.ModelAdmin):
    """The alarm types' display names (alarms.alarm_types): what every list and export calls a code."""

    list_display = ("code", "name_zh", "name_en", "colour", "sort")
    list_editable = ("name_zh", "name_en", "colour", "sort")
    search_fields = ("code", "name_zh", "name_en")


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    """Storms, as rows of their own; the triage actions apply to each selected incident's open alarms."""

    list_display = (
        "id",
        "alarm_type",
        "device_id",
        "scene_id",
        "alarm_count",
        "highest_level",
        "status",
        "first_time",
        "last_time",
    )
    list_filter = ("status", "highest_level", "alarm_type", ("last_time", admin.DateFieldListFilter))
    search_fields = ("device_id", "alarm_type", "scene_id")
    list_per_page = 50
    readonly_fields = tuple(field.name for field in Incident._meta.fields if field.name != "current_key")
    exclude = ("current_key",)
    actions = ("confirm_incidents", "resolve_incidents", "ignore_incidents", "assign_incidents")

    @admin.display(description=_("alarms"), ordering="count")
    def alarm_count(self, incident: Incident) -> str:
        return format_html('<a href="{}?incident={}">{}</a>', "/admin/alarms/alarmevent/", incident.pk, incident.count)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by reports only

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # derived from its alarms; triaged through the actions

    def has_handle_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("alarms.handle_alarmevent")

    def _open_alarms(self, queryset: Any) -> list[str]:
        alarms = AlarmEvent.objects.filter(incident__in=queryset, handle_status=HandleStatus.UNHANDLED)
        return list(alarms.order_by("pk").values_list("pk", flat=True)[: settings.BULK_HANDLE_MAX_IDS + 1])

    @admin.action(description=_("Confirm the open alarms of the selected incidents"), permissions=["handle"])
    def confirm_incidents(self, request: HttpRequest, queryset: Any) -> None:
        _handle_in_bulk(
            self,
            request,
            self._open_alarms(queryset),
            handle_status=HandleStatus.HANDLING,
            alarm_status=AlarmStatus.CONFIRMED,
        )

    @admin.action(description=_("Resolve the open alarms of the selected incidents"), permissions=["handle"])
    def resolve_incidents(self, request: HttpRequest, queryset: Any) -> None:
        _handle_in_bulk(
            self,
            request,
            self._open_alarms(queryset),
            handle_status=HandleStatus.HANDLED,
            alarm_status=AlarmStatus.RESOLVED,
        )

    @admin.action(
        description=_("Mark the open alarms of the selected incidents as false alarms"), permissions=["handle"]
    )
    def ignore_incidents(self, request: HttpRequest, queryset: Any) -> None:
        _handle_in_bulk(self, request, self._open_alarms(queryset), handle_status=HandleStatus.IGNORED)

    @admin.action(description=_("Assign the open alarms of the selected incidents"), permissions=["handle"])
    def assign_incidents(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        selected = [incident.pk for incident in queryset]
        return _assign_in_bulk(self, request, self._open_alarms(queryset), selected, "assign_incidents")
