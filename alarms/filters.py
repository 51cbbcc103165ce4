"""One FilterSet for alarms, used by the native API, the compat API and exports."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet

from alarms import counts
from alarms.counts import Scope
from alarms.models import AlarmEvent, AlarmLevel, AlarmStatus, HandleStatus, Incident, IncidentStatus
from vsp.filters import QueryTimeFilter, StableOrderingFilter, text_search

_COUNTABLE = ("device_id", "alarm_type", "alarm_level", "alarm_status", "handle_status")
# A sort by one of these goes on by the column its index holds next (alarms.models), so a page of it
# is read off the index: on a million alarms, 1.3 s by sorting every row, 20 ms by the index.
SORTED_THEN = {
    "device_id": "event_time",
    "alarm_type": "event_time",
    "alarm_status": "event_time",
    "handle_status": "event_time",
    "alarm_level": "created_at",
}


class AlarmEventFilterSet(django_filters.FilterSet):
    alarm_type = django_filters.CharFilter()
    device_id = django_filters.CharFilter()
    scene_id = django_filters.CharFilter()
    alarm_level = django_filters.TypedChoiceFilter(choices=AlarmLevel.choices, coerce=int)
    alarm_status = django_filters.ChoiceFilter(choices=AlarmStatus.choices)
    handle_status = django_filters.ChoiceFilter(choices=HandleStatus.choices)
    event_time_after = QueryTimeFilter(field_name="event_time", lookup_expr="gte", label="Event time from (inclusive)")
    event_time_before = QueryTimeFilter(
        field_name="event_time",
        lookup_expr="lte",
        bound="end",
        label="Event time to (inclusive; a date: all of it)",
    )
    created_after = QueryTimeFilter(method="stored_between", label="Stored from (inclusive)")
    created_before = QueryTimeFilter(
        method="stored_between", bound="end", label="Stored to (inclusive; a date: all of it)"
    )
    incident = django_filters.NumberFilter(field_name="incident_id", label="The alarms of one incident (its id)")
    q = django_filters.CharFilter(method="search", label="Text in id, type, device, scene or remark")
    ordering = StableOrderingFilter(
        fields=["event_time", "created_at", "alarm_level", "alarm_id", "device_id", "handle_time"],
        then=SORTED_THEN,
    )

    class Meta:
        model = AlarmEvent
        fields: list[str] = []

    def count_scope(self) -> Scope | None:
        """The filters as ``alarms.counts`` counts them, or ``None`` when one of them is not countable.

        Countable: the dimensions the counts keep and the event-time range (which callers pass
        on themselves). Call after ``is_valid()``.
        """
        given = {name for name, value in self.form.cleaned_data.items() if value not in (None, "", [])}
        if given - {*_COUNTABLE, "event_time_after", "event_time_before", "ordering"}:
            return None
        return Scope(**{name: self.form.cleaned_data.get(name) or None for name in _COUNTABLE})

    def count(self) -> int:
        """How many alarms the filters match: from the counts when they can tell, else counted.

        Exact either way; the counts answer a million alarms in milliseconds where COUNT(*) reads
        an index of them all. Call after ``is_valid()``.
        """
        scope = self.count_scope()
        if scope is None:
            return self.qs.count()
        data = self.form.cleaned_data
        return counts.total(scope, data.get("event_time_after"), counts.after(data.get("event_time_before")))

    def stored_between(self, queryset: QuerySet[AlarmEvent], name: str, value: Any) -> QuerySet[AlarmEvent]:
        """Both stored-time bounds as one set of keys read off ``alarm_created_idx``, whichever bound comes.

        As a plain condition beside the newest-first order, MariaDB walked the event-time index and
        read every row newer than the range: a past day took 2.1 s on a million alarms, 0.12 s so.
        """
        if name != "created_after" and self.form.cleaned_data.get("created_after") is not None:
            return queryset  # applied with created_after
        bounds = {
            "created_at__gte": self.form.cleaned_data.get("created_after"),
            "created_at__lte": self.form.cleaned_data.get("created_before"),
        }
        stored = AlarmEvent.objects.filter(**{lookup: moment for lookup, moment in bounds.items() if moment})
        return queryset.filter(pk__in=stored.values("pk"))

    def search(self, queryset: QuerySet[AlarmEvent], name: str, value: str) -> QuerySet[AlarmEvent]:
        return text_search(queryset, ("alarm_id", "alarm_type", "device_id", "scene_id", "handle_remark"), value)


class IncidentFilterSet(django_filters.FilterSet):
    """The incidents list's filters: the key's fields, status, level, and a range of their last alarm."""

    device_id = django_filters.CharFilter()
    scene_id = django_filters.CharFilter()
    alarm_type = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=IncidentStatus.choices)
    highest_level = django_filters.TypedChoiceFilter(choices=AlarmLevel.choices, coerce=int)
    last_time_after = QueryTimeFilter(field_name="last_time", lookup_expr="gte", label="Last alarm from (inclusive)")
    last_time_before = QueryTimeFilter(
        field_name="last_time", lookup_expr="lte", bound="end", label="Last alarm to (inclusive; a date: all of it)"
    )
    ordering = StableOrderingFilter(fields=["last_time", "first_time", "count", "highest_level"])

    class Meta:
        model = Incident
        fields: list[str] = []
