"""The platform's own periodic job: dashboard events past their retention are dropped."""

from __future__ import annotations

from celery import shared_task

from vsp.jobs import run_command


@shared_task(name="vsp.tasks.prune_events")
def prune_events() -> str:
    return run_command("prune_events")
