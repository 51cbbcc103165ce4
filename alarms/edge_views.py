"""Edge endpoints: thin wrappers from validated JSON to ``alarms.services``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from alarms import services
from alarms.serializers import EdgeReportSerializer, EdgeResolveSerializer
from vsp.edge import client_ip, edge_endpoint


@edge_endpoint(EdgeReportSerializer)
def report(request: HttpRequest, data: dict[str, Any]) -> dict[str, Any]:
    result = services.report_alarm(services.AlarmReport(**data), client_ip=client_ip(request))
    return {"alarm_id": result.alarm_id, "created": result.created}


@edge_endpoint(EdgeResolveSerializer)
def resolve(request: HttpRequest, data: dict[str, Any]) -> dict[str, Any]:
    result = services.resolve_alarm(services.EdgeResolve(**data))
    return {"alarm_id": result.alarm_id, "applied": result.applied}
