"""Publishing real-time events to every dashboard: the one module that numbers, encodes and sends them.

Apps build an event's data (``alarms.events``, ``devices.events``) and call
``announce``. The event is numbered by the database (``DashboardEvent.seq``,
in the caller's transaction), encoded once for both socket flavours, and sent
when that transaction commits:

- ``/ws/alerts`` frames are ``{"type", "seq", "data"}``;
- ``/infra/ws`` frames are Yudao's ``{"type", "seq", "content": "<data as a JSON string>"}``.

With ``REDIS_URL`` the message is one ``PUBLISH`` on the dashboard group's
channel of the Redis pub/sub channel layer, in that layer's own serialization,
through one long-lived client per process (events announced together,
``announce_together``, in one pipeline); every server process's fan-out
(``vsp.fanout``) reads it from there. Without Redis it goes straight to the
fan-out of this process. Sending never raises and never waits longer than
EVENT_PUBLISH_TIMEOUT: a failure is counted and logged, and after one the
process stops trying for EVENT_PUBLISH_RETRY_AFTER, so a Redis outage costs
the edge nothing. Dashboards recover what was not sent from the database, by
``seq``. Imports no app.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.test.signals import setting_changed
from django.utils import timezone

from vsp.db import Insert
from vsp.models import DashboardEvent

logger = logging.getLogger(__name__)

DASHBOARD_GROUP = "vsp.dashboards"
# The channel-layer message type, as a Channels consumer in the group would see it.
MESSAGE_TYPE = "broadcast.event"
# What stream filters look at, copied out of the data so that receivers need not parse it.
FILTER_KEYS = ("alarmLevel", "deviceId", "alarmType")

Message = dict[str, Any]

_insert_event = Insert(DashboardEvent)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def build_message(seq: int, event_type: str, data: dict[str, Any], data_json: str) -> Message:
    """The message for one event: both frames encoded, plus what stream filters look at."""
    head = f'{{"type":{dumps(event_type)},"seq":{seq},'
    return {
        "type": MESSAGE_TYPE,
        "event": event_type,
        "seq": seq,
        "filter": {key: data.get(key) for key in FILTER_KEYS},
        "alerts_frame": f'{head}"data":{data_json}}}',
        "infra_frame": f'{head}"content":{dumps(data_json)}}}',
    }


def announce(event_type: str, data: dict[str, Any]) -> int:
    """Number an event now, in the caller's transaction if there is one, and send it once that commits.

    Returns its ``seq``. A rollback takes the event back with the change it announced.
    """
    (seq,) = announce_together([(event_type, data)])
    return seq


def announce_together(events: list[tuple[str, dict[str, Any]]]) -> list[int]:
    """``announce`` each (type, data) in order, and send them together once the transaction commits: one
    round trip to Redis, so that they reach each socket-serving process, and each socket, together."""
    messages = []
    for event_type, data in events:
        data_json = dumps(data)
        event = DashboardEvent(type=event_type, data=data_json, created_at=timezone.now())
        _insert_event(event)
        messages.append(build_message(event.seq, event_type, data, data_json))
    if messages:
        transaction.on_commit(lambda: publisher.send_all(messages), robust=True)
    return [message["seq"] for message in messages]


def group_channel() -> str:
    """The Redis channel of the dashboard group, as ``RedisPubSubChannelLayer`` names it."""
    config: Any = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    return f"{config.get('prefix', 'asgi')}__group__{DASHBOARD_GROUP}"


def encode(message: Message) -> bytes:
    """A message in the channel layer's own serialization (msgpack; encrypted if the layer is set up so)."""
    return bytes(get_channel_layer().serialize(message))


def decode(payload: bytes) -> Message:
    message: Message = get_channel_layer().deserialize(payload)
    return message


@dataclass
class PublishStats:
    """What this process's publishing did; ``/health`` shows it."""

    sent: int = 0
    failed: int = 0
    last_error: str = ""
    failing_since: float | None = None


class Publisher:
    """One per process: a long-lived Redis client (or this process's fan-outs), counters, a short back-off."""

    def __init__(self) -> None:
        self.stats = PublishStats()
        # Receivers in this process, for the embedded default without Redis: each takes a message, thread-safely.
        self.local_receivers: set[Callable[[Message], None]] = set()
        self._client: redis.Redis | None = None
        self._channel = ""
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._last_log = 0.0

    def client(self) -> redis.Redis:
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                self._channel = group_channel()
                self._client = redis.Redis.from_url(
                    settings.REDIS_URL,
                    socket_timeout=settings.EVENT_PUBLISH_TIMEOUT,
                    socket_connect_timeout=settings.EVENT_PUBLISH_TIMEOUT,
                    max_connections=settings.REDIS_MAX_CONNECTIONS,
                    health_check_interval=30,
                )
            return self._client

    def reset(self) -> None:
        """Forget the client and the back-off (the Redis settings changed)."""
        with self._lock:
            client, self._client = self._client, None
            self._retry_at = 0.0
        if client is not None:
            client.close()

    def send(self, message: Message) -> bool:
        """Send one message to every dashboard now; False if it could not be (counted and logged)."""
        return self.send_all([message])

    def send_all(self, messages: list[Message]) -> bool:
        """Send messages to every dashboard now, in order and in one round trip; False if they could not
        be (each counted, and logged)."""
        if not settings.REDIS_URL:
            for message in messages:
                for receive in list(self.local_receivers):
                    try:
                        receive(message)
                    except RuntimeError as exc:  # its event loop has closed: it is going away
                        logger.debug("a local receiver is gone: %s", exc)
            self._sent(len(messages))
            return True
        now = time.monotonic()
        if now < self._retry_at:
            self._failed(now, "not tried: Redis failed moments ago", len(messages))
            return False
        try:
            client = self.client()
            if len(messages) == 1:
                client.publish(self._channel, encode(messages[0]))
            else:
                with client.pipeline(transaction=False) as pipeline:
                    for message in messages:
                        pipeline.publish(self._channel, encode(message))
                    pipeline.execute()
        except Exception as exc:  # a broken or slow Redis must never fail the write that caused the event
            now = time.monotonic()  # the back-off counts from the failure, not from the attempt a timeout made long
            self._retry_at = now + settings.EVENT_PUBLISH_RETRY_AFTER
            self._failed(now, f"{type(exc).__name__}: {exc}", len(messages))
            return False
        self._sent(len(messages))
        return True

    def ping(self) -> bool:
        """Whether the channel layer's Redis answers, through the client events are sent with."""
        return True if not settings.REDIS_URL else bool(self.client().ping())

    def _sent(self, messages: int = 1) -> None:
        stats = self.stats
        stats.sent += messages
        if stats.failing_since is not None:
            logger.warning("publishing events again after %d failures in all", stats.failed)
            stats.failing_since = None

    def _failed(self, now: float, error: str, messages: int = 1) -> None:
        stats = self.stats
        stats.failed += messages
        stats.last_error = error
        first = stats.failing_since is None
        if first:
            stats.failing_since = now
        # One line when it starts, then one every few seconds while it lasts: an outage must not flood the log.
        if first or now - self._last_log >= settings.EVENT_PUBLISH_LOG_EVERY:
            self._last_log = now
            logger.warning("could not publish an event (%d failed in all): %s", stats.failed, error)


publisher = Publisher()


@receiver(setting_changed)
def _redis_settings_changed(setting: str, **kwargs: Any) -> None:
    if setting in ("REDIS_URL", "CHANNEL_LAYERS"):
        publisher.reset()
