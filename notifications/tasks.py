"""The notification jobs (vsp/celery.py): one try at a delivery, and the dispatch."""

from __future__ import annotations

from celery import shared_task

from notifications import services


@shared_task(name="notifications.tasks.deliver", ignore_result=True)
def deliver(delivery_id: int) -> str:
    """One try; a failed one that may succeed later sends its own next try, delayed."""
    return services.deliver(delivery_id)


@shared_task(name="notifications.tasks.dispatch", ignore_result=True)
def dispatch() -> int:
    """New alarms' deliveries, reminders, and the jobs not sent or late (every NOTIFY_DISPATCH_INTERVAL)."""
    return services.dispatch()
