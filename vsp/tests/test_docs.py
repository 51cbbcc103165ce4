"""OpenAPI schema and Swagger UI."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from conftest import make_user


def test_the_schema_generates_without_warnings(tmp_path: object) -> None:
    # --fail-on-warn turns any unresolved field or enum naming clash into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", f"{tmp_path}/schema.yml")


@pytest.mark.django_db
def test_the_schema_and_swagger_ui_are_served(client: Client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/alerts/", "/api/v1/alerts/{alarm_id}/handle/", "/api/v1/alerts/statistics/"} <= set(paths)

    docs = client.get("/docs")
    assert docs.status_code == 200
    # Served from our own static files: there is no CDN to reach in a closed network.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in docs.content.decode()


@pytest.mark.django_db
def test_a_token_is_issued_for_staff_credentials(client: Client) -> None:
    make_user("ops")
    response = client.post("/api/v1/auth/token/", {"username": "ops", "password": "secret-pass-123"})
    assert response.status_code == 200
    token = response.json()["token"]
    assert client.get("/api/v1/alerts/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 403  # no view permission
    assert client.post("/api/v1/auth/token/", {"username": "ops", "password": "wrong"}).status_code == 400
