"""The staff dashboard: ``/dashboard/`` and the one JSON document it draws, ``/api/v1/alerts/dashboard/``.

Every number comes from the code the APIs answer with: the counts and trend of
``alarms.statistics`` / ``alarms.counts`` (as ``/api/v1/alerts/statistics/``), the figures of
``alarms.metrics`` (as ``/api/v1/alerts/metrics/``), and the device registry's status. The page
fetches the document again when the socket says something changed.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from alarms import alarm_types, counts
from alarms.filters import AlarmEventFilterSet
from alarms.metrics import alarm_metrics
from alarms.models import AlarmEvent, AlarmLevel, HandleStatus
from alarms.statistics import alarm_statistics
from devices.models import EdgeDevice

# A week of trend, as the statistics draw by default; the metrics cover the same days.
DASHBOARD_DAYS = settings.STATISTICS_DEFAULT_DAYS
# The offline devices listed by name; the count covers them all.
DASHBOARD_OFFLINE_LISTED = 20
# The page fetches the document at most this often however many events arrive: a storm of a hundred
# alarms a second costs one request per interval, not a hundred.
DASHBOARD_REFRESH_MS = 2000
# How old the MTTA/MTTR figures on the dashboard may be (``_week_metrics``).
DASHBOARD_METRICS_SECONDS = 30
_METRICS_KEY = "dashboard:week-metrics"


def dashboard_data(now: datetime | None = None) -> dict[str, Any]:
    """Today, the week's trend by level and type, top devices, the backlog, offline devices, MTTA/MTTR."""
    now = now or timezone.now()
    today = counts.local_date(now)
    days = [today - timedelta(days=back) for back in range(DASHBOARD_DAYS - 1, -1, -1)]
    start = counts.day_start(days[0])
    everything = counts.Scope()
    week = alarm_statistics(AlarmEvent.objects.all(), scope=everything, start=start, end=now, now=now)
    by_day = counts.tally(
        everything,
        [counts.Span(day, counts.day_start(day), min(counts.day_start(day + timedelta(days=1)), now)) for day in days],
        "dimensions",
    )
    by_level: Counter[tuple[Any, int]] = Counter()
    by_type: Counter[tuple[Any, str]] = Counter()
    for (day, (alarm_type, alarm_level, _status, _handling)), n in by_day.items():
        by_level[day, alarm_level] += n
        by_type[day, alarm_type] += n
    types = [row["alarm_type"] for row in week["by_type"]]
    week_metrics = _week_metrics(start, now)
    offline = EdgeDevice.objects.filter(status=EdgeDevice.Status.OFFLINE)
    return {
        "generated_at": timezone.localtime(now).isoformat(),
        "today": week["today"],
        "week_total": week["total"],
        "unhandled": counts.total(counts.Scope(handle_status=HandleStatus.UNHANDLED)),
        "days": [day.isoformat() for day in days],
        "trend": [row["count"] for row in week["trend"]],
        "trend_by_level": {str(level): [by_level[day, level] for day in days] for level in AlarmLevel.values},
        "trend_by_type": [
            {"alarm_type": alarm_type, "counts": [by_type[day, alarm_type] for day in days]} for alarm_type in types
        ],
        "top_devices": week["by_device"],
        "offline_devices": {
            "count": offline.count(),
            "devices": list(
                offline.order_by("last_seen", "device_id").values("device_id", "name", "location", "last_seen")[
                    :DASHBOARD_OFFLINE_LISTED
                ]
            ),
        },
        "metrics": week_metrics,
    }


def _week_metrics(start: datetime, now: datetime) -> dict[str, Any]:
    """The week's metrics by shift, as ``/api/v1/alerts/metrics/?event_time_after=…&group_by=shift`` says.

    They read every handled alarm of the week (0.8–2.4 s on a million alarms, bench/README), so one
    computation serves every open page for DASHBOARD_METRICS_SECONDS; the counts around them stay live.
    """
    cached = cache.get(_METRICS_KEY)
    if cached is not None and cached["from"] == timezone.localtime(start).isoformat():
        return dict(cached)
    week = AlarmEventFilterSet(QueryDict(f"event_time_after={start.timestamp():.0f}"))
    if not week.is_valid():  # a bound of our own making
        raise AssertionError(week.errors)
    figures = alarm_metrics(week, group_by="shift", now=now)
    cache.set(_METRICS_KEY, figures, DASHBOARD_METRICS_SECONDS)
    return figures


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("alarms.view_alarmevent"):
        raise PermissionDenied
    # The words the script shows are the template's (#dash-text), in the page's language.
    config = {
        "dataUrl": reverse("alert-dashboard"),
        "socketPath": "/ws/alerts",
        "labels": alarm_types.page_labels(),  # levels and types in the page's language, as /live/'s
        "timeZone": settings.TIME_ZONE,
        "refreshMs": DASHBOARD_REFRESH_MS,
    }
    return render(request, "alarms/dashboard.html", {"config": config})
