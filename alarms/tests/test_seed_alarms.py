"""``manage.py seed_alarms``: synthetic alarms that look like a site's weeks, and never mixed into real ones."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F, Q

from alarms import counts
from alarms.metrics import rebuild_timings
from alarms.models import AlarmEvent, AlarmEventExt, AlarmHandleLog, AlarmStatus, AlarmTiming, HandleStatus
from alarms.seeding import SEED_PREFIX, TYPES
from alarms.tests.factories import aware, make_alarm
from conftest import _database_url
from devices.models import EdgeDevice

pytestmark = pytest.mark.django_db
NOW = aware("2026-12-01 12:00:00")


def seed(*args: str) -> str:
    out = io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("seed_alarms", *args, "--verbosity", "0", stdout=out)
    return out.getvalue()


def test_seeded_alarms_look_like_a_site_s_days() -> None:
    said = seed("--count", "3000", "--devices", "20", "--days", "10", "--batch", "700", "--seed", "7")

    assert "3000 alarms" in said
    assert "from 20 cameras (20 new)" in said
    alarms = AlarmEvent.objects.all()
    assert alarms.count() == AlarmEventExt.objects.count() == 3000
    assert not alarms.exclude(alarm_id__startswith=SEED_PREFIX).exists()
    assert EdgeDevice.objects.filter(device_id__startswith="cam-").count() == 20
    assert set(alarms.values_list("device_id", flat=True)) <= set(EdgeDevice.objects.values_list("pk", flat=True))
    assert set(alarms.values_list("alarm_type", flat=True)) == {kind for kind, _, _ in TYPES}
    assert set(alarms.values_list("alarm_level", flat=True)) == {1, 2, 3, 4}
    # The times are the history's, not the insert's.
    assert not alarms.filter(Q(event_time__lt=NOW - timedelta(days=10)) | Q(event_time__gt=NOW)).exists()
    assert not alarms.filter(created_at__lt=F("event_time")).exists()
    assert alarms.filter(created_at__lt=NOW - timedelta(days=5)).count() > 1000
    # Handling is consistent: who, when, and statuses that go together; one log entry per handled alarm.
    handled = alarms.exclude(handle_status=HandleStatus.UNHANDLED)
    assert not handled.filter(Q(handler="") | Q(handle_time__isnull=True) | Q(handle_time__lt=F("created_at"))).exists()
    assert not handled.filter(handle_status=HandleStatus.HANDLED).exclude(alarm_status=AlarmStatus.RESOLVED).exists()
    untouched = alarms.filter(handle_status=HandleStatus.UNHANDLED)
    assert not untouched.exclude(handler="").exists()
    # The edge resolved some: those are RESOLVED, whatever staff did; the rest of the untouched are NEW.
    assert not alarms.filter(end_time__isnull=False).exclude(alarm_status=AlarmStatus.RESOLVED).exists()
    assert not untouched.filter(end_time__isnull=True).exclude(alarm_status=AlarmStatus.NEW).exists()
    assert AlarmHandleLog.objects.count() == handled.count()
    # Staff have dealt with most of the old alarms and few of the newest.
    old = alarms.filter(event_time__lt=NOW - timedelta(days=2))
    assert handled.filter(pk__in=old).count() > 0.8 * old.count()
    by_hour = alarms.values("event_time__hour").annotate(n=Count("pk"))
    assert max(row["n"] for row in by_hour) > 3 * min(row["n"] for row in by_hour)  # the day has a rhythm
    assert AlarmEventExt.objects.filter(ext_data__has_key="bbox").count() == 3000


def test_seeded_alarms_come_with_the_timings_their_logs_make() -> None:
    seed("--count", "1500", "--devices", "10", "--days", "5", "--batch", "400", "--seed", "3")
    fields = [field.attname for field in AlarmTiming._meta.concrete_fields]
    seeded = sorted(AlarmTiming.objects.values_list(*fields))
    assert len(seeded) == AlarmHandleLog.objects.count() > 1000
    assert any(row[fields.index("resolve_seconds")] is not None for row in seeded)

    rebuild_timings()  # from the handling logs, as for logs written without save()

    assert sorted(AlarmTiming.objects.values_list(*fields)) == seeded


def test_a_database_with_real_alarms_is_refused_unless_forced() -> None:
    make_alarm(alarm_id="REAL-1")

    with pytest.raises(CommandError, match="not synthetic"):
        seed("--count", "10")
    assert AlarmEvent.objects.count() == 1

    seed("--count", "10", "--force")
    assert AlarmEvent.objects.count() == 11


def test_runs_add_up_without_colliding() -> None:
    seed("--count", "50", "--devices", "3")
    seed("--count", "50", "--devices", "3")
    assert AlarmEvent.objects.count() == 100
    assert EdgeDevice.objects.count() == 3


@pytest.mark.parametrize("args", [["--count", "0"], ["--count", "ten"], ["--count", "5", "--days", "0"]])
def test_bad_arguments_are_refused_with_a_usage_message(args: list[str]) -> None:
    # From the command line: argparse's own message and exit status 2, not a traceback.
    run = subprocess.run(
        [sys.executable, "manage.py", "seed_alarms", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 2, run.stderr
    assert "error: argument" in run.stderr
    assert "Traceback" not in run.stderr
    assert AlarmEvent.objects.count() == 0


@pytest.mark.skipif(connection.vendor != "mysql", reason="parallel writers need a server database")
@pytest.mark.django_db(transaction=True)
def test_parallel_jobs_seed_the_plan_with_exact_counts() -> None:
    # From the command line, as it is run: forking this test process, with the threads earlier tests
    # left, could fork a lock held by one of them.
    env = {**os.environ, "DATABASE_URL": _database_url(), "DEBUG": "1"}
    args = ["--count", "4000", "--devices", "30", "--days", "5", "--batch", "500", "--jobs", "3", "--seed", "11"]
    run = subprocess.run(
        [sys.executable, "manage.py", "seed_alarms", *args, "--verbosity", "0"],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    assert "4000 alarms" in run.stdout
    assert AlarmEvent.objects.count() == AlarmEventExt.objects.count() == 4000
    assert AlarmHandleLog.objects.count() == AlarmEvent.objects.exclude(handle_status=HandleStatus.UNHANDLED).count()
    assert counts.reconcile() == {}, "three processes' counts add up to the alarms they wrote"
