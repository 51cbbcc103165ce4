"""What the alarm services refuse; mapped to HTTP once, at each API's edge."""

from __future__ import annotations

from vsp.exceptions import DomainError


class AlarmError(DomainError):
    """Base of the alarm domain's refusals; ``str()`` is a message for the caller."""


class AlarmNotFound(AlarmError):
    http_status = 404

    def __init__(self, alarm_id: str) -> None:
        super().__init__(f"alarm {alarm_id!r} does not exist")
        self.alarm_id = alarm_id


class InvalidStatusTransition(AlarmError):
    http_status = 409

    def __init__(self, field: str, current: str, requested: str) -> None:
        super().__init__(f"{field} cannot go from {current} back to {requested}")
        self.field = field
        self.current = current
        self.requested = requested


class AlarmOfAnotherDevice(AlarmError):
    """A device key spoke about an alarm another device reported."""

    http_status = 403

    def __init__(self, alarm_id: str, owner: str, key_device: str) -> None:
        super().__init__(f"alarm {alarm_id!r} belongs to device {owner!r}, not {key_device!r}")
        self.alarm_id = alarm_id
        self.owner = owner
        self.key_device = key_device


class AlarmIdTaken(AlarmError):
    """A device reported an alarm id that another device's alarm already has."""

    http_status = 409

    def __init__(self, alarm_id: str, owner: str, device_id: str) -> None:
        super().__init__(
            f"alarm_id {alarm_id!r} belongs to device {owner!r}; device {device_id!r} must report its own ids"
        )
        self.alarm_id = alarm_id
        self.owner = owner
        self.device_id = device_id


class TooManyAlarms(AlarmError):
    """A bulk call named more alarms than BULK_HANDLE_MAX_IDS."""

    http_status = 400

    def __init__(self, given: int, limit: int) -> None:
        super().__init__(f"alarm_ids: at most {limit} alarms per call, not {given}")
        self.given = given
        self.limit = limit


class IncidentNotFound(AlarmError):
    http_status = 404

    def __init__(self, incident_id: int) -> None:
        super().__init__(f"incident {incident_id} does not exist")
        self.incident_id = incident_id
