"""Publishing: numbered events, the channel layer's wire format, failures counted, the event table pruned."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from vsp.env import redis_channel_prefix
from vsp.models import DashboardEvent
from vsp.publish import DASHBOARD_GROUP, announce, announce_together, build_message, group_channel, publisher

pytestmark = pytest.mark.django_db(transaction=True)


def test_both_frames_carry_the_number_and_the_data_encoded_once() -> None:
    message = build_message(
        41, "alarm.created", {"alarmId": "A-1", "alarmLevel": 2}, '{"alarmId":"A-1","alarmLevel":2}'
    )

    assert json.loads(message["alerts_frame"]) == {
        "type": "alarm.created",
        "seq": 41,
        "data": {"alarmId": "A-1", "alarmLevel": 2},
    }
    infra = json.loads(message["infra_frame"])
    assert (infra["type"], infra["seq"], json.loads(infra["content"])) == (
        "alarm.created",
        41,
        {"alarmId": "A-1", "alarmLevel": 2},
    )
    assert message["filter"] == {"alarmLevel": 2, "deviceId": None, "alarmType": None}


def test_an_event_is_numbered_in_its_transaction_and_taken_back_with_it() -> None:
    with transaction.atomic():
        first = announce("alarm.updated", {"alarmId": "T-1"})
        second = announce("alarm.updated", {"alarmId": "T-2"})
    assert second > first

    def failing_change() -> None:
        with transaction.atomic():
            announce("alarm.updated", {"alarmId": "T-3"})
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        failing_change()
    assert list(DashboardEvent.objects.values_list("seq", flat=True)) == [first, second]
    assert json.loads(DashboardEvent.objects.get(seq=second).data) == {"alarmId": "T-2"}


@pytest.mark.skipif(not settings.REDIS_URL, reason="the channel layer's Redis (CI has it)")
async def test_a_plain_channels_consumer_of_the_group_understands_what_is_published() -> None:
    # The channel layer as any Channels consumer in the dashboard group would use it.
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(DASHBOARD_GROUP, channel)
    try:
        assert publisher.send(build_message(7, "alarm.created", {"alarmId": "CL-1"}, '{"alarmId":"CL-1"}'))
        message = await asyncio.wait_for(layer.receive(channel), timeout=5)
    finally:
        await layer.group_discard(DASHBOARD_GROUP, channel)
        await layer.flush()
    assert (message["type"], message["event"], message["seq"]) == ("broadcast.event", "alarm.created", 7)
    assert json.loads(message["alerts_frame"])["data"] == {"alarmId": "CL-1"}


@pytest.mark.skipif(not settings.REDIS_URL, reason="the channel layer's Redis (CI has it)")
def test_events_announced_together_go_out_in_order_in_one_round_trip() -> None:
    """A new box's status and its first alarm: numbered in order, published once the change commits, as
    one pipeline, and counted one by one."""
    subscriber = redis.Redis.from_url(settings.REDIS_URL).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(group_channel())
    sent = publisher.stats.sent
    commands = redis.Redis.from_url(settings.REDIS_URL).info("commandstats").get("cmdstat_publish", {}).get("calls", 0)
    try:
        with transaction.atomic():
            seqs = announce_together([("device.status", {"deviceId": "box-1"}), ("alarm.created", {"alarmId": "N-1"})])
            assert publisher.stats.sent == sent  # nothing before the commit
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + 5
        while len(received) < 2 and time.monotonic() < deadline:
            item = subscriber.get_message(timeout=0.5)  # None for the subscription's own confirmation too
            if item is not None:
                received.append(get_channel_layer().deserialize(item["data"]))
    finally:
        subscriber.close()
    assert [(message["seq"], message["event"]) for message in received] == list(
        zip(seqs, ["device.status", "alarm.created"], strict=True)
    )
    assert seqs[1] == seqs[0] + 1
    assert publisher.stats.sent == sent + 2
    after = redis.Redis.from_url(settings.REDIS_URL).info("commandstats")["cmdstat_publish"]["calls"]
    assert after - commands == 2  # one PUBLISH each
    assert announce_together([]) == []


def test_a_failed_publish_is_counted_and_the_next_ones_do_not_wait(settings: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # the discard port: refused
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": settings.REDIS_URL}]},
        }
    }
    failed = publisher.stats.failed
    message = build_message(1, "alarm.created", {}, "{}")

    assert publisher.send(message) is False
    assert publisher.send(message) is False  # within the back-off: not even tried
    assert publisher.stats.failed == failed + 2
    assert publisher.stats.failing_since is not None
    assert "not tried" in publisher.stats.last_error


def test_prune_events_keeps_the_recent_ones_and_always_the_newest() -> None:
    old = timezone.now() - timedelta(hours=settings.DASHBOARD_EVENT_RETENTION_HOURS + 1)
    for _ in range(3):
        DashboardEvent.objects.create(type="alarm.created", data="{}", created_at=old)
    recent = DashboardEvent.objects.create(type="alarm.created", data="{}", created_at=timezone.now())
    out = StringIO()

    call_command("prune_events", stdout=out)

    assert list(DashboardEvent.objects.values_list("seq", flat=True)) == [recent.seq]
    assert "deleted 3 dashboard event(s)" in out.getvalue()
    recent.created_at = old
    recent.save()
    call_command("prune_events", stdout=StringIO())
    assert DashboardEvent.objects.filter(seq=recent.seq).exists()  # the newest stays, however old


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis")
def test_deployments_in_different_redis_databases_do_not_hear_each_other(settings: Any) -> None:
    assert settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] == redis_channel_prefix(settings.REDIS_URL)
    base = settings.REDIS_URL.rsplit("/", 1)[0]

    def channel_at(database: int) -> str:
        url = f"{base}/{database}"
        settings.REDIS_URL = url
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [{"address": url}], "prefix": redis_channel_prefix(url)},
            }
        }
        return group_channel()

    other = channel_at(7)
    listener = redis.Redis.from_url(f"{base}/7").pubsub(ignore_subscribe_messages=True)
    listener.subscribe(other)
    try:
        assert listener.get_message(timeout=1) is None  # the subscription confirmed
        channel_at(6)
        assert publisher.send(build_message(1, "test.event", {}, "{}"))
        assert listener.get_message(timeout=0.5) is None  # db 6's dashboards only
        channel_at(7)
        assert publisher.send(build_message(2, "test.event", {}, "{}"))
        heard = listener.get_message(timeout=2)
        assert heard is not None
        assert heard["channel"].decode() == other
    finally:
        listener.close()
