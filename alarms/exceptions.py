"""What the alarm services refuse; mapped to HTTP once, at each API's edge."""

from __future__ import annotations


class AlarmError(Exception):
    """Base of the alarm domain's refusals; ``str()`` is a message for the caller."""


class AlarmNotFound(AlarmError):
    def __init__(self, alarm_id: str) -> None:
        super().__init__(f"alarm {alarm_id!r} does not exist")
        self.alarm_id = alarm_id


class InvalidStatusTransition(AlarmError):
    def __init__(self, field: str, current: str, requested: str) -> None:
        super().__init__(f"{field} cannot go from {current} back to {requested}")
        self.field = field
        self.current = current
        self.requested = requested
