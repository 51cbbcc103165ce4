"""Delete old snapshot objects, keeping pinned alarms' and never more than a safe share at once."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from alarms import retention
from alarms.models import AlarmEvent, SnapshotStatus

# Snapshots per batch: each batch is one short UPDATE after its objects are deleted.
CHUNK = 500


class Command(BaseCommand):
    help = "Delete stored snapshots (and thumbnails) of alarms older than --older-than, except pinned ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", required=True, help="Age by event time, in days: 90d.")
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")
        parser.add_argument(
            "--force", action="store_true", help="Allow deleting more than SNAPSHOT_PRUNE_MAX_FRACTION of snapshots."
        )

    def handle(self, *args: Any, older_than: str, dry_run: bool = False, force: bool = False, **options: Any) -> None:
        try:
            cutoff = timezone.now() - retention.parse_age(older_than)
        except retention.BadAge as exc:
            raise CommandError(f"--older-than: {exc}") from None
        stored = AlarmEvent.objects.filter(snapshot_status=SnapshotStatus.STORED)
        doomed = stored.filter(event_time__lt=cutoff, snapshot_pinned=False).exclude(snapshot_url="")
        total, count = stored.count(), doomed.count()
        self.stdout.write(f"{count} of {total} stored snapshot(s) are from before {cutoff:%Y-%m-%d %H:%M} and unpinned")
        if dry_run or not count:
            return
        if count > total * settings.SNAPSHOT_PRUNE_MAX_FRACTION and not force:
            raise CommandError(
                f"refusing to delete {count} of {total} snapshots (over {settings.SNAPSHOT_PRUNE_MAX_FRACTION:.0%}) "
                "in one run; check --older-than, or pass --force"
            )
        done = 0
        with tqdm(total=count, unit=" snapshots", disable=options["verbosity"] < 1) as progress:
            for rows in retention.walk(doomed, cutoff, CHUNK):
                pruned = retention.prune_snapshots([row[1] for row in rows])
                done += pruned
                progress.update(len(rows))
        self.stdout.write(self.style.SUCCESS(f"pruned {done} snapshot(s)"))
