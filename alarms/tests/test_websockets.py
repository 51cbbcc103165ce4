"""Dashboard sockets over the real channel layer (Redis in CI): auth, payloads, filters, catch-up."""

from __future__ import annotations

import json
import socket as socket_module
import time
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from alarms import events, services
from alarms.models import AlarmEvent
from alarms.serializers import AlarmCompatSerializer
from alarms.tests.factories import aware, lost_event, make_alarm, make_device, report_payload
from conftest import make_user
from devices import events as device_events
from devices.models import EdgeDevice
from vsp.asgi import application
from vsp.compat.tokens import issue_tokens
from vsp.models import DashboardEvent
from vsp.publish import publisher

pytestmark = pytest.mark.django_db(transaction=True)

ALARM_KEYS = {
    "alarmId", "alarmType", "deviceId", "deviceName", "sceneId", "eventTime", "alarmLevel", "alarmStatus",
    "handleStatus", "snapshotUrl", "thumbnailUrl", "snapshotStatus", "confidenceScore", "durationMs", "endTime",
    "resolveType", "handler", "handleRemark", "handleTime", "assignee", "incidentId", "incidentCount",
    "createTime", "updateTime",
}  # fmt: skip


@pytest.fixture
def boss() -> User:
    return make_user("boss", superuser=True)


@pytest.fixture
def token(boss: User) -> str:
    return issue_tokens(boss).access_token


def socket(path: str, **headers: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, path, headers=[(name.encode(), value.encode()) for name, value in headers.items()]
    )


async def open_socket(path: str, **headers: str) -> WebsocketCommunicator:
    communicator = socket(path, **headers)
    connected, code = await communicator.connect(timeout=5)
    assert connected, code
    return communicator


def report(alarm_id: str, **overrides: Any) -> None:
    payload = report_payload(alarm_id=alarm_id, **overrides)
    response = Client().post("/api/ai/alert/edge/report", data=json.dumps(payload), content_type="application/json")
    assert response.json()["data"]["created"] is True


def compat(alarm_id: str) -> dict[str, Any]:
    return dict(AlarmCompatSerializer(AlarmEvent.objects.with_device_name().get(pk=alarm_id)).data)


# --- who may connect --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ws/alerts", "/infra/ws"])
async def test_no_token_no_handshake(path: str) -> None:
    connected, code = await socket(path).connect(timeout=5)
    assert (connected, code) == (False, 4403)


async def test_a_bad_token_is_refused(boss: User) -> None:
    connected, _ = await socket("/ws/alerts?token=" + "0" * 32).connect(timeout=5)
    assert connected is False


async def test_a_user_without_the_alarm_permission_is_refused() -> None:
    clerk = await sync_to_async(make_user)("clerk")
    clerk_token = (await sync_to_async(issue_tokens)(clerk)).access_token
    connected, _ = await socket(f"/ws/alerts?token={clerk_token}").connect(timeout=5)
    assert connected is False


async def test_tokens_work_in_the_authorization_header_and_refresh_tokens_work_too(boss: User) -> None:
    issued = await sync_to_async(issue_tokens)(boss)
    header_socket = await open_socket("/ws/alerts", authorization=f"Bearer {issued.access_token}")
    refresh_socket = await open_socket(f"/infra/ws?token={issued.refresh_token}")
    await header_socket.disconnect()
    await refresh_socket.disconnect()


async def test_a_foreign_page_is_refused_but_our_own_origin_is_accepted(token: str) -> None:
    connected, _ = await socket(f"/ws/alerts?token={token}", origin="https://evil.example").connect(timeout=5)
    assert connected is False
    own = await open_socket(f"/ws/alerts?token={token}", origin="http://localhost")
    await own.disconnect()


async def test_a_logged_in_admin_session_is_enough(boss: User) -> None:
    client = Client()
    await sync_to_async(client.force_login)(boss)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    communicator = await open_socket("/ws/alerts", cookie=cookie, origin="http://localhost")
    await communicator.disconnect()


async def test_a_bad_filter_is_refused(token: str) -> None:
    connected, code = await socket(f"/ws/alerts?token={token}&level=9").connect(timeout=5)
    assert (connected, code) == (False, 4400)


# --- payloads -----------------------------------------------------------------------


async def test_alarm_created_carries_the_compat_alarm(token: str) -> None:
    communicator = await open_socket(f"/ws/alerts?token={token}")
    await sync_to_async(make_device)("cam-01", name="East gate")

    await sync_to_async(report)("WS-1")

    # The report brought the box online, in the same transaction: that event is numbered first.
    status = await communicator.receive_json_from(timeout=5)
    assert (status["type"], status["data"]["deviceId"]) == ("device.status", "cam-01")
    assert status["data"]["status"] == "ONLINE"
    frame = await communicator.receive_json_from(timeout=5)
    stored = await sync_to_async(AlarmEvent.objects.get)(pk="WS-1")
    assert frame == {
        "type": "alarm.created",
        "seq": status["seq"] + 1,
        "data": {
            "alarmId": "WS-1",
            "alarmType": "leave_post",
            "deviceId": "cam-01",
            "deviceName": "East gate",
            "sceneId": "gate-1",
            "eventTime": 1795744800000,  # 2026-11-27 10:00:00 in Asia/Shanghai
            "alarmLevel": 2,
            "alarmStatus": "NEW",
            "handleStatus": "UNHANDLED",
            "snapshotUrl": "https://img.example.com/a.jpg",
            "thumbnailUrl": "https://img.example.com/a.jpg",
            "snapshotStatus": "EXTERNAL",
            "confidenceScore": 0.91,
            "durationMs": None,
            "endTime": None,
            "resolveType": "",
            "handler": "",
            "handleRemark": "",
            "handleTime": None,
            "assignee": None,
            # The storm it joined (its first alarm here), so a page can fold the storm's rows into one.
            "incidentId": stored.incident_id,
            "incidentCount": 1,
            "createTime": int(stored.created_at.timestamp() * 1000),
            "updateTime": int(stored.updated_at.timestamp() * 1000),
        },
    }
    assert set(frame["data"]) == ALARM_KEYS
    assert stored.incident_id is not None
    await communicator.disconnect()


async def test_alarm_updated_and_resolved(token: str) -> None:
    await sync_to_async(make_alarm)(alarm_id="WS-2")
    communicator = await open_socket(f"/ws/alerts?token={token}")

    await sync_to_async(services.handle_alarm)("WS-2", handle_status="HANDLING", actor=services.Actor("li"))
    updated = await communicator.receive_json_from(timeout=5)
    await sync_to_async(services.resolve_alarm)(services.EdgeResolve(alarm_id="WS-2", duration_ms=5000))
    resolved = await communicator.receive_json_from(timeout=5)

    assert updated["type"] == "alarm.updated"
    assert (updated["data"]["handleStatus"], updated["data"]["alarmStatus"], updated["data"]["handler"]) == (
        "HANDLING",
        "CONFIRMED",
        "li",
    )
    assert resolved["type"] == "alarm.resolved"
    assert resolved["data"] == await sync_to_async(compat)("WS-2")
    assert (resolved["data"]["alarmStatus"], resolved["data"]["durationMs"]) == ("RESOLVED", 5000)
    await communicator.disconnect()


async def test_alarm_analyzed_and_device_status(token: str) -> None:
    await sync_to_async(make_alarm)(alarm_id="WS-3")
    device = await sync_to_async(make_device)("cam-07", name="Dock", status=EdgeDevice.Status.ONLINE)
    communicator = await open_socket(f"/ws/alerts?token={token}")

    assert await sync_to_async(events.publish_alarm)(events.ALARM_ANALYZED, "WS-3")
    await sync_to_async(device_events.device_status_changed)("cam-07")

    analyzed = await communicator.receive_json_from(timeout=5)
    status = await communicator.receive_json_from(timeout=5)
    assert analyzed == {"type": "alarm.analyzed", "seq": analyzed["seq"], "data": await sync_to_async(compat)("WS-3")}
    assert status == {
        "type": "device.status",
        "seq": analyzed["seq"] + 1,
        "data": {
            "deviceId": "cam-07",
            "deviceName": "Dock",
            "location": "",
            "status": "ONLINE",
            "lastHeartbeatTime": None,
            "lastSeenTime": None,
            "ip": None,
            "version": "",
            "info": {},
            "offlineAfter": None,
            "createTime": int(device.created_at.timestamp() * 1000),
            "updateTime": int(device.updated_at.timestamp() * 1000),
            "todayAlarmCount": 0,
        },
    }
    await communicator.disconnect()


# --- Yudao's /infra/ws --------------------------------------------------------------


async def test_infra_ws_answers_ping_and_double_encodes_content(token: str) -> None:
    await sync_to_async(make_device)("cam-01", status=EdgeDevice.Status.ONLINE)
    communicator = await open_socket(f"/infra/ws?token={token}")

    await communicator.send_to(text_data="ping")
    assert await communicator.receive_from(timeout=1) == "pong"
    await communicator.send_to(text_data='{"type":"demo-message-send","content":"{}"}')
    await communicator.send_to(text_data="not json at all")

    await sync_to_async(report)("WS-4")
    frame = json.loads(await communicator.receive_from(timeout=5))
    assert set(frame) == {"type", "seq", "content"}
    assert frame["type"] == "alarm.created"
    assert isinstance(frame["content"], str)
    assert json.loads(frame["content"]) == await sync_to_async(compat)("WS-4")
    await communicator.send_to(text_data="ping")
    assert await communicator.receive_from(timeout=1) == "pong"
    await communicator.disconnect()


# --- filters and catch-up -----------------------------------------------------------


async def test_a_client_receives_only_what_it_asked_for(token: str) -> None:
    for device_id in ("cam-gate", "cam-dock"):  # already online: reports bring no device.status events
        await sync_to_async(make_device)(device_id, status=EdgeDevice.Status.ONLINE)
    severe = await open_socket(f"/ws/alerts?token={token}&level=1,2")
    dock = await open_socket(f"/ws/alerts?token={token}&device=cam-dock")

    await sync_to_async(report)("F-1", alarm_level=3, device_id="cam-gate")
    await sync_to_async(report)("F-2", alarm_level=1, device_id="cam-gate")
    await sync_to_async(report)("F-3", alarm_level=4, device_id="cam-dock")

    assert (await severe.receive_json_from(timeout=5))["data"]["alarmId"] == "F-2"
    assert (await dock.receive_json_from(timeout=5))["data"]["alarmId"] == "F-3"
    assert await severe.receive_nothing(timeout=0.3)
    assert await dock.receive_nothing(timeout=0.3)
    await severe.disconnect()
    await dock.disconnect()


async def test_a_reconnecting_client_catches_up_since_a_time_or_an_alarm(token: str) -> None:
    await sync_to_async(make_alarm)(alarm_id="C-0")
    await sync_to_async(AlarmEvent.objects.filter(pk="C-0").update)(created_at=timezone.now() - timedelta(hours=2))
    for alarm_id in ("C-1", "C-2"):
        await sync_to_async(make_alarm)(alarm_id=alarm_id, event_time=aware("2026-11-27 09:00:00"))
    since_ms = int((timezone.now() - timedelta(hours=1)).timestamp() * 1000)

    by_time = await open_socket(f"/ws/alerts?token={token}&since={since_ms}")
    by_id = await open_socket(f"/ws/alerts?token={token}&after=C-1")

    first = await by_time.receive_json_from(timeout=5)
    assert first["type"] == "alarm.catchup"
    assert [alarm["alarmId"] for alarm in first["data"]["alarms"]] == ["C-1", "C-2"]
    assert first["data"]["truncated"] is False
    assert [alarm["alarmId"] for alarm in (await by_id.receive_json_from(timeout=5))["data"]["alarms"]] == ["C-2"]
    await by_time.disconnect()
    await by_id.disconnect()


async def test_an_unknown_alarm_to_catch_up_from_means_reload(token: str) -> None:
    await sync_to_async(make_alarm)(alarm_id="U-1")
    communicator = await open_socket(f"/ws/alerts?token={token}&after=NOPE")
    first = await communicator.receive_json_from(timeout=5)
    assert first == {"type": "alarm.catchup", "data": {"alarms": [], "truncated": True}}
    await communicator.disconnect()


async def test_a_long_absence_is_told_to_reload(token: str, settings: Any) -> None:
    settings.WEBSOCKET_CATCHUP_LIMIT = 2
    for number in range(3):
        await sync_to_async(make_alarm)(alarm_id=f"L-{number}")
    communicator = await open_socket(f"/ws/alerts?token={token}&since=2026-01-01 00:00:00")
    first = await communicator.receive_json_from(timeout=5)
    assert (len(first["data"]["alarms"]), first["data"]["truncated"]) == (2, True)
    await communicator.disconnect()


# --- sequence numbers and catching up by them -------------------------------------


async def frames(communicator: WebsocketCommunicator, count: int) -> list[dict[str, Any]]:
    return [await communicator.receive_json_from(timeout=5) for _ in range(count)]


async def test_frames_are_numbered_in_order_and_a_reconnect_catches_up_by_number(token: str) -> None:
    await sync_to_async(make_device)("cam-01", status=EdgeDevice.Status.ONLINE)
    live = await open_socket(f"/ws/alerts?token={token}")
    for number in range(3):
        await sync_to_async(report)(f"SEQ-{number}")
    received = await frames(live, 3)
    seqs = [frame["seq"] for frame in received]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 3

    # A dashboard that saw only the first one reconnects: it gets the other two, oldest first, as they were sent.
    back = await open_socket(f"/ws/alerts?token={token}&after_seq={seqs[0]}")
    catchup = await back.receive_json_from(timeout=5)
    assert catchup["type"] == "alarm.catchup"
    assert catchup["seq"] == seqs[2]
    assert catchup["data"]["truncated"] is False
    assert [(event["seq"], event["type"]) for event in catchup["data"]["events"]] == [
        (seqs[1], "alarm.created"), (seqs[2], "alarm.created")
    ]  # fmt: skip
    assert catchup["data"]["events"][1]["data"] == received[2]["data"]
    await live.disconnect()
    await back.disconnect()


async def test_a_dashboard_that_sees_a_gap_asks_for_it_on_the_socket(token: str) -> None:
    await sync_to_async(make_device)("cam-01", status=EdgeDevice.Status.ONLINE)
    communicator = await open_socket(f"/ws/alerts?token={token}")
    await sync_to_async(report)("GAP-1")
    before = await communicator.receive_json_from(timeout=5)
    missed = await sync_to_async(lost_event)("GAP-2")
    await sync_to_async(report)("GAP-3")
    after = await communicator.receive_json_from(timeout=5)
    assert after["seq"] > missed > before["seq"]  # the client sees a number skipped

    await communicator.send_json_to({"type": "catchup", "after_seq": before["seq"]})
    catchup = await communicator.receive_json_from(timeout=5)
    assert catchup["type"] == "alarm.catchup"
    assert [event["data"]["alarmId"] for event in catchup["data"]["events"]] == ["GAP-2", "GAP-3"]
    assert catchup["seq"] == after["seq"]
    # A request it cannot read is ignored, and the socket stays open.
    await communicator.send_to(text_data='{"type": "catchup", "after_seq": "soon"}')
    await communicator.send_to(text_data="ping")
    assert await communicator.receive_from(timeout=1) == "pong"
    await communicator.disconnect()


async def test_catching_up_by_number_honours_the_filter_and_yudaos_envelope(token: str) -> None:
    await sync_to_async(make_device)("cam-01", status=EdgeDevice.Status.ONLINE)
    await sync_to_async(report)("FS-1", alarm_level=1)
    await sync_to_async(report)("FS-2", alarm_level=4)
    communicator = await open_socket(f"/infra/ws?token={token}&level=1&after_seq=0")
    catchup = await communicator.receive_json_from(timeout=5)
    assert set(catchup) == {"type", "seq", "content"}
    content = json.loads(catchup["content"])
    assert [event["data"]["alarmId"] for event in content["events"]] == ["FS-1"]
    assert catchup["seq"] == await sync_to_async(DashboardEvent.latest_seq)()
    await communicator.disconnect()


async def test_events_no_longer_kept_or_too_many_mean_reload(token: str, settings: Any) -> None:
    for number in range(4):
        await sync_to_async(lost_event)(f"OLD-{number}")
    first = await sync_to_async(DashboardEvent.objects.order_by("seq").first)()
    assert first is not None
    await sync_to_async(DashboardEvent.objects.filter(seq=first.seq).delete)()  # pruned

    pruned = await open_socket(f"/ws/alerts?token={token}&after_seq={first.seq - 1}")
    assert (await pruned.receive_json_from(timeout=5))["data"]["truncated"] is True
    settings.WEBSOCKET_CATCHUP_LIMIT = 2
    many = await open_socket(f"/ws/alerts?token={token}&after_seq={first.seq}")
    catchup = await many.receive_json_from(timeout=5)
    assert (len(catchup["data"]["events"]), catchup["data"]["truncated"]) == (2, True)
    await pruned.disconnect()
    await many.disconnect()


async def test_with_no_event_stream_to_join_the_handshake_is_refused(token: str, settings: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # the discard port: the subscription cannot be made
    settings.WEBSOCKET_SUBSCRIBE_TIMEOUT = 0.5
    connected, code = await socket(f"/ws/alerts?token={token}").connect(timeout=5)
    assert (connected, code) == (False, 1013)


async def test_a_bad_sequence_number_is_refused(token: str) -> None:
    connected, code = await socket(f"/ws/alerts?token={token}&after_seq=-1").connect(timeout=5)
    assert (connected, code) == (False, 4400)


# --- the channel layer failing ------------------------------------------------------


def redis_at(settings: Any, url: str) -> None:
    """Publish (and health-check) through the Redis at ``url``."""
    settings.REDIS_URL = url
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [{"address": url}]}}
    }


def post_report(alarm_id: str) -> tuple[Any, float]:
    started = time.monotonic()
    response = Client().post(
        "/api/ai/alert/edge/report", data=json.dumps(report_payload(alarm_id=alarm_id)), content_type="application/json"
    )
    return response, time.monotonic() - started


def test_a_report_is_answered_in_bounded_time_when_redis_hangs(settings: Any, caplog: Any) -> None:
    # A listener that accepts connections and never answers: a Redis that hangs.
    with socket_module.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        settings.EVENT_PUBLISH_TIMEOUT = 2
        redis_at(settings, f"redis://127.0.0.1:{hung.getsockname()[1]}/0")
        failed_before = publisher.stats.failed

        first, first_took = post_report("HR-1")
        second, second_took = post_report("HR-2")
        skipped_with = publisher.stats.last_error

    assert first.json()["data"] == {"alarm_id": "HR-1", "created": True}
    assert second.json()["data"] == {"alarm_id": "HR-2", "created": True}
    assert first_took < 6  # the publish waits EVENT_PUBLISH_TIMEOUT, then gives up
    # The next one does not wait at all: the back-off skips Redis.
    assert skipped_with == "not tried: Redis failed moments ago"
    assert second_took < 2
    # Each event not sent is counted and logged, and kept for dashboards to catch up from.
    assert publisher.stats.failed - failed_before == 3  # the box coming online, and the two alarms
    assert "could not publish an event" in caplog.text
    assert "TimeoutError" in caplog.text
    assert list(DashboardEvent.objects.order_by("seq").values_list("type", flat=True)) == [
        "device.status", "alarm.created", "alarm.created"
    ]  # fmt: skip


def test_a_report_is_stored_and_answered_when_redis_is_unreachable(settings: Any, client: Any) -> None:
    redis_at(settings, "redis://127.0.0.1:9/0")  # the discard port: nothing listens, connections are refused
    failed_before = publisher.stats.failed

    response, took = post_report("NR-1")

    assert response.status_code == 200
    assert response.json()["data"] == {"alarm_id": "NR-1", "created": True}
    assert AlarmEvent.objects.filter(pk="NR-1").exists()
    assert took < 5
    assert publisher.stats.failed > failed_before
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["checks"]["channel_layer"]["events"]["failing"] is True
