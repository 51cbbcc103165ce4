"""The job engine: a real worker and scheduler (Celery on the Redis broker) run the periodic jobs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from alarms import counts, services, tasks
from alarms.models import (
    AlarmCount,
    AlarmCountChange,
    AlarmEvent,
    AlarmTimingDay,
    AlarmTimingRollup,
    HandleStatus,
)
from alarms.tests.factories import make_alarm, make_device
from conftest import _database_url
from devices.models import EdgeDevice
from vsp.jobs import alone

ROOT = Path(__file__).resolve().parents[2]
needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="the broker is Redis")


def broker_url() -> str:
    """A Redis database of its own for these tests' broker, emptied first."""
    url = settings.REDIS_URL.rsplit("/", 1)[0] + "/13"
    redis.Redis.from_url(url).flushdb()
    return url


@contextlib.contextmanager
def job_processes(
    tmp_path: Path, *names: str, extra_env: dict[str, str] | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The launchers of ``make serve`` (scripts/serve/worker, scheduler) on the test database."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "JOB_BROKER_URL": broker_url(),
        "DEBUG": "0",
        "SECRET_KEY": "jobs-test-key-not-the-default-0123456789abcdefghijklmnop",
        "DATA_DIR": str(tmp_path),
        "RUN_DIR": str(tmp_path / "run"),
        "DEVICE_WATCH_INTERVAL": "1",
        "LOG_LEVEL": "warning",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # as make serve runs them
        **(extra_env or {}),
    }
    processes = [
        subprocess.Popen([ROOT / "scripts/serve" / name], cwd=ROOT, env=env, start_new_session=True) for name in names
    ]
    try:
        yield processes
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(check: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_the_scheduler_sends_the_watcher_and_the_roll_up_a_worker_runs_them_then_both_stop_on_sigterm(
    tmp_path: Path,
) -> None:
    make_device("quiet-box", status=EdgeDevice.Status.ONLINE, last_seen=timezone.now() - timedelta(minutes=10))
    past = timezone.now() - timedelta(days=2)  # not yesterday: a day is rolled up 10 min after it ends
    make_alarm(alarm_id="ROLL-1", event_time=past)
    services.handle_alarm("ROLL-1", handle_status=HandleStatus.HANDLED, actor=services.Actor(name="li"))
    extra_env = {"TIMING_ROLLUP_INTERVAL": "10"}
    with job_processes(tmp_path, "worker", "scheduler", extra_env=extra_env) as processes:

        def running() -> bool:
            assert all(process.poll() is None for process in processes), "a job process exited"
            return True

        def offline() -> bool:
            return running() and EdgeDevice.objects.get(pk="quiet-box").status == EdgeDevice.Status.OFFLINE

        def rolled_up() -> bool:
            return running() and AlarmTimingDay.objects.filter(day=counts.local_date(past), fresh=True).exists()

        assert wait_for(offline, seconds=60), "no worker ran the watcher job within a minute"
        assert wait_for(rolled_up, seconds=60), "no worker rolled up the timings within a minute"
        assert AlarmTimingRollup.objects.get(grain="all", day=counts.local_date(past)).acknowledged == 1
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        sent = time.monotonic()
        for process in processes:
            process.wait(timeout=12)
        stopped_in = time.monotonic() - sent
    assert stopped_in <= 10
    assert [process.returncode for process in processes] == [0, 0]


@pytest.mark.django_db
def test_a_roll_up_while_another_runs_is_skipped() -> None:
    make_alarm(alarm_id="ROLL-2", event_time=timezone.now() - timedelta(days=2))
    services.handle_alarm("ROLL-2", handle_status=HandleStatus.HANDLED, actor=services.Actor(name="li"))
    with alone("roll-up-timings", timeout=60):  # as a roll-up running in another worker holds it
        assert tasks.roll_up_timings() is None
        assert not AlarmTimingDay.objects.exists()
    assert tasks.roll_up_timings() == 2  # its day and yesterday
    assert tasks.roll_up_timings() == 0


@pytest.mark.django_db
def test_a_job_that_must_run_alone_does() -> None:
    with alone("only-one", timeout=60) as first:
        with alone("only-one", timeout=60) as second:
            assert (first, second) == (True, False)
        with alone("another", timeout=60) as other:
            assert other
    with alone("only-one", timeout=60) as again:
        assert again  # released at the end of the first


def stored_counts() -> list[tuple[object, ...]]:
    return sorted(AlarmCount.objects.values_list("grain", "bucket", "device_id", "alarm_type", "count"))


@pytest.mark.django_db
def test_a_recount_while_another_runs_is_skipped_and_changes_nothing() -> None:
    for number in range(30):
        make_alarm(event_time=timezone.now() - timedelta(hours=number))
    counts.fold()
    counts.add_alarms([counts.Counted.of(alarm) for alarm in AlarmEvent.objects.all()])  # drift: all counted twice
    drifted = stored_counts()
    with alone("reconcile-counts", timeout=60):  # as a recount running in another worker holds it
        assert tasks.reconcile_counts() is None
        assert stored_counts() == drifted
    assert tasks.reconcile_counts()
    assert counts.reconcile() == {}


@pytest.mark.django_db
def test_the_fold_job_folds_every_change() -> None:
    for number in range(25):
        make_alarm(event_time=timezone.now() - timedelta(minutes=number))
    assert AlarmCountChange.objects.count() == 25
    assert tasks.fold_counts() == 25
    assert not AlarmCountChange.objects.exists()
    assert counts.reconcile() == {}
