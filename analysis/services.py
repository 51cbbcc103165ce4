"""The second opinion: which alarms get one, the job that asks the model, and what its verdict does.

A report asks for one by setting its alarm's ``analysis_requested`` in the report's own INSERT, when
the rules want it: the request commits with the alarm and costs the report no statement. The dispatch
job, which the scheduler runs every AI_DISPATCH_INTERVAL seconds, turns those requests into analysis
rows (``AlarmLlmAnalysis``, PENDING) and clears the flags in one transaction, then sends the job
messages of rows not sent yet, and sends again those whose message is late (the broker was down, a
worker died with the job). A staff request writes its row in its own transaction and is sent at
once, after its commit. A message delivered twice is harmless: a run starts only by claiming the row
with one conditional UPDATE and writes its result only while its claim still holds, so each analysis
ends with one stored result.

The verdict never changes a staff decision. A rule may let a confident FALSE_ALARM mark an alarm
nobody has handled yet as IGNORED; the handling log says the system did it.
"""

from __future__ import annotations

import base64
import functools
import logging
import mimetypes
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from alarms import alarm_types, snapshots
from alarms.events import ALARM_ANALYZED, alarm_data
from alarms.exceptions import AlarmNotFound
from alarms.models import AlarmEvent, AlarmHandleLog, HandleStatus, PendingSnapshot, SnapshotStatus
from alarms.services import Actor, handle_alarm
from analysis import client, parsing, prompts
from analysis.models import AlarmLlmAnalysis, AnalysisRule, Verdict
from vsp import ratelimit
from vsp.publish import announce

logger = logging.getLogger(__name__)

Status = AlarmLlmAnalysis.Status
# The handler the policy's decisions are recorded under.
SYSTEM_HANDLER = "AI复判"
_ANALYSABLE = (SnapshotStatus.STORED, SnapshotStatus.PENDING, SnapshotStatus.EXTERNAL)
# A message may arrive a little before the time it was sent for (the clocks of two hosts).
_EARLY = timedelta(seconds=0.5)
_MAX_IMAGE_BYTES = 10 * 1024 * 1024
_RULES_TTL = 10.0


class NotAnalysable(Exception):
    """Why an alarm cannot be analysed: analysis is off, or the alarm has no snapshot."""


def enabled() -> bool:
    return bool(settings.AI_MODEL_NAME)


# --- which alarms ----------------------------------------------------------------------


@dataclass
class _Rules:
    by_type: dict[str, AnalysisRule]
    read_at: float


_rules = _Rules({}, float("-inf"))


def rule_for(alarm_type: str) -> AnalysisRule | None:
    """The type's rule, else the rule for every type; read from the database every few seconds."""
    if time.monotonic() - _rules.read_at > _RULES_TTL:
        _rules.by_type = {rule.alarm_type: rule for rule in AnalysisRule.objects.all()}
        _rules.read_at = time.monotonic()
    return _rules.by_type.get(alarm_type) or _rules.by_type.get("")


def forget_rules(**kwargs: Any) -> None:
    _rules.read_at = float("-inf")


def wanted(alarm: AlarmEvent) -> bool:
    """Whether a newly reported alarm gets a second opinion by its type's rule (all, without rules)."""
    if not enabled() or alarm.snapshot_status not in _ANALYSABLE:
        return False
    rule = rule_for(alarm.alarm_type)
    return rule is None or rule.covers(alarm.alarm_level)


def on_alarm_reporting(sender: Any, alarm: AlarmEvent, **kwargs: Any) -> None:
    """``alarms.signals.alarm_reporting``: the alarm about to be stored carries its request, if wanted."""
    if wanted(alarm):
        alarm.analysis_requested = True


def _new_request(alarm: AlarmEvent, *, requested_by: str, now: datetime, send: bool = False) -> AlarmLlmAnalysis:
    return AlarmLlmAnalysis(
        alarm=alarm,
        model_name=settings.AI_MODEL_NAME,
        prompt_version=prompts.template_for(alarm.alarm_type).version,
        requested_by=requested_by,
        due_at=now,
        sent_at=now if send else None,
    )


def request(alarm: AlarmEvent, *, requested_by: str, send: bool = False) -> AlarmLlmAnalysis:
    """Write an analysis request in the current transaction; the dispatch job sends it, or (``send``)
    this process once the transaction commits. A request the alarm carried is taken over by this one."""
    if not enabled():
        raise NotAnalysable("analysis is off: AI_MODEL_NAME is not set")
    if alarm.snapshot_status not in _ANALYSABLE:
        raise NotAnalysable(f"alarm {alarm.alarm_id} has no snapshot to analyse")
    analysis = _new_request(alarm, requested_by=requested_by, now=timezone.now(), send=send)
    analysis.save()
    if alarm.analysis_requested:
        AlarmEvent.objects.filter(pk=alarm.pk).update(analysis_requested=False)
        alarm.analysis_requested = False
    if send:
        transaction.on_commit(functools.partial(enqueue, analysis.pk))
    return analysis


def carried(alarm: AlarmEvent) -> AlarmLlmAnalysis:
    """The request a reported alarm carries, as the PENDING analysis it will become (not stored)."""
    analysis = _new_request(alarm, requested_by="auto", now=alarm.created_at)
    analysis.created_at = alarm.created_at
    return analysis


def take_requests(now: datetime | None = None, *, limit: int = 500) -> int:
    """Turn the requests reported alarms carry into analysis rows, oldest first; how many.

    One transaction writes the rows and clears the flags. The alarms are locked meanwhile, skipping
    those another dispatch (or a staff request) holds, so no request becomes two rows.
    """
    if not enabled():
        return 0  # requests left from when it was on wait for it to be on again
    now = now or timezone.now()
    with transaction.atomic():
        alarms = list(
            AlarmEvent.objects.filter(analysis_requested=True)
            .order_by("created_at")
            .only("alarm_id", "alarm_type", "alarm_level", "snapshot_status", "created_at")
            .select_for_update(skip_locked=True)[:limit]
        )
        if not alarms:
            return 0
        rows = [
            _new_request(alarm, requested_by="auto", now=min(alarm.created_at, now))
            for alarm in alarms
            if alarm.snapshot_status in _ANALYSABLE  # the snapshot may be gone since
        ]
        AlarmLlmAnalysis.objects.bulk_create(rows)
        AlarmEvent.objects.filter(pk__in=[alarm.pk for alarm in alarms]).update(analysis_requested=False)
    return len(rows)


def request_by_staff(alarm_id: str, *, name: str) -> tuple[AlarmLlmAnalysis, bool]:
    """A staff member's (re-)request: a new analysis, or the one already waiting or running (False)."""
    with transaction.atomic():
        alarm = AlarmEvent.objects.select_for_update().filter(pk=alarm_id).first()
        if alarm is None:
            raise AlarmNotFound(alarm_id)
        waiting = in_flight(alarm_id)
        if waiting is not None:
            return waiting, False
        return request(alarm, requested_by=name, send=True), True


def in_flight(alarm_id: str) -> AlarmLlmAnalysis | None:
    """The alarm's analysis that is waiting or running, if any (a staff request then adds none)."""
    return AlarmLlmAnalysis.objects.filter(alarm_id=alarm_id, status__in=(Status.PENDING, Status.RUNNING)).first()


@dataclass
class _Broker:
    down_until: float = 0.0  # time.monotonic()


_broker = _Broker()
_BROKER_DOWN_FOR = 10.0


def enqueue(analysis_id: int, *, countdown: float | None = None) -> bool:
    """Send the job's message; False (logged) if the broker refused it, which leaves it to the dispatch.

    After a refusal, sends are not tried for a few seconds: reports in an outage do not each wait
    for the broker's connect timeout.
    """
    from analysis.tasks import analyze

    if time.monotonic() < _broker.down_until:
        return False
    try:
        options: dict[str, Any] = {} if countdown is None else {"countdown": countdown}
        analyze.apply_async((analysis_id,), retry=False, **options)
    except Exception as exc:  # the broker being down must not fail what asked; the dispatch sends it later
        _broker.down_until = time.monotonic() + _BROKER_DOWN_FOR
        logger.warning(
            "analysis %s not sent to the job queue (the dispatch will): %s: %s", analysis_id, type(exc).__name__, exc
        )
        return False
    return True


def dispatch(now: datetime | None = None, *, limit: int = 500) -> int:
    """Send the messages of new requests, and again those of requests whose message is late.

    First the requests the reports carried become rows (``take_requests``). Late: waiting
    AI_SWEEP_GRACE seconds past both its due time and its last send (lost at the broker), or running
    past its lease (its worker died) with no message sent since.
    """
    if not enabled():
        return 0  # nothing is asked for, and what was waits for it to be on again (a query a second saved)
    now = now or timezone.now()
    take_requests(now, limit=limit)
    late = now - timedelta(seconds=settings.AI_SWEEP_GRACE)
    unsent = Q(status=Status.PENDING, sent_at__isnull=True, due_at__lte=now)
    lost = Q(status=Status.PENDING, sent_at__lt=late, due_at__lt=late)
    orphaned = Q(status=Status.RUNNING, lease_until__lt=now) & (Q(sent_at__isnull=True) | Q(sent_at__lt=late))
    ids = list(
        AlarmLlmAnalysis.objects.filter(unsent | lost | orphaned)
        .order_by("due_at")
        .values_list("pk", flat=True)[:limit]
    )
    sent = [pk for pk in ids if enqueue(pk)]
    AlarmLlmAnalysis.objects.filter(pk__in=sent).update(sent_at=now)
    if len(sent) < len(ids):
        logger.warning("dispatch: %d of %d analyses not sent, the broker refused them", len(ids) - len(sent), len(ids))
    return len(sent)


# --- the job ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one run did: ``done``, ``failed``, ``retry`` (after ``delay`` s) or ``skipped`` (not claimed)."""

    status: str
    delay: float | None = None


def run(analysis_id: int) -> Outcome:
    """One attempt at an analysis: claim it, ask the model, store the answer or plan the next attempt."""
    now = timezone.now()
    lease = timedelta(seconds=settings.AI_MODEL_TIMEOUT + 30)
    claimable = Q(status=Status.PENDING) & (Q(due_at__isnull=True) | Q(due_at__lte=now + _EARLY))
    claimable |= Q(status=Status.RUNNING, lease_until__lt=now)
    claimed = AlarmLlmAnalysis.objects.filter(claimable, pk=analysis_id).update(
        status=Status.RUNNING,
        lease_until=now + lease,
        attempts=F("attempts") + 1,
        started_at=Coalesce("started_at", now),
        due_at=None,
    )
    if not claimed:
        return Outcome("skipped")
    analysis = AlarmLlmAnalysis.objects.select_related("alarm").get(pk=analysis_id)
    attempt = analysis.attempts
    if attempt > settings.AI_MAX_ATTEMPTS:  # runs that never finished (their worker died) count too
        return _fail(analysis, attempt, analysis.error or f"gave up after {attempt - 1} attempts")
    provider = urlsplit(settings.AI_MODEL_URL).netloc or settings.AI_MODEL_URL
    limit = ratelimit.Limit("ai-model", provider, ratelimit.Rate.parse(settings.AI_MODEL_RATE))
    if exceeded := ratelimit.check([limit], now):
        # Not an attempt: hand the claim back and come back when the window has room.
        delay = float(exceeded.retry_after)
        _release(analysis, attempt, delay, error=analysis.error, count_attempt=False)
        return Outcome("retry", delay)
    try:
        body, shown = _request_body(analysis)
        answer = client.complete(body, prompt_version=analysis.prompt_version)
    except client.ModelError as exc:
        if not exc.retryable or attempt >= settings.AI_MAX_ATTEMPTS:
            return _fail(analysis, attempt, str(exc))
        delay = _backoff(attempt, exc.retry_after)
        _release(analysis, attempt, delay, error=str(exc))
        return Outcome("retry", delay)
    except NotAnalysable as exc:
        return _fail(analysis, attempt, str(exc))
    return _finish(analysis, attempt, shown, answer)


def _backoff(attempt: int, retry_after: float | None) -> float:
    """Seconds before the next attempt: what the provider asked for, else base × 2^(attempt − 1); capped."""
    wanted_delay = retry_after if retry_after is not None else settings.AI_RETRY_BASE * 2 ** (attempt - 1)
    return float(min(settings.AI_RETRY_CAP, max(1.0, wanted_delay)))


def _mine(analysis: AlarmLlmAnalysis, attempt: int) -> Any:
    """The row, while this run's claim holds (no later run has claimed it since)."""
    return AlarmLlmAnalysis.objects.filter(pk=analysis.pk, status=Status.RUNNING, attempts=attempt)


def _release(analysis: AlarmLlmAnalysis, attempt: int, delay: float, *, error: str, count_attempt: bool = True) -> None:
    values: dict[str, Any] = {"due_at": timezone.now() + timedelta(seconds=delay), "sent_at": timezone.now()}
    if not count_attempt:
        values["attempts"] = attempt - 1
    if _mine(analysis, attempt).update(status=Status.PENDING, lease_until=None, error=error[:4000], **values):
        enqueue(analysis.pk, countdown=delay)


def _fail(analysis: AlarmLlmAnalysis, attempt: int, error: str) -> Outcome:
    now = timezone.now()
    with transaction.atomic():
        if not _mine(analysis, attempt).update(
            status=Status.FAILED, error=error[:4000], finished_at=now, lease_until=None
        ):
            return Outcome("skipped")
        analysis.refresh_from_db()
        _announce(analysis)
    logger.warning("analysis %s of %s failed after %d attempts: %s", analysis.pk, analysis.alarm_id, attempt, error)
    return Outcome("failed")


def _finish(analysis: AlarmLlmAnalysis, attempt: int, shown: dict[str, Any], answer: client.Answer) -> Outcome:
    opinion = parsing.parse(answer.text)
    now = timezone.now()
    with transaction.atomic():
        if not _mine(analysis, attempt).select_for_update().exists():
            return Outcome("skipped")  # a later run claimed it (this one outlived its lease)
        analysis.status = Status.DONE
        analysis.verdict = opinion.verdict
        analysis.confidence = opinion.confidence
        analysis.description = opinion.description
        analysis.risk_level = opinion.risk_level
        analysis.detected_objects = opinion.objects
        analysis.parse_error = opinion.parse_error
        analysis.raw_text = answer.text[:20000]
        analysis.request = shown
        analysis.raw_response = answer.raw
        analysis.prompt_tokens = answer.prompt_tokens
        analysis.completion_tokens = answer.completion_tokens
        analysis.cost = _cost(answer)
        analysis.latency_ms = answer.latency_ms
        analysis.error = ""
        analysis.finished_at = now
        analysis.lease_until = None
        handled = _apply_policy(analysis)
        analysis.auto_ignored = handled is not None
        analysis.save()
        _announce(analysis, handled)
    return Outcome("done")


def _cost(answer: client.Answer) -> Decimal | None:
    if answer.prompt_tokens is None and answer.completion_tokens is None:
        return None
    spent = (answer.prompt_tokens or 0) * settings.AI_MODEL_PRICE_INPUT
    spent += (answer.completion_tokens or 0) * settings.AI_MODEL_PRICE_OUTPUT
    return (Decimal(spent) / 1_000_000).quantize(Decimal("0.000001"))


def _apply_policy(analysis: AlarmLlmAnalysis) -> AlarmEvent | None:
    """Mark the alarm IGNORED if its rule says so, the model is sure enough, and no human has handled it.

    Returns the alarm so handled (as ``handle_alarm`` leaves it), or None.
    """
    rule = rule_for(analysis.alarm.alarm_type)
    if rule is None or not rule.auto_ignore or analysis.verdict != Verdict.FALSE_ALARM or analysis.parse_error:
        return None
    if analysis.confidence is None or analysis.confidence < rule.auto_ignore_confidence:
        return None
    alarm = AlarmEvent.objects.select_for_update().get(pk=analysis.alarm_id)  # staff handling waits, or won
    if alarm.handle_status != HandleStatus.UNHANDLED or AlarmHandleLog.objects.filter(alarm=alarm).exists():
        return None  # a human has had a say, even one who reopened it
    remark = (
        f"大模型复判为误报（置信度 {analysis.confidence:.2f}，{analysis.model_name}，{analysis.prompt_version}），"
        "按规则自动标记"
    )
    return handle_alarm(alarm.pk, handle_status=HandleStatus.IGNORED, actor=Actor(SYSTEM_HANDLER), remark=remark)


def _announce(analysis: AlarmLlmAnalysis, alarm: AlarmEvent | None = None) -> None:
    """``alarm.analyzed``, with the alarm as it is now (read, unless the caller holds it so)."""
    from analysis.serializers import compat_analysis

    alarm = alarm or AlarmEvent.objects.with_device_name().get(pk=analysis.alarm_id)
    announce(ALARM_ANALYZED, {**alarm_data(alarm), "analysis": compat_analysis(analysis)})


# --- the request -------------------------------------------------------------------------


def _request_body(analysis: AlarmLlmAnalysis) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chat-completions request, and the same with the image left out, to store."""
    alarm = analysis.alarm
    template = prompts.template_for(alarm.alarm_type)
    rule = rule_for(alarm.alarm_type)
    text = prompts.user_prompt(
        template,
        alarm_type=alarm.alarm_type,
        type_name=alarm_types.chinese_name(alarm.alarm_type, unknown=""),
        level=alarm.alarm_level,
        device=alarm.device_id,
        scene=alarm.scene_id,
        site=(rule.site_context if rule else "") or settings.AI_SITE_CONTEXT,
    )
    image_url, image_shown = _image(alarm)

    def body(image: str) -> dict[str, Any]:
        return {
            "model": analysis.model_name,
            "max_tokens": settings.AI_MODEL_MAX_TOKENS,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": prompts.system_prompt(template, settings.AI_MODEL_LANGUAGE)},
                {"role": "user", "content": [
                    {"type": "text", "text": text},
                    {"type": "image_url", "image_url": {"url": image}},
                ]},
            ],
        }  # fmt: skip

    return body(image_url), body(image_shown)


def _image(alarm: AlarmEvent) -> tuple[str, str]:
    """The snapshot as the model gets it (a data URL or a link), and as the stored request shows it."""
    status, key = alarm.snapshot_status, alarm.snapshot_url
    if settings.AI_MODEL_IMAGE == "url":
        link = snapshots.snapshot_link(alarm)
        if link is None:
            raise client.ModelError(f"the snapshot of {alarm.alarm_id} is not stored yet", retryable=True)
        return link, f"<link to {key}>"
    if status == SnapshotStatus.EXTERNAL:
        data, kind = _fetch(key)
    elif status == SnapshotStatus.PENDING:
        pending = PendingSnapshot.objects.filter(alarm_id=alarm.alarm_id).values_list("data", flat=True).first()
        if pending is None:  # stored meanwhile
            alarm.refresh_from_db()
            return _image(alarm)
        data, kind = bytes(pending), _kind(key)
    elif status == SnapshotStatus.STORED:
        try:
            with snapshots.snapshot_storage().open(key) as stored:
                data = stored.read(_MAX_IMAGE_BYTES + 1)
        except FileNotFoundError:
            raise NotAnalysable(f"the snapshot of {alarm.alarm_id} is gone from the store") from None
        except Exception as exc:
            raise client.ModelError(f"the snapshot store: {type(exc).__name__}: {exc}", retryable=True) from exc
        kind = _kind(key)
    else:
        raise NotAnalysable(f"alarm {alarm.alarm_id} has no snapshot to analyse")
    if len(data) > _MAX_IMAGE_BYTES:
        raise NotAnalysable(f"the snapshot of {alarm.alarm_id} is over {_MAX_IMAGE_BYTES // 1024 // 1024} MB")
    return f"data:{kind};base64,{base64.b64encode(data).decode()}", f"<{kind}, {len(data)} bytes, inline>"


def _kind(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "image/jpeg"


def _fetch(url: str) -> tuple[bytes, str]:
    """An edge's snapshot link, read by this worker (the model may not reach the site's network)."""
    import httpx  # here, in the worker: web and ws processes never need it (20 MB)

    try:
        with httpx.stream("GET", url, timeout=10.0, follow_redirects=True) as response:
            response.raise_for_status()
            read = bytearray()
            for chunk in response.iter_bytes():
                read += chunk
                if len(read) > _MAX_IMAGE_BYTES:
                    break
            data = bytes(read)
            kind = response.headers.get("content-type", "").split(";")[0].strip()
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code in (404, 410):
            raise NotAnalysable(f"the snapshot link answers {exc.response.status_code}: {url}") from None
        raise client.ModelError(f"the snapshot link answers {exc.response.status_code}", retryable=True) from exc
    except httpx.HTTPError as exc:
        raise client.ModelError(f"cannot read the snapshot link: {exc}", retryable=True) from exc
    return data, kind if kind.startswith("image/") else _kind(urlsplit(url).path)
