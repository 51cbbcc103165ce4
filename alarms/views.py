"""The live alarm page for staff: ``/live/``."""

from __future__ import annotations

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from alarms import alarm_types, events
from alarms.models import AlarmEvent
from vsp.models import DashboardEvent


@staff_member_required
def live(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("alarms.view_alarmevent"):
        raise PermissionDenied
    # The page catches up from this event on: read before the alarms, so nothing falls between the two.
    seq = DashboardEvent.latest_seq()
    latest = AlarmEvent.objects.with_device_name().order_by("-created_at", "-alarm_id")[: settings.LIVE_INITIAL_ALARMS]
    config = {
        "socketPath": "/ws/alerts",
        "changeUrl": reverse("admin:alarms_alarmevent_change", args=["__ID__"]),
        "labels": alarm_types.page_labels(),
        "timeZone": settings.TIME_ZONE,
        "maxRows": settings.LIVE_MAX_ROWS,
        "seq": seq,
        # How long a skipped event number may be late before the page asks for it.
        "gapWaitMs": settings.LIVE_GAP_WAIT_MS,
    }
    return render(
        request, "alarms/live.html", {"alarms": [events.alarm_data(alarm) for alarm in latest], "config": config}
    )
