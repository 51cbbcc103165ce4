"""Compat API authentication: login, refresh, logout, permission info, modes (YUDAO.md §4-§6)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.utils import timezone

from conftest import make_user
from vsp.models import AccessToken, RefreshToken
from vsp.tests.compat_client import Frontend

pytestmark = pytest.mark.django_db

PAGE = "/aiot/alarm/event/page"
UNAUTHORIZED = {"code": 401, "data": None, "msg": "账号未登录"}
FORBIDDEN = {"code": 403, "data": None, "msg": "没有该操作权限"}


@pytest.fixture
def boss() -> User:
    return make_user("boss", superuser=True)


@pytest.fixture
def frontend(boss: User) -> Frontend:
    tab = Frontend()
    tab.login("boss")
    return tab


# --- login ---------------------------------------------------------------------------


def test_login_answers_yudao_tokens(boss: User) -> None:
    tab = Frontend()
    before = timezone.now()

    data = tab.login("boss")

    assert set(data) == {"userId", "accessToken", "refreshToken", "expiresTime"}
    assert data["userId"] == boss.pk
    assert re.fullmatch(r"[0-9a-f]{32}", data["accessToken"])
    assert re.fullmatch(r"[0-9a-f]{32}", data["refreshToken"])
    assert data["accessToken"] != data["refreshToken"]
    expected_ms = (before + timedelta(minutes=30)).timestamp() * 1000
    assert abs(data["expiresTime"] - expected_ms) < 5000
    # Stored hashed: the token itself is nowhere in the database.
    assert not AccessToken.objects.filter(digest=data["accessToken"]).exists()
    assert AccessToken.objects.count() == RefreshToken.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"username": "boss", "password": "wrong-password"}, {"code": 1002000000, "msg": "登录失败，账号密码不正确"}),
        (
            {"username": "nobody", "password": "secret-pass-123"},
            {"code": 1002000000, "msg": "登录失败，账号密码不正确"},
        ),
        ({"username": "", "password": "x"}, {"code": 400, "msg": "请求参数不正确:username: 登录账号不能为空"}),
        ({"username": "boss"}, {"code": 400, "msg": "请求参数不正确:password: 密码不能为空"}),
    ],
)
def test_a_failed_login_is_an_error_envelope(boss: User, body: dict[str, Any], expected: dict[str, Any]) -> None:
    response = Frontend().send("post", "/system/auth/login", body)

    assert response.status_code == 200
    assert response.json() == {**expected, "data": None}
    assert not AccessToken.objects.exists()


def test_a_disabled_account_cannot_log_in(boss: User) -> None:
    boss.is_active = False
    boss.save()
    response = Frontend().send("post", "/system/auth/login", {"username": "boss", "password": "secret-pass-123"})
    assert response.json() == {"code": 1002000001, "data": None, "msg": "登录失败，账号被禁用"}


# --- no token, bad token, expiry, refresh ----------------------------------------------


def _attempt(address: str, username: str, password: str) -> int:
    tab = Frontend(Client(REMOTE_ADDR=address))
    return int(tab.send("post", "/system/auth/login", {"username": username, "password": password}).json()["code"])


@time_machine.travel("2026-12-01 10:00:30 +00:00", tick=False)
def test_a_guesser_elsewhere_cannot_lock_the_user_out(boss: User) -> None:
    guesses = [_attempt("203.0.113.9", name, "guess") for name in ["boss", "BOSS", "Boss"] * 4]

    assert guesses == [1002000000] * 10 + [429, 429]  # the spellings are one account
    assert _attempt("198.51.100.7", "boss", "secret-pass-123") == 0


@time_machine.travel("2026-12-01 10:00:30 +00:00", tick=False)
def test_guessing_one_account_from_many_addresses_meets_its_ceiling(boss: User, settings: Any) -> None:
    settings.LOGIN_RATE_PER_USER = "25/m"
    answers = [_attempt(f"203.0.113.{n // 10}", "boss", "guess") for n in range(30)]

    assert answers == [1002000000] * 25 + [429] * 5
    assert _attempt("198.51.100.7", "boss", "secret-pass-123") == 429
    assert _attempt("198.51.100.7", "other-user", "guess") == 1002000000  # other accounts are untouched


def test_no_token_is_401_in_the_body_with_http_200() -> None:
    response = Frontend().get(PAGE, {"pageNo": 1, "pageSize": 10})
    assert response.status_code == 200
    assert response.json() == UNAUTHORIZED


def test_a_bad_token_is_treated_as_anonymous(boss: User) -> None:
    tab = Frontend()
    tab.access_token = "0" * 32
    assert tab.get(PAGE).json() == UNAUTHORIZED


def test_an_expired_access_token_then_a_refresh(frontend: Frontend) -> None:
    first_access, refresh = frontend.access_token, frontend.refresh_token
    assert frontend.get(PAGE).json()["code"] == 0

    with time_machine.travel(timezone.now() + timedelta(minutes=31), tick=False):
        assert frontend.get(PAGE).json() == UNAUTHORIZED

        response = frontend.refresh()

        assert response.status_code == 200
        body = response.json()
        assert body["code"] == 0
        assert body["msg"] == ""
        assert body["data"]["refreshToken"] == refresh  # not rotated
        assert body["data"]["accessToken"] != first_access
        frontend.access_token = body["data"]["accessToken"]
        assert frontend.get(PAGE).json()["code"] == 0


def test_refreshing_drops_the_earlier_access_tokens(frontend: Frontend) -> None:
    old_access = frontend.access_token
    frontend.access_token = frontend.refresh().json()["data"]["accessToken"]

    stale = Frontend()
    stale.access_token = old_access
    assert stale.get(PAGE).json() == UNAUTHORIZED
    assert frontend.get(PAGE).json()["code"] == 0


def test_an_expired_refresh_token_is_refused_and_forgotten(frontend: Frontend) -> None:
    with time_machine.travel(timezone.now() + timedelta(days=31), tick=False):
        response = frontend.refresh()
    assert response.json() == {"code": 401, "data": None, "msg": "刷新令牌已过期"}
    assert not RefreshToken.objects.exists()
    assert frontend.refresh().json() == {"code": 400, "data": None, "msg": "无效的刷新令牌"}


def test_an_unknown_refresh_token_is_refused(boss: User) -> None:
    tab = Frontend()
    tab.refresh_token = "f" * 32
    assert tab.refresh().json() == {"code": 400, "data": None, "msg": "无效的刷新令牌"}


def test_refresh_without_the_parameter_names_it() -> None:
    response = Client().post("/admin-api/system/auth/refresh-token", data="", content_type="application/json")
    assert response.json() == {"code": 400, "data": None, "msg": "请求参数缺失:refreshToken"}


def test_tokens_work_in_the_query_string_and_refresh_tokens_work_as_access_tokens(frontend: Frontend) -> None:
    client = Client()
    assert client.get(f"/admin-api{PAGE}?token={frontend.access_token}").json()["code"] == 0
    assert client.get(f"/admin-api{PAGE}?token={frontend.refresh_token}").json()["code"] == 0
    as_bearer = client.get(f"/admin-api{PAGE}", headers={"Authorization": f"Bearer {frontend.refresh_token}"})
    assert as_bearer.json()["code"] == 0


def test_logout_ends_the_session_and_always_answers_true(frontend: Frontend) -> None:
    response = frontend.send("post", "/system/auth/logout")

    assert response.json() == {"code": 0, "data": True, "msg": ""}
    assert frontend.get(PAGE).json() == UNAUTHORIZED
    assert frontend.refresh().json()["msg"] == "无效的刷新令牌"
    assert Frontend().send("post", "/system/auth/logout").json() == {"code": 0, "data": True, "msg": ""}


def test_an_inactive_user_loses_access_with_a_live_token(frontend: Frontend, boss: User) -> None:
    boss.is_active = False
    boss.save()
    assert frontend.get(PAGE).json() == UNAUTHORIZED


def test_another_tenant_is_forbidden(frontend: Frontend) -> None:
    frontend.tenant_id = 2
    assert frontend.get(PAGE).json() == {"code": 403, "data": None, "msg": "您无权访问该租户的数据"}


# --- permissions and the bootstrap ------------------------------------------------------


def test_a_user_without_the_permission_is_forbidden() -> None:
    make_user("clerk")
    tab = Frontend()
    tab.login("clerk")
    assert tab.get(PAGE).json() == FORBIDDEN
    assert tab.get("/aiot/edge/device/page").json() == FORBIDDEN


def test_permissions_come_from_django_groups() -> None:
    group = Group.objects.create(name="alarm-operators")
    group.permissions.add(Permission.objects.get(codename="view_alarmevent"))
    user = make_user("operator")
    user.groups.add(group)
    tab = Frontend()
    tab.login("operator")

    assert tab.get(PAGE).json()["code"] == 0
    assert tab.get("/aiot/edge/device/page").json() == FORBIDDEN
    info = tab.get("/system/auth/get-permission-info").json()["data"]
    assert info["roles"] == ["alarm-operators"]
    assert info["permissions"] == ["", "aiot:alarm:query"]
    [root] = info["menus"]
    assert [child["name"] for child in root["children"]] == ["告警事件"]


def test_permission_info_of_a_superuser(frontend: Frontend, boss: User) -> None:
    response = frontend.get("/system/auth/get-permission-info")

    body = response.json()
    assert body["code"] == 0
    data = body["data"]
    assert data["user"] == {
        "id": boss.pk,
        "nickname": "boss",
        "avatar": "",
        "deptId": None,
        "username": "boss",
        "email": "",
    }
    assert data["roles"] == ["super_admin"]
    assert data["permissions"] == [
        "",
        "aiot:alarm:analyze",
        "aiot:alarm:export",
        "aiot:alarm:handle",
        "aiot:alarm:query",
        "aiot:device:query",
    ]
    assert data["menus"] == [
        {
            "id": 5000,
            "parentId": 0,
            "name": "AI 告警",
            "path": "/aiot",
            "component": None,
            "componentName": None,
            "icon": "ep:bell",
            "visible": True,
            "keepAlive": True,
            "alwaysShow": True,
            "children": [
                {
                    "id": 5001,
                    "parentId": 5000,
                    "name": "告警事件",
                    "path": "alarm-event",
                    "component": "aiot/alarm/event/index",
                    "componentName": "AiotAlarmEvent",
                    "icon": "ep:warning",
                    "visible": True,
                    "keepAlive": True,
                    "alwaysShow": True,
                    "children": None,
                },
                {
                    "id": 5002,
                    "parentId": 5000,
                    "name": "边缘设备",
                    "path": "edge-device",
                    "component": "aiot/edge/device/index",
                    "componentName": "AiotEdgeDevice",
                    "icon": "ep:monitor",
                    "visible": True,
                    "keepAlive": True,
                    "alwaysShow": True,
                    "children": None,
                },
            ],
        }
    ]


def test_a_user_with_no_permission_gets_no_menus() -> None:
    make_user("clerk")
    tab = Frontend()
    tab.login("clerk")
    data = tab.get("/system/auth/get-permission-info").json()["data"]
    assert (data["roles"], data["permissions"], data["menus"]) == ([], [], [])


def test_the_login_page_tenant_lookups() -> None:
    tab = Frontend(tenant_id=None)
    assert tab.get("/system/tenant/get-by-website", {"website": "vsp.example.com:8080"}).json() == {
        "code": 0,
        "data": {"id": 1, "name": "VSP"},
        "msg": "",
    }
    assert tab.get("/system/tenant/get-by-website", {"website": "bad host/x"}).json() == {
        "code": 400,
        "data": None,
        "msg": "请求参数不正确:网站域名格式不正确",
    }
    assert tab.get("/system/tenant/get-id-by-name", {"name": "VSP"}).json() == {"code": 0, "data": 1, "msg": ""}
    assert tab.get("/system/tenant/get-id-by-name", {"name": "other"}).json() == {"code": 0, "data": None, "msg": ""}


# --- gateway and dev modes -------------------------------------------------------------

LOGIN_USER = (
    "%7B%22id%22%3A42%2C%22userType%22%3A2%2C%22tenantId%22%3A1%2C%22info%22%3A%7B%22nickname%22%3A%22Li%22%7D%7D"
)


@pytest.fixture
def gateway_mode(settings: Any) -> None:
    settings.AUTH_MODE = "gateway"
    settings.GATEWAY_TRUSTED_PROXIES = ["10.9.0.0/16"]
    from vsp.compat.authentication import _trusted_networks

    _trusted_networks.cache_clear()


@pytest.mark.usefixtures("gateway_mode")
def test_gateway_mode_trusts_the_login_user_header_from_a_trusted_proxy() -> None:
    group = Group.objects.create(name="gateway-users")
    group.permissions.add(Permission.objects.get(codename="view_alarmevent"))

    response = Client().get(f"/admin-api{PAGE}", headers={"login-user": LOGIN_USER}, REMOTE_ADDR="10.9.1.2")

    assert response.json()["code"] == 0
    user = User.objects.get(username="yudao-42")
    assert user.first_name == "Li"
    assert list(user.groups.values_list("name", flat=True)) == ["gateway-users"]


@pytest.mark.usefixtures("gateway_mode")
def test_gateway_mode_refuses_the_header_from_anywhere_else() -> None:
    response = Client().get(f"/admin-api{PAGE}", headers={"login-user": LOGIN_USER}, REMOTE_ADDR="192.0.2.7")
    assert response.json() == UNAUTHORIZED
    assert not User.objects.filter(username="yudao-42").exists()


@pytest.mark.usefixtures("gateway_mode")
def test_gateway_mode_ignores_tokens_and_malformed_headers(frontend: Frontend) -> None:
    assert frontend.get(PAGE).json() == UNAUTHORIZED
    garbled = Client().get(f"/admin-api{PAGE}", headers={"login-user": "%7Bnot json"}, REMOTE_ADDR="10.9.1.2")
    assert garbled.json() == UNAUTHORIZED


@pytest.mark.usefixtures("gateway_mode")
def test_gateway_mode_refuses_member_users() -> None:
    member = LOGIN_USER.replace("%22userType%22%3A2", "%22userType%22%3A1")
    response = Client().get(f"/admin-api{PAGE}", headers={"login-user": member}, REMOTE_ADDR="10.9.1.2")
    assert response.json() == FORBIDDEN


def test_dev_mode_needs_no_token(settings: Any) -> None:
    settings.AUTH_MODE = "dev"
    assert Frontend().get(PAGE).json()["code"] == 0
    assert User.objects.get(username="dev-admin").is_superuser


def test_dev_mode_is_refused_at_start_up_with_debug_off() -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", "import vsp.asgi"],
        cwd=root,
        env={
            "PATH": "/usr/bin:/bin",
            "AUTH_MODE": "dev",
            "DEBUG": "0",
            "SECRET_KEY": "x" * 40,
            "DATA_DIR": str(root / "var" / "config-test"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "vsp.E002" in result.stderr


def test_cors_preflight_allows_the_frontend_headers(settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["http://localhost:80"]
    response = Client().options(
        f"/admin-api{PAGE}",
        headers={
            "Origin": "http://localhost:80",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization,tenant-id,visit-tenant-id,cache-control,pragma",
        },
    )
    assert response["Access-Control-Allow-Origin"] == "http://localhost:80"
    allowed = {header.strip() for header in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "tenant-id", "visit-tenant-id", "cache-control", "pragma"} <= allowed
