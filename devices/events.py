"""``device.status``: a device went online or offline, sent through ``vsp.publish``.

The data is the device as in the compat device page, with today's alarm count.
"""

from __future__ import annotations

from typing import Any

from devices.models import EdgeDevice
from devices.serializers import DeviceCompatSerializer
from vsp.compat.representation import shared
from vsp.publish import announce

DEVICE_STATUS = "device.status"


def device_data(device: EdgeDevice) -> dict[str, Any]:
    data: dict[str, Any] = shared(DeviceCompatSerializer).to_representation(device)
    return data


def device_status_event(device_id: str) -> tuple[str, dict[str, Any]] | None:
    """The ``device.status`` event of the device as it is now, to announce; None if there is no such device."""
    device = EdgeDevice.objects.with_today_alarm_count().filter(pk=device_id).first()
    return None if device is None else (DEVICE_STATUS, device_data(device))


def device_status_changed(device_id: str) -> None:
    """Announce the device's status as it is now: numbered in the current transaction, sent when that commits."""
    event = device_status_event(device_id)
    if event is not None:
        announce(*event)
