"""Signals other apps listen to, so that alarms imports none of them.

``alarm_reported`` is sent inside the transaction that stores a newly reported alarm (not a repeat),
with ``alarm`` as stored: what a receiver writes commits or rolls back with the alarm.
"""

from __future__ import annotations

from django.dispatch import Signal

alarm_reported = Signal()
