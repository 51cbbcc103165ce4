"""``manage.py rebuild_alarm_timings``: make the ops metrics' per-alarm timings again from the handling logs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from alarms.metrics import rebuild_timings, roll_up
from alarms.models import AlarmTimingDay


class Command(BaseCommand):
    help = (
        "Remake every handled alarm's timing (first handling, first resolve) from its handling logs, for "
        "logs written without the ORM's save(), such as a bulk import's, then the days' rollups. Run it while "
        "nobody handles alarms: a handling between its delete and its insert would be timed from that handling."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        AlarmTimingDay.objects.update(fresh=False)  # the days read from the timings until rolled up again
        made = rebuild_timings()
        days = roll_up()
        self.stdout.write(f"timed {made} handled alarms; rolled up {len(days)} days")
