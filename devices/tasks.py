"""The devices' periodic job: boxes that went quiet become OFFLINE (sent every DEVICE_WATCH_INTERVAL)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from devices.services import mark_quiet_devices_offline as mark_offline

logger = logging.getLogger(__name__)


@shared_task(name="devices.tasks.mark_quiet_devices_offline")
def mark_quiet_devices_offline() -> list[str]:
    """One step of the watcher; several at once are safe (each flip is a conditional update)."""
    flipped = mark_offline(timezone.now())
    for device_id in flipped:
        logger.info("%s is offline", device_id)
    return flipped
