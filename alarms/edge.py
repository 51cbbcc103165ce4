"""Edge endpoints for alarms: thin handlers from validated data to ``alarms.services``."""

from __future__ import annotations

from typing import Any

from alarms import services
from alarms.models import AlarmEvent
from alarms.serializers import EdgeReportSerializer, EdgeResolveSerializer
from vsp.edge import EdgeContext, EdgeEndpoint, EdgeRefusal, http_view


def report(data: dict[str, Any], context: EdgeContext) -> dict[str, Any]:
    result = services.report_alarm(services.AlarmReport(**data), client_ip=context.ip)
    return {"alarm_id": result.alarm_id, "created": result.created}


def resolve(data: dict[str, Any], context: EdgeContext) -> dict[str, Any]:
    if context.key_device is not None:
        # A key speaks for its own device's alarms only; an alarm not reported yet cannot be checked.
        owner = AlarmEvent.objects.filter(pk=data["alarm_id"]).values_list("device_id", flat=True).first()
        if owner is not None and owner != context.key_device:
            raise EdgeRefusal(
                403, f"alarm {data['alarm_id']!r} belongs to device {owner!r}, not {context.key_device!r}"
            )
    result = services.resolve_alarm(services.EdgeResolve(**data), client_ip=context.ip, key_device=context.key_device)
    return {"alarm_id": result.alarm_id, "applied": result.applied}


REPORT = EdgeEndpoint("report", EdgeReportSerializer, report)
RESOLVE = EdgeEndpoint("resolve", EdgeResolveSerializer, resolve, device_field=None)

report_view = http_view(REPORT)
resolve_view = http_view(RESOLVE)
