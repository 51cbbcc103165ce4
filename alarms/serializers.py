"""Alarm input validation (edge, staff) and the native representation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from alarms.models import (
    AlarmEvent,
    AlarmHandleLog,
    AlarmLevel,
    AlarmStatus,
    HandleStatus,
    alarm_id_validator,
)
from alarms.snapshots import snapshot_link, thumbnail_link
from vsp.fields import (
    EventTimeField,
    FiniteFloatField,
    JSONObjectField,
    SnapshotImageField,
    SnapshotReferenceField,
    StrictCharField,
    StrictIntegerField,
)


class BlankIsNoneMixin:
    """Optional edge fields may arrive as null; treat null as "not sent"."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        values: dict[str, Any] = super().to_internal_value(data)  # type: ignore[misc]
        return {key: value for key, value in values.items() if value is not None}


class EdgeReportSerializer(BlankIsNoneMixin, serializers.Serializer):
    """``POST /api/ai/alert/edge/report`` (CONTRACT §3); unknown fields are ignored."""

    alarm_id = StrictCharField(max_length=64, validators=[alarm_id_validator])
    alarm_type = StrictCharField(max_length=64)
    device_id = StrictCharField(max_length=64)
    scene_id = StrictCharField(max_length=64, required=False, allow_blank=True, allow_null=True)
    event_time = EventTimeField()
    alarm_level = StrictIntegerField(min_value=1, max_value=4, required=False, allow_null=True)
    snapshot_url = SnapshotReferenceField(required=False, allow_blank=True, allow_null=True)
    confidence_score = FiniteFloatField(min_value=0.0, max_value=1.0, required=False, allow_null=True)
    ext_data = JSONObjectField(required=False, allow_null=True)
    snapshot_base64 = SnapshotImageField(encoding="base64", required=False, allow_null=True)
    snapshot = SnapshotImageField(encoding="file", required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        images = [attrs.pop(name) for name in ("snapshot", "snapshot_base64") if attrs.get(name) is not None]
        if len(images) > 1:
            raise serializers.ValidationError({"snapshot_base64": ["Send the image once: a file or base64, not both."]})
        if images and attrs.get("snapshot_url"):
            raise serializers.ValidationError({"snapshot_url": ["Send either snapshot_url or an image, not both."]})
        if images:
            attrs["snapshot_image"] = images[0]
        return attrs


class EdgeResolveSerializer(BlankIsNoneMixin, serializers.Serializer):
    """``POST /api/ai/alert/edge/resolve`` (CONTRACT §3)."""

    alarm_id = StrictCharField(max_length=64, validators=[alarm_id_validator])
    # Up to JavaScript's largest safe integer, so dashboards read it exactly.
    duration_ms = StrictIntegerField(min_value=0, max_value=2**53 - 1, required=False, allow_null=True)
    last_frame_time = EventTimeField(required=False, allow_null=True)
    resolve_type = StrictCharField(max_length=32, required=False, allow_blank=True, allow_null=True)


class ManualAlarmSerializer(BlankIsNoneMixin, serializers.Serializer):
    """Staff entering an alarm by hand; it gets an ``ALT…`` id."""

    alarm_type = serializers.CharField(max_length=64)
    device_id = serializers.CharField(max_length=64)
    scene_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    event_time = EventTimeField(required=False, help_text="Defaults to now.")
    alarm_level = StrictIntegerField(min_value=1, max_value=4, required=False)
    snapshot_url = SnapshotReferenceField(required=False, allow_blank=True)
    confidence_score = FiniteFloatField(min_value=0.0, max_value=1.0, required=False, allow_null=True)
    ext_data = JSONObjectField(required=False)


class HandleSerializer(serializers.Serializer):
    handle_status = serializers.ChoiceField(choices=HandleStatus.choices)
    alarm_status = serializers.ChoiceField(choices=AlarmStatus.choices, required=False)
    remark = serializers.CharField(max_length=settings.HANDLE_REMARK_MAX_LENGTH, required=False, allow_blank=True)


class HandleLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlarmHandleLog
        fields = [
            "actor_name",
            "from_handle_status",
            "to_handle_status",
            "from_alarm_status",
            "to_alarm_status",
            "remark",
            "created_at",
        ]


class AlarmSerializer(serializers.ModelSerializer):
    """The native representation of an alarm (snake_case, ISO 8601 times in TIME_ZONE)."""

    device_name = serializers.CharField(read_only=True, allow_null=True)
    # Links a browser can open (presigned or signed, valid SNAPSHOT_URL_TTL); null without a snapshot.
    snapshot_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    alarm_level = serializers.ChoiceField(choices=AlarmLevel.choices, read_only=True)

    class Meta:
        model = AlarmEvent
        fields = [
            "alarm_id",
            "alarm_type",
            "device_id",
            "device_name",
            "scene_id",
            "event_time",
            "alarm_level",
            "alarm_status",
            "handle_status",
            "snapshot_url",
            "thumbnail_url",
            "snapshot_status",
            "confidence_score",
            "duration_ms",
            "end_time",
            "resolve_type",
            "handler",
            "handle_remark",
            "handle_time",
            "source",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_snapshot_url(self, alarm: AlarmEvent) -> str | None:
        return snapshot_link(alarm)

    def get_thumbnail_url(self, alarm: AlarmEvent) -> str | None:
        return thumbnail_link(alarm)


class AlarmDetailSerializer(AlarmSerializer):
    ext_data = serializers.SerializerMethodField()
    handle_logs = HandleLogSerializer(many=True, read_only=True)

    class Meta(AlarmSerializer.Meta):
        fields = [*AlarmSerializer.Meta.fields, "ext_data", "handle_logs"]
        read_only_fields = fields

    def get_ext_data(self, alarm: AlarmEvent) -> dict[str, Any] | None:
        ext = getattr(alarm, "ext", None)
        return ext.ext_data if ext is not None else None
