"""GET /api/v1/alerts/statistics/ on a known data set."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from rest_framework.test import APIClient

from alarms.models import AlarmStatus, HandleStatus
from alarms.tests.factories import aware, make_alarm, make_device

pytestmark = pytest.mark.django_db

URL = "/api/v1/alerts/statistics/"
# "Now" for these tests: 2026-11-27 15:00 in Asia/Shanghai.
NOW = "2026-11-27T07:00:00Z"


@pytest.fixture
def data_set() -> None:
    make_device("cam-01", name="East gate")
    make_device("cam-02", name="Warehouse")
    # Two days ago, local time: 23:30 on the 25th is 15:30 UTC on the 25th.
    make_alarm(alarm_type="smoke", device_id="cam-01", alarm_level=1, event_time=aware("2026-11-25 23:30:00"))
    # Just after local midnight of the 26th (16:00:30 UTC on the 25th): counts for the 26th.
    make_alarm(
        alarm_type="smoke",
        device_id="cam-02",
        alarm_level=2,
        event_time=aware("2026-11-26 00:00:30"),
        handle_status=HandleStatus.HANDLED,
        alarm_status=AlarmStatus.CONFIRMED,
    )
    make_alarm(
        alarm_type="intrusion",
        device_id="cam-01",
        alarm_level=2,
        event_time=aware("2026-11-26 12:00:00"),
        handle_status=HandleStatus.IGNORED,
        alarm_status=AlarmStatus.RESOLVED,
    )
    # Today.
    make_alarm(alarm_type="intrusion", device_id="cam-01", alarm_level=3, event_time=aware("2026-11-27 00:00:00"))
    make_alarm(
        alarm_type="no_helmet",
        device_id="cam-03",
        alarm_level=4,
        event_time=aware("2026-11-27 14:59:00"),
        handle_status=HandleStatus.HANDLING,
    )
    # Long ago, outside the default trend.
    make_alarm(alarm_type="smoke", device_id="cam-01", alarm_level=1, event_time=aware("2026-10-01 08:00:00"))


@pytest.mark.usefixtures("data_set")
def test_statistics_over_everything(staff_client: APIClient, django_assert_max_num_queries: Any) -> None:
    # session, user; by dimension, by device and per day, each from the counts and their unfolded changes;
    # device names
    with time_machine.travel(NOW, tick=False), django_assert_max_num_queries(9):
        body = staff_client.get(URL).json()

    assert body["total"] == 6
    assert body["today"] == 2
    assert body["unhandled"] == 3
    assert body["by_alarm_status"] == {"NEW": 4, "CONFIRMED": 1, "RESOLVED": 1}
    assert body["by_handle_status"] == {"UNHANDLED": 3, "HANDLING": 1, "HANDLED": 1, "IGNORED": 1}
    assert body["by_level"] == {"1": 2, "2": 2, "3": 1, "4": 1}
    assert body["by_type"] == [
        {"alarm_type": "smoke", "count": 3},
        {"alarm_type": "intrusion", "count": 2},
        {"alarm_type": "no_helmet", "count": 1},
    ]
    assert body["by_device"] == [
        {"device_id": "cam-01", "device_name": "East gate", "count": 4},
        {"device_id": "cam-02", "device_name": "Warehouse", "count": 1},
        {"device_id": "cam-03", "device_name": None, "count": 1},
    ]
    assert (body["trend_from"], body["trend_to"]) == ("2026-11-21", "2026-11-27")
    assert [(day["date"], day["count"]) for day in body["trend"]] == [
        ("2026-11-21", 0),
        ("2026-11-22", 0),
        ("2026-11-23", 0),
        ("2026-11-24", 0),
        ("2026-11-25", 1),
        ("2026-11-26", 2),
        ("2026-11-27", 2),
    ]


@pytest.mark.usefixtures("data_set")
def test_statistics_over_a_range_and_a_device(staff_client: APIClient) -> None:
    with time_machine.travel(NOW, tick=False):
        body = staff_client.get(
            f"{URL}?event_time_after=2026-11-26 00:00:00&event_time_before=2026-11-27 23:59:59&device_id=cam-01"
        ).json()

    assert (body["total"], body["today"], body["unhandled"]) == (2, 1, 1)
    assert body["by_type"] == [{"alarm_type": "intrusion", "count": 2}]
    assert [(day["date"], day["count"]) for day in body["trend"]] == [("2026-11-26", 1), ("2026-11-27", 1)]


@pytest.mark.usefixtures("data_set")
def test_a_range_open_at_the_end_runs_to_today(staff_client: APIClient) -> None:
    with time_machine.travel(NOW, tick=False):
        body = staff_client.get(f"{URL}?event_time_after=2026-11-25 00:00:00").json()
    assert body["total"] == 5
    assert [day["date"] for day in body["trend"]] == ["2026-11-25", "2026-11-26", "2026-11-27"]


def test_statistics_of_nothing_are_zeros(staff_client: APIClient) -> None:
    with time_machine.travel(NOW, tick=False):
        body = staff_client.get(URL).json()
    assert (body["total"], body["today"], body["unhandled"], body["by_type"], body["by_device"]) == (0, 0, 0, [], [])
    assert [day["count"] for day in body["trend"]] == [0] * 7


def test_a_range_longer_than_a_year_is_refused(staff_client: APIClient) -> None:
    response = staff_client.get(f"{URL}?event_time_after=2024-01-01 00:00:00&event_time_before=2026-01-01 00:00:00")
    assert response.status_code == 400
    assert "366 days" in response.json()["event_time_after"][0]


def test_a_bad_filter_on_statistics_is_refused(staff_client: APIClient) -> None:
    response = staff_client.get(f"{URL}?alarm_level=0")
    assert response.status_code == 400
    assert "alarm_level" in response.json()
