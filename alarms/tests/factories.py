"""Small factories with defaults for alarm tests: ``make_alarm(alarm_level=1)``."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

from django.utils import timezone

from alarms import counts
from alarms.models import AlarmEvent, AlarmEventExt, SnapshotStatus
from devices.models import EdgeDevice
from vsp.models import DashboardEvent

_sequence = itertools.count(1)


def make_alarm(*, ext_data: dict[str, Any] | None = None, **fields: Any) -> AlarmEvent:
    number = next(_sequence)
    values: dict[str, Any] = {
        "alarm_id": f"test-{number:06d}",
        "alarm_type": "intrusion",
        "device_id": "cam-01",
        "event_time": timezone.now(),
        "alarm_level": 3,
    }
    values.update(fields)
    if values.get("snapshot_url") and "snapshot_status" not in values:
        external = values["snapshot_url"].startswith(("http://", "https://"))
        values["snapshot_status"] = SnapshotStatus.EXTERNAL if external else SnapshotStatus.STORED
    alarm = AlarmEvent.objects.create(**values)
    counts.change(None, counts.Counted.of(alarm))  # as every write of the service counts what it stores
    if ext_data is not None:
        AlarmEventExt.objects.create(alarm=alarm, ext_data=ext_data)
    return alarm


def make_device(device_id: str = "cam-01", **fields: Any) -> EdgeDevice:
    return EdgeDevice.objects.create(device_id=device_id, **fields)


def report_payload(**overrides: Any) -> dict[str, Any]:
    """A valid edge report body; override any field, or set it to ``...`` to drop it."""
    payload: dict[str, Any] = {
        "alarm_id": f"edge-{next(_sequence):06d}",
        "alarm_type": "leave_post",
        "device_id": "cam-01",
        "scene_id": "gate-1",
        "event_time": "2026-11-27 10:00:00",
        "alarm_level": 2,
        "snapshot_url": "https://img.example.com/a.jpg",
        "confidence_score": 0.91,
        "ext_data": {"bbox": [1, 2, 3, 4], "bind_id": "b-7"},
    }
    payload.update(overrides)
    return {key: value for key, value in payload.items() if value is not ...}


def aware(text: str) -> datetime:
    """A local (TIME_ZONE) wall-clock time as an aware datetime."""
    return timezone.make_aware(datetime.fromisoformat(text))


def lost_event(alarm_id: str) -> int:
    """An alarm whose event was stored but whose message never went out (Redis down at commit, say); its seq."""
    from alarms import events  # not at the top: the factories serve tests that import no service

    alarm = make_alarm(alarm_id=alarm_id, device_id="cam-lost")
    data = json.dumps(events.alarm_data(alarm))
    return DashboardEvent.objects.create(type=events.ALARM_CREATED, data=data, created_at=timezone.now()).seq


def nested(levels: int) -> Any:
    """JSON ``levels`` deep: {"a": {"a": … [1] …}}."""
    value: Any = [1]
    for _ in range(levels - 1):
        value = {"a": value}
    return value
