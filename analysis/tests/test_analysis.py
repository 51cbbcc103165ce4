"""The second opinion, one attempt at a time, against a local model speaking the OpenAI protocol."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alarms import snapshots
from alarms.models import AlarmEvent, AlarmHandleLog, HandleStatus, PendingSnapshot, SnapshotStatus
from alarms.services import Actor, handle_alarm
from alarms.tests.factories import make_alarm, report_payload
from analysis import parsing, services
from analysis.models import AlarmLlmAnalysis, AnalysisRule
from analysis.tests.fake_model import SNAPSHOT, FakeModel, fake_model
from conftest import _database_url
from vsp.models import DashboardEvent

Status = AlarmLlmAnalysis.Status
REPORT = "/api/ai/alert/edge/report"


@pytest.fixture(autouse=True)
def _fresh_rules() -> Iterator[None]:
    services.forget_rules()
    yield
    services.forget_rules()


@pytest.fixture
def model(settings: Any) -> Iterator[FakeModel]:
    with fake_model() as fake:
        settings.AI_MODEL_URL = fake.url
        settings.AI_MODEL_NAME = "qwen-vl-max"
        settings.AI_MODEL_KEY = "sk-test"
        settings.AI_MODEL_TIMEOUT = 2
        settings.AI_MODEL_RATE = "1000/s"
        settings.AI_MODEL_PRICE_INPUT = 2  # per million tokens
        settings.AI_MODEL_PRICE_OUTPUT = 6
        settings.AI_MAX_ATTEMPTS = 3
        settings.AI_RETRY_BASE = 4
        yield fake


def external_alarm(model: FakeModel, **fields: Any) -> AlarmEvent:
    """An alarm whose snapshot is a link of the edge's (the fake model serves it)."""
    return make_alarm(snapshot_url=model.url.removesuffix("/v1") + "/snapshot.jpg", **fields)


def requested(alarm: AlarmEvent) -> AlarmLlmAnalysis:
    return services.request(alarm, requested_by="auto")


def post_report(payload: dict[str, Any]) -> Any:
    return Client().post(REPORT, data=json.dumps(payload), content_type="application/json")


def due_now(analysis: AlarmLlmAnalysis) -> None:
    """Let a planned retry's time come (the backoff's wait, without waiting)."""
    AlarmLlmAnalysis.objects.filter(pk=analysis.pk).update(due_at=timezone.now())


def analyzed_frames(alarm_id: str) -> list[dict[str, Any]]:
    events = DashboardEvent.objects.filter(type="alarm.analyzed").order_by("seq")
    return [data for data in (json.loads(event.data) for event in events) if data["alarmId"] == alarm_id]


# --- answers ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["json", "fenced", "prose"])
def test_an_answer_in_json_is_read_fenced_or_in_prose(model: FakeModel, mode: str) -> None:
    model.default = mode
    alarm = external_alarm(model, alarm_type="intrusion", alarm_level=2)
    analysis = requested(alarm)

    assert services.run(analysis.pk).status == "done"

    analysis.refresh_from_db()
    assert analysis.status == Status.DONE
    assert (analysis.verdict, analysis.confidence, analysis.risk_level) == ("FALSE_ALARM", 0.95, 4)
    assert analysis.description == "画面中是晃动的树影，没有人员。"
    assert analysis.detected_objects == [{"label": "tree shadow", "box": [10, 12, 40, 44], "confidence": 0.8}]
    assert not analysis.parse_error
    assert (analysis.prompt_tokens, analysis.completion_tokens, str(analysis.cost)) == (1200, 80, "0.002880")
    assert analysis.attempts == 1
    assert analysis.latency_ms is not None
    assert analysis.finished_at is not None
    assert analysis.prompt_version == "intrusion-v1"
    # The model got the image inline (read from the edge's link) and the prompt's version.
    seen = model.seen[-1]
    assert (seen.prompt_version, seen.image) == ("intrusion-v1", "inline")
    assert seen.body["model"] == "qwen-vl-max"
    assert seen.headers["authorization"] == "Bearer sk-test"
    # What is stored of the request leaves the image out.
    stored = json.dumps(analysis.request)
    assert "base64" not in stored
    assert f"image/jpeg, {len(SNAPSHOT)} bytes, inline" in stored
    assert analysis.raw_response is not None
    assert analysis.raw_response["usage"]["total_tokens"] == 1280
    assert analyzed_frames(alarm.alarm_id)[-1]["analysis"]["verdict"] == "FALSE_ALARM"


@pytest.mark.django_db
def test_an_answer_without_json_is_uncertain_with_its_text_kept(model: FakeModel) -> None:
    model.default = "garbage"
    analysis = requested(external_alarm(model))

    assert services.run(analysis.pk).status == "done"

    analysis.refresh_from_db()
    assert (analysis.status, analysis.verdict, analysis.parse_error) == (Status.DONE, "UNCERTAIN", True)
    assert analysis.raw_text == "I am sorry, I cannot see anything unusual {maybe} here."


@pytest.mark.parametrize(
    ("text", "verdict", "confidence", "parse_error"),
    [
        ('{"verdict": "real", "confidence": "85%"}', "REAL", 0.85, False),
        ('Sure! {"verdict": "UNSURE", "confidence": 70} done', "UNCERTAIN", 0.7, False),
        ('{"verdict": "maybe", "confidence": 0.5}', "UNCERTAIN", 0.5, True),
        ('{"confidence": 0.5}', "UNCERTAIN", None, True),
        ('```\n{"verdict": "FALSE_ALARM", "confidence": 2, "risk_level": "9"}\n```', "FALSE_ALARM", 0.02, False),
        ('{"verdict": "REAL", "confidence": NaN}', "REAL", None, False),
        ("", "UNCERTAIN", None, True),
    ],
)
def test_parsing_is_tolerant_and_never_guesses(text: str, verdict: str, confidence: float, parse_error: bool) -> None:
    opinion = parsing.parse(text)
    assert (opinion.verdict, opinion.confidence, opinion.parse_error) == (verdict, confidence, parse_error)
    assert opinion.risk_level in (None, 1, 2, 3, 4)


# --- the image ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_stored_snapshot_is_sent_inline_or_as_a_link(model: FakeModel, settings: Any, tmp_path: Path) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    key = snapshots.snapshot_storage().save("snapshots/2026/12/01/cam-01/S-1.jpg", ContentFile(SNAPSHOT))
    alarm = make_alarm(alarm_id="S-1", snapshot_url=key)
    services.run(requested(alarm).pk)
    assert model.seen[-1].image == "inline"

    settings.AI_MODEL_IMAGE = "url"
    settings.PUBLIC_BASE_URL = "https://vsp.example.com"
    analysis = requested(alarm)
    services.run(analysis.pk)
    assert model.seen[-1].image.startswith(f"https://vsp.example.com/files/{key}?exp=")
    analysis.refresh_from_db()
    assert f"<link to {key}>" in json.dumps(analysis.request)
    assert "sig=" not in json.dumps(analysis.request)


@pytest.mark.django_db
def test_a_snapshot_still_waiting_for_the_store_is_sent_from_its_kept_bytes(model: FakeModel) -> None:
    alarm = make_alarm(snapshot_url="snapshots/2026/12/01/cam-01/P-1.jpg", snapshot_status=SnapshotStatus.PENDING)
    PendingSnapshot.objects.create(alarm=alarm, data=SNAPSHOT, attempts=1)
    assert services.run(requested(alarm).pk).status == "done"
    assert model.seen[-1].image == "inline"


@pytest.mark.django_db
def test_an_alarm_without_a_snapshot_cannot_be_analysed(model: FakeModel) -> None:
    with pytest.raises(services.NotAnalysable, match="no snapshot"):
        requested(make_alarm())
    assert not AlarmLlmAnalysis.objects.exists()


# --- retries -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_failures_are_retried_with_exponential_backoff_then_succeed(model: FakeModel) -> None:
    model.then("500", "500")
    analysis = requested(external_alarm(model))

    first = services.run(analysis.pk)
    analysis.refresh_from_db()
    assert (first.status, first.delay) == ("retry", 4.0)  # AI_RETRY_BASE
    assert analysis.status == Status.PENDING
    assert "HTTP 500" in analysis.error
    assert analysis.due_at is not None
    assert analysis.due_at > timezone.now() + timedelta(seconds=3)
    # A message delivered before its time (the sweep, a duplicate) does not run it early.
    assert services.run(analysis.pk).status == "skipped"

    due_now(analysis)
    assert services.run(analysis.pk).delay == 8.0  # doubled
    due_now(analysis)
    assert services.run(analysis.pk).status == "done"

    analysis.refresh_from_db()
    assert (analysis.status, analysis.attempts, analysis.error) == (Status.DONE, 3, "")
    assert len(model.seen) == 3


@pytest.mark.django_db
def test_the_backoff_is_capped(model: FakeModel, settings: Any) -> None:
    settings.AI_MAX_ATTEMPTS, settings.AI_RETRY_BASE, settings.AI_RETRY_CAP = 10, 100, 300
    model.default = "500"
    analysis = requested(external_alarm(model))
    delays = []
    for _ in range(4):
        delays.append(services.run(analysis.pk).delay)
        due_now(analysis)
    assert delays == [100.0, 200.0, 300.0, 300.0]


@pytest.mark.django_db
def test_a_rate_limited_answer_waits_as_long_as_retry_after_says(model: FakeModel) -> None:
    model.then("429")
    analysis = requested(external_alarm(model))
    assert services.run(analysis.pk).delay == 1.0  # the model's Retry-After, not the backoff's 4 s
    analysis.refresh_from_db()
    assert "HTTP 429" in analysis.error


@pytest.mark.django_db
def test_a_model_that_hangs_is_given_up_on_at_the_timeout_and_retried(model: FakeModel, settings: Any) -> None:
    settings.AI_MODEL_TIMEOUT = 1
    model.then("hang")
    analysis = requested(external_alarm(model))
    outcome = services.run(analysis.pk)
    analysis.refresh_from_db()
    assert outcome.status == "retry"
    assert "no answer within 1 s" in analysis.error
    model.release.set()


@pytest.mark.django_db
def test_a_slow_answer_within_the_timeout_is_taken(model: FakeModel, settings: Any) -> None:
    settings.AI_MODEL_TIMEOUT = 5
    model.then("slow:1.5")
    analysis = requested(external_alarm(model))
    assert services.run(analysis.pk).status == "done"
    analysis.refresh_from_db()
    assert analysis.latency_ms is not None
    assert analysis.latency_ms >= 1500


@pytest.mark.django_db
def test_a_job_that_keeps_failing_ends_failed_with_its_error(model: FakeModel) -> None:
    model.default = "500"
    alarm = external_alarm(model)
    analysis = requested(alarm)
    outcomes = []
    for _ in range(3):
        outcomes.append(services.run(analysis.pk).status)
        due_now(analysis)
    analysis.refresh_from_db()
    assert outcomes == ["retry", "retry", "failed"]
    assert (analysis.status, analysis.attempts) == (Status.FAILED, 3)
    assert "HTTP 500" in analysis.error
    assert analysis.finished_at is not None
    assert services.run(analysis.pk).status == "skipped"  # finished: nothing runs it again
    assert analyzed_frames(alarm.alarm_id)[-1]["analysis"]["status"] == "FAILED"


@pytest.mark.django_db
def test_a_refused_request_fails_at_once(model: FakeModel, settings: Any) -> None:
    settings.AI_MODEL_URL = model.url + "/wrong"  # the model answers 404
    analysis = requested(external_alarm(model))
    assert services.run(analysis.pk).status == "failed"
    analysis.refresh_from_db()
    assert analysis.attempts == 1
    assert "HTTP 404" in analysis.error


@pytest.mark.django_db
def test_runs_over_the_providers_rate_wait_without_spending_an_attempt(model: FakeModel, settings: Any) -> None:
    settings.AI_MODEL_RATE = "2/m"
    alarm = external_alarm(model)
    analyses = [requested(alarm) for _ in range(3)]
    outcomes = [services.run(analysis.pk) for analysis in analyses]
    assert [outcome.status for outcome in outcomes] == ["done", "done", "retry"]
    assert outcomes[2].delay is not None
    assert 0 < outcomes[2].delay <= 60
    analyses[2].refresh_from_db()
    assert (analyses[2].status, analyses[2].attempts) == (Status.PENDING, 0)
    assert len(model.seen) == 2


@pytest.mark.django_db
def test_a_run_that_outlived_its_lease_stores_nothing_over_the_run_that_took_over(model: FakeModel) -> None:
    analysis = requested(external_alarm(model))
    # The first run claimed it, then its worker stalled past the lease; a second run claims it.
    AlarmLlmAnalysis.objects.filter(pk=analysis.pk).update(
        status=Status.RUNNING, attempts=1, lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert services.run(analysis.pk).status == "done"
    analysis.refresh_from_db()
    assert (analysis.status, analysis.attempts) == (Status.DONE, 2)
    # The stalled first run wakes up and tries to store its result: its claim is gone.
    from analysis.client import Answer

    late = services._finish(analysis, 1, {}, Answer('{"verdict": "REAL"}', {}, 1, 1, 5))
    assert late.status == "skipped"
    analysis.refresh_from_db()
    assert analysis.verdict == "FALSE_ALARM"
    assert len(analyzed_frames(analysis.alarm_id)) == 1


# --- requests commit with the alarm; the dispatch sends them -----------------------------------


def broker_queue_length() -> int:
    return int(redis.Redis.from_url(settings.CELERY_BROKER_URL).llen("vsp"))


def queued_ids() -> list[int]:
    messages = redis.Redis.from_url(settings.CELERY_BROKER_URL).lrange("vsp", 0, -1)
    bodies = [json.loads(message) for message in messages]
    assert {body["headers"]["task"] for body in bodies} <= {"analysis.tasks.analyze"}
    return sorted(json.loads(base64.b64decode(body["body"]))[0][0] for body in bodies)


needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="the broker is Redis")


@pytest.mark.django_db
@needs_redis
def test_a_reported_alarm_carries_its_request_and_the_dispatch_makes_it_a_row_and_sends_it(
    model: FakeModel,
) -> None:
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    snapshot = model.url.removesuffix("/v1") + "/snapshot.jpg"
    payloads = [report_payload(alarm_id=f"R-{n}", snapshot_url=snapshot) for n in (0, 1, 2)]
    assert post_report(payloads.pop(0)).status_code == 200  # the device's first report registers it
    AlarmEvent.objects.filter(pk="R-0").delete()
    services.rule_for("leave_post")  # the rules, read every few seconds, are read now
    with CaptureQueriesContext(connection) as off, override_settings(AI_MODEL_NAME=""):
        assert post_report(payloads[0]).status_code == 200
    with CaptureQueriesContext(connection) as on:
        assert post_report(payloads[1]).status_code == 200
    # The request rides in the alarm's own INSERT: asking for it costs the report no statement.
    assert len(on) == len(off)
    assert not AlarmEvent.objects.get(pk="R-1").analysis_requested
    assert AlarmEvent.objects.get(pk="R-2").analysis_requested
    assert not AlarmLlmAnalysis.objects.exists()
    assert broker_queue_length() == 0  # the report itself sends nothing to the broker
    assert services.dispatch() == 1
    analysis = AlarmLlmAnalysis.objects.get(alarm_id="R-2")
    assert (analysis.status, analysis.requested_by, analysis.prompt_version) == (
        Status.PENDING,
        "auto",
        "leave_post-v1",
    )
    assert analysis.sent_at is not None
    assert not AlarmEvent.objects.get(pk="R-2").analysis_requested
    assert queued_ids() == [analysis.pk]
    assert services.dispatch() == 0  # taken and sent, and not late: neither taken nor sent again
    assert AlarmLlmAnalysis.objects.count() == 1
    assert services.run(analysis.pk).status == "done"


@pytest.mark.django_db
def test_with_analysis_off_the_dispatch_reads_nothing_and_what_waits_goes_once_it_is_on(
    model: FakeModel, settings: Any
) -> None:
    alarm = external_alarm(model)
    AlarmEvent.objects.filter(pk=alarm.pk).update(analysis_requested=True)
    waiting = requested(external_alarm(model, alarm_id="W-1"))
    settings.AI_MODEL_NAME = ""
    with CaptureQueriesContext(connection) as queries:
        assert services.dispatch() == 0
    assert len(queries) == 0
    assert AlarmEvent.objects.get(pk=alarm.pk).analysis_requested

    settings.AI_MODEL_NAME = "qwen-vl-max"
    services.dispatch()
    assert not AlarmEvent.objects.get(pk=alarm.pk).analysis_requested
    assert AlarmLlmAnalysis.objects.filter(alarm=alarm).count() == 1
    waiting.refresh_from_db()
    assert waiting.sent_at is not None


@pytest.mark.django_db
def test_a_carried_request_whose_snapshot_is_gone_becomes_no_row(model: FakeModel) -> None:
    alarm = external_alarm(model)
    AlarmEvent.objects.filter(pk=alarm.pk).update(analysis_requested=True, snapshot_status=SnapshotStatus.NONE)
    assert services.take_requests() == 0
    assert not AlarmEvent.objects.get(pk=alarm.pk).analysis_requested
    assert not AlarmLlmAnalysis.objects.exists()


@pytest.mark.django_db
def test_a_staff_request_takes_over_the_request_an_alarm_carries(model: FakeModel) -> None:
    alarm = external_alarm(model)
    AlarmEvent.objects.filter(pk=alarm.pk).update(analysis_requested=True)
    analysis, created = services.request_by_staff(alarm.pk, name="alice")
    assert created
    assert analysis.requested_by == "alice"
    assert not AlarmEvent.objects.get(pk=alarm.pk).analysis_requested
    assert services.take_requests() == 0
    assert AlarmLlmAnalysis.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_dispatches_at_once_make_each_carried_request_one_row(model: FakeModel) -> None:
    alarms = [external_alarm(model, alarm_id=f"C-{n}") for n in range(40)]
    AlarmEvent.objects.filter(pk__in=[alarm.pk for alarm in alarms]).update(analysis_requested=True)
    taken: list[int] = []

    def take() -> None:
        try:
            taken.append(services.take_requests(limit=25))
        finally:
            connection.close()

    threads = [threading.Thread(target=take) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    taken.append(services.take_requests(limit=25))  # what both skipped, if they overlapped
    assert sum(taken) == 40
    assert sorted(AlarmLlmAnalysis.objects.values_list("alarm_id", flat=True)) == sorted(a.pk for a in alarms)
    assert not AlarmEvent.objects.filter(analysis_requested=True).exists()


@pytest.mark.django_db(transaction=True)
@needs_redis
def test_with_the_broker_down_requests_wait_and_a_lost_message_is_sent_again(model: FakeModel) -> None:
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    analysis = services.request(external_alarm(model), requested_by="auto")
    # A dispatch in a process whose broker is down (nothing listens on the discard port).
    down = {**os.environ, "DATABASE_URL": _database_url(), "JOB_BROKER_URL": "redis://127.0.0.1:9/0",
            "AI_MODEL_NAME": "qwen-vl-max", "DJANGO_SETTINGS_MODULE": "vsp.settings"}  # fmt: skip
    script = "import django; django.setup(); from analysis import services; print(services.dispatch())"
    result = subprocess.run([sys.executable, "-c", script], env=down, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "0", result.stderr[-2000:]
    assert "not sent to the job queue" in result.stderr
    analysis.refresh_from_db()
    assert (analysis.status, analysis.sent_at) == (Status.PENDING, None)

    assert services.dispatch() == 1  # the broker is back
    assert queued_ids() == [analysis.pk]
    # That message is lost (a broker restarted without its data): once it is late, it is sent again.
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    assert services.dispatch() == 0
    late = timezone.now() - timedelta(seconds=settings.AI_SWEEP_GRACE + 1)
    AlarmLlmAnalysis.objects.filter(pk=analysis.pk).update(sent_at=late, due_at=late)  # as if that long had passed
    assert services.dispatch() == 1
    assert queued_ids() == [analysis.pk]
    assert services.run(analysis.pk).status == "done"
    assert services.dispatch(timezone.now() + timedelta(hours=1)) == 0  # done: never sent again


# --- what the verdict does ------------------------------------------------------------------


@pytest.mark.django_db
def test_without_a_policy_a_false_alarm_verdict_changes_nothing(model: FakeModel) -> None:
    alarm = external_alarm(model)
    services.run(requested(alarm).pk)
    alarm.refresh_from_db()
    assert alarm.handle_status == HandleStatus.UNHANDLED
    assert not AlarmHandleLog.objects.exists()


@pytest.mark.django_db
def test_the_policy_marks_a_confident_false_alarm_ignored_by_the_system(model: FakeModel) -> None:
    AnalysisRule.objects.create(alarm_type="intrusion", auto_ignore=True, auto_ignore_confidence=0.9)
    alarm = external_alarm(model, alarm_type="intrusion")
    analysis = requested(alarm)
    services.run(analysis.pk)

    alarm.refresh_from_db()
    analysis.refresh_from_db()
    assert alarm.handle_status == HandleStatus.IGNORED
    assert alarm.handler == services.SYSTEM_HANDLER
    assert analysis.auto_ignored
    log = AlarmHandleLog.objects.get(alarm=alarm)
    assert (log.actor, log.actor_name, log.to_handle_status) == (None, services.SYSTEM_HANDLER, "IGNORED")
    assert "大模型复判为误报" in log.remark
    assert "0.95" in log.remark


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("opinion", "rule_type"),
    [
        ({"verdict": "FALSE_ALARM", "confidence": 0.8}, "intrusion"),  # below the threshold
        ({"verdict": "REAL", "confidence": 0.99}, "intrusion"),
        ({"verdict": "UNCERTAIN", "confidence": 0.99}, "intrusion"),
        ({"verdict": "FALSE_ALARM", "confidence": 0.99}, "smoke"),  # the policy is another type's
    ],
)
def test_the_policy_leaves_everything_else_alone(model: FakeModel, opinion: dict[str, Any], rule_type: str) -> None:
    AnalysisRule.objects.create(alarm_type=rule_type, auto_ignore=True, auto_ignore_confidence=0.9)
    model.opinion = opinion
    alarm = external_alarm(model, alarm_type="intrusion")
    services.run(requested(alarm).pk)
    alarm.refresh_from_db()
    assert alarm.handle_status == HandleStatus.UNHANDLED


@pytest.mark.django_db
@pytest.mark.parametrize("staff_decision", [HandleStatus.HANDLED, HandleStatus.HANDLING, HandleStatus.UNHANDLED])
def test_the_policy_never_overrides_staff(model: FakeModel, staff_decision: str) -> None:
    """Whatever staff decided, even reopening the alarm, the verdict is only shown."""
    AnalysisRule.objects.create(alarm_type="", auto_ignore=True, auto_ignore_confidence=0.5)
    alarm = external_alarm(model)
    analysis = requested(alarm)
    handle_alarm(alarm.pk, handle_status=HandleStatus.HANDLED, actor=Actor("duty-officer"), remark="real")
    if staff_decision != HandleStatus.HANDLED:
        handle_alarm(alarm.pk, handle_status=staff_decision, actor=Actor("duty-officer"))
    services.run(analysis.pk)

    alarm.refresh_from_db()
    analysis.refresh_from_db()
    assert (analysis.verdict, analysis.auto_ignored) == ("FALSE_ALARM", False)
    assert (alarm.handle_status, alarm.handler) == (staff_decision, "duty-officer")
    assert not AlarmHandleLog.objects.filter(actor_name=services.SYSTEM_HANDLER).exists()


# --- which alarms ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_rules_choose_the_alarms_by_type_and_level(model: FakeModel) -> None:
    def wanted(alarm_type: str, level: int) -> bool:
        services.forget_rules()
        return services.wanted(external_alarm(model, alarm_type=alarm_type, alarm_level=level))

    assert wanted("smoke", 4)  # no rules: every alarm with a snapshot
    AnalysisRule.objects.create(alarm_type="smoke", levels=[1, 2])
    AnalysisRule.objects.create(alarm_type="", enabled=False)
    assert (wanted("smoke", 1), wanted("smoke", 3), wanted("intrusion", 1)) == (True, False, False)
    assert not services.wanted(make_alarm(alarm_type="smoke", alarm_level=1))  # no snapshot


@pytest.mark.django_db
def test_with_analysis_off_nothing_is_requested(settings: Any) -> None:
    settings.AI_MODEL_NAME = ""
    payload = report_payload(alarm_id="OFF-1")
    assert Client().post(REPORT, data=json.dumps(payload), content_type="application/json").status_code == 200
    assert not AlarmLlmAnalysis.objects.exists()


@pytest.mark.django_db
def test_the_prompt_carries_the_types_question_the_site_and_the_language(model: FakeModel, settings: Any) -> None:
    settings.AI_SITE_CONTEXT, settings.AI_MODEL_LANGUAGE = "A logistics park.", "en"
    AnalysisRule.objects.create(alarm_type="smoke", site_context="A chemical plant; smoking is banned.")
    services.run(requested(external_alarm(model, alarm_type="smoke", alarm_level=1, scene_id="tank-3")).pk)
    services.run(requested(external_alarm(model, alarm_type="fire")).pk)

    smoke, fire = (seen.body["messages"] for seen in model.seen)
    assert smoke[0]["content"].startswith("[prompt smoke-v1]")
    assert smoke[0]["content"].endswith("Write description in English.")
    question = smoke[1]["content"][0]["text"]
    assert "Alarm type: smoke (烟雾)." in question
    assert "Level reported by the box: 1" in question
    assert "scene tank-3" in question
    assert "A chemical plant; smoking is banned." in question
    assert "Steam, fog, dust" in question
    assert "A logistics park." in fire[1]["content"][0]["text"]  # no rule of its own: the site's sentence
    assert [seen.prompt_version for seen in model.seen] == ["smoke-v1", "fire-v1"]
