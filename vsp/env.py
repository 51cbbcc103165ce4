"""Typed readers for environment variables, used only by ``vsp.settings``.

Each reader fails loudly with ``ImproperlyConfigured`` naming the variable and
the value it got, so a typo in a deployment stops the service at start-up
instead of surfacing as odd behaviour later.
"""

from __future__ import annotations

import ipaddress
import os
import zoneinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from redis.connection import parse_url

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false, 1/0, yes/no, on/off), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}")
    return number


def env_decimal(name: str, default: str, *, minimum: str = "0") -> Decimal:
    value = env_str(name, default)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name} must be a decimal number, got {value!r}") from None
    if not number.is_finite() or number < Decimal(minimum):
        raise ImproperlyConfigured(f"{name} must be a number of at least {minimum}, got {value!r}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_networks(name: str, default: list[str]) -> list[str]:
    """A comma-separated list of IP addresses or networks (``10.0.0.0/8``)."""
    entries = env_list(name, default)
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must list IP addresses or networks, got {entry!r}") from None
    return entries


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def env_time_zone(name: str, default: str) -> str:
    value = env_str(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(f"{name} must be an IANA time zone such as Asia/Shanghai, got {value!r}") from None
    return value


def database_config(name: str, default_sqlite_path: str) -> dict[str, Any]:
    """Django ``DATABASES['default']`` from a URL; a SQLite file when unset.

    MySQL connections are opened per request (``CONN_MAX_AGE = 0``): under
    ASGI every request may run on a different thread, and persistent
    connections pile up to the server's connection limit.
    """
    url = env_str(name)
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": default_sqlite_path,
            # Writers wait for each other instead of failing with "database is locked".
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            # A file, not Django's in-memory default, so tests use real connections that open and close.
            "TEST": {"NAME": str(Path(default_sqlite_path).with_name("test-vsp.sqlite3"))},
        }
    scheme = urlsplit(url).scheme
    if scheme not in {"mysql", "sqlite"}:
        raise ImproperlyConfigured(
            f"{name} must be a mysql://user:password@host:port/database or sqlite:///path URL, got scheme {scheme!r}"
        )
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=0))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from None
    if scheme == "mysql":
        if not config.get("NAME"):
            raise ImproperlyConfigured(f"{name} must name a database, e.g. mysql://root@127.0.0.1:3306/vsp")
        config["OPTIONS"] = {
            "charset": "utf8mb4",
            # Strict mode turns silent truncation into errors; READ COMMITTED is
            # what the ingest path's insert-or-ignore logic is written for.
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES', time_zone='+00:00'",
            "isolation_level": "read committed",
            "connect_timeout": 5,
            **config.get("OPTIONS", {}),
        }
        config["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    return config


def redis_url(name: str) -> str:
    url = env_str(name)
    if url and urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(f"{name} must be a redis://host:port/db URL, got {url!r}")
    return url


def redis_channel_prefix(url: str) -> str:
    """The channel layer's prefix for a Redis URL: ``asgi``, plus the database number unless it is 0."""
    database = int(parse_url(url).get("db") or 0)
    return "asgi" if database == 0 else f"asgi{database}"


class Shift(NamedTuple):
    """A named stretch of the day in TIME_ZONE, in minutes after midnight; ``end < start`` crosses midnight."""

    name: str
    start: int
    end: int

    def covers(self, minute: int) -> bool:
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


def _minute_of_day(name: str, text: str) -> int:
    hours, sep, minutes = text.strip().partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and len(hours) in (1, 2)):
        raise ImproperlyConfigured(f"{name}: a shift's times are HH:MM, got {text!r}")
    if int(hours) > 23 or int(minutes) > 59:
        raise ImproperlyConfigured(f"{name}: {text!r} is not a time of day")
    return int(hours) * 60 + int(minutes)


def env_shifts(name: str, default: str) -> list[Shift]:
    """Shifts as ``白班=08:00-20:00,夜班=20:00-08:00``: unique names, no two covering the same minute.

    A shift may cross midnight (``20:00-08:00``). Minutes no shift covers belong to none; metrics list
    their alarms under the shift ``""``.
    """
    shifts: list[Shift] = []
    for entry in env_list(name, [item.strip() for item in default.split(",")]):
        label, sep, span = entry.partition("=")
        start, dash, end = span.partition("-")
        if not (sep and dash and label.strip()):
            raise ImproperlyConfigured(
                f"{name} must list shifts as NAME=HH:MM-HH:MM, separated by commas; got {entry!r}"
            )
        shift = Shift(label.strip(), _minute_of_day(name, start), _minute_of_day(name, end))
        if shift.start == shift.end:
            raise ImproperlyConfigured(f"{name}: shift {shift.name!r} starts and ends at the same time")
        if any(other.name == shift.name for other in shifts):
            raise ImproperlyConfigured(f"{name} names the shift {shift.name!r} twice")
        for other in shifts:
            if any(shift.covers(minute) and other.covers(minute) for minute in range(24 * 60)):
                raise ImproperlyConfigured(f"{name}: shifts {other.name!r} and {shift.name!r} overlap")
        shifts.append(shift)
    return shifts
