"""Per-device keys and ingest rate limits."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from alarms.models import AlarmEvent
from alarms.tests.factories import aware, make_alarm, make_device, report_payload
from conftest import make_user
from devices.keys import device_for_key, issue_key, revoke_keys
from devices.models import DeviceKey, EdgeDevice
from devices.services import mark_quiet_devices_offline
from vsp.compat.tokens import issue_tokens

pytestmark = pytest.mark.django_db

REPORT = "/api/ai/alert/edge/report"


@pytest.fixture
def keys_required(settings: Any) -> None:
    settings.EDGE_AUTH_REQUIRED = True


def post(path: str, body: dict[str, Any], **headers: str) -> Any:
    return Client().post(path, data=json.dumps(body), content_type="application/json", headers=headers)


@pytest.mark.usefixtures("keys_required")
def test_a_key_lets_its_box_report_heartbeat_and_resolve() -> None:
    key = issue_key(make_device("box-1"))

    report = post(REPORT, report_payload(alarm_id="K-1", device_id="box-1"), Authorization=f"Bearer {key}")
    beat = post("/api/ai/device/heartbeat", {"device_id": "box-1"}, **{"X-Device-Key": key})
    resolve = post("/api/ai/alert/edge/resolve", {"alarm_id": "K-1"}, Authorization=f"Bearer {key}")

    assert [r.status_code for r in (report, beat, resolve)] == [200, 200, 200]
    assert AlarmEvent.objects.get(pk="K-1").alarm_status == "RESOLVED"
    assert DeviceKey.objects.get().last_used_at is not None


@pytest.mark.usefixtures("keys_required")
def test_a_missing_key_is_401() -> None:
    response = post(REPORT, report_payload())
    assert response.status_code == 401
    assert response.json() == {
        "code": 401,
        "msg": "a device key is required: Authorization: Bearer <key> or X-Device-Key",
        "data": None,
    }
    assert not AlarmEvent.objects.exists()


def test_an_unknown_or_revoked_key_is_401_even_with_open_ingest() -> None:
    device = make_device("box-2")
    key = issue_key(device)
    revoke_keys(list(DeviceKey.objects.filter(device=device)))

    for presented in (key, "vsk_not-a-key"):
        response = post(REPORT, report_payload(device_id="box-2"), Authorization=f"Bearer {presented}")
        assert response.status_code == 401
        assert response.json()["msg"] == "the device key is unknown or revoked"
    assert not AlarmEvent.objects.exists()


@pytest.mark.usefixtures("keys_required")
def test_a_key_only_speaks_for_its_own_device() -> None:
    key = issue_key(make_device("box-3"))
    make_alarm(alarm_id="OTHER-1", device_id="box-4")

    report = post(REPORT, report_payload(device_id="box-4"), Authorization=f"Bearer {key}")
    beat = post("/api/ai/device/heartbeat", {"device_id": "box-4"}, Authorization=f"Bearer {key}")
    resolve = post("/api/ai/alert/edge/resolve", {"alarm_id": "OTHER-1"}, Authorization=f"Bearer {key}")

    assert [r.status_code for r in (report, beat, resolve)] == [403, 403, 403]
    assert report.json()["msg"] == "this key speaks for device 'box-3', not 'box-4'"
    assert resolve.json()["msg"] == "alarm 'OTHER-1' belongs to device 'box-4', not 'box-3'"
    assert AlarmEvent.objects.get(pk="OTHER-1").alarm_status == "NEW"


def test_open_ingest_needs_no_key() -> None:
    assert post(REPORT, report_payload(alarm_id="OPEN-1")).status_code == 200


def test_keys_are_stored_hashed_and_last_use_is_recorded_at_most_once_a_minute() -> None:
    key = issue_key(make_device("box-5"), created_by="boss")
    stored = DeviceKey.objects.get()
    assert key.startswith("vsk_")
    assert key[:12] == stored.prefix
    assert key not in stored.digest

    with time_machine.travel(aware("2026-11-27 10:00:00"), tick=False):
        assert device_for_key(key) == "box-5"
    with time_machine.travel(aware("2026-11-27 10:00:30"), tick=False):
        device_for_key(key)
    assert DeviceKey.objects.get().last_used_at == aware("2026-11-27 10:00:00")
    with time_machine.travel(aware("2026-11-27 10:01:01"), tick=False):
        device_for_key(key)
    assert DeviceKey.objects.get().last_used_at == aware("2026-11-27 10:01:01")


def test_staff_issue_a_key_in_admin_and_see_it_once(admin_user_obj: Any) -> None:
    make_device("box-6")
    client = Client()
    client.force_login(admin_user_obj)

    response = client.post(
        "/admin/devices/edgedevice/", {"action": "issue_new_key", "_selected_action": ["box-6"]}, follow=True
    )

    [message] = [m.message for m in response.context["messages"]]
    key = message.split("box-6 的新密钥：")[1].split(" ")[0]  # "New key for box-6: …": the console is Chinese
    assert device_for_key(key) == "box-6"
    page = client.get("/admin/devices/edgedevice/box-6/change/").content.decode()
    assert key not in page
    assert DeviceKey.objects.get().prefix in page


def test_staff_revoke_keys_in_admin(admin_user_obj: Any) -> None:
    key = issue_key(make_device("box-7"))
    client = Client()
    client.force_login(admin_user_obj)
    client.post("/admin/devices/devicekey/", {"action": "revoke", "_selected_action": [DeviceKey.objects.get().pk]})
    assert DeviceKey.objects.get().revoked_at is not None
    assert device_for_key(key) is None


# --- rate limits --------------------------------------------------------------------


def test_a_device_over_its_rate_gets_429_with_retry_after(settings: Any) -> None:
    settings.EDGE_RATE_PER_DEVICE = "3/m"
    with time_machine.travel(aware("2026-11-27 10:00:20"), tick=False):
        answers = [post(REPORT, report_payload(device_id="box-8")) for _ in range(4)]
        other_box = post(REPORT, report_payload(device_id="box-9"))

    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[3]["Retry-After"] == "40"
    assert answers[3].json() == {"code": 429, "msg": "rate limit exceeded for box-8; retry in 40 s", "data": None}
    assert other_box.status_code == 200
    assert AlarmEvent.objects.filter(device_id="box-8").count() == 3
    with time_machine.travel(aware("2026-11-27 10:01:00"), tick=False):
        assert post(REPORT, report_payload(device_id="box-8")).status_code == 200


def test_unauthenticated_ingest_is_limited_per_address(settings: Any) -> None:
    settings.EDGE_RATE_PER_IP = "2/m"
    with time_machine.travel(aware("2026-11-27 10:00:00"), tick=False):
        codes = [
            Client().post(REPORT, data=json.dumps(report_payload(device_id=f"box-{n}")),
                          content_type="application/json", REMOTE_ADDR="10.7.7.7").status_code
            for n in range(3)
        ]  # fmt: skip
        elsewhere = Client().post(REPORT, data=json.dumps(report_payload()), content_type="application/json",
                                  REMOTE_ADDR="10.7.7.8")  # fmt: skip
    assert codes == [200, 200, 429]
    assert elsewhere.status_code == 200


def test_keyed_boxes_are_not_limited_per_address(settings: Any) -> None:
    settings.EDGE_RATE_PER_IP = "1/m"
    keys = [issue_key(make_device(f"nat-{n}")) for n in range(3)]
    codes = [
        post(REPORT, report_payload(device_id=f"nat-{n}"), Authorization=f"Bearer {key}").status_code
        for n, key in enumerate(keys)
    ]
    assert codes == [200, 200, 200]


# --- device.status on the socket --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_going_offline_and_back_is_broadcast() -> None:
    from vsp.asgi import application

    boss = await sync_to_async(make_user)("boss", superuser=True)
    token = (await sync_to_async(issue_tokens)(boss)).access_token
    seen = timezone.now() - timedelta(minutes=5)
    await sync_to_async(make_device)("box-10", name="Dock", status=EdgeDevice.Status.ONLINE, last_seen=seen)
    communicator = WebsocketCommunicator(application, f"/ws/alerts?token={token}&device=box-10")
    assert (await communicator.connect(timeout=5))[0]

    await sync_to_async(mark_quiet_devices_offline)(timezone.now())
    offline = await communicator.receive_json_from(timeout=5)
    await sync_to_async(Client().post)(
        "/api/ai/device/heartbeat", data=json.dumps({"device_id": "box-10"}), content_type="application/json"
    )
    online = await communicator.receive_json_from(timeout=5)

    assert (offline["type"], offline["data"]["deviceId"], offline["data"]["status"]) == (
        "device.status",
        "box-10",
        "OFFLINE",
    )
    assert (online["type"], online["data"]["status"], online["data"]["deviceName"]) == (
        "device.status",
        "ONLINE",
        "Dock",
    )
    await communicator.disconnect()


def test_any_authorization_header_is_checked_even_with_open_ingest() -> None:
    key = issue_key(make_device("box-11"))
    lower = post(REPORT, report_payload(alarm_id="LC-1", device_id="box-11"), Authorization=f"bearer {key}")
    garbled = post(REPORT, report_payload(alarm_id="LC-2", device_id="box-11"), Authorization="Token abc")
    assert lower.status_code == 200
    assert garbled.status_code == 401
    assert not AlarmEvent.objects.filter(pk="LC-2").exists()


def test_wrong_keys_count_against_the_address(settings: Any) -> None:
    settings.EDGE_RATE_PER_IP = "2/m"
    with time_machine.travel(aware("2026-11-27 10:00:00"), tick=False):
        codes = [post(REPORT, report_payload(), Authorization="Bearer vsk_guess").status_code for _ in range(3)]
    assert codes == [401, 401, 429]


@pytest.mark.usefixtures("keys_required")
def test_an_early_resolve_applies_only_to_the_keys_own_device() -> None:
    own_key = issue_key(make_device("box-12"))
    other_key = issue_key(make_device("box-13"))

    # box-13 pre-resolves an alarm id that box-12 then reports: it must not stick.
    early = post(
        "/api/ai/alert/edge/resolve", {"alarm_id": "EARLY-1", "duration_ms": 1}, Authorization=f"Bearer {other_key}"
    )
    report = post(REPORT, report_payload(alarm_id="EARLY-1", device_id="box-12"), Authorization=f"Bearer {own_key}")
    assert early.json()["data"] == {"alarm_id": "EARLY-1", "applied": False}
    assert report.status_code == 200
    alarm = AlarmEvent.objects.get(pk="EARLY-1")
    assert (alarm.alarm_status, alarm.duration_ms) == ("NEW", None)

    # Its own early resolve does.
    post("/api/ai/alert/edge/resolve", {"alarm_id": "EARLY-2", "duration_ms": 7}, Authorization=f"Bearer {own_key}")
    post(REPORT, report_payload(alarm_id="EARLY-2", device_id="box-12"), Authorization=f"Bearer {own_key}")
    assert AlarmEvent.objects.get(pk="EARLY-2").duration_ms == 7
