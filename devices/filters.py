"""One FilterSet for devices, shared by the native and compat APIs."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from devices.models import EdgeDevice
from vsp.filters import StableOrderingFilter, text_search


class EdgeDeviceFilterSet(django_filters.FilterSet):
    device_id = django_filters.CharFilter()
    name = django_filters.CharFilter(lookup_expr="icontains")
    status = django_filters.ChoiceFilter(choices=EdgeDevice.Status.choices)
    q = django_filters.CharFilter(method="search", label="Text in id, name or location")
    ordering = StableOrderingFilter(fields=["device_id", "name", "last_seen", "created_at"])

    class Meta:
        model = EdgeDevice
        fields: list[str] = []

    def search(self, queryset: QuerySet[EdgeDevice], name: str, value: str) -> QuerySet[EdgeDevice]:
        return text_search(queryset, ("device_id", "name", "location"), value)
