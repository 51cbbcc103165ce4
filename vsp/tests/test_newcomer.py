"""What a newcomer meets first: `make run` on a busy port, the README's defaults, a test database per run."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def test_make_run_on_a_busy_port_fails_at_once_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/run.sqlite3", "REDIS_URL": ""}
        started = time.monotonic()
        result = subprocess.run(
            ["make", "--no-print-directory", "run", f"PORT={port}", f"PYTHON={sys.executable}"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    assert result.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "make run PORT=" in result.stderr
    assert "migrate" not in result.stdout  # nothing slow ran first
    assert not (tmp_path / "run.sqlite3").exists()
    assert time.monotonic() - started < 30


def readme_defaults() -> dict[str, int]:
    """The configuration table's rows whose default is a plain number: variable -> that number."""
    rows = re.findall(r"^\| `([A-Z_]+)` \| `(\d+)`", (ROOT / "README.md").read_text(), re.MULTILINE)
    return {name: int(value) for name, value in rows}


def test_the_readme_gives_the_defaults_the_code_has() -> None:
    documented = readme_defaults()
    assert {"EDGE_MAX_BODY_BYTES", "DEVICE_OFFLINE_AFTER", "WEBSOCKET_SEND_QUEUE"} <= set(documented)
    # The settings as a fresh environment gets them: none of this machine's or this run's variables.
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        "value = lambda name: getattr(settings, name, settings.DATABASES['default'].get(name)); "
        f"print(json.dumps({{name: value(name) for name in {sorted(documented)!r}}}))"
    )
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "vsp.settings", "HOME": os.environ.get("HOME", "/")}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == documented


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite's test database is in memory, one per process")
def test_the_test_database_belongs_to_this_run_alone() -> None:
    name = connection.settings_dict["NAME"]
    assert name.startswith("test_")
    assert f"_{os.getpid()}_" in name
