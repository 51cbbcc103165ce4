"""POST /api/ai/alert/edge/report, rule by rule of README "Edge ingest rules"."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier
from typing import Any

import httpx
import pytest
import time_machine
from django.db import connection
from django.test import Client

from alarms.models import AlarmEvent, AlarmEventExt, AlarmSource, AlarmStatus, HandleStatus
from alarms.tests.factories import nested, report_payload
from conftest import database_unreachable
from devices.models import EdgeDevice

URL = "/api/ai/alert/edge/report"
# 2026-11-27 10:00:00 in Asia/Shanghai.
EXPECTED_UTC = datetime(2026, 11, 27, 2, 0, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def post(client: Client, body: Any, **extra: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data=data, content_type=extra.pop("content_type", "application/json"), **extra)


def test_a_report_stores_the_alarm_and_answers_created(client: Client) -> None:
    payload = report_payload(alarm_id="A-1")

    response = post(client, payload, REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 200
    assert response.json() == {"code": 0, "msg": "", "data": {"alarm_id": "A-1", "created": True}}
    alarm = AlarmEvent.objects.get(pk="A-1")
    assert alarm.alarm_type == "leave_post"
    assert alarm.device_id == "cam-01"
    assert alarm.scene_id == "gate-1"
    assert alarm.event_time == EXPECTED_UTC
    assert alarm.alarm_level == 2
    assert alarm.snapshot_url == "https://img.example.com/a.jpg"
    assert alarm.confidence_score == pytest.approx(0.91)
    assert alarm.alarm_status == AlarmStatus.NEW
    assert alarm.handle_status == HandleStatus.UNHANDLED
    assert alarm.source == AlarmSource.EDGE
    assert AlarmEventExt.objects.get(alarm=alarm).ext_data == {"bbox": [1, 2, 3, 4], "bind_id": "b-7"}


def test_a_report_registers_an_unknown_device_and_bumps_its_last_seen(client: Client) -> None:
    first, later = EXPECTED_UTC, EXPECTED_UTC + timedelta(seconds=10)
    with time_machine.travel(first, tick=False):
        post(client, report_payload(device_id="cam-new"), REMOTE_ADDR="10.1.2.3")
    device = EdgeDevice.objects.get(pk="cam-new")
    assert (device.last_seen, device.last_ip, device.status) == (first, "10.1.2.3", EdgeDevice.Status.ONLINE)

    with time_machine.travel(later, tick=False):
        post(client, report_payload(device_id="cam-new"), REMOTE_ADDR="10.1.2.4")

    device.refresh_from_db()
    assert (device.last_seen, device.last_ip) == (later, "10.1.2.4")
    assert EdgeDevice.objects.filter(pk="cam-new").count() == 1


def test_a_repeated_report_creates_and_changes_nothing(client: Client) -> None:
    post(client, report_payload(alarm_id="A-2", alarm_level=2))

    response = post(client, report_payload(alarm_id="A-2", alarm_level=4, alarm_type="smoke", ext_data={"x": 1}))

    assert response.status_code == 200
    assert response.json() == {"code": 0, "msg": "", "data": {"alarm_id": "A-2", "created": False}}
    alarm = AlarmEvent.objects.get(pk="A-2")
    assert (alarm.alarm_level, alarm.alarm_type) == (2, "leave_post")
    assert alarm.ext.ext_data == {"bbox": [1, 2, 3, 4], "bind_id": "b-7"}
    assert AlarmEvent.objects.count() == 1


@pytest.mark.parametrize(
    "event_time",
    [
        "2026-11-27T10:00:00+08:00",
        "2026-11-27T02:00:00Z",
        "2026-11-27T02:00:00+00:00",
        "2026-11-27T10:00:00",
        "2026-11-27 10:00:00",
        "  2026-11-27 10:00:00 ",
        1795744800,
        1795744800000,
        1795744800.0,
        "1795744800",
        "1795744800000",
    ],
    ids=lambda value: repr(value),
)
def test_every_event_time_format_means_the_same_instant(client: Client, event_time: Any) -> None:
    response = post(client, report_payload(alarm_id="T-1", event_time=event_time))

    assert response.status_code == 200, response.json()
    assert AlarmEvent.objects.get(pk="T-1").event_time == EXPECTED_UTC


def test_fractional_seconds_are_kept(client: Client) -> None:
    post(client, report_payload(alarm_id="T-2", event_time="2026-11-27T10:00:00.250+08:00"))
    assert AlarmEvent.objects.get(pk="T-2").event_time == EXPECTED_UTC.replace(microsecond=250_000)


def test_optional_fields_may_be_left_out_or_null(client: Client) -> None:
    payload = {"alarm_id": "O-1", "alarm_type": "smoke", "device_id": "cam-02", "event_time": 1795744800}
    post(client, payload)
    post(
        client,
        {
            **payload,
            "alarm_id": "O-2",
            "scene_id": None,
            "alarm_level": None,
            "ext_data": None,
            "snapshot_url": None,
            "confidence_score": None,
        },
    )

    for alarm_id in ("O-1", "O-2"):
        alarm = AlarmEvent.objects.get(pk=alarm_id)
        assert (alarm.alarm_level, alarm.scene_id, alarm.snapshot_url, alarm.confidence_score) == (3, "", "", None)
        assert not AlarmEventExt.objects.filter(alarm=alarm).exists()


def test_unknown_fields_are_ignored(client: Client) -> None:
    response = post(client, report_payload(alarm_id="U-1", firmware="2.1", extra={"a": 1}))
    assert response.status_code == 200
    assert AlarmEvent.objects.filter(pk="U-1").exists()


def test_an_object_key_snapshot_is_kept_as_a_key(client: Client) -> None:
    post(client, report_payload(alarm_id="K-1", snapshot_url="/boxes/cam-01/2026/K-1.jpg"))
    assert AlarmEvent.objects.get(pk="K-1").snapshot_url == "boxes/cam-01/2026/K-1.jpg"


BAD_FIELDS = [
    ("alarm_id", ...),
    ("alarm_id", ""),
    ("alarm_id", "has space"),
    ("alarm_id", "a/b"),
    ("alarm_id", "x" * 65),
    ("alarm_id", 12345),
    ("alarm_type", ...),
    ("alarm_type", "t" * 65),
    ("device_id", ...),
    ("device_id", "d" * 65),
    ("scene_id", "s" * 65),
    ("event_time", ...),
    ("event_time", "yesterday"),
    ("event_time", "2026-11-27"),
    ("event_time", "2026-13-40 10:00:00"),
    ("event_time", True),
    ("event_time", 1e20),
    ("event_time", 10**400),
    ("event_time", "9" * 400),
    ("event_time", "1899-01-01 00:00:00"),
    ("event_time", {"t": 1}),
    ("alarm_level", 0),
    ("alarm_level", 5),
    ("alarm_level", "high"),
    ("alarm_level", True),
    ("alarm_level", 2.5),
    ("confidence_score", 1.5),
    ("confidence_score", -0.1),
    ("confidence_score", "sure"),
    ("confidence_score", True),
    ("snapshot_url", "ftp://example.com/a.jpg"),
    ("snapshot_url", "http://"),
    ("snapshot_url", "../etc/passwd"),
    ("snapshot_url", "with space.jpg"),
    ("snapshot_url", "u" * 2049),
    ("snapshot_url", "javascript:alert(1)"),
    ("snapshot_url", "data:text/html,hi"),
    ("snapshot_url", "."),
    ("snapshot_url", "boxes//a.jpg"),
    ("snapshot_url", "boxes/"),
    ("snapshot_url", "snapshots/2026/11/27/cam-02/OTHER.jpg"),
    ("snapshot_url", 5),
    ("alarm_type", "smo\x07ke"),
    ("device_id", "cam\x1b01"),
    ("scene_id", "gate\t1"),
    ("snapshot_base64", "data:abc"),
    ("ext_data", {"note": "\ud800"}),
    ("ext_data", [1, 2]),
    ("ext_data", "bbox"),
    ("ext_data", {"blob": "x" * (64 * 1024)}),
    ("ext_data", nested(21)),  # one level more than JSON_MAX_DEPTH
    ("ext_data", nested(40)),  # MariaDB's JSON check refuses these, which was a 500
]


def test_data_the_database_refuses_is_a_400_not_a_500(client: Client, settings: Any) -> None:
    if not (connection.vendor == "mysql" and getattr(connection, "mysql_is_mariadb", False)):
        pytest.skip("MariaDB's JSON check refuses 32 levels (CI has it); SQLite and MySQL 8 allow more")
    settings.JSON_MAX_DEPTH = 100  # let validation pass what MariaDB's JSON check refuses

    response = post(client, report_payload(alarm_id="DEEP-40", ext_data=nested(40)))

    assert response.status_code == 400
    assert response.json()["msg"] == "the database refused this message's data; it is not stored and will not be"
    assert not AlarmEvent.objects.filter(pk="DEEP-40").exists()


def test_ext_data_as_deep_as_allowed_is_stored(client: Client) -> None:
    response = post(client, report_payload(alarm_id="DEEP-20", ext_data=nested(20)))

    assert response.json()["data"] == {"alarm_id": "DEEP-20", "created": True}
    assert AlarmEventExt.objects.get(alarm_id="DEEP-20").ext_data == nested(20)


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS, ids=lambda v: repr(v)[:30])
def test_bad_input_is_refused_naming_the_field(client: Client, field: str, value: Any) -> None:
    response = post(
        client,
        report_payload(alarm_id="BAD-1", **{field: value}) if field != "alarm_id" else report_payload(**{field: value}),
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400
    assert body["msg"].startswith(f"{field}: ")
    assert field in body["data"]["errors"]
    assert AlarmEvent.objects.count() == 0
    assert EdgeDevice.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("not json", "application/json", "body is not valid JSON"),
        ("   ", "application/json", "body is not valid JSON"),
        ('{"alarm_id": "x",', "application/json", "body is not valid JSON"),
        ("[1, 2]", "application/json", "body must be a JSON object"),
        ('"text"', "application/json", "body must be a JSON object"),
        ('{"confidence_score": NaN}', "application/json", "body is not valid JSON"),
        (b"\xff\xfe\x00{", "application/json", "body is not"),
        ('{"alarm_id": "x"}', "text/plain", "Content-Type must be application/json"),
        ("alarm_id=x", "application/x-www-form-urlencoded", "Content-Type must be application/json"),
        ("[" * 100_000 + "]" * 100_000, "application/json", "body is not valid JSON: nested too deeply"),
        ('{"alarm_id": "x"}'.encode("utf-16"), "application/json", "body is not UTF-8 encoded JSON"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    client: Client, body: Any, content_type: str, message: str
) -> None:
    response = post(client, body, content_type=content_type)

    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert response.json()["msg"].startswith(message)
    assert response.json()["data"] is None


def test_an_oversized_body_is_refused_with_413(client: Client, settings: Any) -> None:
    settings.EDGE_MAX_BODY_BYTES = 2048
    payload = report_payload(ext_data={"blob": "x" * 4000})

    response = post(client, payload)

    assert response.status_code == 413
    assert response.json() == {"code": 413, "msg": "request body exceeds 2048 bytes", "data": None}
    assert AlarmEvent.objects.count() == 0


def test_other_methods_are_refused_in_the_envelope(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 405
    assert response.json()["code"] == 405
    assert response["Allow"] == "POST"


def test_the_database_unavailable_answers_503_so_the_box_retries(database_down: None) -> None:
    response = post(Client(), report_payload())

    assert response.status_code == 503
    assert response.json() == {"code": 503, "msg": "database unavailable, retry later", "data": None}


def test_an_alarm_id_another_device_has_is_refused_with_409_and_counted(client: Client, caplog: Any) -> None:
    first = post(client, report_payload(alarm_id="TAKEN-1", device_id="cam-a"))
    again = post(client, report_payload(alarm_id="TAKEN-1", device_id="cam-b"))
    retry = post(client, report_payload(alarm_id="TAKEN-1", device_id="cam-b"))
    owner_repeat = post(client, report_payload(alarm_id="TAKEN-1", device_id="cam-a"))

    assert first.json()["data"] == {"alarm_id": "TAKEN-1", "created": True}
    for refused in (again, retry):
        assert refused.status_code == 409
        assert refused.json() == {
            "code": 409,
            "msg": "alarm_id 'TAKEN-1' belongs to device 'cam-a'; device 'cam-b' must report its own ids",
            "data": None,
        }
    assert owner_repeat.json()["data"] == {"alarm_id": "TAKEN-1", "created": False}  # still idempotent
    assert AlarmEvent.objects.get(pk="TAKEN-1").device_id == "cam-a"
    assert EdgeDevice.objects.get(pk="cam-b").id_conflicts == 2  # counted, and the box is known
    assert EdgeDevice.objects.get(pk="cam-a").id_conflicts == 0
    assert "refused a report of TAKEN-1 by cam-b: the alarm is cam-a's" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_repeat_of_a_report_just_stored_is_answered_without_the_database() -> None:
    stored = post(Client(), report_payload(alarm_id="AGAIN-1"))
    assert stored.json()["data"] == {"alarm_id": "AGAIN-1", "created": True}
    with database_unreachable():
        # The box did not hear the answer and sends it again while the database is away: still the right answer.
        repeat = post(Client(), report_payload(alarm_id="AGAIN-1"))
        other = post(Client(), report_payload(alarm_id="AGAIN-2"))
    assert (repeat.status_code, repeat.json()["data"]) == (200, {"alarm_id": "AGAIN-1", "created": False})
    assert other.status_code == 503  # an alarm it has not seen stored still needs the database


def test_concurrent_identical_reports_create_exactly_one_row(server: str) -> None:
    senders = 48
    payload = report_payload(alarm_id="RACE-1")
    start = Barrier(senders)

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=server, timeout=60) as http:
            start.wait()
            return http.post(URL, json=payload)

    with ThreadPoolExecutor(max_workers=senders) as pool:
        responses = list(pool.map(send, range(senders)))

    assert [r.status_code for r in responses] == [200] * senders
    created = [r.json()["data"]["created"] for r in responses]
    assert created.count(True) == 1
    assert created.count(False) == senders - 1
    assert AlarmEvent.objects.filter(pk="RACE-1").count() == 1
    assert AlarmEventExt.objects.filter(alarm_id="RACE-1").count() == 1
    assert EdgeDevice.objects.filter(pk="cam-01").count() == 1


def test_alarm_ids_differing_only_in_case_are_different_alarms(client: Client) -> None:
    # MySQL's default collation would fold these into one primary key.
    post(client, report_payload(alarm_id="Case-1"))
    response = post(client, report_payload(alarm_id="CASE-1"))

    assert response.json()["data"] == {"alarm_id": "CASE-1", "created": True}
    assert sorted(AlarmEvent.objects.values_list("alarm_id", flat=True)) == ["CASE-1", "Case-1"]
