from __future__ import annotations

from rest_framework import serializers

from devices.models import DeviceStatusChange, EdgeDevice
from vsp.compat.representation import CompatRepresentation
from vsp.fields import StrictCharField


class EdgeDeviceSerializer(serializers.ModelSerializer):
    """The native representation of a device; staff may edit its name and location."""

    # As strict as the edge's text: a name goes to exports and dashboards.
    name = StrictCharField(max_length=128, allow_blank=True, required=False)
    location = StrictCharField(
        max_length=255, allow_blank=True, required=False, help_text="Where the box is: site, building, scene."
    )

    class Meta:
        model = EdgeDevice
        fields = [
            "device_id",
            "name",
            "location",
            "status",
            "last_heartbeat",
            "last_seen",
            "last_ip",
            "version",
            "info",
            "offline_after",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [f for f in fields if f not in ("name", "location", "offline_after")]


class DeviceStatusChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeviceStatusChange
        fields = ["from_status", "to_status", "reason", "last_seen", "changed_at"]
        read_only_fields = fields


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
