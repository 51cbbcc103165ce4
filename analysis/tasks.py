"""The analysis jobs (vsp/celery.py): one attempt at an analysis, and the sweep of lost requests."""

from __future__ import annotations

from celery import shared_task

from analysis import services


@shared_task(name="analysis.tasks.analyze", ignore_result=True)
def analyze(analysis_id: int) -> str:
    """One attempt; a failed one that may succeed later sends its own next attempt, delayed."""
    return services.run(analysis_id).status


@shared_task(name="analysis.tasks.sweep", ignore_result=True)
def sweep() -> int:
    return services.sweep()
