"""The staff dashboard's document, GET /api/v1/alerts/dashboard/, on a known data set; and who may see the page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from alarms import services
from alarms.models import AlarmEvent, AlarmStatus, HandleStatus
from alarms.tests.factories import aware, make_alarm, make_device
from conftest import make_user
from devices.models import EdgeDevice

pytestmark = pytest.mark.django_db

URL = "/api/v1/alerts/dashboard/"
# "Now": 2026-11-27 15:00 in Asia/Shanghai; the week is the 21st to the 27th.
NOW = "2026-11-27T07:00:00Z"


@pytest.fixture(autouse=True)
def _no_cached_metrics() -> None:
    cache.delete("dashboard:week-metrics")  # another test's data set


def stored(local: str, **fields: Any) -> AlarmEvent:
    moment = aware(local)
    with time_machine.travel(moment, tick=False):
        return make_alarm(event_time=moment, **fields)


def handle(alarm: AlarmEvent, after_seconds: int, handle_status: str, **fields: Any) -> None:
    services.handle_alarm(
        alarm.alarm_id,
        handle_status=handle_status,
        actor=services.Actor(name="alice"),
        now=alarm.created_at + timedelta(seconds=after_seconds),
        **fields,
    )


@pytest.fixture
def data_set() -> None:
    make_device("cam-01", name="East gate", status=EdgeDevice.Status.ONLINE)
    make_device("cam-02", name="Warehouse", status=EdgeDevice.Status.OFFLINE, last_seen=aware("2026-11-27 12:00:00"))
    make_device("cam-04", name="Gate B", location="South yard", status=EdgeDevice.Status.OFFLINE)
    today = stored("2026-11-27 09:00:00", alarm_type="smoke", device_id="cam-01", alarm_level=1)
    handle(today, 60, HandleStatus.HANDLED, alarm_status=AlarmStatus.RESOLVED)
    stored("2026-11-27 10:00:00", alarm_type="intrusion", device_id="cam-02", alarm_level=2)
    yesterday = stored("2026-11-26 12:00:00", alarm_type="smoke", device_id="cam-01", alarm_level=3)
    handle(yesterday, 120, HandleStatus.IGNORED)
    stored("2026-11-21 00:30:00", alarm_type="intrusion", device_id="cam-03", alarm_level=2)
    stored("2026-11-20 23:00:00", alarm_type="smoke", device_id="cam-01", alarm_level=1)  # before the week


def get(client: Any, url: str = URL) -> Any:
    with time_machine.travel(NOW, tick=False):
        response = client.get(url)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.usefixtures("data_set")
def test_the_dashboard_document(staff_client: APIClient, django_assert_max_num_queries: Any) -> None:
    # A fixed number however many alarms: the statistics' and the per-day tallies' reads of the counts (days,
    # hours and the minutes since the last hour, each with the changes not yet folded), the metrics' three
    # (rolled-up days, timings, backlog), the unhandled total's, the offline devices' count and page, device
    # names; session and user.
    with django_assert_max_num_queries(25):
        body = get(staff_client)
    assert body["days"] == [f"2026-11-{day}" for day in range(21, 28)]
    assert (body["today"], body["week_total"], body["unhandled"]) == (2, 4, 3)
    assert body["trend"] == [1, 0, 0, 0, 0, 1, 2]
    assert body["trend_by_level"] == {
        "1": [0, 0, 0, 0, 0, 0, 1],
        "2": [1, 0, 0, 0, 0, 0, 1],
        "3": [0, 0, 0, 0, 0, 1, 0],
        "4": [0, 0, 0, 0, 0, 0, 0],
    }
    assert body["trend_by_type"] == [
        {"alarm_type": "intrusion", "counts": [1, 0, 0, 0, 0, 0, 1]},
        {"alarm_type": "smoke", "counts": [0, 0, 0, 0, 0, 1, 1]},
    ]
    assert body["top_devices"] == [
        {"device_id": "cam-01", "device_name": "East gate", "count": 2},
        {"device_id": "cam-02", "device_name": "Warehouse", "count": 1},
        {"device_id": "cam-03", "device_name": None, "count": 1},
    ]
    offline = body["offline_devices"]
    assert offline["count"] == 2
    assert [(device["device_id"], device["location"]) for device in offline["devices"]] == [
        ("cam-04", "South yard"),  # never seen: first
        ("cam-02", ""),
    ]
    overall = body["metrics"]["overall"]
    assert (overall["acknowledged"], overall["mtta_seconds"]) == (2, 90.0)
    assert (overall["resolved"], overall["mttr_seconds"]) == (1, 60.0)
    assert (overall["handled"], overall["false_alarm_rate"]) == (2, 0.5)
    # 10:00 today (5 h) and 00:30 on the 21st (6 d 14.5 h)
    assert overall["backlog"] == {
        "count": 2,
        "oldest": "2026-11-21T00:30:00+08:00",
        "oldest_age_seconds": 570600.0,
        "median_age_seconds": 294300.0,
    }
    assert [group["key"] for group in body["metrics"]["groups"]] == ["白班", "夜班"]


@pytest.mark.usefixtures("data_set")
def test_its_numbers_are_the_apis(staff_client: APIClient) -> None:
    body = get(staff_client)
    statistics = get(staff_client, "/api/v1/alerts/statistics/?event_time_after=2026-11-21")
    metrics = get(staff_client, "/api/v1/alerts/metrics/?group_by=shift")
    assert (body["today"], body["week_total"], body["top_devices"]) == (
        statistics["today"],
        statistics["total"],
        statistics["by_device"],
    )
    assert body["trend"] == [day["count"] for day in statistics["trend"]]
    assert body["metrics"] == metrics


@pytest.mark.usefixtures("data_set")
def test_the_metrics_are_shared_for_half_a_minute(staff_client: APIClient) -> None:
    first = get(staff_client)["metrics"]
    stored("2026-11-27 14:30:00", alarm_type="smoke", device_id="cam-01")
    assert get(staff_client)["metrics"] == first  # the same instant: the computation of the first
    cache.delete("dashboard:week-metrics")  # as when its DASHBOARD_METRICS_SECONDS are up
    later = get(staff_client)
    assert later["metrics"]["overall"]["backlog"]["count"] == first["overall"]["backlog"]["count"] + 1
    assert later["today"] == 3  # the counts are never late


def test_the_page_needs_a_staff_login_and_the_view_permission(client: Client) -> None:
    assert client.get("/dashboard/").status_code == 302
    client.force_login(make_user("clerk"))  # staff, without permissions
    assert client.get("/dashboard/").status_code == 403
    assert client.get(URL).status_code == 403


def test_admins_index_links_the_dashboard(client: Client) -> None:
    client.force_login(make_user("boss", superuser=True))
    index = client.get("/admin/").content.decode()
    assert 'href="/dashboard/"' in index
    page = client.get("/dashboard/").content.decode()
    assert "/static/alarms/vendor/chartjs/chart.umd.js" in page
    assert "//cdn" not in page
