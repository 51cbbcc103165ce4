"""What edge boxes send, validated field by field; unknown fields are ignored."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from alarms.models import alarm_id_validator
from vsp.fields import (
    BlankIsNoneMixin,
    EventTimeField,
    FiniteFloatField,
    JSONObjectField,
    ShallowFieldCopies,
    SnapshotImageField,
    SnapshotReferenceField,
    StrictCharField,
    StrictIntegerField,
)


class EdgeReportSerializer(ShallowFieldCopies, BlankIsNoneMixin, serializers.Serializer):
    """``POST /api/ai/alert/edge/report``; unknown fields are ignored."""

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


class EdgeResolveSerializer(ShallowFieldCopies, BlankIsNoneMixin, serializers.Serializer):
    """``POST /api/ai/alert/edge/resolve``."""

    alarm_id = StrictCharField(max_length=64, validators=[alarm_id_validator])
    # Up to JavaScript's largest safe integer, so dashboards read it exactly.
    duration_ms = StrictIntegerField(min_value=0, max_value=2**53 - 1, required=False, allow_null=True)
    last_frame_time = EventTimeField(required=False, allow_null=True)
    resolve_type = StrictCharField(max_length=32, required=False, allow_blank=True, allow_null=True)


class HeartbeatSerializer(ShallowFieldCopies, serializers.Serializer):
    """``POST /api/ai/device/heartbeat``."""

    device_id = StrictCharField(max_length=64)
    name = StrictCharField(max_length=128, required=False, allow_blank=True, allow_null=True)
    ip = serializers.IPAddressField(required=False, allow_blank=True, allow_null=True)
    version = StrictCharField(max_length=64, required=False, allow_blank=True, allow_null=True)
    info = JSONObjectField(required=False, allow_null=True, max_bytes=16 * 1024)
