"""Native staff API for edge devices: ``/api/v1/devices/``."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from devices.filters import EdgeDeviceFilterSet
from devices.models import EdgeDevice
from devices.serializers import DeviceStatusChangeSerializer, EdgeDeviceSerializer


@extend_schema_view(
    list=extend_schema(summary="List edge devices, filtered and paged"),
    retrieve=extend_schema(summary="One edge device: status, last seen, address, version, info"),
    update=extend_schema(summary="Set a device's name, location and offline timeout"),
    partial_update=extend_schema(summary="Change a device's name, location or offline timeout"),
)
class EdgeDeviceViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet[EdgeDevice]
):
    queryset = EdgeDevice.objects.all()
    serializer_class = EdgeDeviceSerializer
    filterset_class = EdgeDeviceFilterSet
    lookup_field = "device_id"
    lookup_value_regex = r"[^/]{1,64}"
    action_permissions = {"history": ["devices.view_edgedevice"]}

    @extend_schema(
        summary="A device's status changes, newest first",
        parameters=[
            OpenApiParameter("page", {"type": "integer", "minimum": 1, "maximum": 999_999_999}, description="From 1"),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": settings.API_MAX_PAGE_SIZE},
                description="Rows",
            ),
        ],
        responses=inline_serializer(
            "PaginatedDeviceStatusChangeList",
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": DeviceStatusChangeSerializer(many=True),
            },
        ),
    )
    @action(detail=True, methods=["get"], serializer_class=DeviceStatusChangeSerializer, filterset_class=None)
    def history(self, request: Request, device_id: str) -> Response:
        """The device's status changes, newest first."""
        device = self.get_object()
        paginator = self.paginator
        assert paginator is not None
        page = paginator.paginate_queryset(device.status_changes.all(), request, view=self)
        return paginator.get_paginated_response(DeviceStatusChangeSerializer(page, many=True).data)
