"""The dispatch: which alarms the rules send, the cooldown, quiet hours, reminders and the sweep."""

from __future__ import annotations

import threading
from datetime import datetime, time, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from alarms.models import AlarmEvent, HandleStatus
from alarms.tests.factories import make_alarm
from notifications import services
from notifications.models import Channel, Cooldown, Delivery, Rule
from notifications.tests.conftest import make_channel, make_rule, start_reading
from notifications.tests.servers import Robots

Status = Delivery.Status
Kind = Delivery.Kind


def local(text: str) -> datetime:
    """A time in TIME_ZONE (Asia/Shanghai)."""
    return timezone.make_aware(datetime.fromisoformat(text))


def stored_at(moment: datetime, **fields: Any) -> AlarmEvent:
    """An alarm as a report stores it at that time."""
    alarm = make_alarm(**fields)
    AlarmEvent.objects.filter(pk=alarm.pk).update(created_at=moment)
    alarm.created_at = moment
    return alarm


def alerts() -> list[tuple[str, str]]:
    return sorted(Delivery.objects.filter(kind=Kind.ALERT).values_list("alarm_id", "status"))


@pytest.mark.django_db
def test_a_rule_matches_by_level_type_and_device_and_empty_means_any(robots: Robots) -> None:
    wecom = make_channel()
    make_rule(wecom, name="critical helmets on cam-1", levels=[1], alarm_types=["no_helmet"], device_ids=["cam-1"])
    make_rule(wecom, name="every smoke", alarm_types=["smoke"])
    now = timezone.now()
    start_reading(now - timedelta(seconds=1))
    wanted = make_alarm(alarm_id="wanted", alarm_level=1, alarm_type="no_helmet", device_id="cam-1")
    make_alarm(alarm_id="level-2", alarm_level=2, alarm_type="no_helmet", device_id="cam-1")
    make_alarm(alarm_id="other-device", alarm_level=1, alarm_type="no_helmet", device_id="cam-2")
    make_alarm(alarm_id="other-type", alarm_level=1, alarm_type="intrusion", device_id="cam-1")
    smoke = make_alarm(alarm_id="any-smoke", alarm_level=4, alarm_type="smoke", device_id="cam-9")

    services.dispatch()

    assert alerts() == [(smoke.pk, Status.SENT), (wanted.pk, Status.SENT)]
    assert len(robots.seen) == 2


@pytest.mark.django_db
def test_a_storm_of_50_alarms_of_one_device_and_type_sends_one_per_cooldown_window(robots: Robots) -> None:
    rule = make_rule(make_channel(), cooldown_seconds=300)
    first = local("2026-12-03 10:00:00")
    start_reading(first)
    storm = [stored_at(first + timedelta(seconds=index), device_id="cam-1", alarm_type="smoke") for index in range(50)]
    elsewhere = stored_at(first + timedelta(seconds=3), device_id="cam-2", alarm_type="smoke")

    with time_machine.travel(first + timedelta(seconds=60), tick=False):
        services.dispatch()
        services.dispatch()  # the same alarms read again
    assert alerts() == [(storm[0].pk, Status.SENT), (elsewhere.pk, Status.SENT)]

    after_window = stored_at(first + timedelta(seconds=301), device_id="cam-1", alarm_type="smoke")
    with time_machine.travel(first + timedelta(seconds=302), tick=False):
        services.dispatch()
    assert alerts() == sorted([(storm[0].pk, "SENT"), (elsewhere.pk, "SENT"), (after_window.pk, "SENT")])
    assert len(robots.seen) == 3
    assert Cooldown.objects.get(rule=rule, device_id="cam-1").alarm_id == after_window.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatches_of_a_storm_write_one_delivery_per_window() -> None:
    channels = [make_channel(Channel.Kind.WEBHOOK, url="http://127.0.0.1:9/hook") for _ in range(2)]
    make_rule(*channels, cooldown_seconds=600)
    first = timezone.now() - timedelta(seconds=5)
    start_reading(first)
    storm = [
        stored_at(first + timedelta(milliseconds=10 * index), device_id="cam-1", alarm_type="fire")
        for index in range(50)
    ]
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            barrier.wait()
            services.read_alarms()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    written = list(Delivery.objects.values_list("alarm_id", "channel_id", "status"))
    assert sorted(written) == sorted((storm[0].pk, channel.pk, Status.PENDING) for channel in channels)
    assert Cooldown.objects.count() == 1


@pytest.mark.django_db
def test_an_alarm_whose_report_committed_late_is_still_read_once(robots: Robots) -> None:
    make_rule(make_channel(), cooldown_seconds=0)
    now = timezone.now()
    start_reading(now - timedelta(seconds=5))
    on_time = make_alarm(alarm_id="on-time")
    services.dispatch()
    late = stored_at(now - timedelta(seconds=3), alarm_id="late-commit")  # stored before the cursor

    services.dispatch()
    services.dispatch()

    assert alerts() == [(late.pk, Status.SENT), (on_time.pk, Status.SENT)]
    assert len(robots.seen) == 2


@pytest.mark.django_db
def test_the_first_dispatch_starts_now_and_sends_no_history(robots: Robots) -> None:
    make_rule(make_channel())
    make_alarm(alarm_id="old")

    services.dispatch()
    new = make_alarm(alarm_id="new")
    services.dispatch()

    assert alerts() == [(new.pk, Status.SENT)]


def test_quiet_hours_may_cross_midnight() -> None:
    night = Rule(quiet_start=time(22, 0), quiet_end=time(7, 0))
    lunch = Rule(quiet_start=time(12, 0), quiet_end=time(13, 30))
    assert [night.is_quiet(time(hour, minute)) for hour, minute in [(21, 59), (22, 0), (0, 0), (6, 59), (7, 0)]] == [
        False,
        True,
        True,
        True,
        False,
    ]
    assert [lunch.is_quiet(time(hour, minute)) for hour, minute in [(11, 59), (12, 0), (13, 29), (13, 30)]] == [
        False,
        True,
        True,
        False,
    ]
    assert not Rule().is_quiet(time(3, 0))


@pytest.mark.django_db
def test_nothing_is_sent_in_quiet_hours_across_midnight_and_the_skip_is_logged(robots: Robots) -> None:
    make_rule(make_channel(), quiet_start=time(22, 0), quiet_end=time(7, 0), cooldown_seconds=60)
    start_reading(local("2026-12-03 23:00:00"))
    at_night = stored_at(local("2026-12-03 23:30:00"), device_id="cam-1")
    before_dawn = stored_at(local("2026-12-04 06:59:00"), device_id="cam-2")
    morning = stored_at(local("2026-12-04 07:00:00"), device_id="cam-3")

    with time_machine.travel(local("2026-12-04 07:00:10"), tick=False):
        services.dispatch()

    assert alerts() == [(at_night.pk, Status.SKIPPED), (before_dawn.pk, Status.SKIPPED), (morning.pk, Status.SENT)]
    skipped = Delivery.objects.get(alarm=at_night)
    assert (skipped.last_error, skipped.attempts) == ("quiet hours", 0)
    assert len(robots.seen) == 1


@pytest.mark.django_db
def test_an_unhandled_alarm_is_reminded_every_n_minutes_at_most_m_times(robots: Robots) -> None:
    make_rule(make_channel(), remind_every_minutes=10, remind_max=2)
    start = local("2026-12-03 10:00:00")
    start_reading(start)
    alarm = stored_at(start + timedelta(seconds=1), alarm_level=1, alarm_type="fire")

    for minutes in (0, 5, 10, 15, 20, 30, 40):
        with time_machine.travel(start + timedelta(minutes=minutes, seconds=2), tick=False):
            services.dispatch()

    sent = list(Delivery.objects.order_by("created_at").values_list("kind", "n", "status"))
    assert sent == [(Kind.ALERT, 0, Status.SENT), (Kind.REMINDER, 1, Status.SENT), (Kind.REMINDER, 2, Status.SENT)]
    texts = robots.texts("wecom")
    assert "第1次提醒" in texts[1]
    assert "第2次提醒" in texts[2]
    assert alarm.pk in texts[2]


@pytest.mark.django_db
def test_a_handled_alarm_is_not_reminded(robots: Robots) -> None:
    make_rule(make_channel(), remind_every_minutes=10, remind_max=3)
    start = local("2026-12-03 10:00:00")
    start_reading(start)
    alarm = stored_at(start + timedelta(seconds=1))
    with time_machine.travel(start + timedelta(seconds=2), tick=False):
        services.dispatch()
    AlarmEvent.objects.filter(pk=alarm.pk).update(handle_status=HandleStatus.HANDLED)

    with time_machine.travel(start + timedelta(minutes=11), tick=False):
        services.dispatch()

    assert list(Delivery.objects.values_list("kind", flat=True)) == [Kind.ALERT]
    assert len(robots.seen) == 1


@pytest.mark.django_db
def test_a_reminder_written_before_the_alarm_was_handled_is_skipped_when_its_turn_comes(robots: Robots) -> None:
    rule = make_rule(make_channel(), remind_every_minutes=10)
    alarm = make_alarm()
    now = timezone.now()
    reminder = Delivery.objects.create(
        rule=rule, channel=rule.channels.get(), alarm=alarm, kind=Kind.REMINDER, n=1, created_at=now, due_at=now
    )
    AlarmEvent.objects.filter(pk=alarm.pk).update(handle_status=HandleStatus.HANDLING)

    assert services.deliver(reminder.pk) == Status.SKIPPED
    assert robots.seen == []


@pytest.mark.django_db
def test_the_sweep_sends_again_a_pending_delivery_whose_message_was_lost(robots: Robots, settings: Any) -> None:
    settings.NOTIFY_SWEEP_GRACE = 120
    channel = make_channel()
    alarm = make_alarm()
    now = timezone.now()
    lost = Delivery.objects.create(
        channel=channel, alarm=alarm, created_at=now - timedelta(minutes=5), due_at=now - timedelta(minutes=5)
    )
    Delivery.objects.filter(pk=lost.pk).update(sent_at=now - timedelta(minutes=5))  # sent, never run
    recent = Delivery.objects.create(channel=channel, alarm=make_alarm(), created_at=now, due_at=now)
    Delivery.objects.filter(pk=recent.pk).update(sent_at=now)  # sent a moment ago: its job may yet run

    assert services.send_due() == 1

    lost.refresh_from_db()
    assert (lost.status, lost.attempts) == (Status.SENT, 1)
    assert Delivery.objects.get(pk=recent.pk).status == Status.PENDING
    assert len(robots.seen) == 1


@pytest.mark.django_db
def test_a_storm_larger_than_a_batch_does_not_hold_the_cursor_back(settings: Any) -> None:
    settings.NOTIFY_DISPATCH_BATCH = 100
    make_rule(make_channel(), cooldown_seconds=600)
    first = timezone.now() - timedelta(seconds=5)
    start_reading(first)
    for index in range(250):  # within the re-read window, each of its own device
        stored_at(first + timedelta(milliseconds=index), alarm_id=f"storm-{index:03d}", device_id=f"cam-{index}")

    written = [services.read_alarms() for _ in range(3)]
    late = stored_at(first + timedelta(milliseconds=240), alarm_id="late-commit", device_id="cam-late")
    written.append(services.read_alarms())

    assert written == [101, 100, 49, 1]  # the first at the cursor itself is read by the window
    assert Delivery.objects.count() == 251
    assert Cooldown.objects.filter(alarm_id=late.pk).exists()


@pytest.mark.django_db
def test_a_reminder_due_in_quiet_hours_is_skipped_and_logged(robots: Robots) -> None:
    make_rule(make_channel(), remind_every_minutes=10, remind_max=2, quiet_start=time(22, 0), quiet_end=time(7, 0))
    start = local("2026-12-03 21:50:00")
    start_reading(start)
    stored_at(start + timedelta(seconds=1))

    for minutes in (0, 10, 20):
        with time_machine.travel(start + timedelta(minutes=minutes, seconds=2), tick=False):
            services.dispatch()

    logged = list(Delivery.objects.order_by("created_at").values_list("kind", "n", "status", "last_error"))
    assert logged == [
        (Kind.ALERT, 0, Status.SENT, ""),
        (Kind.REMINDER, 1, Status.SKIPPED, "quiet hours"),
        (Kind.REMINDER, 2, Status.SKIPPED, "quiet hours"),
    ]
    assert len(robots.seen) == 1
