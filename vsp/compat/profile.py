"""The user's own profile page (``/system/user/profile/…``) and its social bindings tab.

Django's ``User`` holds the username, email, password, join and last-login times; what Yudao has
beyond that (nickname, mobile, sex, avatar, the last login's address) is in ``vsp.models.UserProfile``.
There are no departments or posts here, so ``dept`` and ``posts`` are null, as Yudao answers a
user without them; the roles are the user's groups (a superuser's is Yudao's 超级管理员).
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.response import Response

from vsp import ratelimit
from vsp.compat import envelope
from vsp.compat.base import CompatAPIView
from vsp.compat.envelope import CompatError
from vsp.compat.representation import epoch_ms
from vsp.db import is_duplicate_key
from vsp.models import AccessToken, RefreshToken, Sex, UserProfile, token_digest

# Yudao's error codes for the profile (system module, ErrorCodeConstants), word for word.
USER_MOBILE_EXISTS = (1_002_003_001, "手机号已经存在")
USER_EMAIL_EXISTS = (1_002_003_002, "邮箱已经存在")
USER_PASSWORD_FAILED = (1_002_003_005, "用户密码校验失败")

# A superuser's one role as the profile shows it, as Yudao seeds it (0 is never a group's id);
# get-permission-info names the same role by its code, system.SUPER_ADMIN_ROLE.
SUPER_ADMIN_PROFILE_ROLE = {"id": 0, "name": "超级管理员"}
# The frontend's own rule for a mobile number (BasicInfo.vue), after Yudao's length check.
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_PASSWORD_LENGTH = "密码长度为 4-16 位"


def display_nickname(user: User, profile: UserProfile) -> str:
    """The profile's nickname, else the Django full name, else the username."""
    return profile.nickname or user.get_full_name() or user.get_username()


def _roles(user: User) -> list[dict[str, Any]]:
    if user.is_superuser:
        return [dict(SUPER_ADMIN_PROFILE_ROLE)]
    # Sorted as get-permission-info sorts the role names, whatever the database's collation.
    return [{"id": pk, "name": name} for name, pk in sorted(user.groups.values_list("name", "pk"))]


def profile_data(user: User, profile: UserProfile) -> dict[str, Any]:
    """Yudao's UserProfileRespVO.

    ``loginDate`` is Django's ``last_login`` (compat and admin logins both set it); ``loginIp`` is
    known only when that login was a compat one, and is ``""`` otherwise, as Yudao's column default.
    """
    last_login = user.last_login
    login_ip = profile.login_ip if last_login is not None and profile.login_at == last_login else None
    return {
        "id": user.pk,
        "username": user.get_username(),
        "nickname": display_nickname(user, profile),
        "email": user.email,
        "mobile": profile.mobile or "",
        "sex": profile.sex,
        "avatar": profile.avatar,
        "loginIp": login_ip or "",
        "loginDate": epoch_ms(last_login),
        "createTime": epoch_ms(user.date_joined),
        "roles": _roles(user),
        "dept": None,
        "posts": None,
    }


def _body(request: Request) -> dict[str, Any]:
    """The JSON object sent, ``null`` values dropped (they mean "not given", as Yudao's update skips them)."""
    if not request._request.body or not isinstance(request.data, dict):
        # Yudao's wording for a missing or unusable @RequestBody (with its space).
        raise CompatError(envelope.BAD_REQUEST, envelope.type_mismatch(" request body 缺失"))
    return {key: value for key, value in request.data.items() if value is not None}


class ProfileUpdateSerializer(serializers.Serializer):
    """Yudao's UserProfileUpdateReqVO: every field optional, each checked as Yudao checks it."""

    nickname = serializers.CharField(
        required=False, allow_blank=True, max_length=30, error_messages={"max_length": "用户昵称长度不能超过 30 个字符"}
    )
    email = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=50,
        validators=[EmailValidator(message="邮箱格式不正确")],
        error_messages={"max_length": "邮箱长度不能超过 50 个字符"},
    )
    mobile = serializers.CharField(
        required=False,
        min_length=11,
        max_length=11,
        error_messages={
            "blank": "手机号长度必须 11 位",
            "min_length": "手机号长度必须 11 位",
            "max_length": "手机号长度必须 11 位",
        },
    )
    # Matched as text ("1" is 1, true is not), answered as the number.
    sex = serializers.ChoiceField(
        required=False, choices=Sex.values, error_messages={"invalid_choice": f"用户性别，必须是 {sorted(Sex.values)}"}
    )
    avatar = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=512,
        validators=[URLValidator(schemes=["http", "https"], message="头像地址格式不正确")],
        error_messages={"max_length": "头像地址长度不能超过 512 个字符"},
    )

    def validate_mobile(self, value: str) -> str:
        if not _MOBILE.fullmatch(value):
            raise serializers.ValidationError("手机号格式不正确")
        return value


class ProfileGetView(CompatAPIView):
    def get(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)
        return envelope.success(profile_data(user, UserProfile.of(user)))


class ProfileUpdateView(CompatAPIView):
    """Only the fields sent change; an email or mobile another user has is refused, as Yudao does."""

    def put(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)
        serializer = ProfileUpdateSerializer(data=_body(request))
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        email, mobile = changes.get("email"), changes.get("mobile")
        if email and User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
            raise CompatError.of(USER_EMAIL_EXISTS)
        if mobile and UserProfile.objects.filter(mobile=mobile).exclude(user_id=user.pk).exists():
            raise CompatError.of(USER_MOBILE_EXISTS)
        try:
            with transaction.atomic():
                if "email" in changes:
                    User.objects.filter(pk=user.pk).update(email=changes.pop("email"))
                if changes:
                    UserProfile.ensure(user)
                    UserProfile.objects.filter(user_id=user.pk).update(**changes)
        except IntegrityError as exc:
            if not is_duplicate_key(exc):
                raise
            # The same mobile saved by another user just now: the unique key decides.
            raise CompatError.of(USER_MOBILE_EXISTS) from None
        return envelope.success(True)


class PasswordUpdateSerializer(serializers.Serializer):
    """Yudao's UserProfileUpdatePasswordReqVO; the new password also passes AUTH_PASSWORD_VALIDATORS."""

    old_password = serializers.CharField(
        trim_whitespace=False,
        min_length=4,
        max_length=16,
        error_messages={
            "required": "旧密码不能为空",
            "blank": "旧密码不能为空",
            "min_length": _PASSWORD_LENGTH,
            "max_length": _PASSWORD_LENGTH,
        },
    )
    new_password = serializers.CharField(
        trim_whitespace=False,
        min_length=4,
        max_length=16,
        error_messages={
            "required": "新密码不能为空",
            "blank": "新密码不能为空",
            "min_length": _PASSWORD_LENGTH,
            "max_length": _PASSWORD_LENGTH,
        },
    )


class PasswordUpdateView(CompatAPIView):
    """Checks the old password (guesses limited as a login's are), sets the new one, ends the user's other sessions.

    Ending the other sessions is Django's rule for a password change (admin sessions end by
    themselves): a stolen token must not outlive the password it came with.
    """

    field_names = {"old_password": "oldPassword", "new_password": "newPassword"}

    def put(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)
        body = _body(request)
        serializer = PasswordUpdateSerializer(
            data={ours: body[theirs] for ours, theirs in self.field_names.items() if theirs in body}
        )
        serializer.is_valid(raise_exception=True)
        old_password = serializer.validated_data["old_password"]
        new_password = serializer.validated_data["new_password"]
        rate = ratelimit.Rate.parse(settings.LOGIN_RATE_PER_USER_AND_IP)
        if ratelimit.hit("password-check", str(user.pk), rate, timezone.now()) is not None:
            raise CompatError(envelope.TOO_MANY_REQUESTS, envelope.MSG_TOO_MANY_REQUESTS)
        if not user.check_password(old_password):
            raise CompatError.of(USER_PASSWORD_FAILED)
        try:
            validate_password(new_password, user)
        except DjangoValidationError as exc:
            raise CompatError(envelope.BAD_REQUEST, envelope.bad_request(f"newPassword: {exc.messages[0]}")) from None
        with transaction.atomic():
            user.set_password(new_password)
            user.save(update_fields=["password"])
            _end_other_sessions(user, request.auth)
        return envelope.success(True)


def _end_other_sessions(user: User, token: object) -> None:
    """Drop the user's other sessions: every compat one but the one ``token`` belongs to, and its native API tokens.

    Django admin sessions end by themselves: their hash is derived from the password.
    """
    Token.objects.filter(user_id=user.pk).delete()
    keep: int | None = None
    if isinstance(token, str):
        digest = token_digest(token)
        keep = AccessToken.objects.filter(digest=digest).values_list("refresh_token_id", flat=True).first()
        if keep is None:
            keep = RefreshToken.objects.filter(digest=digest).values_list("pk", flat=True).first()
    sessions = RefreshToken.objects.filter(user_id=user.pk)
    (sessions.exclude(pk=keep) if keep is not None else sessions).delete()


class SocialBindListView(CompatAPIView):
    """``GET /system/social-user/get-bind-list``: no social logins here, so never a binding."""

    def get(self, request: Request) -> Response:
        return envelope.success([])
