"""Signals other apps listen to, so that alarms imports none of them.

``alarm_reporting`` is sent inside the transaction of a report, just before its new alarm is
inserted, with ``alarm`` as it is about to be stored. A receiver may set the alarm's fields that are
its to set (``analysis_requested``): they are written by the report's one INSERT, and commit or roll
back with the alarm. If the alarm proves to be stored already, nothing of it is written.
"""

from __future__ import annotations

from django.dispatch import Signal

alarm_reporting = Signal()
