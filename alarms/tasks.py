"""The alarms' jobs: the periodic ones (their schedule: CELERY_BEAT_SCHEDULE in vsp/settings.py), and bulk
handling by a filter, sent by the request that asked for it."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from alarms import counts, metrics, services
from alarms.services import retry_pending_snapshots
from vsp.jobs import alone, run_command

logger = logging.getLogger(__name__)


@shared_task(name="alarms.tasks.retry_snapshots")
def retry_snapshots() -> tuple[int, int] | None:
    """Upload the snapshots the store refused when their alarm arrived; (stored, still pending)."""
    with alone("retry-snapshots", timeout=3600) as mine:
        if not mine:
            return None
        stored, pending = retry_pending_snapshots()
    if stored or pending:
        logger.info("stored %d snapshot(s), %d still pending", stored, pending)
    return stored, pending


@shared_task(name="alarms.tasks.fold_counts")
def fold_counts() -> int:
    """Fold every count change not folded yet, also those of a process that wrote a few and went quiet."""
    folded = total = counts.fold()
    while folded:  # a storm's worth, a batch at a time
        folded = counts.fold()
        total += folded
    return total


@shared_task(name="alarms.tasks.reconcile_counts")
def reconcile_counts(days: int | None = None) -> dict[str, int] | None:
    """Recount the alarms of the last ``days`` (all: ``None``) into the statistics counts."""
    # One at a time: two recounts would both add the same difference.
    with alone("reconcile-counts", timeout=6 * 3600) as mine:
        if not mine:
            logger.info("a recount of the counts is already running; this one is skipped")
            return None
        start = timezone.now() - timedelta(days=days) if days else None
        corrected = counts.reconcile(start)
    if corrected:
        logger.warning("the statistics counts had drifted; corrected %s", dict(corrected))
    return dict(corrected)


@shared_task(name="alarms.tasks.roll_up_timings")
def roll_up_timings(every: bool = False) -> int | None:
    """Roll up the past days the ops metrics' rollups lack or hold stale (``every``: all of them again)."""
    with alone("roll-up-timings", timeout=6 * 3600) as mine:
        if not mine:
            return None
        days = metrics.roll_up(every=every)
    if days:
        logger.info("rolled up the timings of %d day(s), %s to %s", len(days), days[0], days[-1])
    return len(days)


@shared_task(name="alarms.tasks.purge_pending_resolves")
def purge_pending_resolves() -> str:
    return run_command("purge_pending_resolves")


@shared_task(name="alarms.tasks.prune_alarms")
def prune_alarms() -> str:
    """The alarm retention policy (ALARM_RETENTION_DAYS; off by default)."""
    with alone("prune-alarms", timeout=6 * 3600) as mine:
        return run_command("prune_alarms") if mine else ""


# A job whose database is away tries again after 2, 4, 8… seconds, up to a minute apart.
_BULK_JOB_RETRIES = 8


@shared_task(name="alarms.tasks.run_bulk_handle_job", bind=True, ignore_result=True, max_retries=_BULK_JOB_RETRIES)
def run_bulk_handle_job(self: Any, job_id: int) -> str | None:
    """Handle the alarms of a filter job (``services.run_bulk_handle_job``); its final status."""
    try:
        job = services.run_bulk_handle_job(job_id)
    except (OperationalError, InterfaceError) as exc:
        if self.request.retries >= _BULK_JOB_RETRIES:
            services.fail_bulk_handle_job(job_id, f"the database stayed unavailable: {exc}")
            raise
        # Safe to run again: it goes on after the last batch that committed.
        raise self.retry(exc=exc, countdown=min(60, 2 ** (self.request.retries + 1))) from None
    except Exception as exc:
        services.fail_bulk_handle_job(job_id, f"{type(exc).__name__}: {exc}")
        raise
    return job.status if job is not None else None


@shared_task(name="alarms.tasks.resend_bulk_handle_jobs", ignore_result=True)
def resend_bulk_handle_jobs() -> int:
    """Send again the bulk handling jobs whose message was lost or whose worker died (every minute)."""
    return services.resend_stalled_bulk_handle_jobs()
