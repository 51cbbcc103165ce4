"""Django admin for alarms: triage lists, and handling from the change page through the service."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db import transaction
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from alarms import alarm_types, counts, services
from alarms.exceptions import InvalidStatusTransition
from alarms.filters import SORTED_THEN
from alarms.models import AlarmEvent, AlarmEventExt, AlarmHandleLog, AlarmStatus, AlarmType, HandleStatus
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
        (_("Record"), {"fields": ("handler", "handle_time", "created_at", "updated_at")}),
    )
    inlines = (AlarmEventExtInline, AlarmHandleLogInline)

    def delete_model(self, request: HttpRequest, obj: AlarmEvent) -> None:
        """An alarm deleted here leaves the statistics counts with it."""
        with transaction.atomic():
            super().delete_model(request, obj)
            counts.add_alarms([counts.Counted.of(obj)], sign=-1)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        with transaction.atomic():
            gone = [counts.Counted.of(row) for row in queryset.select_for_update().values(*counts.COUNTED_FIELDS)]
            super().delete_queryset(request, queryset)
            counts.add_alarms(gone, sign=-1)

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
