"""The alarm events dashboards receive, sent through ``vsp.publish``.

==================  ==========================================================
type                data
==================  ==========================================================
``alarm.created``   the alarm, as ``AlarmCompatSerializer`` (page row shape)
``alarm.updated``   the alarm after staff handled it
``alarm.resolved``  the alarm after the edge said the event is over
``alarm.analyzed``  the alarm after an LLM analysis finished
==================  ==========================================================

Services announce an alarm inside the transaction that changed it, from the
instance they hold (no read after commit); ``vsp.publish`` numbers the event
in that transaction and sends it once it commits, so nothing is announced
that a rollback could take back.
"""

from __future__ import annotations

from typing import Any

from alarms.models import AlarmEvent
from alarms.serializers import AlarmCompatSerializer
from vsp.compat.representation import shared
from vsp.publish import announce

ALARM_CREATED = "alarm.created"
ALARM_UPDATED = "alarm.updated"
ALARM_RESOLVED = "alarm.resolved"
ALARM_ANALYZED = "alarm.analyzed"


def alarm_data(alarm: AlarmEvent) -> dict[str, Any]:
    """The alarm as events and the compat page carry it; ``device_name`` is read if the alarm has it."""
    data: dict[str, Any] = shared(AlarmCompatSerializer).to_representation(alarm)
    return data


def alarm_event(event_type: str, alarm: AlarmEvent) -> tuple[str, dict[str, Any]]:
    """The event of ``alarm`` as it is now, to announce with others (``vsp.publish.announce_together``)."""
    return event_type, alarm_data(alarm)


def alarm_changed(event_type: str, alarm: AlarmEvent) -> None:
    """Announce ``alarm`` as it is now: numbered in the current transaction, sent when that commits."""
    announce(event_type, alarm_data(alarm))


def publish_alarm(event_type: str, alarm_id: str) -> bool:
    """Announce an alarm by id, read as it is now; False if there is no such alarm."""
    alarm = AlarmEvent.objects.with_device_name().filter(pk=alarm_id).first()
    if alarm is None:
        return False
    alarm_changed(event_type, alarm)
    return True
