"""Login, tokens, the permission bootstrap, tenant look-ups and dictionaries (YUDAO.md §4-§6, §10.1)."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from vsp import ratelimit
from vsp.compat import envelope
from vsp.compat.authentication import bearer_token
from vsp.compat.base import CompatAPIView
from vsp.compat.dicts import simple_list
from vsp.compat.envelope import CompatError
from vsp.compat.menus import granted_menus, menu_tree
from vsp.compat.params import Query
from vsp.compat.permissions import YUDAO_PERMISSIONS, yudao_permissions_of
from vsp.compat.profile import display_nickname
from vsp.compat.representation import epoch_ms
from vsp.compat.tokens import IssuedTokens, issue_tokens, refresh_tokens, revoke
from vsp.http import client_ip
from vsp.models import UserProfile

SUPER_ADMIN_ROLE = "super_admin"
_WEBSITE = re.compile(r"^[a-zA-Z0-9.-]+(:\d{1,5})?$")


def _tokens(issued: IssuedTokens) -> dict[str, Any]:
    return {
        "userId": issued.user_id,
        "accessToken": issued.access_token,
        "refreshToken": issued.refresh_token,
        "expiresTime": epoch_ms(issued.expires_at),
    }


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(
        max_length=150, error_messages={"required": "登录账号不能为空", "blank": "登录账号不能为空"}
    )
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, error_messages={"required": "密码不能为空", "blank": "密码不能为空"}
    )


def login_limits(username: str, address: str | None) -> list[ratelimit.Limit]:
    """A login's limits (the compat login and the native token view): the account from this address first,
    then the address, then the account from everywhere. An attempt refused at one is not counted by the next.
    """
    username = username.casefold()  # "Boss" is "boss" to a case-insensitive collation
    limits = [ratelimit.Limit("login-user", username, ratelimit.Rate.parse(settings.LOGIN_RATE_PER_USER))]
    if address:
        limits[:0] = [
            ratelimit.Limit(
                "login-user-ip", f"{username}|{address}", ratelimit.Rate.parse(settings.LOGIN_RATE_PER_USER_AND_IP)
            ),
            ratelimit.Limit("login-ip", address, ratelimit.Rate.parse(settings.LOGIN_RATE_PER_IP)),
        ]
    return limits


class LoginView(CompatAPIView):
    """``POST /system/auth/login`` with ``{username, password, …}``; captcha and tenant fields are ignored."""

    permit_all = True

    def post(self, request: Request) -> Response:
        serializer = LoginSerializer(data=request.data if isinstance(request.data, dict) else {})
        serializer.is_valid(raise_exception=True)
        username, password = serializer.validated_data["username"], serializer.validated_data["password"]
        if ratelimit.check(login_limits(username, client_ip(request._request)), timezone.now()) is not None:
            raise CompatError(envelope.TOO_MANY_REQUESTS, envelope.MSG_TOO_MANY_REQUESTS)
        # authenticate() takes as long for an unknown account as for a wrong password.
        user = authenticate(request._request, username=username, password=password)
        if user is None:
            inactive = User.objects.filter(username=username, is_active=False).first()
            if inactive is not None and inactive.check_password(password):
                raise CompatError.of(envelope.LOGIN_DISABLED)
            # Unknown user and wrong password read the same, as in Yudao.
            raise CompatError.of(envelope.LOGIN_FAILED)
        assert isinstance(user, User)
        issued = issue_tokens(user)
        # Yudao keeps the last login's address and time on the user; the profile page shows them.
        UserProfile.record_login(user, client_ip(request._request), timezone.now())
        return envelope.success(_tokens(issued))


class RefreshTokenView(CompatAPIView):
    """``POST /system/auth/refresh-token?refreshToken=`` with an empty body."""

    permit_all = True

    def post(self, request: Request) -> Response:
        refresh_value = Query(request.query_params).require("refreshToken")
        return envelope.success(_tokens(refresh_tokens(refresh_value)))


class LogoutView(CompatAPIView):
    permit_all = True

    def post(self, request: Request) -> Response:
        token = bearer_token(request._request)
        if token is not None:
            revoke(token)
        return envelope.success(True)


class PermissionInfoView(CompatAPIView):
    """``GET /system/auth/get-permission-info``: who I am, my roles, permissions and menus."""

    def get(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)
        permissions = set(YUDAO_PERMISSIONS) if user.is_superuser else yudao_permissions_of(user)
        menus = granted_menus(permissions)
        roles = [SUPER_ADMIN_ROLE] if user.is_superuser else sorted(user.groups.values_list("name", flat=True))
        profile = UserProfile.of(user)
        return envelope.success(
            {
                "user": {
                    "id": user.pk,
                    "nickname": display_nickname(user, profile),
                    "avatar": profile.avatar,
                    "deptId": None,
                    "username": user.get_username(),
                    "email": user.email,
                },
                "roles": roles,
                # Every granted menu's permission, "" for directories, as Yudao lists them.
                "permissions": sorted({menu.permission for menu in menus}),
                "menus": menu_tree(menus),
            }
        )


class TenantByWebsiteView(CompatAPIView):
    permit_all = True

    def get(self, request: Request) -> Response:
        website = Query(request.query_params).require("website")
        if not _WEBSITE.match(website):
            raise CompatError(envelope.BAD_REQUEST, envelope.bad_request("网站域名格式不正确"))
        return envelope.success({"id": settings.TENANT_ID, "name": settings.TENANT_NAME})


class TenantIdByNameView(CompatAPIView):
    """One tenant: its id for its own name, ``null`` for any other (as Yudao answers an unknown tenant)."""

    permit_all = True

    def get(self, request: Request) -> Response:
        name = Query(request.query_params).require("name")
        return envelope.success(settings.TENANT_ID if name == settings.TENANT_NAME else None)


class DictDataSimpleListView(CompatAPIView):
    def get(self, request: Request) -> Response:
        return envelope.success(simple_list())
