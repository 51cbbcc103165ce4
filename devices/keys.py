"""Per-device keys: issued once, stored hashed, revocable, last use recorded."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from devices.models import DeviceKey, EdgeDevice

KEY_PREFIX = "vsk_"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def issue_key(device: EdgeDevice, *, created_by: str = "") -> str:
    """A new key for ``device``; the only time its value exists outside the box."""
    value = KEY_PREFIX + secrets.token_urlsafe(24)
    DeviceKey.objects.create(device=device, digest=_digest(value), prefix=value[:12], created_by=created_by)
    return value


def revoke_keys(keys: list[DeviceKey], *, now: datetime | None = None) -> int:
    now = now or timezone.now()
    return DeviceKey.objects.filter(pk__in=[key.pk for key in keys], revoked_at__isnull=True).update(revoked_at=now)


def device_for_key(value: str, *, now: datetime | None = None) -> str | None:
    """The device a live key speaks for, or None; records the use at most once a minute."""
    now = now or timezone.now()
    key = DeviceKey.objects.filter(digest=_digest(value), revoked_at__isnull=True).only("pk", "device_id").first()
    if key is None:
        return None
    stale = now - timedelta(seconds=settings.DEVICE_KEY_TOUCH_INTERVAL)
    DeviceKey.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=key.pk).update(
        last_used_at=now
    )
    return key.device_id
