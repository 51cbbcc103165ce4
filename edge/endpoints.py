"""The three edge messages and their handlers: validated data in, the owning app's service called."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from alarms import services
from alarms.exceptions import AlarmIdTaken, AlarmOfAnotherDevice
from devices.services import Heartbeat, record_sign_of_life
from edge.pipeline import EdgeContext, EdgeEndpoint, EdgeRefusal
from edge.serializers import EdgeReportSerializer, EdgeResolveSerializer, HeartbeatSerializer


def report(data: dict[str, Any], context: EdgeContext) -> dict[str, Any]:
    try:
        result = services.report_alarm(services.AlarmReport(**data), client_ip=context.ip)
    except AlarmIdTaken as refusal:
        raise EdgeRefusal(409, str(refusal)) from None
    return {"alarm_id": result.alarm_id, "created": result.created}


def resolve(data: dict[str, Any], context: EdgeContext) -> dict[str, Any]:
    try:
        result = services.resolve_alarm(
            services.EdgeResolve(**data), client_ip=context.ip, key_device=context.key_device
        )
    except AlarmOfAnotherDevice as refusal:
        raise EdgeRefusal(403, str(refusal)) from None
    return {"alarm_id": result.alarm_id, "applied": result.applied}


def heartbeat(data: dict[str, Any], context: EdgeContext) -> dict[str, Any]:
    beat = Heartbeat(
        name=data.get("name") or None, ip=data.get("ip") or None, version=data.get("version"), info=data.get("info")
    )
    seen = record_sign_of_life(data["device_id"], ip=context.ip, now=timezone.now(), heartbeat=beat)
    return {"device_id": data["device_id"], "recorded": seen.recorded}


REPORT = EdgeEndpoint("report", EdgeReportSerializer, report)
# A resolve names no device: whose alarm it is, the service checks against the key.
RESOLVE = EdgeEndpoint("resolve", EdgeResolveSerializer, resolve, device_field=None)
HEARTBEAT = EdgeEndpoint("heartbeat", HeartbeatSerializer, heartbeat)
