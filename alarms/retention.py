"""Cleaning up old alarms and their snapshots in bounded batches, never one long statement.

Both walks go forward along the event-time index, a batch at a time, from where the last batch
ended (keyset paging: each batch's query reads only as far as it needs, however large the table),
and each batch is its own short transaction, so ingest never waits behind a cleanup.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from alarms import counts
from alarms.models import AlarmEvent, AlarmTimingDay, HandleStatus, SnapshotStatus
from alarms.snapshots import snapshot_storage

logger = logging.getLogger(__name__)

_AGE = re.compile(r"^(\d{1,5})d$")
# Open work is never deleted, whatever its age.
OPEN = (HandleStatus.UNHANDLED, HandleStatus.HANDLING)


class BadAge(ValueError):
    pass


def parse_age(text: str) -> timedelta:
    """``90d`` → 90 days (at least one)."""
    match = _AGE.match(text.strip())
    if not match or int(match.group(1)) < 1:
        raise BadAge(f"an age is a number of days such as 90d, got {text!r}")
    return timedelta(days=int(match.group(1)))


def walk(queryset: QuerySet[AlarmEvent], cutoff: datetime, size: int, *fields: str) -> Iterator[list[tuple[Any, ...]]]:
    """Rows of ``queryset`` before ``cutoff``, oldest first, ``size`` at a time: (event_time, alarm_id, *fields)."""
    older = queryset.filter(event_time__lt=cutoff).order_by("event_time", "alarm_id")
    last: tuple[Any, ...] | None = None
    while True:
        page = older
        if last is not None:
            page = page.filter(Q(event_time__gt=last[0]) | Q(event_time=last[0], alarm_id__gt=last[1]))
        rows = list(page.values_list("event_time", "alarm_id", *fields)[:size])
        if not rows:
            return
        yield rows
        last = rows[-1]


def expired_filter() -> Q:
    """What retention may delete: closed alarms (neither unhandled nor being handled) that are not pinned.

    Checked again when a batch is deleted, so an alarm reopened or pinned meanwhile stays.
    """
    return Q(snapshot_pinned=False) & ~Q(handle_status__in=OPEN)


def delete_alarms(rows: list[tuple[Any, ...]]) -> int:
    """Delete one batch of alarms (with their ext data, handling logs, read marks), then their stored images.

    The images go after the commit: a failed delete leaves an orphaned file, never an alarm whose
    snapshot is gone.
    """
    candidates = [row[1] for row in rows]
    with transaction.atomic():
        doomed = list(
            AlarmEvent.objects.select_for_update()
            .filter(pk__in=candidates)
            .filter(expired_filter())
            .values("alarm_id", "snapshot_status", "snapshot_url", "thumbnail_key", *counts.COUNTED_FIELDS)
        )
        names = [
            name
            for row in doomed
            if row["snapshot_status"] == SnapshotStatus.STORED
            for name in (row["snapshot_url"], row["thumbnail_key"])
            if name
        ]
        AlarmEvent.objects.filter(pk__in=[row["alarm_id"] for row in doomed]).delete()
        counts.add_alarms((counts.Counted.of(row) for row in doomed), sign=-1)
        AlarmTimingDay.touch(row["event_time"] for row in doomed)
    _delete_objects(names)
    return len(doomed)


def prune_snapshots(candidates: list[str]) -> int:
    """Mark a batch's snapshots PRUNED, then delete their objects; returns how many.

    Only rows still stored and unpinned when locked: an alarm pinned meanwhile keeps its image.
    The objects go after the commit, so a failure leaves an orphaned file, never a STORED alarm
    whose image is gone.
    """
    with transaction.atomic():
        doomed = list(
            AlarmEvent.objects.select_for_update()
            .filter(pk__in=candidates, snapshot_status=SnapshotStatus.STORED, snapshot_pinned=False)
            .values_list("alarm_id", "snapshot_url", "thumbnail_key")
        )
        AlarmEvent.objects.filter(pk__in=[row[0] for row in doomed]).update(
            snapshot_status=SnapshotStatus.PRUNED, thumbnail_key="", updated_at=timezone.now()
        )
    _delete_objects([name for _alarm_id, key, thumb in doomed for name in (key, thumb) if name])
    return len(doomed)


def _delete_objects(names: list[str]) -> None:
    storage = snapshot_storage()
    for name in names:
        try:
            storage.delete(name)
        except Exception as exc:  # one unreachable object must not stop the run
            logger.warning("could not delete snapshot object %s: %s", name, exc)
