"""The rollup counts (alarms.counts) against brute-force counts of the same alarms.

Random alarms written and changed through the service's own paths (report, early and late resolve,
handling, retention), random filters and ranges, in a zone without daylight saving time, one with
it and one whose midnight is not on the hour; bucket edges; handling while statistics are read.
"""

from __future__ import annotations

import itertools
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alarms import counts, retention, services
from alarms.filters import AlarmEventFilterSet
from alarms.models import AlarmCount, AlarmCountChange, AlarmEvent, AlarmStatus, HandleStatus
from alarms.statistics import alarm_statistics
from alarms.tests.factories import make_alarm
from conftest import make_user
from vsp.db import snapshot
from vsp.tests.compat_client import Frontend

pytestmark = pytest.mark.django_db

# Four days around Europe's change back from summer time (2026-10-25 01:00 UTC, a 25-hour day in
# Berlin); Shanghai has no such change and Kolkata's midnight is half past a UTC hour.
ZONES = ["Asia/Shanghai", "Europe/Berlin", "Asia/Kolkata"]
BASE = datetime(2026, 10, 23, 12, tzinfo=UTC)
WINDOW = timedelta(days=4)
NOW = BASE + timedelta(days=3, hours=7)
DEVICES, TYPES = ["cam-1", "cam-2", "cam-3"], ["smoke", "intrusion", "no_helmet"]
ACTOR = services.Actor(name="tester")


def edges(zone: str) -> list[datetime]:
    """Instants where a count changes buckets: local midnights and UTC hours, and a microsecond either side."""
    with override_settings(TIME_ZONE=zone):
        day = counts.local_date(BASE - timedelta(days=1))
        midnights = [counts.day_start(day + timedelta(days=offset)) for offset in range(6)]
    hours = [BASE + timedelta(hours=offset) for offset in range(0, 96, 7)]
    tick = timedelta(microseconds=1)
    return sorted({moment + shift for moment in midnights + hours for shift in (-tick, timedelta(0), tick)})


moments = st.one_of(
    st.sampled_from(edges("Europe/Berlin") + edges("Asia/Kolkata") + edges("Asia/Shanghai")),
    st.integers(0, int(WINDOW.total_seconds() * 1_000_000)).map(lambda us: BASE + timedelta(microseconds=us)),
)
alarms = st.lists(
    st.tuples(moments, st.sampled_from(DEVICES), st.sampled_from(TYPES), st.integers(1, 4), st.integers(0, 9)),
    min_size=1,
    max_size=25,
)
scopes = st.builds(
    counts.Scope,
    device_id=st.sampled_from([None, *DEVICES]),
    alarm_type=st.sampled_from([None, *TYPES]),
    alarm_level=st.sampled_from([None, 1, 2, 3, 4]),
    alarm_status=st.sampled_from([None, *AlarmStatus.values]),
    handle_status=st.sampled_from([None, *HandleStatus.values]),
)
bounds = st.one_of(st.none(), moments)


def store(rows: list[tuple[Any, ...]]) -> None:
    """Write the alarms through the paths the service writes by, each row's last number choosing which."""
    for event_time, device_id, alarm_type, level, fate in rows:
        alarm_id = f"p-{uuid.uuid4().hex[:12]}"
        report = services.AlarmReport(
            alarm_id=alarm_id, alarm_type=alarm_type, device_id=device_id, event_time=event_time, alarm_level=level
        )
        if fate == 0:  # the resolve arrives before the report
            services.resolve_alarm(services.EdgeResolve(alarm_id, duration_ms=5000))
        if fate <= 5:
            services.report_alarm(report)
        else:
            make_alarm(alarm_id=alarm_id, alarm_type=alarm_type, device_id=device_id, event_time=event_time,
                       alarm_level=level)  # fmt: skip
        if fate in (1, 6):
            services.resolve_alarm(services.EdgeResolve(alarm_id))
        if fate in (2, 3, 7, 8, 9):
            services.handle_alarm(alarm_id, handle_status=HandleStatus.HANDLED, actor=ACTOR)
        if fate == 3:
            services.handle_alarm(alarm_id, handle_status=HandleStatus.HANDLING, actor=ACTOR)
        if fate == 8:
            services.handle_alarm(alarm_id, handle_status=HandleStatus.IGNORED, alarm_status="RESOLVED", actor=ACTOR)
        if fate == 9:
            retention.delete_alarms([(event_time, alarm_id)])
        if fate in (4, 7):
            counts.fold()  # some changes folded into the counts, the rest read as changes


def brute_force(scope: counts.Scope, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    alarms = AlarmEvent.objects.filter(scope.alarm_filter())
    if start is not None:
        alarms = alarms.filter(event_time__gte=start)
    if end is not None:
        alarms = alarms.filter(event_time__lte=end)
    return alarm_statistics(alarms, start=start, end=end, now=NOW)


def from_counts(scope: counts.Scope, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    return alarm_statistics(AlarmEvent.objects.none(), scope=scope, start=start, end=end, now=NOW)


def near(rows: list[tuple[Any, ...]]) -> st.SearchStrategy[datetime | None]:
    """A range bound: none, any moment, or a few minutes from one of the alarms, where pieces cut finely."""
    close = st.tuples(st.sampled_from([row[0] for row in rows]), st.integers(-3_600_000_000, 3_600_000_000))
    return st.one_of(bounds, close.map(lambda pair: pair[0] + timedelta(microseconds=pair[1])))


@pytest.mark.parametrize("zone", ZONES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=alarms, data=st.data())
def test_statistics_from_counts_equal_a_brute_force_count(zone: str, rows: list[tuple[Any, ...]], data: Any) -> None:
    checks = data.draw(st.lists(st.tuples(scopes, near(rows), near(rows)), min_size=1, max_size=6))
    with override_settings(TIME_ZONE=zone), transaction.atomic():
        store(rows)
        for scope, start, end in checks:
            if start is not None and end is not None and end < start:
                start, end = end, start
            assert from_counts(scope, start, end) == brute_force(scope, start, end), (scope, start, end)
        assert counts.reconcile() == {}, "every write path kept the counts exact"
        transaction.set_rollback(True)


@pytest.mark.parametrize("zone", ZONES)
def test_every_bucket_edge(zone: str) -> None:
    """An alarm a microsecond either side of every midnight and hour, and ranges bounded on each of them."""
    with override_settings(TIME_ZONE=zone):
        instants = edges(zone)
        for number, moment in enumerate(instants):
            make_alarm(event_time=moment, device_id=DEVICES[number % 3], alarm_type=TYPES[number % 2])
        everything = counts.Scope()
        assert from_counts(everything, None, None)["total"] == len(instants)
        for start, end in itertools.combinations(instants[::3], 2):
            assert from_counts(everything, start, end) == brute_force(everything, start, end), (start, end)
        one = counts.Scope(device_id="cam-2")
        for start, end in itertools.combinations(instants[::5], 2):
            assert from_counts(one, start, end) == brute_force(one, start, end), (start, end)


def test_the_top_devices_of_every_filter_on_several_dimensions() -> None:
    """An alarm of every combination of level and both statuses, then every filter on two or more
    dimensions: the top devices of one read only the count rows it names, each value of the others too."""
    combinations = itertools.product([1, 2, 3, 4], AlarmStatus.values, HandleStatus.values)
    for number, (level, status, handle) in enumerate(combinations):
        make_alarm(event_time=BASE + timedelta(hours=number), device_id=DEVICES[number % 3],
                   alarm_type=TYPES[number % 2], alarm_level=level, alarm_status=status,
                   handle_status=handle)  # fmt: skip
    counts.fold()
    values: dict[str, list[Any]] = {
        "alarm_type": TYPES[:2],
        "alarm_level": [1, 4],
        "alarm_status": AlarmStatus.values,
        "handle_status": HandleStatus.values,
    }
    for size in (2, 3, 4):
        for names in itertools.combinations(values, size):
            for chosen in itertools.product(*(values[name] for name in names)):
                scope = counts.Scope(**dict(zip(names, chosen, strict=True)))
                assert from_counts(scope, None, None) == brute_force(scope, None, None), scope


def test_a_day_of_25_hours_counts_whole() -> None:
    with override_settings(TIME_ZONE="Europe/Berlin"):
        # 00:30 and 23:30 Berlin time on the day clocks go back, both on the 25th.
        make_alarm(event_time=datetime(2026, 10, 24, 22, 30, tzinfo=UTC))
        make_alarm(event_time=datetime(2026, 10, 25, 22, 30, tzinfo=UTC))
        make_alarm(event_time=datetime(2026, 10, 25, 23, 0, tzinfo=UTC))  # midnight of the 26th
        counts.fold()
        start, end = datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 26, 23, tzinfo=UTC)
        trend = {day["date"]: day["count"] for day in from_counts(counts.Scope(), start, end)["trend"]}
    assert trend == {"2026-10-25": 2, "2026-10-26": 1, "2026-10-27": 0}
    days = AlarmCount.objects.filter(grain=AlarmCount.Grain.DAY).values_list("bucket", flat=True)
    assert sorted(set(days)) == [datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC)]


def test_reconcile_corrects_drift_and_leaves_exact_counts_alone() -> None:
    for number in range(30):
        make_alarm(event_time=BASE + timedelta(minutes=97 * number), device_id=DEVICES[number % 3])
    assert counts.fold() == 30
    assert counts.reconcile() == {}

    # Drift of every kind: a lost row, a wrong number, a row for nothing, alarms written around the counts.
    AlarmCount.objects.filter(grain=AlarmCount.Grain.DAY).order_by("bucket").first().delete()  # type: ignore[union-attr]
    AlarmCount.objects.filter(grain=AlarmCount.Grain.HOUR).update(count=7)
    AlarmCount.objects.create(grain="dn", bucket=BASE - timedelta(days=40), device_id="ghost", count=3)
    AlarmEvent.objects.filter(device_id="cam-1").update(handle_status=HandleStatus.IGNORED)
    expected = brute_force(counts.Scope(), None, None)
    assert from_counts(counts.Scope(), None, None) != expected

    corrected = counts.reconcile()
    assert set(corrected) == {"d", "dv", "dn", "dh", "h"}
    assert from_counts(counts.Scope(), None, None) == expected
    assert from_counts(counts.Scope(handle_status="IGNORED"), None, None) == brute_force(
        counts.Scope(handle_status="IGNORED"), None, None
    )
    assert not AlarmCount.objects.filter(device_id="ghost").exists()
    assert not AlarmCount.objects.filter(count=0).exists()
    assert counts.reconcile() == {}


def test_changing_time_zone_then_reconciling_recounts_the_days() -> None:
    with override_settings(TIME_ZONE="Asia/Shanghai"):
        for number in range(20):
            make_alarm(event_time=BASE + timedelta(hours=5 * number))
        counts.fold()  # days counted as Shanghai's
    with override_settings(TIME_ZONE="America/New_York"):
        assert counts.reconcile()["d"] > 0
        everything = counts.Scope()
        start, end = BASE + timedelta(hours=30), BASE + timedelta(days=3)
        assert from_counts(everything, start, end) == brute_force(everything, start, end)


def test_the_seeder_counts_what_it_writes() -> None:
    from alarms import seeding

    plan = seeding.Plan(count=300, devices=7, days=3, end=NOW, run="t1", seed=5)
    seeding.ensure_devices(plan)
    for batch in seeding.batches(plan, 100):
        seeding.insert(batch)
    assert counts.reconcile() == {}
    assert from_counts(counts.Scope(), None, None)["total"] == 300


@pytest.mark.skipif(connection.vendor != "mysql", reason="lock conflicts need a server database")
@pytest.mark.django_db(transaction=True)
def test_a_fold_that_loses_a_lock_conflict_runs_again_and_counts_once() -> None:
    make_alarm(alarm_id="L-1", device_id="cam-1", event_time=BASE)
    counts.fold()
    make_alarm(alarm_id="L-2", device_id="cam-1", event_time=BASE)  # the same count rows, one change more
    held, release = threading.Event(), threading.Event()

    def hold_the_counts() -> None:  # another writer holding the rows the fold must add to, for a while
        try:
            with transaction.atomic():
                list(AlarmCount.objects.select_for_update().values_list("pk", flat=True))
                held.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_counts)
    holder.start()
    assert held.wait(10)
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
    threading.Timer(1.5, release.set).start()  # released after the fold's first try has given up
    try:
        assert counts.fold() == 1
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = DEFAULT")
    assert not AlarmCountChange.objects.exists()
    assert counts.reconcile() == {}


@pytest.mark.skipif(connection.vendor != "mysql", reason="concurrent writers need a server database")
@pytest.mark.django_db(transaction=True)
def test_statistics_read_while_alarms_are_handled_match_a_brute_force_count_of_one_moment() -> None:
    """Handling threads move alarms between statuses, a fourth folds; each read sees counts and alarms alike.

    Both counts are taken in one snapshot: the service's statistics, and a brute-force count beside
    them. They must be equal however the handling interleaves.
    """
    ids = [
        make_alarm(event_time=BASE + timedelta(minutes=31 * n), device_id=DEVICES[n % 3]).alarm_id for n in range(90)
    ]
    stop = threading.Event()
    errors: list[BaseException] = []

    def handle(mine: list[str]) -> None:
        try:
            for status in itertools.cycle([HandleStatus.HANDLING, HandleStatus.HANDLED, HandleStatus.UNHANDLED]):
                if stop.is_set():
                    return
                for alarm_id in mine:
                    services.handle_alarm(alarm_id, handle_status=status, actor=ACTOR)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    def keep_folding() -> None:
        try:
            while not stop.is_set():
                counts.fold(limit=50)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=handle, args=(ids[n::3],)) for n in range(3)]
    workers.append(threading.Thread(target=keep_folding))
    for worker in workers:
        worker.start()
    try:
        reads = 0
        start, end = BASE + timedelta(hours=5, minutes=7), BASE + timedelta(days=1, hours=20)
        while reads < 25:
            for scope in (counts.Scope(), counts.Scope(device_id="cam-2"), counts.Scope(handle_status="HANDLED")):
                with snapshot():
                    assert from_counts(scope, start, end) == brute_force(scope, start, end)
                reads += 1
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert not errors, errors
    assert counts.reconcile() == {}


PAGE_FILTERS = [
    ({}, {}),
    ({"device_id": "cam-2"}, {"deviceId": "cam-2"}),
    ({"handle_status": "HANDLED", "alarm_level": 2}, {"handleStatus": "HANDLED", "alarmLevel": "2"}),
    (
        {"event_time_after": "2026-10-24 05:30:00", "event_time_before": "2026-10-25"},
        {"eventTime[0]": "2026-10-24 05:30:00", "eventTime[1]": "2026-10-25 23:59:59"},
    ),
    ({"scene_id": "gate"}, {"sceneId": "gate"}),  # not counted: the alarms are
    ({"q": "cam-3"}, {}),
]


def test_page_totals_are_exact_and_come_from_the_counts(staff_client: Any) -> None:
    for number in range(60):
        alarm = make_alarm(
            event_time=BASE + timedelta(minutes=83 * number),
            device_id=DEVICES[number % 3],
            alarm_level=1 + number % 4,
            scene_id="gate" if number % 5 == 0 else "yard",
        )
        if number % 3 == 1:
            services.handle_alarm(alarm.alarm_id, handle_status=HandleStatus.HANDLED, actor=ACTOR)
    make_user("chief", superuser=True)
    tab = Frontend()
    tab.login("chief")
    for native, compat in PAGE_FILTERS:
        filterset = AlarmEventFilterSet(native, queryset=AlarmEvent.objects.all())
        assert filterset.is_valid()
        expected_total = filterset.qs.count()
        with CaptureQueriesContext(connection) as queries:
            body = staff_client.get("/api/v1/alerts/", native).json()
        assert body["count"] == expected_total, native
        # Counting alarms row by row is for filters the counts do not keep, and the minutes at a range's ends.
        by_rows = [q["sql"] for q in queries if "COUNT(" in q["sql"] and "alarms_alarmevent" in q["sql"]]
        if filterset.count_scope() is None:
            assert by_rows, native
        else:
            bounded = [re.search(r"event_time\W+>=", sql) and re.search(r"event_time\W+<", sql) for sql in by_rows]
            assert all(bounded), (native, by_rows)
        if compat or not native:
            assert (
                tab.get("/aiot/alarm/event/page", {"pageNo": 1, "pageSize": 5, **compat}).json()["data"]["total"]
                == expected_total
            ), compat


def test_each_process_folds_its_changes_after_every_few_commits(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.COUNTS_FOLD_EVERY = 3
    counts._unfolded.count = 0
    for number in range(7):
        with django_capture_on_commit_callbacks(execute=True):
            services.report_alarm(
                services.AlarmReport(
                    alarm_id=f"fold-{number}", alarm_type="smoke", device_id="cam-1", event_time=BASE, alarm_level=1
                )
            )
    # Folded after the 3rd and the 6th; the 7th waits for the next fold, and is counted meanwhile.
    assert AlarmCountChange.objects.count() == 1
    assert AlarmCount.objects.get(grain="d", alarm_type="smoke").count == 6
    assert counts.total(counts.Scope(alarm_type="smoke")) == 7
    assert counts.reconcile() == {}
