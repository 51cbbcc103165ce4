"""Native staff API for alarms: ``/api/v1/alerts/``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from alarms import services
from alarms.dashboard import dashboard_data
from alarms.filters import AlarmEventFilterSet, IncidentFilterSet
from alarms.metrics import GROUPINGS, alarm_metrics
from alarms.models import ALARM_ID_PATTERN, AlarmEvent, BulkHandleJob, Incident
from alarms.serializers import (
    AlarmDetailSerializer,
    AlarmSerializer,
    BulkAssignSerializer,
    BulkHandleJobSerializer,
    BulkHandleSerializer,
    BulkResultsSerializer,
    HandleSerializer,
    IncidentSerializer,
    ManualAlarmSerializer,
)
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
        # Who may not handle gets "forbidden" for each alarm (services.bulk_handle decides), not a 403.
        "bulk_handle": ["alarms.view_alarmevent"],
        "bulk_assign": ["alarms.view_alarmevent"],
        # A job for someone who may handle nothing would only count refusals: refused up front.
        "bulk_handle_filtered": ["alarms.view_alarmevent", "alarms.handle_alarmevent"],
        "bulk_job": ["alarms.view_alarmevent"],
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
        "bulk_handle": BulkHandleSerializer,
        "bulk_assign": BulkAssignSerializer,
        "bulk_handle_filtered": HandleSerializer,
        "bulk_job": BulkHandleJobSerializer,
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

    @extend_schema(request=BulkHandleSerializer, responses={200: BulkResultsSerializer})
    @action(detail=False, methods=["post"], url_path="bulk-handle")
    def bulk_handle(self, request: Request) -> Response:
        """Handle up to BULK_HANDLE_MAX_IDS alarms at once; each id's outcome."""
        serializer = BulkHandleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        results = services.bulk_handle(data.pop("alarm_ids"), actor=services.Actor.of(request.user), **data)
        return Response({"results": results})

    @extend_schema(request=BulkAssignSerializer, responses={200: BulkResultsSerializer})
    @action(detail=False, methods=["post"], url_path="bulk-assign")
    def bulk_assign(self, request: Request) -> Response:
        """Assign up to BULK_HANDLE_MAX_IDS alarms to a staff member (null: to nobody); each id's outcome."""
        serializer = BulkAssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        results = services.bulk_assign(
            data["alarm_ids"], assignee=data["assignee"], actor=services.Actor.of(request.user)
        )
        return Response({"results": results})

    @extend_schema(
        filters=True,  # the list's filter parameters, in the query string
        request=HandleSerializer,
        responses={202: BulkHandleJobSerializer},
    )
    @action(detail=False, methods=["post"], url_path="bulk-handle-filtered")
    def bulk_handle_filtered(self, request: Request) -> Response:
        """Handle every alarm the list's filters (query parameters) match, as a job; its progress is bulk-jobs/{id}/."""
        filters = _job_filters(request)
        serializer = HandleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = services.start_bulk_handle_job(
            filters, actor=services.Actor.of(request.user), **serializer.validated_data
        )
        return Response(BulkHandleJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: BulkHandleJobSerializer, 404: None})
    @action(detail=False, methods=["get"], url_path=r"bulk-jobs/(?P<job_id>[0-9]{1,18})")
    def bulk_job(self, request: Request, job_id: str) -> Response:
        """A filter job's progress: how many alarms done, and how many of each outcome."""
        job = BulkHandleJob.objects.filter(pk=int(job_id)).first()
        if job is None:
            raise NotFound(f"no bulk handling job {job_id}")
        return Response(BulkHandleJobSerializer(job).data)

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


@extend_schema_view(
    list=extend_schema(summary="List incidents (storms of one device, scene and type), latest first"),
    retrieve=extend_schema(summary="One incident: its key, count, first and last time, highest level, status"),
)
class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Incident]):
    """Incidents; their alarms are ``GET /api/v1/alerts/?incident={id}``."""

    queryset = Incident.objects.all()
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilterSet
    lookup_value_regex = "[0-9]{1,18}"
    # Who sees alarms sees the storms they make; handling goes alarm by alarm, as in bulk_handle.
    action_permissions = {
        "list": ["alarms.view_alarmevent"],
        "retrieve": ["alarms.view_alarmevent"],
        "handle": ["alarms.view_alarmevent"],
    }

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return HandleSerializer if self.action == "handle" else IncidentSerializer

    @extend_schema(request=HandleSerializer, responses={200: BulkResultsSerializer, 404: None})
    @action(detail=True, methods=["post"])
    def handle(self, request: Request, pk: str) -> Response:
        """Handle the incident's open alarms as a whole; each alarm's outcome, as bulk-handle answers."""
        serializer = HandleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        results = services.handle_incident(int(pk), actor=services.Actor.of(request.user), **serializer.validated_data)
        return Response({"results": results})


# What only sorts the list: accepted, and of no bearing on a job, which goes in primary-key order.
_NOT_JOB_FILTERS = {"ordering"}


def _job_filters(request: Request) -> dict[str, str]:
    """The list's filters from the query string, checked as the list checks them; unknown names refused.

    The list ignores a parameter it does not know; a bulk write must not, or a misspelt filter would
    widen it to every alarm. No filter at all is every alarm, as in the list. Empty values are "any".
    """
    given = request.query_params
    unknown = sorted(set(given) - set(AlarmEventFilterSet.base_filters))
    if unknown:
        raise ValidationError({name: ["not a filter of the alarm list"] for name in unknown})
    filters = {name: given[name] for name in given if name not in _NOT_JOB_FILTERS and given[name] != ""}
    filterset = AlarmEventFilterSet(filters, queryset=AlarmEvent.objects.all(), request=request)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return filters
