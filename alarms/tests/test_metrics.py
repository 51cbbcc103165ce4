"""GET /api/v1/alerts/metrics/ on a known data set, every number worked out by hand."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from rest_framework.test import APIClient

from alarms import services
from alarms.metrics import Histogram, percentile, rebuild_timings, roll_up, roll_up_day, shift_of, significant
from alarms.models import AlarmEvent, AlarmStatus, AlarmTiming, AlarmTimingDay, AlarmTimingRollup, HandleStatus
from alarms.tests.factories import aware, make_alarm, make_device
from vsp.env import Shift, env_shifts

pytestmark = pytest.mark.django_db

URL = "/api/v1/alerts/metrics/"
# "Now" for these tests: 2026-11-27 15:00 in Asia/Shanghai. Shifts: 白班 08:00-20:00, 夜班 20:00-08:00.
NOW = "2026-11-27T07:00:00Z"
SHIFTS = [Shift("白班", 8 * 60, 20 * 60), Shift("夜班", 20 * 60, 8 * 60)]


def stored(local: str, **fields: Any) -> AlarmEvent:
    """An alarm stored (``created_at``) and happening at a local wall-clock time."""
    moment = aware(local)
    with time_machine.travel(moment, tick=False):
        return make_alarm(event_time=moment, **fields)


def handle(alarm: AlarmEvent, after_seconds: int, by: str, handle_status: str, **fields: Any) -> None:
    services.handle_alarm(
        alarm.alarm_id,
        handle_status=handle_status,
        actor=services.Actor(name=by),
        now=alarm.created_at + timedelta(seconds=after_seconds),
        **fields,
    )


@pytest.fixture
def data_set(settings: Any) -> None:
    settings.SHIFTS = SHIFTS
    make_device("cam-01", name="East gate")
    make_device("cam-02", name="Warehouse")
    # Handled twice: taken up by alice after a minute, resolved by bob after five. MTTA 60, MTTR 300.
    a1 = stored("2026-11-27 09:00:00", alarm_type="smoke", device_id="cam-01")
    handle(a1, 60, "alice", HandleStatus.HANDLING)
    handle(a1, 300, "bob", HandleStatus.HANDLED, alarm_status=AlarmStatus.RESOLVED)
    # A false alarm, marked so and resolved at once after two minutes: MTTA 120, MTTR 120.
    a2 = stored("2026-11-27 10:00:00", alarm_type="smoke", device_id="cam-02")
    handle(a2, 120, "alice", HandleStatus.IGNORED, alarm_status=AlarmStatus.RESOLVED)
    # Taken up after ten minutes, then reopened: MTTA 600, not resolved, back in the backlog (17 h old).
    a3 = stored("2026-11-26 22:00:00", alarm_type="intrusion", device_id="cam-01")
    handle(a3, 600, "bob", HandleStatus.HANDLING)
    handle(a3, 900, "bob", HandleStatus.UNHANDLED)
    # Never handled; the edge said it is over, which is no resolve by staff. Backlog, 7.5 h old.
    stored("2026-11-27 07:30:00", alarm_type="intrusion", device_id="cam-02", alarm_status=AlarmStatus.RESOLVED)
    # Never handled, an hour old.
    stored("2026-11-27 14:00:00", alarm_type="smoke", device_id="cam-01")
    # Long before the default range (the last 7 days): in no figure unless asked for.
    old = stored("2026-10-01 08:00:00", alarm_type="smoke", device_id="cam-01")
    handle(old, 5, "carol", HandleStatus.HANDLED)


def get(client: APIClient, **params: Any) -> Any:
    with time_machine.travel(NOW, tick=False):
        response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def backlog(count: int, oldest: str | None, oldest_age: float | None, median_age: float | None) -> dict[str, Any]:
    return {"count": count, "oldest": oldest, "oldest_age_seconds": oldest_age, "median_age_seconds": median_age}


OVERALL = {
    "acknowledged": 3,
    "mtta_seconds": 260.0,
    "mtta_p50_seconds": 120.0,
    "mtta_p90_seconds": 504.0,  # [60, 120, 600]: 1.8 ranks in, 120 + 0.8 × 480
    "resolved": 2,
    "mttr_seconds": 210.0,
    "mttr_p50_seconds": 210.0,
    "mttr_p90_seconds": 282.0,  # [120, 300]: 120 + 0.9 × 180
    "handled": 2,
    "false_alarms": 1,
    "false_alarm_rate": 0.5,
    "backlog": backlog(3, "2026-11-26T22:00:00+08:00", 61200.0, 27000.0),
}


@pytest.mark.usefixtures("data_set")
def test_overall_figures_of_the_last_seven_days(staff_client: APIClient, django_assert_max_num_queries: Any) -> None:
    # session, user; the days rolled up (none); the handled alarms' timings; the backlog
    with django_assert_max_num_queries(5):
        body = get(staff_client)
    assert body["from"] == "2026-11-21T00:00:00+08:00"
    assert body["to"] == "2026-11-27T15:00:00+08:00"
    assert body["overall"] == OVERALL
    assert "groups" not in body


@pytest.mark.usefixtures("data_set")
def test_per_type(staff_client: APIClient) -> None:
    body = get(staff_client, group_by="type")
    assert body["overall"] == OVERALL
    intrusion, smoke = body["groups"]
    assert intrusion == {
        "key": "intrusion",
        "acknowledged": 1,
        **{"mtta_seconds": 600.0, "mtta_p50_seconds": 600.0, "mtta_p90_seconds": 600.0},
        "resolved": 0,
        **{"mttr_seconds": None, "mttr_p50_seconds": None, "mttr_p90_seconds": None},
        **{"handled": 0, "false_alarms": 0, "false_alarm_rate": None},
        "backlog": backlog(2, "2026-11-26T22:00:00+08:00", 61200.0, 44100.0),
    }
    assert smoke == {
        "key": "smoke",
        "acknowledged": 2,
        **{"mtta_seconds": 90.0, "mtta_p50_seconds": 90.0, "mtta_p90_seconds": 114.0},
        "resolved": 2,
        **{"mttr_seconds": 210.0, "mttr_p50_seconds": 210.0, "mttr_p90_seconds": 282.0},
        **{"handled": 2, "false_alarms": 1, "false_alarm_rate": 0.5},
        "backlog": backlog(1, "2026-11-27T14:00:00+08:00", 3600.0, 3600.0),
    }


def figures(group: dict[str, Any]) -> tuple[Any, ...]:
    """The figures a grouping test looks at: key, MTTA, MTTR, false-alarm rate, backlog count and median age."""
    return (
        group["key"],
        group["mtta_seconds"],
        group["mttr_seconds"],
        group["false_alarm_rate"],
        group["backlog"]["count"],
        group["backlog"]["median_age_seconds"],
    )


@pytest.mark.usefixtures("data_set")
def test_per_handler_counts_who_took_the_alarm_up_first(staff_client: APIClient) -> None:
    groups = get(staff_client, group_by="handler")["groups"]
    assert [figures(group) for group in groups] == [
        ("", None, None, None, 2, 15300.0),  # never handled: 3600 and 27000 s old
        ("alice", 90.0, 210.0, 0.5, 0, None),  # a1 (resolved by bob, taken up by alice) and a2
        ("bob", 600.0, None, None, 1, 61200.0),  # a3, reopened
    ]


@pytest.mark.usefixtures("data_set")
def test_per_shift_on_duty_when_the_alarm_was_stored(staff_client: APIClient) -> None:
    groups = get(staff_client, group_by="shift")["groups"]
    assert [figures(group) for group in groups] == [
        ("白班", 90.0, 210.0, 0.5, 1, 3600.0),  # 09:00, 10:00, 14:00
        ("夜班", 600.0, None, None, 2, 44100.0),  # 22:00 the night before, 07:30
    ]


@pytest.mark.usefixtures("data_set")
def test_per_device_with_names(staff_client: APIClient) -> None:
    groups = get(staff_client, group_by="device")["groups"]
    assert [(group["key"], group["device_name"]) for group in groups] == [
        ("cam-01", "East gate"),
        ("cam-02", "Warehouse"),
    ]
    assert [figures(group) for group in groups] == [
        ("cam-01", 330.0, 300.0, 0.0, 2, 32400.0),  # a1, a3 (reopened), the 14:00 one
        ("cam-02", 120.0, 120.0, 1.0, 1, 27000.0),  # a2 (false), the 07:30 one
    ]


@pytest.mark.usefixtures("data_set")
def test_the_range_and_filters_are_the_lists(staff_client: APIClient) -> None:
    body = get(staff_client, event_time_after="2026-10-01", event_time_before="2026-10-01")
    assert body["from"] == "2026-10-01T00:00:00+08:00"
    assert (body["overall"]["acknowledged"], body["overall"]["mtta_seconds"]) == (1, 5.0)
    assert body["overall"]["backlog"]["count"] == 0
    body = get(staff_client, created_after="2026-11-27 08:00", alarm_type="smoke")
    assert (body["overall"]["acknowledged"], body["overall"]["mtta_seconds"]) == (2, 90.0)
    assert body["overall"]["backlog"]["count"] == 1
    # A filter the timings do not keep goes through the alarms: a1, a2 and the one the edge resolved.
    body = get(staff_client, alarm_status=AlarmStatus.RESOLVED)
    assert (body["overall"]["acknowledged"], body["overall"]["mtta_seconds"]) == (2, 90.0)
    assert body["overall"]["backlog"]["count"] == 1
    assert get(staff_client, ordering="-event_time")["overall"] == OVERALL  # the list's, changing nothing here


@pytest.mark.usefixtures("data_set")
def test_each_handled_alarm_has_its_timing_from_its_first_handling() -> None:
    rows = AlarmTiming.objects.order_by("stored_at").values_list(
        "first_handler", "acknowledge_seconds", "resolve_seconds", "handle_status"
    )
    assert list(rows) == [
        ("carol", 5, None, HandleStatus.HANDLED),
        ("bob", 600, None, HandleStatus.UNHANDLED),  # reopened
        ("alice", 60, 300, HandleStatus.HANDLED),  # resolved by bob
        ("alice", 120, 120, HandleStatus.IGNORED),
    ]


@pytest.mark.usefixtures("data_set")
def test_timings_rebuilt_from_the_logs_are_the_same(staff_client: APIClient) -> None:
    columns = [field.attname for field in AlarmTiming._meta.concrete_fields]
    kept = list(AlarmTiming.objects.order_by("pk").values_list(*columns))
    assert rebuild_timings() == 4
    assert list(AlarmTiming.objects.order_by("pk").values_list(*columns)) == kept
    # Read in chunks that end inside an alarm's logs (a1's, a3's: two each): the same again.
    assert rebuild_timings(chunk=2) == 4
    assert list(AlarmTiming.objects.order_by("pk").values_list(*columns)) == kept
    assert get(staff_client)["overall"] == OVERALL


def test_a_histograms_percentiles_are_those_of_its_values() -> None:
    values = [3, 3, 3, 10, 11, 50, 50, 400, 401, 402, 9000]
    histogram = Histogram()
    histogram.add(values)
    for fraction in (0.0, 0.1, 0.25, 0.5, 0.77, 0.9, 1.0):
        assert histogram.percentile(fraction) == pytest.approx(percentile([float(v) for v in values], fraction))
    assert histogram.mean() == pytest.approx(sum(values) / len(values))
    assert Histogram().percentile(0.5) is None


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"group_by": "weekday"}, "group_by"),
        ({"event_time_after": "yesterday"}, "event_time_after"),
        ({"event_time_after": "2024-01-01", "event_time_before": "2026-01-01"}, "event_time_after"),
        ({"handle_status": "DONE"}, "handle_status"),
    ],
)
def test_bad_parameters_are_400s_naming_them(staff_client: APIClient, params: dict[str, str], named: str) -> None:
    response = staff_client.get(URL, params)
    assert response.status_code == 400
    assert named in response.json()


def test_staff_only(api_client: APIClient) -> None:
    assert api_client.get(URL).status_code in (401, 403)


def test_percentiles_are_linear_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([10.0, 20.0, 30.0, 40.0, 50.0], 0.9) == 46.0


def test_a_shift_may_cross_midnight(settings: Any) -> None:
    settings.SHIFTS = [Shift("day", 8 * 60, 16 * 60), Shift("night", 22 * 60, 6 * 60)]
    assert shift_of(aware("2026-11-27 23:59:00")) == "night"
    assert shift_of(aware("2026-11-27 05:59:00")) == "night"
    assert shift_of(aware("2026-11-27 08:00:00")) == "day"
    assert shift_of(aware("2026-11-27 16:00:00")) == ""  # 16:00-22:00 is nobody's
    assert shift_of(datetime.fromisoformat("2026-11-27T00:30:00+00:00")) == "day"  # 08:30 in Shanghai


def test_the_backlogs_shift_follows_the_zones_clock_change(staff_client: APIClient, settings: Any) -> None:
    """The backlog's stored times are read as numbers and their shift worked out per minute: in the hour
    the clocks go forward, the offset from UTC changes and the shift with it."""
    settings.TIME_ZONE = "Europe/Berlin"  # 2026-03-29 02:00 CET became 03:00 CEST
    settings.SHIFTS = [Shift("early", 0, 3 * 60), Shift("late", 3 * 60, 0)]
    for moment in ("2026-03-29T00:30:00Z", "2026-03-29T00:59:59.5Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"):
        with time_machine.travel(moment, tick=False):
            make_alarm(event_time=datetime.fromisoformat(moment))
    with time_machine.travel("2026-03-29T10:00:00Z", tick=False):
        response = staff_client.get(URL, {"group_by": "shift", "event_time_after": "2026-03-29"})
    assert response.status_code == 200, response.content
    early, late = response.json()["groups"]
    assert early["key"] == "early"
    assert early["backlog"] == backlog(2, "2026-03-29T01:30:00+01:00", 34200.0, 33300.2)  # 01:30 and 01:59:59.5 CET
    assert late["key"] == "late"
    assert late["backlog"] == backlog(2, "2026-03-29T03:00:00+02:00", 32400.0, 31500.0)  # 03:00 and 03:30 CEST


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("day=08:00-20:00,late=19:00-21:00", "overlap"),
        ("day=8:00-20:00pm", "HH:MM"),
        ("day=24:00-08:00", "not a time of day"),
        ("day", "NAME=HH:MM-HH:MM"),
        ("day=08:00-08:00", "same time"),
        ("a=01:00-02:00,a=03:00-04:00", "twice"),
    ],
)
def test_shifts_are_checked_at_start_up(monkeypatch: pytest.MonkeyPatch, value: str, problem: str) -> None:
    monkeypatch.setenv("SHIFTS", value)
    with pytest.raises(ImproperlyConfigured, match=problem):
        env_shifts("SHIFTS", "")


def test_shifts_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIFTS", "早=06:00-14:00, 中=14:00-22:00 ,晚=22:00-06:00")
    assert env_shifts("SHIFTS", "") == [Shift("早", 360, 840), Shift("中", 840, 1320), Shift("晚", 1320, 360)]
    monkeypatch.delenv("SHIFTS")
    assert [shift.name for shift in env_shifts("SHIFTS", "白班=08:00-20:00,夜班=20:00-08:00")] == ["白班", "夜班"]


@pytest.mark.usefixtures("data_set")
def test_rolled_up_days_read_as_their_timings_and_a_later_handling_makes_its_day_stale(
    staff_client: APIClient,
) -> None:
    queries: list[dict[str, Any]] = [{}, *({"group_by": group} for group in ("type", "device", "handler", "shift"))]
    queries += [{"alarm_type": "intrusion"}, {"device_id": "cam-01", "group_by": "device"}]
    queries += [{"alarm_level": "1", "group_by": "type"}, {"event_time_after": "2026-09-30 12:00"}]
    from_timings = [get(staff_client, **params) for params in queries]
    with time_machine.travel(NOW, tick=False):
        assert roll_up()[-1] == date(2026, 11, 26)  # every day up to yesterday; today is never rolled up
        assert roll_up() == []
    # The rolled-up days are read from their rollups, not their timings: a timing changed behind the
    # rollup's back (no handling) changes nothing.
    a3 = AlarmEvent.objects.get(event_time=aware("2026-11-26 22:00:00"))
    AlarmTiming.objects.filter(pk=a3.pk).update(acknowledge_seconds=7)
    assert [get(staff_client, **params) for params in queries] == from_timings
    # A handling of an alarm of a rolled-up day marks the day stale, and the figures follow at once.
    with time_machine.travel(NOW, tick=False):
        handle(a3, 1000, "bob", HandleStatus.IGNORED)
    assert not AlarmTimingDay.objects.get(day=date(2026, 11, 26)).fresh
    overall = get(staff_client)["overall"]
    assert (overall["mtta_seconds"], overall["false_alarms"]) == (62.3, 2)  # (60 + 120 + 7) / 3
    with time_machine.travel(NOW, tick=False):
        assert roll_up() == [date(2026, 11, 26)]
    assert get(staff_client)["overall"] == overall


def in_thread(target: Callable[..., Any], *args: Any) -> tuple[threading.Thread, list[BaseException]]:
    """``target(*args)`` started in a thread with a database connection of its own; what it raised."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            target(*args)
        except BaseException as exc:  # reported by the test
            raised.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, raised


def statement_waits(prefix: str) -> bool:
    """Whether a statement starting with ``prefix`` is running in another connection, within 10 s: one that
    would take a moment unless it waits for a lock."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE info LIKE %s", [f"{prefix}%"])
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(connection.vendor != "mysql", reason="row locks between transactions need a server database")
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("data_set")
def test_a_handling_committed_while_its_day_is_rolled_up_leaves_the_day_stale(staff_client: APIClient) -> None:
    """The roll-up has read the day's timings and not yet committed when staff handle an alarm of that day:
    the handling waits for the roll-up's lock on the day, and marks it stale after."""
    day = date(2026, 11, 26)
    with time_machine.travel(NOW, tick=False):
        roll_up()
    assert AlarmTimingDay.objects.get(day=day).fresh
    a3 = AlarmEvent.objects.get(event_time=aware("2026-11-26 22:00:00"))
    held, release = threading.Event(), threading.Event()

    def hold_the_rollups() -> None:  # the roll-up waits on these rows after it has read the timings
        with transaction.atomic():
            list(AlarmTimingRollup.objects.select_for_update().filter(day=day).values_list("pk", flat=True))
            held.set()
            release.wait(30)

    threads = [in_thread(hold_the_rollups)]
    try:
        assert held.wait(10)
        threads.append(in_thread(roll_up_day, day))
        assert statement_waits("DELETE FROM `alarms_alarmtimingrollup`"), "the roll-up did not reach the rollups"
        threads.append(in_thread(handle, a3, 1000, "bob", HandleStatus.IGNORED))
        assert statement_waits("UPDATE `alarms_alarmtimingday`"), "the handling did not wait for the roll-up"
        assert threads[-1][0].is_alive()
    finally:
        release.set()
        for thread, raised in threads:
            thread.join(30)
            assert not raised, raised
    assert not AlarmTimingDay.objects.get(day=day).fresh
    overall = get(staff_client)["overall"]
    assert (overall["mtta_seconds"], overall["false_alarms"], overall["backlog"]["count"]) == (260.0, 2, 2)
    with time_machine.travel(NOW, tick=False):
        assert roll_up() == [day]
    assert get(staff_client)["overall"] == overall


def test_durations_from_1000_s_are_kept_to_three_significant_figures_and_the_mean_exact() -> None:
    histogram = Histogram()
    histogram.add([12_345, 1_009, 999])
    assert [significant(value) for value in (999, 1_009, 12_345, 123_456_789)] == [999, 1_000, 12_300, 123_000_000]
    assert histogram.percentile(0.5) == 1_000
    assert histogram.mean() == pytest.approx((12_345 + 1_009 + 999) / 3)
    assert histogram.rolled() == [(999, 1), (1_000, 1), (12_300, 1)]
