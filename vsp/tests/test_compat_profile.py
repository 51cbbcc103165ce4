"""The profile page: Yudao's user/profile endpoints over Django's User, and the social bindings tab."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from rest_framework.authtoken.models import Token

from conftest import make_user
from vsp.models import RefreshToken, UserProfile
from vsp.tests.compat_client import Frontend

pytestmark = pytest.mark.django_db

GET = "/system/user/profile/get"
UPDATE = "/system/user/profile/update"
PASSWORD = "/system/user/profile/update-password"
SOCIAL = "/system/social-user/get-bind-list"
OLD_PASSWORD = "secret-pass-123"


def data(response: Any) -> Any:
    body = response.json()
    assert body["code"] == 0, body
    assert body["msg"] == ""
    return body["data"]


def ms(value: Any) -> int:
    return int(value.timestamp() * 1000)


@pytest.fixture
def alice() -> User:
    user = make_user("alice")
    User.objects.filter(pk=user.pk).update(first_name="Alice", last_name="Liddell", email="alice@example.com")
    user.groups.add(Group.objects.create(name="值班员"), Group.objects.create(name="安全主管"))
    return User.objects.get(pk=user.pk)


@pytest.fixture
def frontend(alice: User) -> Frontend:
    tab = Frontend()
    tab.login("alice")
    return tab


def can_log_in(password: str) -> bool:
    response = Frontend().send("post", "/system/auth/login", {"username": "alice", "password": password})
    return bool(response.json()["code"] == 0)


# --- get ---------------------------------------------------------------------------


def test_the_profile_is_built_from_the_django_user(frontend: Frontend, alice: User) -> None:
    profile = data(frontend.get(GET))

    alice.refresh_from_db()
    groups = {group.name: group.pk for group in alice.groups.all()}
    assert profile == {
        "id": alice.pk,
        "username": "alice",
        "nickname": "Alice Liddell",
        "email": "alice@example.com",
        "mobile": "",
        "sex": 0,
        "avatar": "",
        "loginIp": "127.0.0.1",
        "loginDate": ms(alice.last_login),
        "createTime": ms(alice.date_joined),
        "roles": [{"id": groups[name], "name": name} for name in sorted(groups)],
        "dept": None,
        "posts": None,
    }


def test_a_compat_login_records_its_address_and_time(alice: User) -> None:
    assert alice.last_login is None
    before = timezone.now()

    Frontend().login("alice")

    alice.refresh_from_db()
    stored = UserProfile.objects.get(user=alice)
    assert alice.last_login is not None
    assert alice.last_login >= before
    assert stored.login_at == alice.last_login
    assert stored.login_ip == "127.0.0.1"


def test_after_a_login_elsewhere_the_address_is_not_claimed(frontend: Frontend, alice: User) -> None:
    later = timezone.now() + timedelta(minutes=1)
    User.objects.filter(pk=alice.pk).update(last_login=later)  # as Django admin's login does

    profile = data(frontend.get(GET))

    assert profile["loginDate"] == ms(later)
    assert profile["loginIp"] == ""


def test_a_superuser_has_yudaos_super_admin_role() -> None:
    make_user("boss", superuser=True)
    tab = Frontend()
    tab.login("boss")
    profile = data(tab.get(GET))
    assert profile["roles"] == [{"id": 0, "name": "超级管理员"}]
    assert profile["nickname"] == "boss"  # no name at all: the username


# --- update ------------------------------------------------------------------------


def test_a_profile_update_is_persisted_and_shown_everywhere(frontend: Frontend, alice: User) -> None:
    body = {
        "nickname": "小爱",
        "email": "ai@example.com",
        "mobile": "13800138000",
        "sex": 2,
        "avatar": "https://img.example.com/a.png",
    }

    assert data(frontend.send("put", UPDATE, body)) is True

    profile = data(frontend.get(GET))
    assert {key: profile[key] for key in body} == body
    alice.refresh_from_db()
    assert alice.email == "ai@example.com"
    assert (alice.first_name, alice.last_name) == ("Alice", "Liddell")  # Django's own name is left alone
    user = data(frontend.get("/system/auth/get-permission-info"))["user"]
    assert (user["nickname"], user["avatar"], user["email"]) == (
        "小爱",
        "https://img.example.com/a.png",
        "ai@example.com",
    )


def test_the_basic_info_form_sends_the_whole_profile_back(frontend: Frontend) -> None:
    # BasicInfo.vue posts the form model, i.e. what profile/get answered with the edits on top.
    form = {**data(frontend.get(GET)), "nickname": "爱丽丝", "mobile": "13900139000", "sex": 1}

    assert data(frontend.send("put", UPDATE, form)) is True

    profile = data(frontend.get(GET))
    assert (profile["nickname"], profile["mobile"], profile["sex"]) == ("爱丽丝", "13900139000", 1)


def test_only_the_fields_sent_change_and_null_means_not_sent(frontend: Frontend) -> None:
    frontend.send("put", UPDATE, {"nickname": "小爱", "mobile": "13800138000", "sex": 1})

    # UserAvatar.vue sends the avatar alone.
    assert data(frontend.send("put", UPDATE, {"avatar": "https://img.example.com/b.png", "nickname": None})) is True

    profile = data(frontend.get(GET))
    assert profile["avatar"] == "https://img.example.com/b.png"
    assert (profile["nickname"], profile["mobile"], profile["sex"], profile["email"]) == (
        "小爱",
        "13800138000",
        1,
        "alice@example.com",
    )


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        ({"nickname": "长" * 31}, "nickname: 用户昵称长度不能超过 30 个字符"),
        ({"email": "not-an-email"}, "email: 邮箱格式不正确"),
        ({"email": "a" * 40 + "@example.com"}, "email: 邮箱长度不能超过 50 个字符"),
        ({"mobile": "1380013800"}, "mobile: 手机号长度必须 11 位"),
        ({"mobile": ""}, "mobile: 手机号长度必须 11 位"),
        ({"mobile": "2380013800x"}, "mobile: 手机号格式不正确"),
        ({"sex": 3}, "sex: 用户性别，必须是 [0, 1, 2]"),
        ({"sex": "男"}, "sex: 用户性别，必须是 [0, 1, 2]"),
        ({"sex": True}, "sex: 用户性别，必须是 [0, 1, 2]"),
        ({"avatar": "javascript:alert(1)"}, "avatar: 头像地址格式不正确"),
        ({"avatar": "https://img.example.com/" + "a" * 500}, "avatar: 头像地址长度不能超过 512 个字符"),
        ({"nickname": ["a"]}, "nickname: "),
    ],
)
def test_a_bad_profile_value_is_refused_naming_it(
    frontend: Frontend, alice: User, body: dict[str, Any], msg: str
) -> None:
    response = frontend.send("put", UPDATE, {"nickname": "新名字", **body})

    envelope = response.json()
    assert response.status_code == 200
    assert envelope["code"] == 400
    assert envelope["msg"].startswith(f"请求参数不正确:{msg}")
    assert data(frontend.get(GET))["nickname"] == "Alice Liddell"  # nothing saved


def test_an_email_or_mobile_another_user_has_is_refused(frontend: Frontend, alice: User) -> None:
    bob = make_user("bob")
    User.objects.filter(pk=bob.pk).update(email="Bob@Example.com")
    UserProfile.objects.create(user=bob, mobile="13700137000")

    email = frontend.send("put", UPDATE, {"email": "bob@example.com"}).json()
    mobile = frontend.send("put", UPDATE, {"mobile": "13700137000"}).json()

    assert email == {"code": 1002003002, "data": None, "msg": "邮箱已经存在"}
    assert mobile == {"code": 1002003001, "data": None, "msg": "手机号已经存在"}
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"
    # One's own email or mobile again is no conflict.
    assert data(frontend.send("put", UPDATE, {"email": "ALICE@example.com", "mobile": "13600136000"})) is True
    assert data(frontend.send("put", UPDATE, {"mobile": "13600136000"})) is True


@pytest.mark.parametrize("path", [UPDATE, PASSWORD])
def test_no_body_is_refused_in_yudaos_words(frontend: Frontend, path: str) -> None:
    for body in (None, ["a list"]):
        assert frontend.send("put", path, body).json() == {
            "code": 400,
            "data": None,
            "msg": "请求参数类型错误: request body 缺失",
        }


# --- password ----------------------------------------------------------------------


def test_a_wrong_old_password_is_refused_and_the_password_stays(frontend: Frontend) -> None:
    response = frontend.send("put", PASSWORD, {"oldPassword": "not-my-password", "newPassword": "brand-new-9"})

    assert response.json() == {"code": 1002003005, "data": None, "msg": "用户密码校验失败"}
    assert can_log_in(OLD_PASSWORD)
    assert not can_log_in("brand-new-9")


def test_the_password_changes_and_other_sessions_end(frontend: Frontend) -> None:
    other_tab = Frontend()
    other_tab.login("alice")
    api_token = Token.objects.create(user=User.objects.get(username="alice"))

    assert data(frontend.send("put", PASSWORD, {"oldPassword": OLD_PASSWORD, "newPassword": "brand-new-9"})) is True

    assert can_log_in("brand-new-9")
    assert not can_log_in(OLD_PASSWORD)
    assert frontend.get(GET).json()["code"] == 0  # this session goes on
    assert other_tab.get(GET).json() == {"code": 401, "data": None, "msg": "账号未登录"}
    assert other_tab.refresh().json()["msg"] == "无效的刷新令牌"
    assert not Token.objects.filter(pk=api_token.pk).exists()  # the native API's token ends too


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        ({"newPassword": "brand-new-9"}, "请求参数不正确:oldPassword: 旧密码不能为空"),
        ({"oldPassword": OLD_PASSWORD, "newPassword": ""}, "请求参数不正确:newPassword: 新密码不能为空"),
        ({"oldPassword": OLD_PASSWORD, "newPassword": "abc"}, "请求参数不正确:newPassword: 密码长度为 4-16 位"),
        ({"oldPassword": OLD_PASSWORD, "newPassword": "a" * 17}, "请求参数不正确:newPassword: 密码长度为 4-16 位"),
        ({"oldPassword": OLD_PASSWORD, "newPassword": "12345678"}, "请求参数不正确:newPassword: 密码只包含数字。"),
    ],
)
def test_a_bad_new_password_is_refused_naming_it(
    frontend: Frontend, settings: Any, body: dict[str, Any], msg: str
) -> None:
    settings.AUTH_PASSWORD_VALIDATORS = [{"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"}]

    assert frontend.send("put", PASSWORD, body).json() == {"code": 400, "data": None, "msg": msg}
    assert can_log_in(OLD_PASSWORD)


def test_old_password_guesses_are_limited(frontend: Frontend, settings: Any) -> None:
    settings.LOGIN_RATE_PER_USER_AND_IP = "2/m"
    wrong = {"oldPassword": "guess-1", "newPassword": "brand-new-9"}

    codes = [frontend.send("put", PASSWORD, wrong).json()["code"] for _ in range(3)]

    assert codes == [1002003005, 1002003005, 429]
    assert RefreshToken.objects.count() == 1


# --- social, login -----------------------------------------------------------------


def test_there_are_no_social_bindings(frontend: Frontend) -> None:
    assert data(frontend.get(SOCIAL)) == []


@pytest.mark.parametrize(("method", "path"), [("get", GET), ("put", UPDATE), ("put", PASSWORD), ("get", SOCIAL)])
def test_the_profile_endpoints_need_a_login(method: str, path: str) -> None:
    tab = Frontend()
    response = tab.get(path) if method == "get" else tab.send(method, path, {})
    assert response.json() == {"code": 401, "data": None, "msg": "账号未登录"}
