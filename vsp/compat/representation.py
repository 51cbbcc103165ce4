"""The compat representation: the native serializers' fields, camelCase keys, times as epoch milliseconds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework import serializers

from alarms.serializers import AlarmDetailSerializer, AlarmSerializer
from analysis.serializers import AnalysisSerializer
from devices.serializers import EdgeDeviceSerializer


def epoch_ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class CompatRepresentation(serializers.Serializer):
    """Mix in before a native serializer: same fields, Yudao's shape (YUDAO.md §7)."""

    # Native field name → compat name, where plain camelCase is not what the frontend expects.
    renames: dict[str, str] = {}

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for field in self._readable_fields:
            name = field.field_name or ""
            key = self.renames.get(name) or camel(name)
            try:
                attribute = field.get_attribute(instance)
            except serializers.SkipField:
                continue
            if attribute is None:
                data[key] = None
            elif isinstance(field, serializers.DateTimeField):
                data[key] = epoch_ms(attribute)
            else:
                data[key] = field.to_representation(attribute)
        return data


class AlarmCompatSerializer(CompatRepresentation, AlarmSerializer):
    renames = {"created_at": "createTime", "updated_at": "updateTime"}

    class Meta(AlarmSerializer.Meta):
        fields = [name for name in AlarmSerializer.Meta.fields if name != "source"]
        read_only_fields = fields


class AnalysisCompatSerializer(CompatRepresentation, AnalysisSerializer):
    renames = {"created_at": "createTime", "finished_at": "finishedTime", "started_at": "startedTime"}


class AlarmDetailCompatSerializer(AlarmCompatSerializer):
    ext_data = serializers.SerializerMethodField()
    analysis = serializers.SerializerMethodField()

    class Meta(AlarmCompatSerializer.Meta):
        fields = [*AlarmCompatSerializer.Meta.fields, "ext_data", "analysis"]
        read_only_fields = fields

    get_ext_data = AlarmDetailSerializer.get_ext_data

    def get_analysis(self, alarm: Any) -> dict[str, Any] | None:
        latest = alarm.analyses.order_by("-created_at", "-id").first()
        return AnalysisCompatSerializer(latest).data if latest is not None else None


class DeviceCompatSerializer(CompatRepresentation, EdgeDeviceSerializer):
    # From EdgeDevice.objects.with_today_alarm_count(); null where a device was read without it.
    today_alarm_count = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta(EdgeDeviceSerializer.Meta):
        fields = [*EdgeDeviceSerializer.Meta.fields, "today_alarm_count"]
        read_only_fields = fields

    renames = {
        "name": "deviceName",
        "last_heartbeat": "lastHeartbeatTime",
        "last_seen": "lastSeenTime",
        "last_ip": "ip",
        "created_at": "createTime",
        "updated_at": "updateTime",
    }
