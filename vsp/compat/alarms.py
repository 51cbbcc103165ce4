"""Compat endpoints for alarms and devices, over the native FilterSets and services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import quote

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpResponse
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from alarms import services
from alarms.counts import Scope
from alarms.filters import AlarmEventFilterSet
from alarms.models import AlarmEvent
from alarms.serializers import AlarmCompatSerializer, AlarmDetailSerializer, HandleSerializer, alarm_ids_field
from alarms.statistics import RangeTooLong, alarm_statistics
from analysis import services as analysis_services
from analysis.serializers import compat_analysis
from devices.filters import EdgeDeviceFilterSet
from devices.models import EdgeDevice
from devices.serializers import DeviceCompatSerializer
from vsp.compat import envelope
from vsp.compat.base import CompatAPIView
from vsp.compat.envelope import CompatError
from vsp.compat.export import alarm_workbook
from vsp.compat.params import Query
from vsp.compat.representation import camel
from vsp.pagination import page_rows


class AlarmDetailCompatSerializer(AlarmCompatSerializer):
    ext_data = serializers.SerializerMethodField()
    analysis = serializers.SerializerMethodField()

    class Meta(AlarmCompatSerializer.Meta):
        fields = [*AlarmCompatSerializer.Meta.fields, "ext_data", "analysis"]
        read_only_fields = fields

    get_ext_data = AlarmDetailSerializer.get_ext_data

    def get_analysis(self, alarm: Any) -> dict[str, Any] | None:
        analysis = alarm.analyses.order_by("-created_at", "-id").first()
        if analysis is None and alarm.analysis_requested:
            analysis = analysis_services.carried(alarm)  # the dispatch has not turned it into a row yet
        return compat_analysis(analysis)


# Compat query parameter → AlarmEventFilterSet parameter.
ALARM_FILTERS = {
    "alarmType": "alarm_type",
    "deviceId": "device_id",
    "sceneId": "scene_id",
    "alarmLevel": "alarm_level",
    "alarmStatus": "alarm_status",
    "handleStatus": "handle_status",
}
DEVICE_FILTERS = {"deviceId": "device_id", "deviceName": "name", "status": "status"}


class Filtered(NamedTuple):
    """The alarms a page, statistics or export asks for, newest first; its event-time range; and the
    filters as the counts take them (``None``: not countable)."""

    alarms: QuerySet[AlarmEvent]
    start: datetime | None
    end: datetime | None
    scope: Scope | None
    total: Callable[[], int]


def filtered_alarms(request: Request) -> Filtered:
    query = Query(request.query_params)
    start, end = query.time_range("eventTime")
    created_from, created_to = query.time_range("createTime")
    values = {
        **query.filters(ALARM_FILTERS),
        "event_time_after": start,
        "event_time_before": end,
        "created_after": created_from,
        "created_before": created_to,
    }
    params = {name: value for name, value in values.items() if value is not None}
    filterset = AlarmEventFilterSet(params, queryset=AlarmEvent.objects.with_device_name(), request=request)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return Filtered(filterset.qs, start, end, filterset.count_scope(), filterset.count)


def _page(
    queryset: QuerySet[Any],
    request: Request,
    serializer: type[serializers.BaseSerializer[Any]],
    count: Callable[[], int] | None = None,
) -> Response:
    page = Query(request.query_params).page()
    total = count() if count is not None else queryset.count()
    rows = page_rows(queryset, page.offset, page.size) if page.offset < total else []
    return envelope.success({"list": serializer(rows, many=True).data, "total": total})


class AlarmCompatView(CompatAPIView):
    field_names = {name: compat for compat, name in ALARM_FILTERS.items()}


class AlarmPageView(AlarmCompatView):
    required_permission = "aiot:alarm:query"

    def get(self, request: Request) -> Response:
        filtered = filtered_alarms(request)
        return _page(filtered.alarms, request, AlarmCompatSerializer, filtered.total)


class AlarmGetView(AlarmCompatView):
    required_permission = "aiot:alarm:query"

    def get(self, request: Request) -> Response:
        alarm_id = Query(request.query_params).require("alarmId", "id")
        alarm = AlarmEvent.objects.with_device_name().select_related("ext").filter(pk=alarm_id).first()
        return envelope.success(AlarmDetailCompatSerializer(alarm).data if alarm is not None else None)


class CompatHandleSerializer(HandleSerializer):
    alarm_id = serializers.CharField(max_length=64)


class AlarmHandleView(AlarmCompatView):
    required_permission = "aiot:alarm:handle"
    field_names = {"alarm_id": "alarmId", "handle_status": "handleStatus", "alarm_status": "alarmStatus"}

    def put(self, request: Request) -> Response:
        if not request._request.body or not isinstance(request.data, dict):
            # Yudao's wording for a missing or unusable @RequestBody (with its space).
            raise CompatError(envelope.BAD_REQUEST, envelope.type_mismatch(" request body 缺失"))
        # camelCase in, the native serializer underneath; null means "not given", as the frontend sends it.
        values = {_snake(key): value for key, value in request.data.items() if value is not None}
        serializer = CompatHandleSerializer(data=values)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        services.handle_alarm(data.pop("alarm_id"), actor=services.Actor.of(request.user), **data)
        return envelope.success(True)


class CompatBatchHandleSerializer(HandleSerializer):
    alarm_ids = alarm_ids_field()


class AlarmBatchHandleView(AlarmCompatView):
    """``PUT aiot/alarm/event/batch-handle`` ``{alarmIds, handleStatus, alarmStatus?, remark?}``.

    ``data`` sorts the distinct ids by outcome: ``updated``, ``notFound``, and ``invalid`` for the
    rest: an alarm status that would move back, and alarms the caller may not handle (reached only
    when the permission is taken away mid-request: this view requires it). Each list keeps the
    order the ids were given in.
    """

    required_permission = "aiot:alarm:handle"
    field_names = {
        "alarm_ids": "alarmIds",
        "handle_status": "handleStatus",
        "alarm_status": "alarmStatus",
    }

    def put(self, request: Request) -> Response:
        if not request._request.body or not isinstance(request.data, dict):
            raise CompatError(envelope.BAD_REQUEST, envelope.type_mismatch(" request body 缺失"))
        values = {_snake(key): value for key, value in request.data.items() if value is not None}
        serializer = CompatBatchHandleSerializer(data=values)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        results = services.bulk_handle(data.pop("alarm_ids"), actor=services.Actor.of(request.user), **data)
        sorted_ids: dict[str, list[str]] = {"updated": [], "notFound": [], "invalid": []}
        for alarm_id, outcome in results.items():
            sorted_ids[_COMPAT_OUTCOME[outcome]].append(alarm_id)
        return envelope.success(sorted_ids)


_COMPAT_OUTCOME = {
    services.UPDATED: "updated",
    services.NOT_FOUND: "notFound",
    services.INVALID_TRANSITION: "invalid",
    services.FORBIDDEN: "invalid",
}


def _snake(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


def _camel_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {camel(key): _camel_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel_keys(item) for item in value]
    return value


class AlarmStatisticsView(AlarmCompatView):
    required_permission = "aiot:alarm:query"

    def get(self, request: Request) -> Response:
        alarms, start, end, scope, _ = filtered_alarms(request)
        try:
            summary = alarm_statistics(alarms, scope=scope, start=start, end=end)
        except RangeTooLong:
            raise ValidationError({"eventTime": [f"时间范围不能超过 {settings.STATISTICS_MAX_DAYS} 天"]}) from None
        return envelope.success(_camel_keys(summary))


class CompatAnalyzeSerializer(serializers.Serializer):
    alarm_id = serializers.CharField(max_length=64)


class AlarmAnalyzeView(AlarmCompatView):
    """``POST aiot/alarm/event/analyze`` ``{alarmId}``: a (new) second opinion; ``data`` is the analysis."""

    required_permission = "aiot:alarm:analyze"
    field_names = {"alarm_id": "alarmId"}

    def post(self, request: Request) -> Response:
        if not request._request.body or not isinstance(request.data, dict):
            raise CompatError(envelope.BAD_REQUEST, envelope.type_mismatch(" request body 缺失"))
        serializer = CompatAnalyzeSerializer(data={"alarm_id": request.data.get("alarmId")})
        serializer.is_valid(raise_exception=True)
        try:
            analysis, _ = analysis_services.request_by_staff(
                serializer.validated_data["alarm_id"], name=request.user.get_username()
            )
        except analysis_services.NotAnalysable:
            off = not analysis_services.enabled()
            raise CompatError.of(envelope.ANALYSIS_OFF if off else envelope.ANALYSIS_NO_SNAPSHOT) from None
        return envelope.success(compat_analysis(analysis))


class AlarmExportView(AlarmCompatView):
    required_permission = "aiot:alarm:export"

    def get(self, request: Request) -> HttpResponse:
        alarms = filtered_alarms(request).alarms
        rows = list(alarms[: settings.EXPORT_MAX_ROWS + 1])
        if len(rows) > settings.EXPORT_MAX_ROWS:
            raise CompatError.of(envelope.EXPORT_TOO_LARGE, settings.EXPORT_MAX_ROWS)
        response = HttpResponse(
            alarm_workbook(rows), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        response["Content-Disposition"] = f"attachment;filename={quote('告警事件.xlsx')}"
        return response


class DevicePageView(CompatAPIView):
    required_permission = "aiot:device:query"
    field_names = {name: compat for compat, name in DEVICE_FILTERS.items()}

    def get(self, request: Request) -> Response:
        filterset = EdgeDeviceFilterSet(
            Query(request.query_params).filters(DEVICE_FILTERS),
            queryset=EdgeDevice.objects.with_today_alarm_count(),
            request=request,
        )
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        return _page(filterset.qs, request, DeviceCompatSerializer)


class DeviceGetView(CompatAPIView):
    required_permission = "aiot:device:query"

    def get(self, request: Request) -> Response:
        device_id = Query(request.query_params).require("deviceId", "id")
        device = EdgeDevice.objects.with_today_alarm_count().filter(pk=device_id).first()
        return envelope.success(DeviceCompatSerializer(device).data if device is not None else None)
