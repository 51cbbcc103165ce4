"""Notifications through the real processes: the scheduler's dispatch, a Celery worker on Redis, a robot."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from alarms.tests.factories import make_alarm
from notifications.models import Delivery
from notifications.tests.conftest import make_channel, make_rule, start_reading
from notifications.tests.servers import Robots
from vsp.tests.test_jobs import job_processes, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the worker takes its jobs from Redis"),
]


def test_a_stored_alarm_reaches_the_robot_through_the_scheduler_and_a_worker(robots: Robots, tmp_path: Path) -> None:
    make_rule(make_channel(), levels=[1])
    start_reading(timezone.now() - timedelta(seconds=1))
    env = {
        "NOTIFY_WECOM_BASE_URL": robots.url,
        "NOTIFY_DISPATCH_INTERVAL": "1",
        # This checkout's own Redis database: the shared test broker is emptied by other runs' tests.
        "JOB_BROKER_URL": settings.REDIS_URL,
    }
    with job_processes(tmp_path, "worker", "scheduler", extra_env=env):
        alarm = make_alarm(alarm_level=1, alarm_type="fire")
        make_alarm(alarm_level=3)  # not the rule's level

        assert wait_for(lambda: robots.seen, seconds=60), "no robot message within a minute"

    [seen] = robots.seen
    assert "【一级告警】明火（fire）" in seen.body["markdown"]["content"]
    delivery = Delivery.objects.get()
    assert (delivery.alarm_id, delivery.status, delivery.attempts) == (alarm.pk, "SENT", 1)
