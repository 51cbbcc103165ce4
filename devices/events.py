"""``device.status``: a device went online or offline (CONTRACT §5), sent through ``vsp.publish``.

The data is the device as in the compat device page, with today's alarm count.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from devices.models import EdgeDevice
from devices.serializers import DeviceCompatSerializer
from vsp.publish import publish

DEVICE_STATUS = "device.status"


def device_data(device: EdgeDevice) -> dict[str, Any]:
    data: dict[str, Any] = DeviceCompatSerializer(device).data
    return data


def device_status_changed(device_id: str) -> None:
    """Announce the device's status once the current transaction commits."""

    def send() -> None:
        device = EdgeDevice.objects.with_today_alarm_count().filter(pk=device_id).first()
        if device is not None:
            publish(DEVICE_STATUS, device_data(device))

    transaction.on_commit(send, robust=True)
