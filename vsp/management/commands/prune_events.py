"""Drop dashboard events older than DASHBOARD_EVENT_RETENTION_HOURS (run hourly or daily, e.g. from cron)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from vsp.models import DashboardEvent

# Short deletes by primary key: ingest keeps inserting while this runs.
BATCH = 5000


class Command(BaseCommand):
    help = "Delete dashboard events older than --hours (default DASHBOARD_EVENT_RETENTION_HOURS), in batches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=int, default=settings.DASHBOARD_EVENT_RETENTION_HOURS)

    def handle(self, *args: Any, hours: int, **options: Any) -> None:
        cutoff = timezone.now() - timedelta(hours=hours)
        # The newest event always stays: it is the number a page opened now catches up from.
        old = DashboardEvent.objects.filter(created_at__lt=cutoff, seq__lt=DashboardEvent.latest_seq())
        deleted = 0
        while batch := list(old.order_by("seq").values_list("seq", flat=True)[:BATCH]):
            deleted += DashboardEvent.objects.filter(seq__in=batch).delete()[0]
        self.stdout.write(f"deleted {deleted} dashboard event(s) older than {cutoff:%Y-%m-%d %H:%M}")
