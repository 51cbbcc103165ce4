"""Dashboard sockets: ``/ws/alerts`` (the seed's frames) and ``/infra/ws`` (Yudao's envelope).

Consumers are thin: auth comes from ASGI middleware; a socket joins this
process's fan-out (``vsp.fanout``), which hands it the pre-encoded frames its
filter lets through, in order, through a bounded outbox. A client that missed
something catches up from the database: on connect with ``?after_seq=``
(events by number), ``?since=`` or ``?after=`` (alarms by time or by id), or
at any time by sending ``{"type": "catchup", "after_seq": N}``.
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
from vsp import fanout
from vsp.compat.permissions import has_yudao_permission
from vsp.models import DashboardEvent
from vsp.publish import Message, dumps
from vsp.times import TimeFormatError, parse_event_time
from vsp.websocket import query_params

logger = logging.getLogger(__name__)

# Close codes sent before accepting are seen by clients as a refused handshake (HTTP 403).
REFUSED = 4403
BAD_REQUEST = 4400
CATCHUP = "alarm.catchup"


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
        self.everything = self.devices is None and self.types is None and self.levels is None

    def matches(self, event: str, fields: dict[str, Any]) -> bool:
        if self.everything:
            return True
        if self.devices is not None and fields.get("deviceId") not in self.devices:
            return False
        if event == DEVICE_STATUS:
            return True
        if self.levels is not None and fields.get("alarmLevel") not in self.levels:
            return False
        return self.types is None or fields.get("alarmType") in self.types


def parse_seq(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ValueError("after_seq must be a non-negative integer")
    return int(value)


def _catchup_alarms(since: datetime | None, after: str | None) -> dict[str, Any]:
    """Alarms stored since a time, or since an alarm (oldest first)."""
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


def _catchup_events(after_seq: int) -> tuple[int, list[DashboardEvent], bool]:
    """(the seq this brings a client up to, the events after ``after_seq`` oldest first, truncated).

    Truncated means reload over the API: more events than one catch-up carries, or some of them
    already pruned (the table starts past ``after_seq + 1`` and holds nothing up to it).
    """
    limit = settings.WEBSOCKET_CATCHUP_LIMIT
    rows = list(DashboardEvent.objects.filter(seq__gt=after_seq).order_by("seq")[: limit + 1])
    if not rows:
        return max(DashboardEvent.latest_seq(), after_seq), [], False
    pruned = rows[0].seq > after_seq + 1 and not DashboardEvent.objects.filter(seq__lte=after_seq).exists()
    kept = rows[:limit]
    return kept[-1].seq, kept, len(rows) > limit or pruned


class DashboardConsumer(AsyncWebsocketConsumer):
    """One dashboard socket. Subclasses choose the frame format."""

    # Events come from vsp.fanout, not from a channel layer (no per-socket Redis subscription).
    channel_layer_alias = "no channel layer"
    frame_key = "alerts_frame"
    outbox: fanout.Outbox | None = None

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
            after_seq = parse_seq(params["after_seq"][0]) if params.get("after_seq") else None
        except (ValueError, TimeFormatError):
            await self.close(code=BAD_REQUEST)
            return
        self.outbox = fanout.Outbox(self.base_send, accepts=self.frame_for, limit=settings.WEBSOCKET_SEND_QUEUE)
        # Join before reading the catch-up, so nothing falls between the two (a client may see an event twice).
        try:
            await fanout.hub().join(self.outbox)
        except TimeoutError:
            # No event stream to join (Redis away): refused, so the client tries again, and catches up then.
            logger.warning("refusing a dashboard socket: this process is not subscribed to events")
            fanout.hub().leave(self.outbox)
            self.outbox = None
            await self.close(code=fanout.LAGGING)
            return
        await self.accept()
        after = params.get("after", [None])[0]
        if after_seq is not None:
            await self.catch_up_events(after_seq, first=True)
        elif since is not None or after is not None:
            catchup = await database_sync_to_async(_catchup_alarms)(since, after)
            catchup["alarms"] = [
                alarm for alarm in catchup["alarms"] if self.stream_filter.matches(events.ALARM_CREATED, alarm)
            ]
            self.outbox.put(self.catchup_frame(None, catchup), first=True)
        self.outbox.start()

    async def disconnect(self, code: int) -> None:
        if self.outbox is not None:
            fanout.hub().leave(self.outbox)
            await self.outbox.stop()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data == "ping":
            await self.send(text_data="pong")
            return
        request = _json_object(text_data)
        if request.get("type") == "catchup":
            try:
                after_seq = parse_seq(request.get("after_seq"))
            except ValueError:
                logger.debug("ignoring a catch-up request without a valid after_seq: %.100r", text_data)
                return
            await self.catch_up_events(after_seq)

    def frame_for(self, message: Message) -> str | None:
        if self.stream_filter.matches(message["event"], message["filter"]):
            frame: str = message[self.frame_key]
            return frame
        return None

    async def catch_up_events(self, after_seq: int, *, first: bool = False) -> None:
        latest, rows, truncated = await database_sync_to_async(_catchup_events)(after_seq)
        replay = []
        for row in rows:
            data = json.loads(row.data)
            if self.stream_filter.matches(row.type, data):
                replay.append({"seq": row.seq, "type": row.type, "data": data})
        if self.outbox is not None:
            self.outbox.put(self.catchup_frame(latest, {"events": replay, "truncated": truncated}), first=first)

    def catchup_frame(self, seq: int | None, data: dict[str, Any]) -> str:
        head: dict[str, Any] = {"type": CATCHUP} if seq is None else {"type": CATCHUP, "seq": seq}
        return dumps({**head, "data": data})


class YudaoDashboardConsumer(DashboardConsumer):
    """``/infra/ws``: Yudao's ``{"type", "content": "<JSON string>"}``; ``ping`` → ``pong`` at once."""

    frame_key = "infra_frame"

    def catchup_frame(self, seq: int | None, data: dict[str, Any]) -> str:
        head: dict[str, Any] = {"type": CATCHUP} if seq is None else {"type": CATCHUP, "seq": seq}
        return dumps({**head, "content": dumps(data)})


def _json_object(text: str | None) -> dict[str, Any]:
    """A client frame as a JSON object, or {} (Yudao logs and ignores what it cannot route; so do we)."""
    try:
        value = json.loads(text or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
