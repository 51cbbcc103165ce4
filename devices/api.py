"""Native staff API for edge devices: ``/api/v1/devices/``."""

from __future__ import annotations

from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from devices.filters import EdgeDeviceFilterSet
from devices.models import EdgeDevice
from devices.serializers import DeviceStatusChangeSerializer, EdgeDeviceSerializer


class EdgeDeviceViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet[EdgeDevice]
):
    queryset = EdgeDevice.objects.all()
    serializer_class = EdgeDeviceSerializer
    filterset_class = EdgeDeviceFilterSet
    lookup_field = "device_id"
    lookup_value_regex = r"[^/]{1,64}"
    action_permissions = {"history": ["devices.view_edgedevice"]}

    @action(detail=True, methods=["get"], serializer_class=DeviceStatusChangeSerializer, filterset_class=None)
    def history(self, request: Request, device_id: str) -> Response:
        """The device's status changes, newest first."""
        device = self.get_object()
        paginator = self.paginator
        assert paginator is not None
        page = paginator.paginate_queryset(device.status_changes.all(), request, view=self)
        return paginator.get_paginated_response(DeviceStatusChangeSerializer(page, many=True).data)
