"""Native staff API for alarms: ``/api/v1/alerts/``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from alarms import services
from alarms.dashboard import dashboard_data
from alarms.filters import AlarmEventFilterSet
from alarms.metrics import GROUPINGS, alarm_metrics
from alarms.models import ALARM_ID_PATTERN, AlarmEvent
from alarms.serializers import AlarmDetailSerializer, AlarmSerializer, HandleSerializer, ManualAlarmSerializer
from alarms.statistics import RangeTooLong, alarm_statistics


class MetricsQuerySerializer(serializers.Serializer[Any]):
    group_by = serializers.ChoiceField(choices=GROUPINGS, required=False, help_text="Also per group of alarms")


@extend_schema_view(
    list=extend_schema(summary="List alarms, newest first, filtered and paged"),
    retrieve=extend_schema(summary="One alarm with its ext data and handling log"),
)
class AlarmViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[AlarmEvent]):
    queryset = AlarmEvent.objects.with_device_name()
    serializer_class = AlarmSerializer
    filterset_class = AlarmEventFilterSet
    lookup_field = "alarm_id"
    lookup_value_regex = ALARM_ID_PATTERN
    # ?cursor= pages by keyset along the list's own index (vsp.pagination).
    cursor_ordering = ("-event_time", "-alarm_id")
    action_permissions = {
        "handle": ["alarms.handle_alarmevent"],
        "statistics": ["alarms.view_alarmevent"],
    }

    def get_queryset(self) -> QuerySet[AlarmEvent]:
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.select_related("ext").prefetch_related("handle_logs")
        return queryset

    serializer_classes: dict[str, type[serializers.BaseSerializer[Any]]] = {
        "retrieve": AlarmDetailSerializer,
        "create": ManualAlarmSerializer,
        "handle": HandleSerializer,
    }

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return self.serializer_classes.get(self.action, AlarmSerializer)

    def count_rows(self, queryset: QuerySet[AlarmEvent]) -> int:
        """The list's total (``vsp.pagination``), from the statistics counts where they tell it."""
        filterset = AlarmEventFilterSet(self.request.query_params, queryset=queryset, request=self.request)
        if not filterset.is_valid():  # the filter backend refused it already; not reached
            raise ValidationError(filterset.errors)
        return filterset.count()

    def _detail(self, alarm_id: str) -> Response:
        alarm = (
            AlarmEvent.objects.with_device_name().select_related("ext").prefetch_related("handle_logs").get(pk=alarm_id)
        )
        return Response(AlarmDetailSerializer(alarm, context=self.get_serializer_context()).data)

    @extend_schema(request=ManualAlarmSerializer, responses={201: AlarmDetailSerializer})
    def create(self, request: Request) -> Response:
        """Enter an alarm by hand; it gets an ``ALT…`` id."""
        serializer = ManualAlarmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        alarm_id = services.create_manual_alarm(dict(serializer.validated_data))
        response = self._detail(alarm_id)
        response.status_code = status.HTTP_201_CREATED
        return response

    @extend_schema(request=HandleSerializer, responses={200: AlarmDetailSerializer, 404: None, 409: None})
    @action(detail=True, methods=["post"])
    def handle(self, request: Request, alarm_id: str) -> Response:
        """Record a staff decision (handle status, optional alarm status, remark)."""
        serializer = HandleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.handle_alarm(alarm_id, actor=services.Actor.of(request.user), **serializer.validated_data)
        return self._detail(alarm_id)

    @extend_schema(
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="Totals, breakdowns and a per-day trend")},
    )
    @action(detail=False, methods=["get"])
    def statistics(self, request: Request) -> Response:
        """Counts over the same filters as the list; the trend covers the event-time range (default: last 7 days)."""
        filterset = AlarmEventFilterSet(request.query_params, queryset=AlarmEvent.objects.all(), request=request)
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        cleaned = filterset.form.cleaned_data
        try:
            summary = alarm_statistics(
                filterset.qs,
                scope=filterset.count_scope(),
                start=cleaned.get("event_time_after"),
                end=cleaned.get("event_time_before"),
            )
        except RangeTooLong as exc:
            raise ValidationError({"event_time_after": [str(exc)]}) from None
        return Response(summary)

    # Ops metrics and the staff dashboard (alarms.metrics, alarms.dashboard).

    @extend_schema(
        parameters=[MetricsQuerySerializer],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="MTTA, MTTR, false-alarm rate, backlog")},
    )
    @action(detail=False, methods=["get"])
    def metrics(self, request: Request) -> Response:
        """MTTA/MTTR, false-alarm rate and backlog age over the list's filters (default: the last 7 days)."""
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filterset = AlarmEventFilterSet(request.query_params, queryset=AlarmEvent.objects.all(), request=request)
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        try:
            return Response(alarm_metrics(filterset, group_by=query.validated_data.get("group_by")))
        except RangeTooLong as exc:
            raise ValidationError({"event_time_after": [str(exc)]}) from None

    @extend_schema(
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="What the staff dashboard draws")},
    )
    @action(detail=False, methods=["get"])
    def dashboard(self, request: Request) -> Response:
        """Today's counts, the week's trend by level and type, top devices, backlog, offline devices, MTTA/MTTR."""
        return Response(dashboard_data())
