"""One delivery's tries: backoff between them, success after failures, FAILED at the end, and one send each."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from alarms.tests.factories import make_alarm
from notifications import services
from notifications.models import Channel, Delivery
from notifications.tests.conftest import make_channel
from notifications.tests.servers import Robots

pytestmark = pytest.mark.django_db
Status = Delivery.Status


def pending(channel: Channel) -> Delivery:
    now = timezone.now()
    return Delivery.objects.create(channel=channel, alarm=make_alarm(alarm_level=1), created_at=now, due_at=now)


def test_failed_tries_are_retried_with_exponential_backoff_then_succeed(robots: Robots) -> None:
    robots.then("500", "502")
    delivery = pending(make_channel(Channel.Kind.DINGTALK))
    start = timezone.now()
    waits = []

    with time_machine.travel(start, tick=False):
        assert services.deliver(delivery.pk) == "retry"
        assert services.deliver(delivery.pk) == "skipped"  # not due yet: a duplicate message sends nothing
    delivery.refresh_from_db()
    assert delivery.due_at is not None
    waits.append(delivery.due_at - start)
    with time_machine.travel(delivery.due_at, tick=False):
        assert services.deliver(delivery.pk) == "retry"
    retried_at = delivery.due_at
    delivery.refresh_from_db()
    assert delivery.due_at is not None
    waits.append(delivery.due_at - retried_at)
    assert (delivery.last_error, delivery.response_code) == ('HTTP 502: {"error": "scripted"}', 502)
    with time_machine.travel(delivery.due_at, tick=False):
        assert services.deliver(delivery.pk) == "SENT"  # as the retry's delayed message runs it

    delivery.refresh_from_db()
    assert waits == [timedelta(seconds=5), timedelta(seconds=10)]
    assert (delivery.status, delivery.attempts, delivery.response_code, delivery.last_error) == ("SENT", 3, 200, "")
    assert len(robots.seen) == 1


def test_a_delivery_failing_every_try_is_failed_with_its_last_error(robots: Robots, settings: Any) -> None:
    settings.NOTIFY_MAX_ATTEMPTS = 3
    robots.then("503", "503", "45009")
    delivery = pending(make_channel(Channel.Kind.WECOM))
    moment = timezone.now()
    outcomes = []

    for _ in range(3):
        with time_machine.travel(moment, tick=False):
            outcomes.append(services.deliver(delivery.pk))
        delivery.refresh_from_db()
        moment = delivery.due_at or moment

    assert outcomes == ["retry", "retry", "FAILED"]
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("FAILED", 3, "errcode 45009: scripted")
    assert delivery.finished_at is not None
    assert robots.seen == []


def test_a_delivery_sent_is_not_sent_again_by_a_second_message(robots: Robots) -> None:
    delivery = pending(make_channel())

    assert services.deliver(delivery.pk) == "SENT"
    assert services.deliver(delivery.pk) == "skipped"
    assert len(robots.seen) == 1


def test_a_try_whose_worker_died_is_taken_over_after_its_lease_and_counted(robots: Robots) -> None:
    delivery = pending(make_channel())
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Status.SENDING, attempts=1, lease_until=now - timedelta(seconds=1), sent_at=now - timedelta(hours=1)
    )

    assert services.send_due() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("SENT", 2)


def test_a_disabled_channel_s_deliveries_are_skipped(robots: Robots) -> None:
    delivery = pending(make_channel(enabled=False))

    assert services.deliver(delivery.pk) == "SKIPPED"
    assert robots.seen == []
