"""OpenAPI schema and Swagger UI."""

from __future__ import annotations

import pytest
import time_machine
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
    wrong = client.post("/api/v1/auth/token/", {"username": "ops", "password": "wrong"})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Unable to log in with provided credentials."})
    assert client.post("/api/v1/auth/token/", {"username": "ops"}).status_code == 400  # a field is missing


@pytest.mark.django_db
def test_the_schema_covers_edge_ingest_and_health_with_their_refusals(client: Client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]

    report = paths["/api/ai/alert/edge/report"]["post"]
    assert set(report["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {"200", "400", "401", "403", "409", "413", "429", "503"} <= set(report["responses"])
    assert {"/api/ai/alert/edge/resolve", "/api/ai/device/heartbeat", "/health"} <= set(paths)
    assert set(paths["/health"]["get"]["responses"]) == {"200", "503"}


@pytest.mark.django_db
def test_every_operation_has_a_summary_and_documents_its_refusals(client: Client) -> None:
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("summary") not in (None, "", operation["operationId"]), (method, path)
            assert any(code.startswith("4") for code in operation["responses"]) or path == "/health", (method, path)
    assert {"400", "401", "403", "404"} <= set(paths["/api/v1/alerts/"]["get"]["responses"])
    assert {"400", "404", "409"} <= set(paths["/api/v1/alerts/{alarm_id}/handle/"]["post"]["responses"])


@pytest.mark.django_db
def test_a_device_s_history_is_documented_as_the_page_it_is(client: Client) -> None:
    history = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"][
        "/api/v1/devices/{device_id}/history/"
    ]["get"]
    reference = history["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert reference.endswith("/PaginatedDeviceStatusChangeList")
    assert {"page", "page_size"} <= {parameter["name"] for parameter in history["parameters"]}


@pytest.mark.django_db
def test_an_unknown_api_path_is_a_json_404_and_a_missing_slash_is_redirected(client: Client) -> None:
    unknown = client.post("/api/v1/nothing-here/", data="{}", content_type="application/json")
    assert (unknown.status_code, unknown["Content-Type"]) == (404, "application/json")
    assert unknown.json() == {"detail": "no API endpoint at /api/v1/nothing-here/"}

    slashless = client.get("/api/v1/alerts?page=2")
    assert (slashless.status_code, slashless["Location"]) == (301, "/api/v1/alerts/?page=2")
    posted = client.post("/api/v1/alerts", data="{}", content_type="application/json")
    assert (posted.status_code, posted["Location"]) == (308, "/api/v1/alerts/")  # the method and body are kept


@pytest.mark.django_db
@time_machine.travel("2026-12-01 10:00:30 +00:00", tick=False)  # one rate window for every attempt
def test_token_guesses_meet_the_login_limits_and_spare_the_user_elsewhere() -> None:
    make_user("ops")
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    guess = {"username": "ops", "password": "guess"}
    answers = [guesser.post("/api/v1/auth/token/", guess).status_code for _ in range(11)]
    assert answers == [401] * 10 + [429]
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    assert elsewhere.post("/api/v1/auth/token/", {"username": "ops", "password": "secret-pass-123"}).status_code == 200


@pytest.mark.django_db
def test_the_token_view_refuses_json_nested_too_deeply_with_a_400(client: Client) -> None:
    body = "[" * 5000 + "]" * 5000
    response = client.post("/api/v1/auth/token/", data=body, content_type="application/json")
    assert response.status_code == 400


def test_health_answers_any_other_method_with_405_whatever_the_cookies() -> None:
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "x" * 32
    response = client.generic("QUERY", "/health")
    assert response.status_code == 405
