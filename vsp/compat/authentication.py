"""Who is calling the compat API, per AUTH_MODE; a bad or missing credential means anonymous, never an error."""

from __future__ import annotations

import ipaddress
import json
import logging
from functools import cache
from typing import Any
from urllib.parse import unquote

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from vsp.compat.envelope import FORBIDDEN, MSG_FORBIDDEN, CompatError
from vsp.compat.tokens import user_for_token

logger = logging.getLogger(__name__)

# Yudao's user types: 1 member (app users), 2 admin. Only admins may use /admin-api/.
ADMIN_USER_TYPE = 2
DEV_USERNAME = "dev-admin"


def pick_token(authorization: str, query_token: str) -> str | None:
    """Yudao's rule: ``Authorization: Bearer <t>`` (or a bare header value), else the ``token`` parameter."""
    header = authorization.strip()
    value = header.split("Bearer ", 1)[1].strip() if "Bearer " in header else header
    return value or query_token.strip() or None


def bearer_token(request: HttpRequest) -> str | None:
    return pick_token(request.META.get("HTTP_AUTHORIZATION", ""), request.GET.get("token", ""))


class LocalTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, str] | None:
        token = bearer_token(request._request)
        if token is None:
            return None
        user = user_for_token(token)
        return (user, token) if user is not None else None

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


@cache
def _trusted_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in settings.GATEWAY_TRUSTED_PROXIES)


def is_trusted_proxy(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in _trusted_networks())


def parse_login_user(raw: str) -> dict[str, Any] | None:
    """Yudao's gateway header: URL-encoded JSON ``{"id", "userType", "tenantId", "info": {...}}``."""
    try:
        value = json.loads(unquote(raw))
        user_id = int(value["id"])
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(value, dict) or user_id <= 0:
        return None
    return value


def gateway_user(login_user: dict[str, Any]) -> User:
    """The local stand-in for a user the gateway vouches for, created (with its group) on first sight."""
    info = login_user.get("info")
    if not isinstance(info, dict):
        info = {}
    with transaction.atomic():
        user, created = User.objects.get_or_create(
            username=f"yudao-{int(login_user['id'])}",
            defaults={"first_name": str(info.get("nickname", ""))[:150], "is_staff": True},
        )
        if created:
            group, _ = Group.objects.get_or_create(name=settings.GATEWAY_USER_GROUP)
            user.groups.add(group)
    return user


def gateway_login(raw: str | None, address: str | None) -> User | None:
    """The user in a ``login-user`` header, if it came from a trusted proxy and reads right.

    Raises CompatError(403) for a member (app) user, as Yudao refuses them on /admin-api/.
    """
    if not raw:
        return None
    if not is_trusted_proxy(address):
        logger.warning("ignoring a login-user header from untrusted address %s", address)
        return None
    login_user = parse_login_user(raw)
    if login_user is None:
        logger.warning("ignoring a malformed login-user header from %s", address)
        return None
    if login_user.get("userType", ADMIN_USER_TYPE) != ADMIN_USER_TYPE:
        raise CompatError(FORBIDDEN, MSG_FORBIDDEN)
    return gateway_user(login_user)


def dev_user() -> User:
    try:
        return User.objects.get(username=DEV_USERNAME)
    except User.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return User.objects.create_superuser(DEV_USERNAME, email="", password=None)
    except IntegrityError:  # created meanwhile by a concurrent request
        return User.objects.get(username=DEV_USERNAME)


class GatewayAuthentication(BaseAuthentication):
    """Behind Yudao's gateway, which has checked the token and passes the user in ``login-user``."""

    def authenticate(self, request: Request) -> tuple[User, None] | None:
        user = gateway_login(request.META.get("HTTP_LOGIN_USER"), request.META.get("REMOTE_ADDR"))
        return (user, None) if user is not None else None


class DevAuthentication(BaseAuthentication):
    """No check at all: every caller is the same superuser (AUTH_MODE=dev, refused unless DEBUG)."""

    def authenticate(self, request: Request) -> tuple[User, None]:
        return dev_user(), None


AUTHENTICATION_BY_MODE: dict[str, type[BaseAuthentication]] = {
    "local": LocalTokenAuthentication,
    "gateway": GatewayAuthentication,
    "dev": DevAuthentication,
}


def compat_authenticators() -> list[BaseAuthentication]:
    return [AUTHENTICATION_BY_MODE[settings.AUTH_MODE]()]
