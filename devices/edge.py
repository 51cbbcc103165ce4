"""``POST /api/ai/device/heartbeat`` (CONTRACT §3)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from devices.services import Heartbeat, record_sign_of_life
from vsp.edge import EdgeContext, EdgeEndpoint, http_view
from vsp.fields import JSONObjectField, StrictCharField


class HeartbeatSerializer(serializers.Serializer):
    device_id = StrictCharField(max_length=64)
    name = StrictCharField(max_length=128, required=False, allow_blank=True, allow_null=True)
    ip = serializers.IPAddressField(required=False, allow_blank=True, allow_null=True)
    version = StrictCharField(max_length=64, required=False, allow_blank=True, allow_null=True)
    info = JSONObjectField(required=False, allow_null=True, max_bytes=16 * 1024)


def heartbeat(data: dict[str, Any], context: EdgeContext) -> dict[str, Any]:
    beat = Heartbeat(
        name=data.get("name") or None, ip=data.get("ip") or None, version=data.get("version"), info=data.get("info")
    )
    recorded = record_sign_of_life(data["device_id"], ip=context.ip, now=timezone.now(), heartbeat=beat)
    return {"device_id": data["device_id"], "recorded": recorded}


HEARTBEAT = EdgeEndpoint("heartbeat", HeartbeatSerializer, heartbeat)
heartbeat_view = http_view(HEARTBEAT)
