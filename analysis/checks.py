"""Start-up checks of the analysis settings (``manage.py check``, run by every server at start)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from vsp.ratelimit import Rate


@register()
def check_analysis_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    try:
        Rate.parse(settings.AI_MODEL_RATE)
    except ImproperlyConfigured as exc:
        errors.append(Error(f"AI_MODEL_RATE: {exc}", id="analysis.E001"))
    if settings.AI_RETRY_CAP >= settings.JOB_VISIBILITY_TIMEOUT:
        errors.append(
            Error(
                f"AI_RETRY_CAP ({settings.AI_RETRY_CAP} s) must be below JOB_VISIBILITY_TIMEOUT "
                f"({settings.JOB_VISIBILITY_TIMEOUT} s): the broker would deliver a waiting retry twice",
                id="analysis.E002",
            )
        )
    return errors
