"""One FilterSet for alarms, used by the native API, the compat API and exports."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from alarms.models import AlarmEvent, AlarmLevel, AlarmStatus, HandleStatus
from vsp.filters import StableOrderingFilter


class AlarmEventFilterSet(django_filters.FilterSet):
    alarm_type = django_filters.CharFilter()
    device_id = django_filters.CharFilter()
    scene_id = django_filters.CharFilter()
    alarm_level = django_filters.TypedChoiceFilter(choices=AlarmLevel.choices, coerce=int)
    alarm_status = django_filters.ChoiceFilter(choices=AlarmStatus.choices)
    handle_status = django_filters.ChoiceFilter(choices=HandleStatus.choices)
    event_time_after = django_filters.IsoDateTimeFilter(
        field_name="event_time", lookup_expr="gte", label="Event time from (inclusive)"
    )
    event_time_before = django_filters.IsoDateTimeFilter(
        field_name="event_time", lookup_expr="lte", label="Event time to (inclusive)"
    )
    q = django_filters.CharFilter(method="search", label="Text in id, type, device, scene or remark")
    ordering = StableOrderingFilter(
        fields=["event_time", "created_at", "alarm_level", "alarm_id", "device_id", "handle_time"],
    )

    class Meta:
        model = AlarmEvent
        fields: list[str] = []

    def search(self, queryset: QuerySet[AlarmEvent], name: str, value: str) -> QuerySet[AlarmEvent]:
        text = value.strip()
        if not text:
            return queryset
        return queryset.filter(
            Q(alarm_id__icontains=text)
            | Q(alarm_type__icontains=text)
            | Q(device_id__icontains=text)
            | Q(scene_id__icontains=text)
            | Q(handle_remark__icontains=text)
        )
