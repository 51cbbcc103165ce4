"""Device writes shared by ingest paths."""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from devices.models import EdgeDevice


def record_sign_of_life(device_id: str, *, ip: str | None, now: datetime) -> None:
    """Register ``device_id`` if unknown and move its last-seen time to ``now``.

    One statement (``INSERT … ON DUPLICATE KEY UPDATE`` on MySQL, ``ON
    CONFLICT`` elsewhere), so concurrent reports from a new box never race to
    create it.
    """
    update_fields = ["last_seen", "last_ip"] if ip else ["last_seen"]
    EdgeDevice.objects.bulk_create(
        [EdgeDevice(device_id=device_id, last_seen=now, last_ip=ip)],
        update_conflicts=True,
        # MySQL's ON DUPLICATE KEY names no conflict target; the others require one.
        unique_fields=["device_id"] if connection.features.supports_update_conflicts_with_target else None,
        update_fields=update_fields,
    )
