"""The analysis APIs: an alarm's analyses, staff requests (native and compat), and the agreement numbers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from alarms.models import AlarmEvent, HandleStatus
from alarms.tests.factories import make_alarm
from analysis import services
from analysis.models import AlarmLlmAnalysis, AnalysisRule
from conftest import make_user
from vsp.tests import test_compat_alarms as compat_alarms
from vsp.tests.compat_client import Frontend

Status = AlarmLlmAnalysis.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def analysis_on(settings: Any) -> None:
    settings.AI_MODEL_NAME = "qwen-vl-max"


def snapshot_alarm(alarm_id: str, **fields: Any) -> AlarmEvent:
    return make_alarm(alarm_id=alarm_id, snapshot_url="https://img.example.com/a.jpg", **fields)


# --- native ------------------------------------------------------------------------------


def test_staff_request_an_analysis_once_while_one_is_in_flight(staff_client: APIClient, analysis_on: None) -> None:
    snapshot_alarm("N-1")
    first = staff_client.post("/api/v1/alerts/N-1/analyze/")
    assert first.status_code == 202, first.json()
    assert (first.json()["status"], first.json()["requested_by"], first.json()["model_name"]) == (
        "PENDING",
        "boss",
        "qwen-vl-max",
    )
    again = staff_client.post("/api/v1/alerts/N-1/analyses/")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]

    AlarmLlmAnalysis.objects.filter(pk=first.json()["id"]).update(status=Status.DONE)
    assert staff_client.post("/api/v1/alerts/N-1/analyze/").status_code == 202  # a re-request
    listed = staff_client.get("/api/v1/alerts/N-1/analyses/").json()
    assert [row["status"] for row in listed] == ["PENDING", "DONE"]


def test_a_request_that_cannot_be_met_says_why(staff_client: APIClient, settings: Any) -> None:
    snapshot_alarm("N-2")
    make_alarm(alarm_id="N-3")
    settings.AI_MODEL_NAME = ""
    off = staff_client.post("/api/v1/alerts/N-2/analyze/")
    assert (off.status_code, off.json()["detail"]) == (409, "analysis is off: AI_MODEL_NAME is not set")
    settings.AI_MODEL_NAME = "qwen-vl-max"
    bare = staff_client.post("/api/v1/alerts/N-3/analyze/")
    assert (bare.status_code, bare.json()["detail"]) == (409, "alarm N-3 has no snapshot to analyse")
    assert staff_client.post("/api/v1/alerts/nope/analyze/").status_code == 404
    assert staff_client.get("/api/v1/alerts/nope/analyses/").status_code == 404
    assert not AlarmLlmAnalysis.objects.exists()


def test_reading_and_requesting_need_their_permissions(analysis_on: None) -> None:
    snapshot_alarm("N-4")
    client = APIClient()
    client.force_login(make_user("reader", perms=("analysis.view_alarmllmanalysis",)))
    assert client.get("/api/v1/alerts/N-4/analyses/").status_code == 200
    assert client.get("/api/v1/analyses/agreement/").status_code == 200
    assert client.post("/api/v1/alerts/N-4/analyze/").status_code == 403
    client.force_login(make_user("requester", perms=("analysis.add_alarmllmanalysis",)))
    assert client.post("/api/v1/alerts/N-4/analyze/").status_code == 202
    assert APIClient().get("/api/v1/analyses/agreement/").status_code in (401, 403)


# --- compat ------------------------------------------------------------------------------


# The compat tests' frontend tab, logged in as a superuser.
frontend = compat_alarms.frontend


def test_compat_analyze_takes_an_alarm_id_and_get_shows_the_analysis(frontend: Frontend, analysis_on: None) -> None:
    snapshot_alarm("C-1")
    body = frontend.send("post", "/aiot/alarm/event/analyze", {"alarmId": "C-1"}).json()
    assert body["code"] == 0, body
    assert (body["data"]["status"], body["data"]["model"], body["data"]["promptVersion"]) == (
        "PENDING",
        "qwen-vl-max",
        "intrusion-v1",
    )
    shown = frontend.get("/aiot/alarm/event/get", {"alarmId": "C-1"}).json()["data"]["analysis"]
    assert shown["id"] == body["data"]["id"]


def test_compat_get_shows_a_reported_alarms_request_waiting_before_the_dispatch_takes_it(
    frontend: Frontend, analysis_on: None
) -> None:
    snapshot_alarm("C-2")
    assert frontend.get("/aiot/alarm/event/get", {"alarmId": "C-2"}).json()["data"]["analysis"] is None
    AlarmEvent.objects.filter(pk="C-2").update(analysis_requested=True)  # as a report sets it
    shown = frontend.get("/aiot/alarm/event/get", {"alarmId": "C-2"}).json()["data"]["analysis"]
    assert (shown["id"], shown["status"], shown["verdict"], shown["promptVersion"]) == (
        None,
        "PENDING",
        None,
        "intrusion-v1",
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"alarmId": "nope"}, 1_050_001_000),
        ({"alarmId": "C-bare"}, 1_050_002_001),
        ({}, 400),
        ({"alarmId": "x" * 65}, 400),
    ],
)
def test_compat_analyze_refuses_clearly(frontend: Frontend, analysis_on: None, body: dict[str, Any], code: int) -> None:
    make_alarm(alarm_id="C-bare")
    answer = frontend.send("post", "/aiot/alarm/event/analyze", body).json()
    assert answer["code"] == code, answer
    assert answer["msg"]
    assert not AlarmLlmAnalysis.objects.exists()


# --- agreement -----------------------------------------------------------------------------


def analysed(alarm_id: str, verdict: str, outcome: str, **alarm: Any) -> AlarmEvent:
    """An alarm with a finished analysis, then the staff's outcome (or none: UNHANDLED)."""
    made = make_alarm(alarm_id=alarm_id, handle_status=outcome, **alarm)
    AlarmLlmAnalysis.objects.create(
        alarm=made,
        model_name="qwen-vl-max",
        prompt_version=f"{made.alarm_type}-v1",
        status=Status.DONE,
        verdict=verdict,
        confidence=0.9,
        cost=Decimal("0.010000"),
    )
    return made


@pytest.fixture
def known_set() -> None:
    now = timezone.now()
    cam1: dict[str, Any] = {"alarm_type": "intrusion", "device_id": "cam-1", "event_time": now - timedelta(days=1)}
    cam2: dict[str, Any] = {"alarm_type": "smoke", "device_id": "cam-2", "event_time": now - timedelta(days=2)}
    a1 = analysed("A1", "REAL", HandleStatus.HANDLED, **cam1)
    analysed("A2", "FALSE_ALARM", HandleStatus.IGNORED, **cam1)
    analysed("A3", "FALSE_ALARM", HandleStatus.HANDLED, **cam1)
    analysed("A4", "UNCERTAIN", HandleStatus.IGNORED, **cam1)
    analysed("A5", "REAL", HandleStatus.IGNORED, **cam2)
    analysed("A6", "FALSE_ALARM", HandleStatus.IGNORED, **cam2)
    # Left out: marked by the policy, not decided yet, a failed analysis, before the range.
    analysed("X1", "FALSE_ALARM", HandleStatus.IGNORED, handler=services.SYSTEM_HANDLER, **cam1)
    analysed("X2", "REAL", HandleStatus.UNHANDLED, **cam1)
    x3 = make_alarm(alarm_id="X3", handle_status=HandleStatus.HANDLED, **cam1)
    AlarmLlmAnalysis.objects.create(alarm=x3, model_name="qwen-vl-max", status=Status.FAILED, cost=None)
    analysed("X4", "FALSE_ALARM", HandleStatus.IGNORED, **{**cam1, "event_time": now - timedelta(days=40)})
    # A1's earlier opinion, by an older model and prompt: superseded for A1, counted for its own version.
    earlier = AlarmLlmAnalysis.objects.create(
        alarm=a1, model_name="qwen-vl-plus", prompt_version="intrusion-v0", status=Status.DONE,
        verdict="FALSE_ALARM", cost=Decimal("0.005000"),
    )  # fmt: skip
    AlarmLlmAnalysis.objects.filter(pk=earlier.pk).update(created_at=now - timedelta(days=1, hours=1))
    # A later failed one does not hide the finished opinion.
    AlarmLlmAnalysis.objects.create(alarm=a1, model_name="qwen-vl-max", status=Status.FAILED)


def matrix(real: tuple[int, int], false_alarm: tuple[int, int], uncertain: tuple[int, int]) -> dict[str, Any]:
    def row(cells: tuple[int, int]) -> dict[str, int]:
        return {"real": cells[0], "false_alarm": cells[1]}

    return {"REAL": row(real), "FALSE_ALARM": row(false_alarm), "UNCERTAIN": row(uncertain)}


def test_the_agreement_on_a_known_data_set(staff_client: APIClient, known_set: None) -> None:
    body = staff_client.get("/api/v1/analyses/agreement/").json()
    overall = body["overall"]
    assert overall["matrix"] == matrix(real=(1, 1), false_alarm=(1, 2), uncertain=(0, 1))
    assert (overall["decided"], overall["agreed"]) == (6, 3)
    assert overall["agreement_rate"] == 0.6  # 3 of the 5 it gave a verdict on
    assert overall["uncertain_rate"] == 0.1667
    assert (overall["false_alarms_caught"], overall["false_alarm_saving_rate"]) == (2, 0.5)  # of A2, A4, A5, A6
    assert overall["real_alarms_missed"] == 1  # A3
    # Every analysis of the range's alarms costs: A1-A6, X1-X3, A1's earlier one and its failed one.
    assert (overall["analyses"], overall["cost"]) == (11, "0.085000")

    by_type = staff_client.get("/api/v1/analyses/agreement/", {"by": "type"}).json()["groups"]
    assert [(group["alarm_type"], group["matrix"], group["agreed"]) for group in by_type] == [
        ("intrusion", matrix(real=(1, 0), false_alarm=(1, 1), uncertain=(0, 1)), 2),
        ("smoke", matrix(real=(0, 1), false_alarm=(0, 1), uncertain=(0, 0)), 1),
    ]
    by_device = staff_client.get("/api/v1/analyses/agreement/", {"by": "device"}).json()["groups"]
    assert [(group["device_id"], group["decided"]) for group in by_device] == [("cam-1", 4), ("cam-2", 2)]

    by_model = staff_client.get("/api/v1/analyses/agreement/", {"by": "model"}).json()["groups"]
    assert [(group["model_name"], group["prompt_version"], group["decided"]) for group in by_model] == [
        ("qwen-vl-max", "intrusion-v1", 4),
        ("qwen-vl-max", "smoke-v1", 2),
        ("qwen-vl-plus", "intrusion-v0", 1),
    ]
    assert by_model[2]["matrix"] == matrix(real=(0, 0), false_alarm=(1, 0), uncertain=(0, 0))


def test_the_agreement_over_a_range_is_exact(staff_client: APIClient, known_set: None) -> None:
    now = timezone.localtime()
    two_days = {"start": (now - timedelta(days=2, hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
                "end": (now - timedelta(days=1, hours=12)).strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
    only_cam2 = staff_client.get("/api/v1/analyses/agreement/", two_days).json()["overall"]
    assert only_cam2["matrix"] == matrix(real=(0, 1), false_alarm=(0, 1), uncertain=(0, 0))
    old = staff_client.get("/api/v1/analyses/agreement/", {"start": "2000-01-01", "end": "2000-01-02"}).json()
    assert old["overall"]["decided"] == 0
    assert old["overall"]["agreement_rate"] is None
    wrong = staff_client.get("/api/v1/analyses/agreement/", {"start": "yesterday"})
    assert wrong.status_code == 400
    assert "start" in wrong.json()


# --- admin ---------------------------------------------------------------------------------


def test_admin_rules_take_levels_by_checkbox_and_the_action_requests_analyses(
    admin_user_obj: Any, analysis_on: None
) -> None:
    from django.test import Client

    client = Client()
    client.force_login(admin_user_obj)
    added = client.post(
        "/admin/analysis/analysisrule/add/",
        {"alarm_type": "smoke", "enabled": "on", "levels": ["1", "2"], "auto_ignore_confidence": "0.9"},
    )
    assert added.status_code == 302, added.content.decode()[:3000]
    assert AnalysisRule.objects.get(alarm_type="smoke").levels == [1, 2]
    refused = client.post("/admin/analysis/analysisrule/add/", {"alarm_type": "fire", "auto_ignore_confidence": "2"})
    assert refused.status_code == 200
    assert not AnalysisRule.objects.filter(alarm_type="fire").exists()

    snapshot_alarm("ADM-1")
    make_alarm(alarm_id="ADM-2")  # no snapshot: said so, nothing requested
    response = client.post(
        "/admin/alarms/alarmevent/",
        {"action": "request_analyses", "_selected_action": ["ADM-1", "ADM-2"]},
        follow=True,
    )
    assert "已请求 1 条复判" in response.content.decode()
    assert "has no snapshot" in response.content.decode()
    assert list(AlarmLlmAnalysis.objects.values_list("alarm_id", "requested_by")) == [("ADM-1", "boss")]
    page = client.get("/admin/analysis/alarmllmanalysis/agreement/", {"by": "device", "start": "not a time"})
    assert page.status_code == 400
    assert "start:" in page.content.decode()
