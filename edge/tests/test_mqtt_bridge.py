"""The MQTT bridge against real Mosquitto: messages land in the database and on the socket."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from alarms.models import AlarmEvent
from alarms.tests.factories import report_payload
from conftest import free_port, make_user
from devices.keys import issue_key
from devices.models import EdgeDevice
from edge.endpoints import HEARTBEAT, REPORT, RESOLVE
from edge.mqtt import Bridge
from vsp.compat.tokens import issue_tokens

pytestmark = pytest.mark.django_db(transaction=True)

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def routes(prefix: str) -> dict[str, Any]:
    return {f"{prefix}/alert/#": REPORT, f"{prefix}/resolve/#": RESOLVE, f"{prefix}/heartbeat/#": HEARTBEAT}


def publish(port: int, topic: str, payload: Any) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    client.publish(topic, body, qos=1).wait_for_publish(timeout=5)
    client.loop_stop()
    client.disconnect()


def eventually(check: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


@pytest.fixture
def prefix() -> str:
    return f"vsp-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def bridge(prefix: str) -> Iterator[Bridge]:
    """A bridge on the shared broker at 127.0.0.1:1883, on topics of this test alone."""
    bridge = Bridge("mqtt://127.0.0.1:1883", client_id=f"{prefix}-bridge", routes=routes(prefix))
    bridge.start()
    assert bridge.connected.wait(10), "the bridge did not connect to Mosquitto on 127.0.0.1:1883"
    yield bridge
    bridge.stop()


def test_alarm_resolve_and_heartbeat_land_in_the_database(bridge: Bridge, prefix: str) -> None:
    publish(1883, f"{prefix}/heartbeat/box-1", {"device_id": "box-1", "version": "2.0"})
    publish(1883, f"{prefix}/alert/box-1", report_payload(alarm_id="M-1", device_id="box-1"))
    publish(1883, f"{prefix}/resolve/box-1", {"alarm_id": "M-1", "duration_ms": 1500, "resolve_type": "timeout"})

    assert eventually(lambda: AlarmEvent.objects.filter(pk="M-1", alarm_status="RESOLVED").exists())
    alarm = AlarmEvent.objects.get(pk="M-1")
    assert (alarm.duration_ms, alarm.resolve_type, alarm.device_id) == (1500, "timeout", "box-1")
    device = EdgeDevice.objects.get(pk="box-1")
    assert (device.status, device.version) == ("ONLINE", "2.0")
    assert device.last_heartbeat is not None


def test_malformed_messages_are_skipped_and_the_bridge_carries_on(bridge: Bridge, prefix: str) -> None:
    publish(1883, f"{prefix}/alert/box-2", b"{not json")
    publish(1883, f"{prefix}/alert/box-2", b"[1, 2]")
    publish(1883, f"{prefix}/alert/box-2", {"alarm_id": "bad id", "alarm_type": "x"})
    publish(1883, f"{prefix}/alert/box-2", report_payload(alarm_id="M-2", device_id="box-2"))

    assert eventually(lambda: AlarmEvent.objects.filter(pk="M-2").exists())
    assert AlarmEvent.objects.count() == 1
    assert bridge.connected.is_set()


def test_the_same_rules_apply_as_over_http(bridge: Bridge, prefix: str, settings: Any) -> None:
    settings.EDGE_AUTH_REQUIRED = True
    key = issue_key(EdgeDevice.objects.create(device_id="box-3"))
    topic = f"{prefix}/alert/box-3"
    body = report_payload(alarm_id="M-3", device_id="box-3")

    refused = bridge.handle(topic, json.dumps(body).encode())
    accepted = bridge.handle(topic, json.dumps({**body, "key": key}).encode())

    assert refused is not None
    assert refused.status == 401
    assert accepted is not None
    assert accepted.ok
    assert AlarmEvent.objects.filter(pk="M-3").exists()


@pytest.mark.skipif(not settings.REDIS_URL, reason="the bridge's thread reaches sockets through Redis (CI has it)")
async def test_a_bridged_alarm_reaches_the_sockets(bridge: Bridge, prefix: str) -> None:
    from vsp.asgi import application

    boss = await sync_to_async(make_user)("boss", superuser=True)
    token = (await sync_to_async(issue_tokens)(boss)).access_token
    communicator = WebsocketCommunicator(application, f"/ws/alerts?token={token}&type=smoke")
    assert (await communicator.connect(timeout=5))[0]

    await sync_to_async(publish)(1883, f"{prefix}/alert/box-4", report_payload(alarm_id="M-4", alarm_type="smoke"))

    # The box came online with its report (device events pass a type filter): that event comes first.
    online = await communicator.receive_json_from(timeout=10)
    frame = await communicator.receive_json_from(timeout=10)
    assert online["type"] == "device.status"
    assert (frame["type"], frame["data"]["alarmId"]) == ("alarm.created", "M-4")
    await communicator.disconnect()


def test_the_bridge_survives_a_broker_restart(prefix: str) -> None:
    port = free_port()
    broker = subprocess.Popen([MOSQUITTO, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bridge = Bridge(f"mqtt://127.0.0.1:{port}", client_id=f"{prefix}-restart", routes=routes(prefix))
    try:
        bridge.start()
        assert bridge.connected.wait(10)
        publish(port, f"{prefix}/alert/box-5", report_payload(alarm_id="R-1", device_id="box-5"))
        assert eventually(lambda: AlarmEvent.objects.filter(pk="R-1").exists())

        broker.terminate()
        broker.wait(timeout=10)
        assert eventually(lambda: not bridge.connected.is_set())
        broker = subprocess.Popen([MOSQUITTO, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        assert bridge.connected.wait(40), "the bridge did not reconnect"
        publish(port, f"{prefix}/alert/box-5", report_payload(alarm_id="R-2", device_id="box-5"))
        assert eventually(lambda: AlarmEvent.objects.filter(pk="R-2").exists())
    finally:
        bridge.stop()
        broker.terminate()
        broker.wait(timeout=10)
