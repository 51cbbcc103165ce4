"""One step of the device watcher, now. The scheduler sends it as a job every DEVICE_WATCH_INTERVAL."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from devices.services import mark_quiet_devices_offline


class Command(BaseCommand):
    help = (
        "Flip devices silent for longer than their offline timeout to OFFLINE, once. The job engine runs "
        "this every DEVICE_WATCH_INTERVAL seconds (devices.tasks); safe beside it."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        flipped = mark_quiet_devices_offline(timezone.now())
        for device_id in flipped:
            self.stdout.write(f"{device_id} is offline")
        self.stdout.write(f"{len(flipped)} device(s) went offline")
