"""Heartbeats, the offline flip, status history and device.status events."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connections
from django.test import Client
from django.utils import timezone

from alarms.tests.factories import aware, make_alarm, make_device, nested, report_payload
from conftest import make_user
from devices.models import DeviceStatusChange, EdgeDevice
from devices.services import mark_quiet_devices_offline, record_sign_of_life
from vsp.tests.compat_client import Frontend

pytestmark = pytest.mark.django_db

T0 = aware("2026-11-27 10:00:00")


def heartbeat(body: dict[str, Any], **extra: Any) -> Any:
    return Client().post("/api/ai/device/heartbeat", data=json.dumps(body), content_type="application/json", **extra)


def test_a_heartbeat_registers_a_box_and_marks_it_online() -> None:
    with time_machine.travel(T0, tick=False):
        body = {"device_id": "box-1", "name": "Gate box", "ip": "192.168.1.20", "version": "3.2.0"}
        response = heartbeat({**body, "info": {"gpu": "rk3588"}}, REMOTE_ADDR="10.0.0.9")

    assert response.status_code == 200
    assert response.json() == {"code": 0, "msg": "", "data": {"device_id": "box-1", "recorded": True}}
    device = EdgeDevice.objects.get(pk="box-1")
    assert (device.status, device.name, device.last_ip, device.version, device.info) == (
        "ONLINE", "Gate box", "192.168.1.20", "3.2.0", {"gpu": "rk3588"}
    )  # fmt: skip
    assert device.last_heartbeat == device.last_seen == T0
    [change] = DeviceStatusChange.objects.filter(device=device)
    assert (change.from_status, change.to_status, change.reason) == ("UNKNOWN", "ONLINE", "SIGN_OF_LIFE")


def test_a_heartbeat_never_renames_a_box_staff_named() -> None:
    make_device("box-2", name="Warehouse north")
    heartbeat({"device_id": "box-2", "name": "factory default"})
    assert EdgeDevice.objects.get(pk="box-2").name == "Warehouse north"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "device_id"),
        ({"device_id": 7}, "device_id"),
        ({"device_id": "x" * 65}, "device_id"),
        ({"device_id": "box", "ip": "not-an-ip"}, "ip"),
        ({"device_id": "box", "info": [1]}, "info"),
        ({"device_id": "box", "name": "gate\x00"}, "name"),
        ({"device_id": "box", "version": "1.0\x1b"}, "version"),
        ({"device_id": "box", "info": nested(40)}, "info"),  # MariaDB's JSON check refused it: a 500
        ({"device_id": "box", "version": "v" * 65}, "version"),
    ],
)
def test_a_bad_heartbeat_is_refused_naming_the_field(body: dict[str, Any], field: str) -> None:
    response = heartbeat(body)
    assert response.status_code == 400
    assert response.json()["msg"].startswith(f"{field}: ")
    assert not EdgeDevice.objects.exists()


def test_signs_of_life_write_at_most_once_per_interval(django_capture_on_commit_callbacks: Any) -> None:
    def sign(offset: int) -> bool:
        # The throttle is marked when the write commits (here: when the captured callbacks run).
        with django_capture_on_commit_callbacks(execute=True):
            return record_sign_of_life("box-3", ip=None, now=T0 + timedelta(seconds=offset)).recorded

    assert sign(0)
    assert not sign(4)
    assert sign(5)
    assert EdgeDevice.objects.get(pk="box-3").last_seen == T0 + timedelta(seconds=5)


def test_a_heartbeat_right_after_a_report_keeps_what_it_tells(django_capture_on_commit_callbacks: Any) -> None:
    client = Client()
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        client.post("/api/ai/alert/edge/report", data=json.dumps(report_payload(alarm_id="S-0", device_id="box-9")),
                    content_type="application/json")  # fmt: skip
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False):
        body = {"device_id": "box-9", "name": "Dock box", "version": "4.0.1", "info": {"temp": 61}}
        response = heartbeat(body)

    assert response.json()["data"] == {"device_id": "box-9", "recorded": True}
    device = EdgeDevice.objects.get(pk="box-9")
    assert (device.name, device.version, device.info, device.last_heartbeat) == (
        "Dock box", "4.0.1", {"temp": 61}, T0 + timedelta(seconds=1)
    )  # fmt: skip


def test_a_report_and_a_resolve_count_as_signs_of_life() -> None:
    client = Client()
    with time_machine.travel(T0, tick=False):
        client.post("/api/ai/alert/edge/report", data=json.dumps(report_payload(alarm_id="S-1", device_id="box-4")),
                    content_type="application/json")  # fmt: skip
    with time_machine.travel(T0 + timedelta(seconds=30), tick=False):
        client.post("/api/ai/alert/edge/resolve", data=json.dumps({"alarm_id": "S-1"}), content_type="application/json")
    device = EdgeDevice.objects.get(pk="box-4")
    assert (device.status, device.last_seen, device.last_heartbeat) == ("ONLINE", T0 + timedelta(seconds=30), None)


# --- the offline flip ---------------------------------------------------------------


def online_box(device_id: str, *, seen: Any = T0, **fields: Any) -> EdgeDevice:
    return make_device(device_id, status=EdgeDevice.Status.ONLINE, last_seen=seen, **fields)


def test_a_box_goes_offline_exactly_after_the_timeout() -> None:
    online_box("box-5")

    assert mark_quiet_devices_offline(T0 + timedelta(seconds=89)) == []
    assert EdgeDevice.objects.get(pk="box-5").status == "ONLINE"
    assert mark_quiet_devices_offline(T0 + timedelta(seconds=90)) == ["box-5"]

    device = EdgeDevice.objects.get(pk="box-5")
    assert device.status == "OFFLINE"
    [change] = DeviceStatusChange.objects.filter(device=device)
    assert (change.from_status, change.to_status, change.reason, change.last_seen, change.changed_at) == (
        "ONLINE", "OFFLINE", "TIMEOUT", T0, T0 + timedelta(seconds=90)
    )  # fmt: skip
    assert mark_quiet_devices_offline(T0 + timedelta(seconds=300)) == []


def test_the_default_timeout_is_configurable(settings: Any) -> None:
    settings.DEVICE_OFFLINE_AFTER = 30
    online_box("box-6")
    assert mark_quiet_devices_offline(T0 + timedelta(seconds=30)) == ["box-6"]


def test_a_per_device_override_wins() -> None:
    online_box("slow-box", offline_after=600)
    online_box("fast-box", offline_after=20)
    online_box("plain-box")

    assert mark_quiet_devices_offline(T0 + timedelta(seconds=20)) == ["fast-box"]
    assert mark_quiet_devices_offline(T0 + timedelta(seconds=100)) == ["plain-box"]
    assert mark_quiet_devices_offline(T0 + timedelta(seconds=599)) == []
    assert mark_quiet_devices_offline(T0 + timedelta(seconds=600)) == ["slow-box"]


def test_a_heartbeat_brings_an_offline_box_back() -> None:
    make_device("box-7", status=EdgeDevice.Status.OFFLINE, last_seen=T0)
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        heartbeat({"device_id": "box-7"})
    assert EdgeDevice.objects.get(pk="box-7").status == "ONLINE"
    assert list(DeviceStatusChange.objects.filter(device_id="box-7").values_list("from_status", "to_status")) == [
        ("OFFLINE", "ONLINE")
    ]


@pytest.mark.django_db(transaction=True)
def test_two_watchers_at_once_flip_each_box_once() -> None:
    for number in range(20):
        online_box(f"box-{number:02d}")
    start = threading.Barrier(2)
    results: list[list[str]] = []

    def watcher() -> None:
        try:
            start.wait()
            results.append(mark_quiet_devices_offline(T0 + timedelta(seconds=120)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=watcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    flipped = [device for result in results for device in result]
    assert sorted(flipped) == [f"box-{number:02d}" for number in range(20)]
    assert DeviceStatusChange.objects.filter(reason="TIMEOUT").count() == 20


def test_the_watcher_command_runs_one_step(capsys: Any) -> None:
    from django.core.management import call_command

    online_box("box-8", seen=timezone.now() - timedelta(minutes=5))
    call_command("watch_devices")
    assert EdgeDevice.objects.get(pk="box-8").status == "OFFLINE"
    assert "box-8 is offline" in capsys.readouterr().out


# --- what staff see -------------------------------------------------------------------


def test_the_compat_device_page_shows_liveness_and_todays_alarms() -> None:
    make_user("boss", superuser=True)
    online_box("box-9", last_heartbeat=T0, last_ip="10.0.0.4", version="1.0")
    with time_machine.travel(T0, tick=False):
        make_alarm(device_id="box-9", event_time=aware("2026-11-27 08:00:00"))
        make_alarm(device_id="box-9", event_time=aware("2026-11-27 00:00:00"))
        make_alarm(device_id="box-9", event_time=aware("2026-11-26 23:59:59"))
        tab = Frontend()
        tab.login("boss")
        row = tab.get("/aiot/edge/device/page").json()["data"]["list"][0]
        single = tab.get("/aiot/edge/device/get", {"deviceId": "box-9"}).json()["data"]
    assert (row["status"], row["ip"], row["version"], row["todayAlarmCount"]) == ("ONLINE", "10.0.0.4", "1.0", 2)
    assert row["lastHeartbeatTime"] == int(T0.timestamp() * 1000)
    assert single["todayAlarmCount"] == 2


def test_the_native_api_shows_the_history(staff_client: Any) -> None:
    online_box("box-10")
    mark_quiet_devices_offline(T0 + timedelta(seconds=90))
    record_sign_of_life("box-10", ip=None, now=T0 + timedelta(seconds=200))

    body = staff_client.get("/api/v1/devices/box-10/history/").json()

    assert [(row["from_status"], row["to_status"], row["reason"]) for row in body["results"]] == [
        ("OFFLINE", "ONLINE", "SIGN_OF_LIFE"),
        ("ONLINE", "OFFLINE", "TIMEOUT"),
    ]
