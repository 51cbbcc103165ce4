"""Dashboard sockets: ``/ws/alerts`` (the seed's frames) and ``/infra/ws`` (Yudao's envelope).

Consumers are thin: auth comes from ASGI middleware, they join one group,
filter what a client asked for, and send pre-encoded frames.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from alarms import events
from alarms.models import AlarmEvent
from devices.events import DEVICE_STATUS
from vsp.compat.permissions import has_yudao_permission
from vsp.publish import DASHBOARD_GROUP
from vsp.times import TimeFormatError, parse_event_time
from vsp.websocket import query_params

logger = logging.getLogger(__name__)

# Close codes sent before accepting are seen by clients as a refused handshake (HTTP 403).
REFUSED = 4403
BAD_REQUEST = 4400


class StreamFilter:
    """What one client wants to see: ``?level=1,2&device=cam-01&type=smoke`` (each optional)."""

    def __init__(self, params: dict[str, list[str]]) -> None:
        def values(name: str) -> set[str] | None:
            items = {item.strip() for raw in params.get(name, []) for item in raw.split(",") if item.strip()}
            return items or None

        self.devices = values("device")
        self.types = values("type")
        levels = values("level")
        if levels is not None and not levels <= {"1", "2", "3", "4"}:
            raise ValueError("level must be a comma-separated list of 1-4")
        self.levels = {int(level) for level in levels} if levels is not None else None

    def matches(self, event: str, fields: dict[str, Any]) -> bool:
        if self.devices is not None and fields.get("deviceId") not in self.devices:
            return False
        if event == DEVICE_STATUS:
            return True
        if self.levels is not None and fields.get("alarmLevel") not in self.levels:
            return False
        return self.types is None or fields.get("alarmType") in self.types


def _catchup(since: datetime | None, after: str | None) -> dict[str, Any]:
    alarms = AlarmEvent.objects.with_device_name().order_by("created_at", "alarm_id")
    if after is not None:
        anchor = AlarmEvent.objects.filter(pk=after).values_list("created_at", flat=True).first()
        if anchor is None:
            # An alarm we do not know: we cannot tell what was missed, so the client must reload.
            return {"alarms": [], "truncated": True}
        since = max(since, anchor) if since else anchor
    if since is not None:
        alarms = alarms.filter(created_at__gt=since)
    limit = settings.WEBSOCKET_CATCHUP_LIMIT
    rows = list(alarms[: limit + 1])
    return {"alarms": [events.alarm_data(alarm) for alarm in rows[:limit]], "truncated": len(rows) > limit}


class DashboardConsumer(AsyncWebsocketConsumer):
    """One dashboard socket. Subclasses choose the frame format."""

    frame_key = "alerts_frame"

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=REFUSED)
            return
        if not await database_sync_to_async(has_yudao_permission)(user, "aiot:alarm:query"):
            await self.close(code=REFUSED)
            return
        params = query_params(self.scope)
        try:
            self.stream_filter = StreamFilter(params)
            since = parse_event_time(params["since"][0]) if params.get("since") else None
        except (ValueError, TimeFormatError):
            await self.close(code=BAD_REQUEST)
            return
        # Join before reading the catch-up, so nothing falls between the two (a client may see an alarm twice).
        await self.channel_layer.group_add(DASHBOARD_GROUP, self.channel_name)
        await self.accept()
        after = params.get("after", [None])[0]
        if since is not None or after is not None:
            catchup = await database_sync_to_async(_catchup)(since, after)
            catchup["alarms"] = [
                alarm for alarm in catchup["alarms"] if self.stream_filter.matches(events.ALARM_CREATED, alarm)
            ]
            await self.send_data("alarm.catchup", catchup)

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(DASHBOARD_GROUP, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data == "ping":
            await self.send(text_data="pong")

    async def broadcast_event(self, message: dict[str, Any]) -> None:
        if self.stream_filter.matches(message["event"], message["filter"]):
            await self.send(text_data=message[self.frame_key])

    async def send_data(self, event_type: str, data: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({"type": event_type, "data": data}, ensure_ascii=False))


class YudaoDashboardConsumer(DashboardConsumer):
    """``/infra/ws``: Yudao's ``{"type", "content": "<JSON string>"}``; ``ping`` → ``pong`` at once."""

    frame_key = "infra_frame"

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data == "ping":
            await self.send(text_data="pong")
            return
        # Yudao logs and ignores anything else it cannot route; so do we.
        logger.debug("ignoring a client frame on /infra/ws: %.100r", text_data)

    async def send_data(self, event_type: str, data: dict[str, Any]) -> None:
        content = json.dumps(data, ensure_ascii=False)
        await self.send(text_data=json.dumps({"type": event_type, "content": content}, ensure_ascii=False))
