"""``manage.py rebuild_alarm_timings``: make the ops metrics' per-alarm timings again from the handling logs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from alarms.metrics import rebuild_timings


class Command(BaseCommand):
    help = (
        "Remake every handled alarm's timing (first handling, first resolve) from its handling logs, for "
        "logs written without the ORM's save(), such as seed_alarms's. Run it while nobody handles alarms: "
        "a handling between its delete and its insert would be timed from that handling."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        made = rebuild_timings()
        self.stdout.write(f"timed {made} handled alarms")
