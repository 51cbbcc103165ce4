"""GET /health: 200 when the database and channel layer answer, 503 naming what is down."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client


@pytest.mark.django_db
def test_health_is_ok_when_everything_answers(client: Client, settings: Any) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["down"] == []
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["channel_layer"]["backend"] == ("redis" if settings.REDIS_URL else "in-memory")


def test_health_is_503_with_the_database_down(database_down: None) -> None:
    response = Client().get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["down"] == ["database"]
    assert body["checks"]["database"]["ok"] is False
    assert "OperationalError" in body["checks"]["database"]["error"]


@pytest.mark.django_db
def test_health_is_503_with_redis_unreachable(client: Client, settings: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # the discard port: nothing answers there

    response = client.get("/health")

    assert response.status_code == 503
    assert response.json()["down"] == ["channel_layer"]
