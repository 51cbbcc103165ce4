"""The analysis jobs (vsp/celery.py): one attempt at an analysis, and the dispatch of the requests."""

from __future__ import annotations

from celery import shared_task

from analysis import services


@shared_task(name="analysis.tasks.analyze", ignore_result=True)
def analyze(analysis_id: int) -> str:
    """One attempt; a failed one that may succeed later sends its own next attempt, delayed."""
    return services.run(analysis_id).status


@shared_task(name="analysis.tasks.dispatch", ignore_result=True)
def dispatch() -> int:
    """Send the jobs of new requests, and again those whose message is late (every AI_DISPATCH_INTERVAL)."""
    return services.dispatch()
