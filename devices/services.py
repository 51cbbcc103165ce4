"""Device state: signs of life, liveness, status history. Every status change is logged and broadcast."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.dispatch import receiver
from django.test.signals import setting_changed

from devices import events
from devices.models import DeviceStatusChange, EdgeDevice

logger = logging.getLogger(__name__)

Status = EdgeDevice.Status
Reason = DeviceStatusChange.Reason


@dataclass(frozen=True)
class Heartbeat:
    """What a heartbeat may tell about its box besides being alive."""

    name: str | None = None
    ip: str | None = None
    version: str | None = None
    info: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SignOfLife:
    """What a sign of life did: whether it wrote the device row, and the device's name ("" if none)."""

    recorded: bool
    name: str
    # Whether it brought the device ONLINE (a new box, or one that was offline).
    came_online: bool = False


def _seen_key(device_id: str) -> str:
    return f"vsp:device-seen:{device_id}"


# This process's copy of the throttle's records, so that most signs of life need no round trip to the
# shared cache: one entry per device, cleared with the cache settings. Another process learns of a
# rename when its copy is older than DEVICE_SEEN_WRITE_INTERVAL.
_written_here: dict[str, tuple[datetime, str]] = {}


def _recent(record: tuple[datetime, str] | None, now: datetime) -> bool:
    return record is not None and timedelta(0) <= now - record[0] < timedelta(
        seconds=settings.DEVICE_SEEN_WRITE_INTERVAL
    )


def _last_written(device_id: str, now: datetime) -> tuple[datetime, str] | None:
    """(when the row was last written, the device's name then), shared across processes; None: unknown."""
    record = _written_here.get(device_id)
    if _recent(record, now):
        return record
    try:
        value = cache.get(_seen_key(device_id))
    except Exception as exc:  # without the cache every sign of life writes; nothing is lost
        logger.warning("device write throttle unavailable: %s", exc)
        return None
    if not isinstance(value, tuple):
        return None
    _written_here[device_id] = value
    return value


def _mark_written(device_id: str, now: datetime, name: str) -> None:
    _written_here[device_id] = (now, name)
    try:
        cache.set(_seen_key(device_id), (now, name), timeout=settings.DEVICE_SEEN_WRITE_INTERVAL * 2 + 1)
    except Exception as exc:
        logger.warning("device write throttle unavailable: %s", exc)


def forget_written(device_id: str) -> None:
    """Staff changed the device: the next sign of life writes, and reads its name afresh."""
    _written_here.pop(device_id, None)
    try:
        cache.delete(_seen_key(device_id))
    except Exception as exc:
        logger.warning("device write throttle unavailable: %s", exc)


@receiver(setting_changed)
def _cache_settings_changed(setting: str, **kwargs: Any) -> None:
    if setting == "CACHES":
        _written_here.clear()


def forget_written_on_save(sender: type[EdgeDevice], instance: EdgeDevice, **kwargs: Any) -> None:
    forget_written(instance.pk)


def record_sign_of_life(
    device_id: str, *, ip: str | None, now: datetime, heartbeat: Heartbeat | None = None, announce: bool = True
) -> SignOfLife:
    """Register ``device_id`` if unknown, move its last-seen time to ``now`` and mark it ONLINE.

    A report's or a resolve's sign of life is throttled per device to one write
    per DEVICE_SEEN_WRITE_INTERVAL; between writes the name comes from the
    throttle's record, so a report learns its device's name without a query. A
    heartbeat always writes: what it tells (name, address, version, info) is
    never dropped. The upsert is one statement (``INSERT …
    ON DUPLICATE KEY UPDATE`` on MySQL), so concurrent first reports of a new
    box never race to create it.

    A change of status is announced (``device.status``) unless ``announce`` is false: then the caller
    announces it with its own event (``came_online``).
    """
    if heartbeat is None:
        last = _last_written(device_id, now)
        if last is not None and _recent(last, now):
            return SignOfLife(recorded=False, name=last[1])
    values: dict[str, Any] = {"last_seen": now}
    address = (heartbeat.ip if heartbeat else None) or ip
    if address:
        values["last_ip"] = address
    if heartbeat is not None:
        values["last_heartbeat"] = now
        if heartbeat.version is not None:
            values["version"] = heartbeat.version
        if heartbeat.info is not None:
            values["info"] = heartbeat.info
    EdgeDevice.objects.bulk_create(
        [EdgeDevice(device_id=device_id, name=(heartbeat.name if heartbeat else None) or "", **values)],
        update_conflicts=True,
        # MySQL's ON DUPLICATE KEY names no conflict target; the others require one.
        unique_fields=["device_id"] if connection.features.supports_update_conflicts_with_target else None,
        update_fields=list(values),
    )
    if heartbeat is not None and heartbeat.name:
        # A name from the box fills a blank; a name staff gave wins.
        EdgeDevice.objects.filter(pk=device_id, name="").update(name=heartbeat.name)
    name, status = EdgeDevice.objects.filter(pk=device_id).values_list("name", "status").get()
    came_online = status != Status.ONLINE and _change_status(
        device_id, status, Status.ONLINE, Reason.SIGN_OF_LIFE, last_seen=now, now=now, announce=announce
    )
    # Throttle from the moment the write is durable: a rolled-back report must not hide the next ones.
    transaction.on_commit(functools.partial(_mark_written, device_id, now, name), robust=True)
    return SignOfLife(recorded=True, name=name, came_online=came_online)


def _change_status(
    device_id: str,
    previous: str,
    new: str,
    reason: str,
    *,
    last_seen: datetime | None,
    now: datetime,
    announce: bool = True,
    **where: Any,
) -> bool:
    """Move a device from ``previous`` to ``new`` if it is still ``previous``: the database decides, once.

    Its own transaction when called alone (the watcher), else part of the caller's (a report): no
    savepoint, since a failure here fails the caller's whole change anyway.
    """
    with transaction.atomic(savepoint=False):
        if not EdgeDevice.objects.filter(pk=device_id, status=previous, **where).update(status=new):
            return False
        DeviceStatusChange.objects.create(
            device_id=device_id, from_status=previous, to_status=new, reason=reason, last_seen=last_seen, changed_at=now
        )
        if announce:
            events.device_status_changed(device_id)
    return True


def mark_quiet_devices_offline(now: datetime) -> list[str]:
    """One step of the watcher: ONLINE devices silent past their timeout become OFFLINE.

    Safe to run in several processes at once: each flip is a conditional
    update, so only one of them records and broadcasts it.
    """
    default_cutoff = now - timedelta(seconds=settings.DEVICE_OFFLINE_AFTER)
    # Quiet past the default, or with a timeout of their own (checked below).
    candidates = (
        EdgeDevice.objects.filter(status=Status.ONLINE)
        .filter(Q(offline_after__isnull=True, last_seen__lte=default_cutoff) | Q(offline_after__isnull=False))
        .order_by("device_id")
        .values_list("device_id", "last_seen", "offline_after")
    )
    flipped = []
    for device_id, last_seen, offline_after in candidates:
        timeout = timedelta(seconds=offline_after or settings.DEVICE_OFFLINE_AFTER)
        if last_seen is None or now - last_seen < timeout:
            continue
        # Only if nothing was heard since we looked.
        if _change_status(
            device_id,
            Status.ONLINE,
            Status.OFFLINE,
            Reason.TIMEOUT,
            last_seen=last_seen,
            now=now,
            last_seen__lte=last_seen,
        ):
            flipped.append(device_id)
    return flipped
