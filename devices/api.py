"""Native staff API for edge devices: ``/api/v1/devices/``."""

from __future__ import annotations

from rest_framework import mixins, viewsets

from devices.filters import EdgeDeviceFilterSet
from devices.models import EdgeDevice
from devices.serializers import EdgeDeviceSerializer


class EdgeDeviceViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet[EdgeDevice]
):
    queryset = EdgeDevice.objects.all()
    serializer_class = EdgeDeviceSerializer
    filterset_class = EdgeDeviceFilterSet
    lookup_field = "device_id"
    lookup_value_regex = r"[^/]{1,64}"
