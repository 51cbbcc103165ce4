"""Delete old snapshot objects, keeping pinned alarms' and never more than a safe share at once."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from alarms.models import AlarmEvent, SnapshotStatus
from alarms.snapshots import snapshot_storage

CHUNK = 500
_AGE = re.compile(r"^(\d+)d$")


def parse_age(text: str) -> timedelta:
    match = _AGE.match(text.strip())
    if not match or int(match.group(1)) < 1:
        raise CommandError(f"--older-than takes a number of days such as 90d, got {text!r}")
    return timedelta(days=int(match.group(1)))


class Command(BaseCommand):
    help = "Delete stored snapshots (and thumbnails) of alarms older than --older-than, except pinned ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", required=True, help="Age by event time, in days: 90d.")
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")
        parser.add_argument(
            "--force", action="store_true", help="Allow deleting more than SNAPSHOT_PRUNE_MAX_FRACTION of snapshots."
        )

    def handle(self, *args: Any, older_than: str, dry_run: bool = False, force: bool = False, **options: Any) -> None:
        cutoff = timezone.now() - parse_age(older_than)
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
        storage = snapshot_storage()
        done = 0
        while True:
            # Each chunk leaves the set, so the next one starts again from the top.
            chunk = list(
                doomed.order_by("event_time", "alarm_id").values_list("alarm_id", "snapshot_url", "thumbnail_key")[
                    :CHUNK
                ]
            )
            if not chunk:
                break
            for _alarm_id, key, thumb in chunk:
                for name in (key, thumb):
                    if name:
                        storage.delete(name)
            AlarmEvent.objects.filter(pk__in=[row[0] for row in chunk]).update(
                snapshot_status=SnapshotStatus.PRUNED, thumbnail_key="", updated_at=timezone.now()
            )
            done += len(chunk)
            bar = "#" * (30 * done // count)
            self.stdout.write(f"[{bar:<30}] {done}/{count}")
        self.stdout.write(self.style.SUCCESS(f"pruned {done} snapshot(s)"))
