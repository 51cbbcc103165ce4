"""Odd input to every API answers a clear 4xx (or the envelope's 400), never a 500."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from alarms.tests.factories import make_alarm
from conftest import make_user
from vsp.tests.compat_client import Frontend

pytestmark = pytest.mark.django_db

NESTED = "[" * 100_000 + "]" * 100_000


def test_deeply_nested_json_is_a_bad_request_on_the_native_api(staff_client: APIClient) -> None:
    response = staff_client.post("/api/v1/alerts/", data=NESTED, content_type="application/json")
    assert response.status_code == 400


def test_deeply_nested_json_is_a_bad_request_in_the_compat_envelope() -> None:
    make_user("boss", superuser=True)
    tab = Frontend()
    tab.login("boss")
    url = "/admin-api/aiot/alarm/event/handle"
    response = tab.client.put(url, data=NESTED, content_type="application/json", headers=tab.headers(url))
    assert response.status_code == 200
    assert response.json()["code"] == 400
    assert response.json()["msg"].startswith("请求参数类型错误:")


@pytest.mark.parametrize(
    "query",
    [
        "event_time_after=0001-01-01T00:00:00",
        "event_time_before=9999-12-31T23:59:59",
        "created_after=" + "9" * 400,
    ],
)
def test_absurd_time_bounds_are_refused_not_crashed_on(staff_client: APIClient, query: str) -> None:
    make_alarm()
    for url in ("/api/v1/alerts/", "/api/v1/alerts/statistics/"):
        response = staff_client.get(f"{url}?{query}")
        assert response.status_code == 400, (url, response.content[:200])
        assert query.split("=")[0] in response.json()


def test_a_manual_alarm_is_no_sign_of_life_of_its_device(staff_client: APIClient) -> None:
    from devices.models import EdgeDevice

    response = staff_client.post("/api/v1/alerts/", data=json.dumps({"alarm_type": "smoke", "device_id": "ghost"}),
                                 content_type="application/json")  # fmt: skip
    assert response.status_code == 201
    assert not EdgeDevice.objects.filter(pk="ghost").exists()


def test_login_attempts_are_limited() -> None:
    make_user("boss", superuser=True)
    tab = Frontend()
    answers = [
        tab.send("post", "/system/auth/login", {"username": "boss", "password": f"guess-{n}"}).json()["code"]
        for n in range(11)
    ]
    assert answers == [1002000000] * 10 + [429]
    assert tab.send("post", "/system/auth/login", {"username": "boss", "password": "secret-pass-123"}).json() == {
        "code": 429,
        "data": None,
        "msg": "请求过于频繁，请稍后重试",
    }
