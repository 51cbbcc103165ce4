"""The live alarm page for staff: ``/live/``."""

from __future__ import annotations

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from alarms import events
from alarms.models import AlarmEvent
from vsp.compat.dicts import DICTIONARIES

# The page opens with this many recent alarms; newer ones arrive over the socket.
LIVE_INITIAL_ALARMS = 50


@staff_member_required
def live(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("alarms.view_alarmevent"):
        raise PermissionDenied
    latest = AlarmEvent.objects.with_device_name().order_by("-created_at", "-alarm_id")[:LIVE_INITIAL_ALARMS]
    labels = {dict_type: {value: label for value, label, _ in rows} for dict_type, rows in DICTIONARIES.items()}
    config = {
        "socketPath": "/ws/alerts",
        "changeUrl": reverse("admin:alarms_alarmevent_change", args=["__ID__"]),
        "labels": labels,
        "timeZone": settings.TIME_ZONE,
    }
    return render(
        request, "alarms/live.html", {"alarms": [events.alarm_data(alarm) for alarm in latest], "config": config}
    )
