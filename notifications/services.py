"""Notifications: which alarms are sent where (the dispatch), and the job that sends one (``deliver``).

Reports do no work for notifications: the dispatch job, which the scheduler runs every
NOTIFY_DISPATCH_INTERVAL seconds, reads the alarms stored since its cursor (by ``alarm_created_idx``),
going back NOTIFY_REREAD_SECONDS because an alarm's stored time is taken before its report commits.
For each alarm a rule matches, the database decides whether its cooldown lets it through (a
conditional UPDATE, or the INSERT of the (rule, device, type) row, with the row count checked), and the
delivery rows are written insert-or-ignore on their unique key: reading an alarm twice, or two
dispatches at once, write each delivery once. The cooldown window is measured on the alarm's stored
time, so a second reading of an alarm reaches the same decision as the first.

Then the dispatch writes the reminders that are due (an alarm still UNHANDLED, every
``remind_every_minutes``, at most ``remind_max``), and sends the job messages of the rows not sent
yet, and again those whose message is late (the broker was down, a worker died with the job).

A run of ``deliver`` starts by claiming its row with one conditional UPDATE, so a message delivered
twice sends once; a failed try that may succeed later is retried with exponential backoff, up to
NOTIFY_MAX_ATTEMPTS, then the row is FAILED with its error.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Prefetch, Q
from django.utils import timezone

from alarms.models import AlarmEvent, HandleStatus
from notifications import protocols, texts
from notifications.models import Channel, Cooldown, Cursor, Delivery, Rule

logger = logging.getLogger(__name__)

Status = Delivery.Status
Kind = Delivery.Kind
CURSOR = "alarms"
# A message may arrive a little before the time it was sent for (the clocks of two hosts).
_EARLY = timedelta(seconds=0.5)
_PAGES = 10
QUIET_HOURS = "quiet hours"

CooldownKey = tuple[int, str, str]


# --- which alarms ------------------------------------------------------------------------


def _rules() -> list[Rule]:
    enabled_channels = Prefetch("channels", queryset=Channel.objects.filter(enabled=True))
    return list(Rule.objects.filter(enabled=True).prefetch_related(enabled_channels))


def _advance(position: datetime) -> None:
    """Move the cursor forward (never back: another dispatch may have read further)."""
    if not Cursor.objects.filter(pk=CURSOR, position__lt=position).update(position=position):
        try:
            with transaction.atomic():
                Cursor.objects.create(name=CURSOR, position=position, started_at=position)
        except IntegrityError:
            pass  # it exists, at or past this position


def read_alarms(now: datetime | None = None) -> int:
    """Write the deliveries of the alarms stored since the cursor; how many alarms passed a cooldown.

    First the alarms of the last NOTIFY_REREAD_SECONDS before the cursor, again (the newest of them,
    where a late commit lands, if there are more than a batch), then the new ones in pages, moving the
    cursor after each. Neither read is more than NOTIFY_DISPATCH_BATCH alarms, so a storm never holds
    the cursor back: what one run leaves, the next reads.
    """
    now = now or timezone.now()
    rules = [rule for rule in _rules() if list(rule.channels.all())]
    cursor = Cursor.objects.filter(pk=CURSOR).first()
    if cursor is None or not rules:
        _advance(now)  # the first run starts now: alarms from before it are history, not news
        return 0
    batch = settings.NOTIFY_DISPATCH_BATCH
    query = AlarmEvent.objects.only("alarm_id", "alarm_type", "device_id", "alarm_level", "created_at")
    since = max(cursor.started_at, cursor.position - timedelta(seconds=settings.NOTIFY_REREAD_SECONDS))
    again = query.filter(created_at__gte=since, created_at__lte=cursor.position).order_by("-created_at", "-alarm_id")
    passed = _notify(list(again[:batch])[::-1], rules, now)
    new = query.filter(created_at__gt=cursor.position).order_by("created_at", "alarm_id")
    page_size, page = max(1, batch // _PAGES), new
    for _page in range(_PAGES):
        alarms = list(page[:page_size])
        if not alarms:
            break
        passed += _notify(alarms, rules, now)
        last = alarms[-1]
        _advance(last.created_at)
        if len(alarms) < page_size:
            break
        page = new.filter(Q(created_at__gt=last.created_at) | Q(created_at=last.created_at, alarm_id__gt=last.alarm_id))
    return passed


def _notify(alarms: list[AlarmEvent], rules: list[Rule], now: datetime) -> int:
    matched = [(alarm, rule) for alarm in alarms for rule in rules if rule.matches(alarm)]
    if not matched:
        return 0
    # What the cooldowns are known to block: a window only ever moves later, so an alarm stored before
    # a known end is blocked without asking. The rest ask the database.
    known: dict[CooldownKey, datetime] = {
        (row.rule_id, row.device_id, row.alarm_type): row.until
        for row in Cooldown.objects.filter(
            rule_id__in={rule.pk for _, rule in matched},
            device_id__in={alarm.device_id for alarm, _ in matched},
            alarm_type__in={alarm.alarm_type for alarm, _ in matched},
        )
    }
    passed = 0
    for alarm, rule in matched:
        key = (rule.pk, alarm.device_id, alarm.alarm_type)
        until = known.get(key)
        if rule.cooldown_seconds and until is not None and alarm.created_at < until:
            continue
        with transaction.atomic():
            if _claim_cooldown(rule, alarm):
                _write_alert(rule, alarm, now)
                passed += 1
        if rule.cooldown_seconds:
            known[key] = Cooldown.objects.filter(
                rule=rule, device_id=alarm.device_id, alarm_type=alarm.alarm_type
            ).values_list("until", flat=True)[0]
    return passed


def _claim_cooldown(rule: Rule, alarm: AlarmEvent) -> bool:
    """Whether the alarm opens a new cooldown window of its rule, device and type: decided by the database."""
    if not rule.cooldown_seconds:
        return True  # every alarm is sent; the deliveries' unique key keeps a second reading harmless
    until = alarm.created_at + timedelta(seconds=rule.cooldown_seconds)
    key = {"rule": rule, "device_id": alarm.device_id, "alarm_type": alarm.alarm_type}
    if Cooldown.objects.filter(**key, until__lte=alarm.created_at).update(until=until, alarm_id=alarm.alarm_id):
        return True
    if Cooldown.objects.filter(**key).exists():
        return False
    try:
        with transaction.atomic():
            Cooldown.objects.create(**key, until=until, alarm_id=alarm.alarm_id)
    except IntegrityError:
        return False  # another dispatch opened it first
    return True


def _write_alert(rule: Rule, alarm: AlarmEvent, now: datetime) -> None:
    quiet = rule.is_quiet(timezone.localtime(alarm.created_at))
    _write(rule, alarm.pk, Kind.ALERT, 0, now, quiet=quiet)


def _write(
    rule: Rule, alarm_id: str, kind: str, n: int, now: datetime, *, quiet: bool, channel_ids: list[int] | None = None
) -> None:
    """The rule's deliveries of one alarm (to each of its channels, or those named), insert-or-ignore."""
    targets = channel_ids if channel_ids is not None else [channel.pk for channel in rule.channels.all()]
    rows = [
        Delivery(
            rule=rule,
            channel_id=channel_id,
            alarm_id=alarm_id,
            kind=kind,
            n=n,
            status=Status.SKIPPED if quiet else Status.PENDING,
            last_error=QUIET_HOURS if quiet else "",
            created_at=now,
            due_at=None if quiet else now,
            finished_at=now if quiet else None,
        )
        for channel_id in targets
    ]
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)


def plan_reminders(now: datetime | None = None) -> int:
    """Write the reminders due of alarms whose notice was sent and that are still UNHANDLED; how many."""
    now = now or timezone.now()
    written = 0
    for rule in _rules():
        if not rule.remind_every_minutes:
            continue
        every = timedelta(minutes=rule.remind_every_minutes)
        horizon = now - every * (rule.remind_max + 1)
        notices = Delivery.objects.filter(
            rule=rule,
            kind=Kind.ALERT,
            status=Status.SENT,
            created_at__gte=horizon,
            alarm__handle_status=HandleStatus.UNHANDLED,
        ).values_list("channel_id", "alarm_id", "created_at")
        # Those written already are not written again each second (the unique key would ignore them).
        written_already = set(
            Delivery.objects.filter(rule=rule, kind=Kind.REMINDER, created_at__gte=horizon).values_list(
                "channel_id", "alarm_id", "n"
            )
        )
        quiet = rule.is_quiet(timezone.localtime(now))
        for channel_id, alarm_id, sent in notices:
            n = min(rule.remind_max, int((now - sent) / every))
            if n >= 1 and (channel_id, alarm_id, n) not in written_already:
                _write(rule, alarm_id, Kind.REMINDER, n, now, quiet=quiet, channel_ids=[channel_id])
                written += 1
    return written


# --- the job messages --------------------------------------------------------------------


@dataclass
class _Broker:
    down_until: float = 0.0  # time.monotonic()


_broker = _Broker()
_BROKER_DOWN_FOR = 10.0


def enqueue(delivery_id: int, *, countdown: float | None = None) -> bool:
    """Send the job's message; False (logged) if the broker refused it, which leaves it to the dispatch."""
    from notifications.tasks import deliver as deliver_task

    if time.monotonic() < _broker.down_until:
        return False
    try:
        options: dict[str, Any] = {} if countdown is None else {"countdown": countdown}
        deliver_task.apply_async((delivery_id,), retry=False, **options)
    except Exception as exc:  # the broker being down must not fail the dispatch; its next run sends it
        _broker.down_until = time.monotonic() + _BROKER_DOWN_FOR
        logger.warning("delivery %s not sent to the job queue: %s: %s", delivery_id, type(exc).__name__, exc)
        return False
    return True


def send_due(now: datetime | None = None, *, limit: int = 500) -> int:
    """Send the messages of deliveries not sent yet, and again of those whose message is late; how many.

    Late: waiting NOTIFY_SWEEP_GRACE seconds past both its due time and its last send (lost at the
    broker), or sending past its lease (its worker died) with no message sent since.
    """
    now = now or timezone.now()
    late = now - timedelta(seconds=settings.NOTIFY_SWEEP_GRACE)
    unsent = Q(status=Status.PENDING, sent_at__isnull=True, due_at__lte=now)
    lost = Q(status=Status.PENDING, sent_at__lt=late, due_at__lt=late)
    orphaned = Q(status=Status.SENDING, lease_until__lt=now) & (Q(sent_at__isnull=True) | Q(sent_at__lt=late))
    ids = list(
        Delivery.objects.filter(unsent | lost | orphaned).order_by("due_at").values_list("pk", flat=True)[:limit]
    )
    # Marked sent first: a job that runs at once (an in-process worker) must not find its mark missing.
    Delivery.objects.filter(pk__in=ids).update(sent_at=now)
    refused = [pk for pk in ids if not enqueue(pk)]
    if refused:
        Delivery.objects.filter(pk__in=refused).update(sent_at=None)
        logger.warning("notify dispatch: %d of %d deliveries not sent, the broker refused them", len(refused), len(ids))
    return len(ids) - len(refused)


def dispatch(now: datetime | None = None) -> int:
    """The periodic job: new alarms' deliveries, the reminders due, then the job messages; how many sent."""
    now = now or timezone.now()
    read_alarms(now)
    plan_reminders(now)
    return send_due(now)


# --- the job -----------------------------------------------------------------------------


def _lease() -> timedelta:
    return timedelta(seconds=2 * settings.NOTIFY_TIMEOUT + 30)


def deliver(delivery_id: int, *, max_attempts: int | None = None) -> str:
    """One try at a delivery: claim it, send it, record the outcome or plan the next try; the status."""
    now = timezone.now()
    claimable = Q(status=Status.PENDING) & (Q(due_at__isnull=True) | Q(due_at__lte=now + _EARLY))
    claimable |= Q(status=Status.SENDING, lease_until__lt=now)
    claimed = Delivery.objects.filter(claimable, pk=delivery_id).update(
        status=Status.SENDING, lease_until=now + _lease(), attempts=F("attempts") + 1, due_at=None
    )
    if not claimed:
        return "skipped"
    delivery = Delivery.objects.select_related("channel").get(pk=delivery_id)
    attempt, most = delivery.attempts, max_attempts or settings.NOTIFY_MAX_ATTEMPTS
    if attempt > most:  # tries that never finished (their worker died) count too
        return _finish(
            delivery, attempt, Status.FAILED, error=delivery.last_error or f"gave up after {attempt - 1} tries"
        )
    if not delivery.channel.enabled:
        return _finish(delivery, attempt, Status.SKIPPED, error="the channel is disabled")
    message = _message(delivery, now)
    if message is None:
        return _finish(delivery, attempt, Status.SKIPPED, error="the alarm was handled (or deleted) meanwhile")
    try:
        sent = protocols.send(delivery.channel, message)
    except protocols.SendError as exc:
        if not exc.retryable or attempt >= most:
            logger.warning("delivery %s to %s failed after %d tries: %s", delivery.pk, delivery.channel, attempt, exc)
            return _finish(delivery, attempt, Status.FAILED, error=str(exc), code=exc.code)
        return _retry(delivery, attempt, error=str(exc), code=exc.code)
    return _finish(delivery, attempt, Status.SENT, code=sent.code)


def _message(delivery: Delivery, now: datetime) -> protocols.Message | None:
    if delivery.kind == Kind.TEST:
        return texts.trial_message(delivery.channel.name, now)
    alarm = AlarmEvent.objects.with_device_name().filter(pk=delivery.alarm_id).first()
    if alarm is None or (delivery.kind == Kind.REMINDER and alarm.handle_status != HandleStatus.UNHANDLED):
        return None
    return texts.alarm_message(alarm, reminder=delivery.n if delivery.kind == Kind.REMINDER else 0)


def _mine(delivery: Delivery, attempt: int) -> Any:
    """The row, while this run's claim holds (no later run has claimed it since)."""
    return Delivery.objects.filter(pk=delivery.pk, status=Status.SENDING, attempts=attempt)


def backoff(attempt: int) -> float:
    """Seconds before the next try: base × 2^(attempt − 1), at most the cap."""
    return float(min(settings.NOTIFY_RETRY_CAP, settings.NOTIFY_RETRY_BASE * 2 ** (attempt - 1)))


def _retry(delivery: Delivery, attempt: int, *, error: str, code: int | None) -> str:
    now = timezone.now()
    delay = backoff(attempt)
    if _mine(delivery, attempt).update(
        status=Status.PENDING,
        lease_until=None,
        due_at=now + timedelta(seconds=delay),
        sent_at=now,
        last_error=error[:4000],
        response_code=code,
    ) and not enqueue(delivery.pk, countdown=delay):
        Delivery.objects.filter(pk=delivery.pk, status=Status.PENDING).update(sent_at=None)  # the dispatch sends it
    return "retry"


def _finish(delivery: Delivery, attempt: int, status: str, *, error: str = "", code: int | None = None) -> str:
    values: dict[str, Any] = {"status": status, "lease_until": None, "finished_at": timezone.now()}
    if error or status == Status.SENT:
        values["last_error"] = error[:4000]
    if code is not None:
        values["response_code"] = code
    if not _mine(delivery, attempt).update(**values):
        return "skipped"  # a later run claimed it (this one outlived its lease)
    return str(status)


def send_test(channel: Channel) -> Delivery:
    """Send a test message to a channel now, once (staff wait for the answer); the logged delivery."""
    now = timezone.now()
    delivery = Delivery.objects.create(channel=channel, kind=Kind.TEST, created_at=now, due_at=now, sent_at=now)
    deliver(delivery.pk, max_attempts=1)
    delivery.refresh_from_db()
    return delivery
