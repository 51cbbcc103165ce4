"""Notification tests: the local servers, channels pointed at them, and jobs run by the engine at once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from notifications import services
from notifications.models import Channel, Cursor, Rule
from notifications.tests import servers
from notifications.tests.servers import Mailbox, Robots
from vsp.celery import app


@pytest.fixture
def robots(settings: Any) -> Iterator[Robots]:
    with servers.local_robots() as fake:
        settings.NOTIFY_WECOM_BASE_URL = fake.url
        settings.NOTIFY_DINGTALK_BASE_URL = fake.url
        yield fake


@pytest.fixture
def mailbox(settings: Any) -> Iterator[Mailbox]:
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP line at INFO
    with servers.local_mailbox() as fake:
        # pytest-django keeps mail in memory; these tests send it to the local server.
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = fake.port
        yield fake


@pytest.fixture(autouse=True)
def jobs_run_at_once() -> Iterator[None]:
    """A job sent is run by the engine in this process, there and then (Celery's eager mode)."""
    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = saved


@pytest.fixture(autouse=True)
def _notify_settings(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en-us"  # the tests read admin's English; test_admin checks the Chinese
    settings.NOTIFY_RETRY_BASE = 5
    settings.NOTIFY_RETRY_CAP = 60
    settings.NOTIFY_MAX_ATTEMPTS = 3
    settings.PUBLIC_BASE_URL = "https://vsp.example.com"


def make_channel(kind: str = Channel.Kind.WECOM, **fields: Any) -> Channel:
    defaults: dict[str, Any] = {
        Channel.Kind.WECOM: {"key": servers.WECOM_KEY},
        Channel.Kind.DINGTALK: {"key": servers.DINGTALK_TOKEN, "secret": servers.DINGTALK_SECRET},
        Channel.Kind.WEBHOOK: {"secret": servers.WEBHOOK_SECRET},
        Channel.Kind.EMAIL: {"recipients": "duty@example.com, boss@example.com"},
    }[Channel.Kind(kind)]
    values = {"name": f"{kind}-{Channel.objects.count() + 1}", "kind": kind, **defaults, **fields}
    return Channel.objects.create(**values)


def make_rule(*channels: Channel, **fields: Any) -> Rule:
    values: dict[str, Any] = {"name": f"rule-{Rule.objects.count() + 1}", "cooldown_seconds": 300, **fields}
    rule = Rule.objects.create(**values)
    rule.channels.set(channels)
    return rule


def start_reading(at: datetime) -> None:
    """Place the dispatch's cursor, as its first run would have at that time."""
    Cursor.objects.update_or_create(name=services.CURSOR, defaults={"position": at, "started_at": at})
