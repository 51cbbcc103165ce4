"""``manage.py prune_alarms``: the alarm retention policy, off unless ALARM_RETENTION_DAYS or --older-than says."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from alarms import retention
from alarms.models import AlarmEvent


class Command(BaseCommand):
    help = (
        "Delete alarms older than --older-than (default: ALARM_RETENTION_DAYS; 0 is off) by event time, in "
        "batches; unhandled, in-progress and pinned alarms are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", help="Age by event time, in days: 180d. Default: ALARM_RETENTION_DAYS.")
        parser.add_argument("--batch", type=int, default=1000, help="Alarms per transaction (default 1000).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would go; delete nothing.")

    def handle(self, *args: Any, older_than: str | None, batch: int, dry_run: bool, **options: Any) -> None:
        if not 1 <= batch <= 10_000:
            raise CommandError(f"--batch takes 1 to 10000, got {batch}")
        if older_than is None:
            if not settings.ALARM_RETENTION_DAYS:
                self.stdout.write("alarm retention is off (ALARM_RETENTION_DAYS=0); nothing deleted")
                return
            older_than = f"{settings.ALARM_RETENTION_DAYS}d"
        try:
            age = retention.parse_age(older_than)
        except retention.BadAge as exc:
            raise CommandError(f"--older-than: {exc}") from None
        cutoff = timezone.now() - age
        expired = AlarmEvent.objects.filter(retention.expired_filter())
        count = expired.filter(event_time__lt=cutoff).count()
        self.stdout.write(
            f"{count} closed, unpinned alarm(s) from before {timezone.localtime(cutoff):%Y-%m-%d %H:%M} "
            f"{'would be' if dry_run else 'will be'} deleted"
        )
        if dry_run or not count:
            return
        deleted = 0
        with tqdm(total=count, unit=" alarms", disable=options["verbosity"] < 1) as progress:
            for rows in retention.walk(expired, cutoff, batch):
                done = retention.delete_alarms(rows)
                deleted += done
                progress.update(done)
        self.stdout.write(self.style.SUCCESS(f"deleted {deleted} alarm(s)"))
