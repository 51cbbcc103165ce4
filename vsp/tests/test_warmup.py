"""Warming a web process up at start (vsp.warmup): what the first reports would build, built before them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core import validators
from django.urls import clear_url_caches, get_resolver
from django.utils.functional import empty

from conftest import free_port
from vsp.warmup import warm_up

ROOT = Path(__file__).resolve().parents[2]


def test_warm_up_builds_the_resolvers_and_the_report_validators() -> None:
    # As a new process has them: nothing built yet.
    clear_url_caches()
    url_pattern: Any = validators.URLValidator.regex  # a lazily compiled pattern (SimpleLazyObject)
    url_pattern._wrapped = empty
    assert not get_resolver()._reverse_dict

    warm_up()

    resolver = get_resolver()
    assert {language for language, _name in settings.LANGUAGES} <= set(resolver._reverse_dict)
    # The edge app's hook validated a sample report: the snapshot link's pattern is compiled.
    assert url_pattern._wrapped is not empty


def test_make_runs_process_warms_up_on_the_embedded_default() -> None:
    """The one process of make run: SQLite, the in-memory channel layer, jobs in-process."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"DEBUG": "1", "REDIS_URL": "", "JOB_BROKER_URL": "", "DJANGO_SETTINGS_MODULE": "vsp.settings"}
    code = "import vsp.asgi; print('started')"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("started")


@pytest.mark.parametrize("entry", ["vsp.wsgi", "vsp.asgi"])
def test_a_serving_process_warms_up_and_starts_with_the_database_and_redis_down(entry: str) -> None:
    """Both entry points warm up; a ws process (ASGI) has the channel layer's backend loaded before its
    first event, whose decoding otherwise imported it."""
    port = free_port()  # nothing listens there
    env = {
        **os.environ,
        "DATABASE_URL": f"mysql://root@127.0.0.1:{port}/nowhere",
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "DEBUG": "false",
        "SECRET_KEY": "warm-up-test-key-that-is-long-enough-0123456789abcdef",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "vsp.settings",
    }
    code = f"import sys, {entry}; print('started', 'channels_redis.pubsub' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("started True")
