"""The live alarm page for staff: ``/live/``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse

from alarms import alarm_types, events
from alarms.consumers import StreamFilter
from alarms.models import AlarmEvent
from devices.models import EdgeDevice
from vsp.models import DashboardEvent

# The device filter offers this many device ids to pick from; any other id can still be typed.
DEVICE_CHOICES = 500
# The people an alarm can be assigned to from a row: active staff, as the assign API accepts them.
STAFF_CHOICES = 200
FILTERS = ("level", "type", "device")


@staff_member_required
def live(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("alarms.view_alarmevent"):
        raise PermissionDenied
    # The same filter the socket applies (``?level=1,2&type=smoke&device=cam-01``), so a link reproduces a view.
    params = {name: request.GET.getlist(name) for name in FILTERS if name in request.GET}
    try:
        stream_filter = StreamFilter(params)
    except ValueError as error:
        return HttpResponseBadRequest(str(error))
    # The page catches up from this event on: read before the alarms, so nothing falls between the two.
    seq = DashboardEvent.latest_seq()
    latest = filtered(AlarmEvent.objects.with_device_name(), stream_filter).order_by("-created_at", "-alarm_id")
    labels = alarm_types.page_labels()
    config = {
        "socketPath": "/ws/alerts",
        "changeUrl": reverse("admin:alarms_alarmevent_change", args=["__ID__"]),
        "deviceUrl": reverse("admin:devices_edgedevice_change", args=["__ID__"]),
        "handleUrl": reverse("alert-handle", args=["__ID__"]),
        "detailUrl": reverse("alert-detail", args=["__ID__"]),
        "assignUrl": reverse("alert-bulk-assign"),
        # The native API takes the admin session; a session's unsafe requests need this token.
        "csrfToken": get_token(request),
        "labels": labels,
        "timeZone": settings.TIME_ZONE,
        "maxRows": settings.LIVE_MAX_ROWS,
        "seq": seq,
        # How long a skipped event number may be late before the page asks for it.
        "gapWaitMs": settings.LIVE_GAP_WAIT_MS,
        # The page groups by the alarm's incident; an alarm without one (stored before incidents, or with
        # grouping off) joins a row of its key within the same window the server's incidents use.
        "stormWindowMs": settings.INCIDENT_WINDOW * 1000,
        "filter": filter_values(stream_filter),
    }
    context = {
        "alarms": [events.alarm_data(alarm) for alarm in latest[: settings.LIVE_INITIAL_ALARMS]],
        "config": config,
        "filter": config["filter"],
        "levels": list(labels["aiot_alarm_level"].items()),
        "types": sorted(labels["aiot_alarm_type"].items()),
        "devices": EdgeDevice.objects.order_by("device_id").values_list("device_id", "name")[:DEVICE_CHOICES],
        "staff": get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .order_by("username")
        .values_list("username", flat=True)[:STAFF_CHOICES],
    }
    return render(request, "alarms/live.html", context)


def filtered(alarms: QuerySet[AlarmEvent], stream_filter: StreamFilter) -> QuerySet[AlarmEvent]:
    """The alarms ``stream_filter`` lets through, as the socket would."""
    if stream_filter.levels is not None:
        alarms = alarms.filter(alarm_level__in=stream_filter.levels)
    if stream_filter.types is not None:
        alarms = alarms.filter(alarm_type__in=stream_filter.types)
    if stream_filter.devices is not None:
        alarms = alarms.filter(device_id__in=stream_filter.devices)
    return alarms


def filter_values(stream_filter: StreamFilter) -> dict[str, Any]:
    """The filter as the page's script reads it: sorted lists, or null for "any"."""
    return {
        "level": sorted(stream_filter.levels) if stream_filter.levels is not None else None,
        "type": sorted(stream_filter.types) if stream_filter.types is not None else None,
        "device": sorted(stream_filter.devices) if stream_filter.devices is not None else None,
    }
