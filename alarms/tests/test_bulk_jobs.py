"""Bulk handling by a filter ("all unhandled from cam-7 today"): a job on the engine, with its progress."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from alarms import services
from alarms.models import AlarmEvent, AlarmHandleLog, AlarmStatus, BulkHandleJob, HandleStatus
from alarms.tests.factories import make_alarm
from conftest import _database_url, make_user

pytestmark = pytest.mark.django_db

FILTERED = "/api/v1/alerts/bulk-handle-filtered/"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def boss() -> User:
    return make_user("boss", superuser=True)


@pytest.fixture
def client(boss: User) -> APIClient:
    client = APIClient()
    client.force_login(boss)
    return client


def a_moment_today() -> datetime:
    """Now, or 10 minutes after today's midnight (TIME_ZONE) if it is earlier: minutes before it are today too."""
    midnight = timezone.make_aware(datetime.combine(timezone.localdate(), datetime.min.time()))
    return max(timezone.now(), midnight + timedelta(minutes=10))


def storm_on_cam_7() -> None:
    """Five unhandled alarms of cam-7 today, and alarms the filter must leave alone."""
    now = a_moment_today()
    for number in range(5):
        make_alarm(alarm_id=f"J-{number}", device_id="cam-7", event_time=now - timedelta(minutes=number))
    make_alarm(alarm_id="J-handled", device_id="cam-7", event_time=now, handle_status=HandleStatus.HANDLED)
    make_alarm(alarm_id="J-other", device_id="cam-8", event_time=now)
    make_alarm(alarm_id="J-old", device_id="cam-7", event_time=now - timedelta(days=3))


def today_on_cam_7() -> str:
    return f"?device_id=cam-7&handle_status=UNHANDLED&event_time_after={timezone.localdate().isoformat()}"


def untouched() -> set[str]:
    return set(AlarmEvent.objects.filter(handle_status=HandleStatus.UNHANDLED).values_list("pk", flat=True))


def test_the_request_stores_the_job_with_its_total(client: APIClient) -> None:
    storm_on_cam_7()

    response = client.post(FILTERED + today_on_cam_7(), {"handle_status": "HANDLED", "remark": "storm"}, format="json")

    assert response.status_code == 202
    job = response.json()
    assert (job["status"], job["total"], job["done"], job["handle_status"], job["remark"]) == (
        "PENDING", 5, 0, "HANDLED", "storm"
    )  # fmt: skip
    assert job["filters"]["device_id"] == "cam-7"
    assert job["outcomes"] == {"updated": 0, "not_found": 0, "forbidden": 0, "invalid_transition": 0}
    assert client.get(f"/api/v1/alerts/bulk-jobs/{job['id']}/").json() == job


@pytest.mark.parametrize(
    ("query", "body", "field"),
    [
        ("?device=cam-7", {"handle_status": "HANDLED"}, "device"),  # misspelt: must not widen to every alarm
        ("?cursor=abc", {"handle_status": "HANDLED"}, "cursor"),
        ("?alarm_level=9", {"handle_status": "HANDLED"}, "alarm_level"),
        ("?event_time_after=yesterday", {"handle_status": "HANDLED"}, "event_time_after"),
        ("?device_id=cam-7", {}, "handle_status"),
        ("?device_id=cam-7", {"handle_status": "HANDLED", "alarm_status": "OPEN"}, "alarm_status"),
    ],
)
def test_bad_filters_or_handle_fields_are_a_400_naming_them(
    client: APIClient, query: str, body: dict[str, Any], field: str
) -> None:
    response = client.post(FILTERED + query, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not BulkHandleJob.objects.exists()


def test_a_filter_job_needs_the_handle_permission() -> None:
    viewer = APIClient()
    viewer.force_login(make_user("viewer", perms=("alarms.view_alarmevent",)))
    response = viewer.post(FILTERED + "?device_id=cam-7", {"handle_status": "HANDLED"}, format="json")
    assert response.status_code == 403


def test_an_unknown_job_is_a_404(client: APIClient) -> None:
    assert client.get("/api/v1/alerts/bulk-jobs/999/").status_code == 404


def test_the_job_goes_through_in_batches_and_shows_its_progress(client: APIClient, settings: Any) -> None:
    settings.BULK_HANDLE_MAX_IDS = 2
    storm_on_cam_7()
    make_alarm(alarm_id="J-resolved", device_id="cam-7", alarm_status=AlarmStatus.RESOLVED)
    job_id = client.post(
        FILTERED + today_on_cam_7(), {"handle_status": "HANDLING", "alarm_status": "CONFIRMED"}, format="json"
    ).json()["id"]

    progress = []
    while services._bulk_handle_job_step(job_id):
        job = client.get(f"/api/v1/alerts/bulk-jobs/{job_id}/").json()
        progress.append((job["status"], job["done"], job["total"]))
    job = client.get(f"/api/v1/alerts/bulk-jobs/{job_id}/").json()

    assert progress == [("RUNNING", 2, 6), ("RUNNING", 4, 6), ("RUNNING", 6, 6)]
    assert (job["status"], job["done"], job["finished_at"] is not None) == ("DONE", 6, True)
    assert job["outcomes"] == {"updated": 5, "not_found": 0, "forbidden": 0, "invalid_transition": 1}
    assert untouched() == {"J-other", "J-old", "J-resolved"}
    assert AlarmHandleLog.objects.count() == 5
    # Run again (a message delivered twice): it is done, and nothing is handled twice.
    services.run_bulk_handle_job(job_id)
    assert AlarmHandleLog.objects.count() == 5


def test_a_job_whose_user_was_deleted_fails_without_handling(client: APIClient, boss: User) -> None:
    storm_on_cam_7()
    job_id = client.post(FILTERED + today_on_cam_7(), {"handle_status": "HANDLED"}, format="json").json()["id"]
    boss.delete()

    job = services.run_bulk_handle_job(job_id)

    assert job is not None
    assert (job.status, job.done) == ("FAILED", 0)
    assert "deleted" in job.error
    assert len(untouched()) == 7


def test_a_job_whose_user_lost_the_permission_counts_each_alarm_forbidden(client: APIClient) -> None:
    storm_on_cam_7()
    clerk = make_user("clerk2", perms=("alarms.view_alarmevent", "alarms.handle_alarmevent"))
    clerk_client = APIClient()
    clerk_client.force_login(clerk)
    job_id = clerk_client.post(FILTERED + today_on_cam_7(), {"handle_status": "HANDLED"}, format="json").json()["id"]
    clerk.user_permissions.clear()

    job = services.run_bulk_handle_job(job_id)

    assert job is not None
    assert (job.status, job.done, job.forbidden, job.updated) == ("DONE", 5, 5, 0)
    assert len(untouched()) == 7


@pytest.mark.skipif(not settings.REDIS_URL, reason="the job's message goes to the Redis broker")
def test_a_job_that_has_not_moved_for_a_while_is_sent_again(client: APIClient) -> None:
    import redis

    storm_on_cam_7()
    job_id = client.post(FILTERED + today_on_cam_7(), {"handle_status": "HANDLED"}, format="json").json()["id"]
    queue = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    waiting = queue.llen("vsp")

    assert services.resend_stalled_bulk_handle_jobs() == 0  # just asked for: its message is on its way
    later = timezone.now() + timedelta(seconds=settings.BULK_JOB_RESEND_AFTER + 1)
    assert services.resend_stalled_bulk_handle_jobs(later) == 1
    assert queue.llen("vsp") == waiting + 1
    assert services.resend_stalled_bulk_handle_jobs(later) == 0  # not again at once
    BulkHandleJob.objects.filter(pk=job_id).update(status="DONE")
    assert services.resend_stalled_bulk_handle_jobs(later + timedelta(hours=1)) == 0


# --- through a real worker --------------------------------------------------------------------


@contextlib.contextmanager
def worker() -> Iterator[subprocess.Popen[bytes]]:
    """A job worker (scripts/serve/worker, as ``make serve``) on the test database and these tests' broker."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "JOB_BROKER_URL": settings.CELERY_BROKER_URL,  # where this process sends the job
        "DEBUG": "0",
        "SECRET_KEY": "bulk-jobs-test-key-not-the-default-0123456789abcdefghij",
        "LOG_LEVEL": "warning",
        "JOB_CONCURRENCY": "2",
        "BULK_HANDLE_MAX_IDS": "2",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    process = subprocess.Popen([ROOT / "scripts/serve/worker"], cwd=ROOT, env=env, start_new_session=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.skipif(not settings.REDIS_URL, reason="the worker takes the job from the Redis broker")
@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_job_sent_when_the_request_committed(client: APIClient) -> None:
    storm_on_cam_7()
    with worker() as process:
        response = client.post(FILTERED + today_on_cam_7(), {"handle_status": "IGNORED"}, format="json")
        assert response.status_code == 202
        url = f"/api/v1/alerts/bulk-jobs/{response.json()['id']}/"
        deadline = time.monotonic() + 60
        seen = []
        while time.monotonic() < deadline:
            assert process.poll() is None, "the worker exited"
            job = client.get(url).json()
            seen.append(job["done"])
            if job["status"] in ("DONE", "FAILED"):
                break
            time.sleep(0.1)

    assert (job["status"], job["done"], job["total"], job["error"]) == ("DONE", 5, 5, "")
    assert job["outcomes"]["updated"] == 5
    assert seen == sorted(seen)  # progress only goes forward
    assert untouched() == {"J-other", "J-old"}
    assert set(AlarmEvent.objects.filter(pk__startswith="J-").exclude(pk__in=["J-other", "J-old", "J-handled"])
               .values_list("handle_status", flat=True)) == {"IGNORED"}  # fmt: skip
