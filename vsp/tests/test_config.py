"""Start-up configuration: bad values stop the service with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "DATA_DIR": str(ROOT / "var" / "config-test"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_default_secret_key_is_refused_with_debug_off() -> None:
    result = manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "vsp.E001" in result.stderr


def test_a_real_secret_key_with_debug_off_passes_the_checks() -> None:
    result = manage(
        "check", DEBUG="0", SECRET_KEY="a-long-random-production-secret-for-tests", REDIS_URL="redis://127.0.0.1:6379/0"
    )
    assert result.returncode == 0, result.stderr


def test_debug_mode_with_the_default_key_is_allowed() -> None:
    assert manage("check", DEBUG="1").returncode == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({"DEBUG": "1", "TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE must be an IANA time zone"),
        ({"DEBUG": "1", "DATABASE_URL": "postgres://localhost/vsp"}, "DATABASE_URL must be a mysql://"),
        ({"DEBUG": "1", "DATABASE_URL": "mysql://root@127.0.0.1:3306"}, "DATABASE_URL must name a database"),
        ({"DEBUG": "1", "REDIS_URL": "http://localhost"}, "REDIS_URL must be a redis://"),
        ({"DEBUG": "1", "EDGE_MAX_BODY_BYTES": "lots"}, "EDGE_MAX_BODY_BYTES must be an integer"),
        ({"DEBUG": "1", "LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of"),
    ],
)
def test_a_bad_setting_stops_start_up_naming_the_variable(env: dict[str, str], message: str) -> None:
    result = manage("check", **env)
    assert result.returncode != 0
    assert message in result.stderr
