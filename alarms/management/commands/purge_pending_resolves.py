"""Drop early resolves whose report never came (run daily, e.g. from cron)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from alarms.models import PendingResolve


class Command(BaseCommand):
    help = "Delete resolves kept for alarms that were never reported, older than --days (default 7)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=7)

    def handle(self, *args: Any, days: int = 7, **options: Any) -> None:
        cutoff = timezone.now() - timedelta(days=days)
        deleted, _ = PendingResolve.objects.filter(received_at__lt=cutoff).delete()
        self.stdout.write(f"deleted {deleted} pending resolve(s) received before {cutoff:%Y-%m-%d %H:%M}")
