"""POST /api/ai/alert/edge/resolve and its race with the report."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from alarms import services
from alarms.models import AlarmEvent, AlarmStatus, HandleStatus, PendingResolve
from alarms.tests.factories import make_alarm, report_payload

URL = "/api/ai/alert/edge/resolve"
LAST_FRAME_UTC = datetime(2026, 11, 27, 2, 5, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def post(client: Client, body: dict[str, Any], url: str = URL) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def resolve_body(alarm_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "alarm_id": alarm_id,
        "duration_ms": 300_000,
        "last_frame_time": "2026-11-27 10:05:00",
        "resolve_type": "person_returned",
        **overrides,
    }


def test_a_resolve_records_the_end_and_marks_the_alarm_resolved(client: Client) -> None:
    make_alarm(alarm_id="R-1")

    response = post(client, resolve_body("R-1"))

    assert response.status_code == 200
    assert response.json() == {"code": 0, "msg": "", "data": {"alarm_id": "R-1", "applied": True}}
    alarm = AlarmEvent.objects.get(pk="R-1")
    assert alarm.alarm_status == AlarmStatus.RESOLVED
    assert alarm.duration_ms == 300_000
    assert alarm.end_time == LAST_FRAME_UTC
    assert alarm.resolve_type == "person_returned"


def test_a_late_resolve_never_touches_what_staff_decided(client: Client) -> None:
    make_alarm(alarm_id="R-2")
    services.handle_alarm(
        "R-2", handle_status=HandleStatus.HANDLED, remark="guard called back", actor=services.Actor("zhang")
    )

    post(client, resolve_body("R-2", resolve_type="timeout"))

    alarm = AlarmEvent.objects.get(pk="R-2")
    assert alarm.alarm_status == AlarmStatus.RESOLVED
    assert alarm.resolve_type == "timeout"
    assert (alarm.handle_status, alarm.handle_remark, alarm.handler) == (
        HandleStatus.HANDLED,
        "guard called back",
        "zhang",
    )
    assert alarm.handle_time is not None


def test_repeating_a_resolve_is_harmless(client: Client) -> None:
    make_alarm(alarm_id="R-3")
    first = post(client, resolve_body("R-3"))
    second = post(client, resolve_body("R-3"))

    assert first.json() == second.json()
    alarm = AlarmEvent.objects.get(pk="R-3")
    assert (alarm.alarm_status, alarm.duration_ms, alarm.end_time) == (AlarmStatus.RESOLVED, 300_000, LAST_FRAME_UTC)


def test_a_bare_resolve_keeps_fields_it_does_not_send(client: Client) -> None:
    make_alarm(alarm_id="R-4", duration_ms=1000, resolve_type="manual")

    post(client, {"alarm_id": "R-4"})

    alarm = AlarmEvent.objects.get(pk="R-4")
    assert (alarm.alarm_status, alarm.duration_ms, alarm.resolve_type) == (AlarmStatus.RESOLVED, 1000, "manual")


def test_a_resolve_before_its_report_is_kept_and_applied_when_the_report_lands(client: Client) -> None:
    early = post(client, resolve_body("R-5"))

    assert early.json() == {"code": 0, "msg": "", "data": {"alarm_id": "R-5", "applied": False}}
    assert PendingResolve.objects.filter(pk="R-5").exists()
    assert not AlarmEvent.objects.filter(pk="R-5").exists()

    report = post(client, report_payload(alarm_id="R-5"), url="/api/ai/alert/edge/report")

    assert report.json()["data"] == {"alarm_id": "R-5", "created": True}
    alarm = AlarmEvent.objects.get(pk="R-5")
    assert alarm.alarm_status == AlarmStatus.RESOLVED
    assert (alarm.duration_ms, alarm.end_time, alarm.resolve_type) == (300_000, LAST_FRAME_UTC, "person_returned")
    assert alarm.handle_status == HandleStatus.UNHANDLED
    assert not PendingResolve.objects.exists()


def test_a_repeated_early_resolve_keeps_the_latest_values(client: Client) -> None:
    post(client, resolve_body("R-6", duration_ms=1000))
    post(client, resolve_body("R-6", duration_ms=2000))

    assert PendingResolve.objects.get(pk="R-6").duration_ms == 2000


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("alarm_id", ...),
        ("alarm_id", "bad id"),
        ("alarm_id", 7),
        ("duration_ms", -1),
        ("duration_ms", 1.5),
        ("duration_ms", "long"),
        ("duration_ms", True),
        ("duration_ms", 2**53),
        ("last_frame_time", "soon"),
        ("last_frame_time", False),
        ("resolve_type", "r" * 33),
        ("resolve_type", 3),
        ("resolve_type", "\x1b[31mtimeout"),
    ],
    ids=lambda v: repr(v)[:30],
)
def test_bad_resolve_input_is_refused_naming_the_field(client: Client, field: str, value: Any) -> None:
    make_alarm(alarm_id="R-7")
    body = {key: val for key, val in {**resolve_body("R-7"), field: value}.items() if val is not ...}

    response = post(client, body)

    assert response.status_code == 400
    assert response.json()["msg"].startswith(f"{field}: ")
    assert AlarmEvent.objects.get(pk="R-7").alarm_status == AlarmStatus.NEW
    assert not PendingResolve.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_resolve_racing_its_report_is_never_lost() -> None:
    """Report and resolve of the same alarm at the same instant, many times: every alarm ends resolved."""
    rounds = 15

    def run(alarm_id: str, which: str, barrier: Barrier) -> None:
        try:
            barrier.wait()
            if which == "report":
                services.report_alarm(
                    services.AlarmReport(
                        alarm_id=alarm_id, alarm_type="leave_post", device_id="cam-race", event_time=LAST_FRAME_UTC
                    )
                )
            else:
                services.resolve_alarm(services.EdgeResolve(alarm_id=alarm_id, duration_ms=42))
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        for number in range(rounds):
            barrier = Barrier(2)
            futures = [pool.submit(run, f"RACE-{number}", which, barrier) for which in ("report", "resolve")]
            for future in futures:
                future.result()

    alarms = AlarmEvent.objects.filter(alarm_id__startswith="RACE-")
    assert alarms.count() == rounds
    assert set(alarms.values_list("alarm_status", "duration_ms")) == {(AlarmStatus.RESOLVED, 42)}
    assert not PendingResolve.objects.exists()


def test_stale_early_resolves_are_purged(capsys: Any) -> None:
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    now = timezone.now()
    PendingResolve.objects.create(alarm_id="OLD-1", received_at=now - timedelta(days=8))
    PendingResolve.objects.create(alarm_id="NEW-1", received_at=now - timedelta(days=6))

    call_command("purge_pending_resolves", "--days", "7")

    assert list(PendingResolve.objects.values_list("alarm_id", flat=True)) == ["NEW-1"]
    assert "deleted 1 pending resolve(s)" in capsys.readouterr().out
