"""Publishing real-time events to every dashboard: the one module that encodes and sends them.

Apps build an event's data (``alarms.events``, ``devices.events``) and hand it
here. Each event is encoded once, for both socket flavours, before it is sent:
``/ws/alerts`` frames are ``{"type", "data"}``; ``/infra/ws`` frames are
Yudao's ``{"type", "content": "<data as a JSON string>"}``. Sending waits at
most ``EVENT_PUBLISH_TIMEOUT`` and never raises: a dashboard that misses an
event catches up on reconnect. Imports no app.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

logger = logging.getLogger(__name__)

DASHBOARD_GROUP = "vsp.dashboards"
# The channel-layer message type; consumers handle it in ``broadcast_event``.
MESSAGE_TYPE = "broadcast.event"


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def build_message(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The channel-layer message for one event: both frames pre-encoded, plus what filters look at."""
    return {
        "type": MESSAGE_TYPE,
        "event": event_type,
        "filter": {key: data.get(key) for key in ("alarmLevel", "deviceId", "alarmType")},
        "alerts_frame": dumps({"type": event_type, "data": data}),
        "infra_frame": dumps({"type": event_type, "content": dumps(data)}),
    }


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
