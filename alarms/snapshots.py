"""Snapshots: checking uploaded images, storing them after the alarm commits, links a browser can open.

An alarm's snapshot is an http(s) URL of the edge's (kept as is), the key of
an object the box put in the store itself, or an image sent with the report,
which is stored under ``snapshots/YYYY/MM/DD/<device_id>/<alarm_id>.<ext>``
with a JPEG thumbnail beside it. Buckets are private: links are presigned
(COS) or signed by this service (local files), valid SNAPSHOT_URL_TTL.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from urllib.parse import urlencode

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.core.signing import Signer
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from alarms.models import AlarmEvent, PendingSnapshot, SnapshotStatus
from vsp.cos_storage import TencentCOSStorage
from vsp.images import make_thumbnail

logger = logging.getLogger(__name__)

_signer = Signer(salt="vsp.snapshot-link")
_UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def snapshot_key(alarm: AlarmEvent, extension: str) -> str:
    day = timezone.localtime(alarm.event_time)
    device = _UNSAFE_PATH_CHARS.sub("_", alarm.device_id)
    return f"snapshots/{day:%Y/%m/%d}/{device}/{alarm.alarm_id}.{extension}"


def thumbnail_key(key: str) -> str:
    return f"{key.rsplit('.', 1)[0]}.thumb.jpg"


def _put(storage: Storage, name: str, data: bytes) -> str:
    """Write ``name``, replacing what a failed earlier attempt may have left (no renamed copies)."""
    if storage.exists(name):
        storage.delete(name)
    return str(storage.save(name, ContentFile(data)))


def snapshot_storage() -> Storage:
    return storages["snapshots"]


def quick_storage() -> Storage:
    """The snapshot store for an upload the edge is waiting on: no retries, a short timeout."""
    return _quick_variant(snapshot_storage())


@functools.lru_cache(maxsize=4)
def _quick_variant(storage: Storage) -> Storage:
    # Built once per configured store, so uploads reuse its client and connections.
    if isinstance(storage, TencentCOSStorage):
        _path, args, kwargs = storage.deconstruct()  # added by @deconstructible
        return TencentCOSStorage(*args, **{**kwargs, "retries": 0, "timeout": settings.SNAPSHOT_INLINE_TIMEOUT})
    return storage


def store(alarm: AlarmEvent, data: bytes, *, quick: bool = True) -> bool:
    """Put an alarm's image and its thumbnail in the store; on failure keep the bytes for a retry.

    Runs after the alarm has committed and never raises: a store that is
    down leaves the alarm PENDING, and ``retry_snapshots`` finishes it.
    ``alarm`` is updated in memory as in the database.
    """
    storage = quick_storage() if quick else snapshot_storage()
    try:
        thumbnail = make_thumbnail(data)  # before anything is written
        key = _put(storage, alarm.snapshot_url, data)
        thumb = _put(storage, thumbnail_key(key), thumbnail)
    except Exception as exc:  # the store being down must never cost the alarm
        logger.warning("snapshot of %s not stored, will retry: %s: %s", alarm.alarm_id, type(exc).__name__, exc)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        pending = PendingSnapshot.objects.filter(alarm_id=alarm.alarm_id)
        if not pending.update(attempts=F("attempts") + 1, last_error=error):
            # Stored outside report_alarm's outbox; keep the bytes now.
            PendingSnapshot.objects.get_or_create(alarm_id=alarm.alarm_id, defaults={"data": data, "last_error": error})
        return False
    alarm.snapshot_url, alarm.thumbnail_key, alarm.snapshot_status = key, thumb, SnapshotStatus.STORED
    alarm.updated_at = timezone.now()
    AlarmEvent.objects.filter(pk=alarm.alarm_id).update(
        snapshot_url=key, thumbnail_key=thumb, snapshot_status=alarm.snapshot_status, updated_at=alarm.updated_at
    )
    PendingSnapshot.objects.filter(alarm_id=alarm.alarm_id).delete()
    return True


# --- links ---------------------------------------------------------------------------


def link(key: str) -> str:
    """A URL a browser can open for a stored object, valid SNAPSHOT_URL_TTL seconds."""
    if settings.SNAPSHOT_STORAGE == "cos":
        return str(snapshot_storage().url(key))
    expires = int(time.time()) + settings.SNAPSHOT_URL_TTL
    query = urlencode({"exp": expires, "sig": _signer.signature(f"{key}|{expires}")})
    return f"{settings.PUBLIC_BASE_URL}{reverse('snapshot-file', args=[key])}?{query}"


def link_is_valid(key: str, expires: str, signature: str) -> bool:
    if not re.fullmatch(r"[0-9]{1,12}", expires) or int(expires) < time.time():
        return False
    expected = _signer.signature(f"{key}|{expires}")
    return bool(signature) and constant_time_compare(expected, signature)


def snapshot_link(alarm: AlarmEvent) -> str | None:
    if alarm.snapshot_status == SnapshotStatus.EXTERNAL:
        return alarm.snapshot_url
    if alarm.snapshot_status == SnapshotStatus.STORED and alarm.snapshot_url:
        return link(alarm.snapshot_url)
    return None


def thumbnail_link(alarm: AlarmEvent) -> str | None:
    if alarm.snapshot_status == SnapshotStatus.STORED and alarm.thumbnail_key:
        return link(alarm.thumbnail_key)
    return snapshot_link(alarm)
