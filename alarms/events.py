"""Real-time events: the one module that builds and sends them (CONTRACT §5).

Every dashboard socket is in one group. An event carries the compat
representation of what changed, and is encoded once for both socket
flavours before it is sent:

==================  ==========================================================
type                data
==================  ==========================================================
``alarm.created``   the alarm, as ``AlarmCompatSerializer`` (page row shape)
``alarm.updated``   the alarm after staff handled it
``alarm.resolved``  the alarm after the edge said the event is over
``alarm.analyzed``  the alarm after an LLM analysis finished
``device.status``   the device, as ``DeviceCompatSerializer``
==================  ==========================================================

``/ws/alerts`` frames are ``{"type", "data"}``; ``/infra/ws`` frames are
Yudao's ``{"type", "content": "<data as a JSON string>"}``. Services schedule
events with ``transaction.on_commit``; sending waits at most
``EVENT_PUBLISH_TIMEOUT`` and never raises: a dashboard that misses an event
catches up on reconnect.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from alarms.models import AlarmEvent
from devices.models import EdgeDevice
from vsp.compat.representation import AlarmCompatSerializer, DeviceCompatSerializer

logger = logging.getLogger(__name__)

DASHBOARD_GROUP = "vsp.dashboards"
# The channel-layer message type; consumers handle it in ``broadcast_event``.
MESSAGE_TYPE = "broadcast.event"

ALARM_CREATED = "alarm.created"
ALARM_UPDATED = "alarm.updated"
ALARM_RESOLVED = "alarm.resolved"
ALARM_ANALYZED = "alarm.analyzed"
DEVICE_STATUS = "device.status"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def build_message(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The channel-layer message for one event: both frames pre-encoded, plus what filters look at."""
    return {
        "type": MESSAGE_TYPE,
        "event": event_type,
        "filter": {key: data.get(key) for key in ("alarmLevel", "deviceId", "alarmType")},
        "alerts_frame": _dumps({"type": event_type, "data": data}),
        "infra_frame": _dumps({"type": event_type, "content": _dumps(data)}),
    }


def alarm_data(alarm: AlarmEvent) -> dict[str, Any]:
    data: dict[str, Any] = AlarmCompatSerializer(alarm).data
    return data


def device_data(device: EdgeDevice) -> dict[str, Any]:
    data: dict[str, Any] = DeviceCompatSerializer(device).data
    return data


async def _send(message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    await asyncio.wait_for(layer.group_send(DASHBOARD_GROUP, message), timeout=settings.EVENT_PUBLISH_TIMEOUT)


def publish(event_type: str, data: dict[str, Any]) -> bool:
    """Send one event to every dashboard now; False (and a log line) if the channel layer failed."""
    try:
        async_to_sync(_send)(build_message(event_type, data))
    except Exception as exc:  # a broken or slow layer must never fail the write that caused the event
        logger.warning("could not publish %s: %s: %s", event_type, type(exc).__name__, exc)
        return False
    return True


def publish_alarm(event_type: str, alarm_id: str) -> bool:
    alarm = AlarmEvent.objects.with_device_name().filter(pk=alarm_id).first()
    return alarm is not None and publish(event_type, alarm_data(alarm))


def alarm_changed(event_type: str, alarm_id: str) -> None:
    """Announce an alarm event once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: publish_alarm(event_type, alarm_id), robust=True)


def device_status_changed(device_id: str) -> None:
    def send() -> None:
        device = EdgeDevice.objects.with_today_alarm_count().filter(pk=device_id).first()
        if device is not None:
            publish(DEVICE_STATUS, device_data(device))

    transaction.on_commit(send, robust=True)
