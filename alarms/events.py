"""The alarm events dashboards receive (CONTRACT §5), sent through ``vsp.publish``.

==================  ==========================================================
type                data
==================  ==========================================================
``alarm.created``   the alarm, as ``AlarmCompatSerializer`` (page row shape)
``alarm.updated``   the alarm after staff handled it
``alarm.resolved``  the alarm after the edge said the event is over
``alarm.analyzed``  the alarm after an LLM analysis finished
==================  ==========================================================

Services schedule events with ``transaction.on_commit``, so nothing is
announced that a rollback could take back.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from alarms.models import AlarmEvent
from alarms.serializers import AlarmCompatSerializer
from vsp.publish import publish

ALARM_CREATED = "alarm.created"
ALARM_UPDATED = "alarm.updated"
ALARM_RESOLVED = "alarm.resolved"
ALARM_ANALYZED = "alarm.analyzed"


def alarm_data(alarm: AlarmEvent) -> dict[str, Any]:
    data: dict[str, Any] = AlarmCompatSerializer(alarm).data
    return data


def publish_alarm(event_type: str, alarm_id: str) -> bool:
    alarm = AlarmEvent.objects.with_device_name().filter(pk=alarm_id).first()
    return alarm is not None and publish(event_type, alarm_data(alarm))


def alarm_changed(event_type: str, alarm_id: str) -> None:
    """Announce an alarm event once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: publish_alarm(event_type, alarm_id), robust=True)
