"""The live alarm page for staff: ``/live/``."""

from __future__ import annotations

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from alarms import events
from alarms.models import AlarmEvent
from vsp.compat.dicts import LABELS
from vsp.compat.representation import epoch_ms


@staff_member_required
def live(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("alarms.view_alarmevent"):
        raise PermissionDenied
    now = timezone.now()
    latest = AlarmEvent.objects.with_device_name().order_by("-created_at", "-alarm_id")[: settings.LIVE_INITIAL_ALARMS]
    config = {
        "socketPath": "/ws/alerts",
        "changeUrl": reverse("admin:alarms_alarmevent_change", args=["__ID__"]),
        "labels": LABELS,
        "timeZone": settings.TIME_ZONE,
        "maxRows": settings.LIVE_MAX_ROWS,
        # Catch up from the moment the page was built, even when it opened with no alarms.
        "renderedAt": epoch_ms(now),
    }
    return render(
        request, "alarms/live.html", {"alarms": [events.alarm_data(alarm) for alarm in latest], "config": config}
    )
