"""System checks for dangerous or surprising configurations (ids are stable: vsp.E…/vsp.W…)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import connections


@register(Tags.security, deploy=False)
def check_secret_key(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if not settings.DEBUG and settings.SECRET_KEY == settings.INSECURE_DEFAULT_SECRET_KEY:
        return [
            Error(
                "SECRET_KEY is the shipped default while DEBUG is off.",
                hint="Set SECRET_KEY to a long random value, e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(50))'.",
                id="vsp.E001",
            )
        ]
    return []


@register(Tags.security, deploy=False)
def check_dev_auth(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if settings.AUTH_MODE == "dev" and not settings.DEBUG:
        return [
            Error(
                "AUTH_MODE=dev lets anyone act as an administrator, and DEBUG is off.",
                hint="Use AUTH_MODE=local (tokens issued here) or gateway (behind Yudao's gateway).",
                id="vsp.E002",
            )
        ]
    return []


@register(Tags.security)
def check_open_hosts(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if not settings.DEBUG and "*" in settings.ALLOWED_HOSTS:
        return [
            Warning(
                "ALLOWED_HOSTS contains '*' while DEBUG is off.",
                hint="List the host names and addresses edge boxes and staff use to reach the service.",
                id="vsp.W001",
            )
        ]
    return []


@register()
def check_single_process_layer(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if not settings.DEBUG and not settings.REDIS_URL:
        return [
            Warning(
                "REDIS_URL is not set: real-time events reach only sockets held by this one process.",
                hint="Set REDIS_URL when running more than one server process.",
                id="vsp.W002",
            )
        ]
    return []


@register()
def check_open_ingest(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if not settings.EDGE_AUTH_REQUIRED:
        return [
            Warning(
                "EDGE_AUTH_REQUIRED is off: anyone who can reach the service may report alarms.",
                hint="Issue device keys in admin and set EDGE_AUTH_REQUIRED=true.",
                id="vsp.W004",
            )
        ]
    return []


@register(Tags.database)
def check_mysql_time_zones(databases: Sequence[str] | None = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "mysql":
            continue
        with connection.cursor() as cursor:
            cursor.execute("SELECT CONVERT_TZ('2000-01-01 00:00:00', 'UTC', %s)", [settings.TIME_ZONE])
            (converted,) = cursor.fetchone()
        if converted is None:
            messages.append(
                Warning(
                    f"MySQL database {alias!r} has no time zone tables.",
                    hint="Load them (mysql_tzinfo_to_sql /usr/share/zoneinfo | mysql mysql); "
                    "the admin's date drill-down needs them.",
                    id="vsp.W003",
                )
            )
    return messages
