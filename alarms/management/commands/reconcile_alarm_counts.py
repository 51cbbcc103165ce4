"""``manage.py reconcile_alarm_counts [--days N]``: make the statistics counts equal to the alarms."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from alarms import counts


class Command(BaseCommand):
    help = (
        "Recount the alarms of the last N days (default: all of them) into the rollup counts that "
        "statistics and page totals read, correcting any difference. Safe while the service runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, help="only alarms whose event time is in the last N days")

    def handle(self, *args: Any, days: int | None, **options: Any) -> None:
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        start = timezone.now() - timedelta(days=days) if days else None
        with tqdm(unit=" days", disable=options["verbosity"] < 1) as progress:
            corrected = counts.reconcile(start, progress=lambda _day: progress.update())
        if corrected:
            detail = ", ".join(f"{grain}: {number}" for grain, number in sorted(corrected.items()))
            self.stdout.write(f"corrected {sum(corrected.values())} counts ({detail})")
        else:
            self.stdout.write("the counts were exact")
