"""The deployment files stay valid: Compose accepts the file and refuses to start without a secret."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or shutil.which("docker-compose")

pytestmark = pytest.mark.skipif(COMPOSE is None, reason="docker-compose is installed by requirements-dev.txt")


def compose(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    assert COMPOSE is not None
    clean = {key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [COMPOSE, *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False
    )


def test_compose_runs_the_process_set_behind_one_port_wired_to_mysql_and_redis() -> None:
    result = compose("config", "--format", "json", SECRET_KEY="from-the-operator")
    assert result.returncode == 0, result.stderr

    services = json.loads(result.stdout)["services"]
    assert set(services) == {"mysql", "redis", "web", "ws", "proxy", "worker", "scheduler"}
    # The same launchers as the Procfile (and make serve).
    lines = (ROOT / "Procfile").read_text().splitlines()
    procfile = dict(line.split(": ", 1) for line in lines if ": " in line and not line.startswith("#"))
    assert set(procfile) == {"proxy", "web", "ws", "worker", "scheduler"}
    for name in ("web", "ws", "worker", "scheduler"):
        assert services[name]["command"] == [procfile[name]]
    assert services["worker"]["environment"]["REDIS_URL"] == "redis://redis:6379/0"  # the broker
    web = services["web"]
    assert web["environment"]["SECRET_KEY"] == "from-the-operator"
    assert web["environment"]["DATABASE_URL"].startswith("mysql://vsp:")
    assert services["ws"]["environment"]["REDIS_URL"] == web["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert web["depends_on"]["mysql"]["condition"] == "service_healthy"
    # Only the proxy is published; it routes with the template make serve uses.
    assert [name for name, service in services.items() if service.get("ports")] == ["proxy"]
    proxy = services["proxy"]
    assert proxy["ports"][0]["target"] == 8000
    assert proxy["environment"] == {
        "PROXY_LISTEN": "8000", "WEB_UPSTREAM": "web:8000", "WS_UPSTREAM": "ws:8001", "PROXY_MAX_BODY": "16m"
    }  # fmt: skip
    assert proxy["volumes"][0]["source"] == str(ROOT / "scripts/serve/nginx.conf.template")


def test_the_mqtt_profile_adds_the_broker_and_the_bridge() -> None:
    result = compose("--profile", "mqtt", "config", "--format", "json", SECRET_KEY="x")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert {"mosquitto", "bridge"} <= set(services)
    assert services["bridge"]["environment"]["MQTT_URL"] == "mqtt://mosquitto:1883"
    assert services["bridge"]["environment"]["DATABASE_URL"] == services["web"]["environment"]["DATABASE_URL"]


def test_compose_refuses_to_start_without_a_secret_key() -> None:
    result = compose("config")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_the_image_runs_as_a_non_root_user_with_a_health_check() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) >= 2  # multi-stage
    assert "USER 10001" in dockerfile
    assert "HEALTHCHECK" in dockerfile
    assert "/health" in dockerfile
