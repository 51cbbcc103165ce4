"""WebSocket plumbing shared by the consumers: who is connecting, and from which page."""

from __future__ import annotations

from importlib import import_module
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlparse

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from channels.sessions import CookieMiddleware
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import User

from vsp.compat.authentication import dev_user, gateway_login, pick_token
from vsp.compat.envelope import CompatError
from vsp.compat.tokens import user_for_token


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin1"))
    return None


def query_params(scope: dict[str, Any]) -> dict[str, list[str]]:
    return parse_qs(scope.get("query_string", b"").decode("latin1"))


def _resolve_user(scope: dict[str, Any]) -> User | None:
    """The same credentials as the compat API, read from a WebSocket handshake."""
    if settings.AUTH_MODE == "dev":
        return dev_user()
    if settings.AUTH_MODE == "gateway":
        client = scope.get("client") or (None, None)
        try:
            return gateway_login(_header(scope, b"login-user"), client[0])
        except CompatError:
            return None
    token = pick_token(_header(scope, b"authorization") or "", (query_params(scope).get("token") or [""])[0])
    return user_for_token(token) if token else None


def _session_user(scope: dict[str, Any]) -> Any:
    """The user of the admin session whose cookie the handshake carries (AnonymousUser if none)."""
    session_key = scope.get("cookies", {}).get(settings.SESSION_COOKIE_NAME)
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    # Django's own lookup (backend, session hash) reads nothing of a request but its session.
    return get_user(SimpleNamespace(session=session))  # type: ignore[arg-type]


class DashboardAuthMiddleware(BaseMiddleware):
    """Sets ``scope["user"]``: the compat API's credentials per AUTH_MODE, else the admin session.

    A staff member logged in to admin (the live page) is recognised by the
    session cookie; a token, when valid, takes precedence. Both are looked up
    in one trip to a database thread, and the session is only read: unlike
    Channels' session middleware, nothing wraps the socket's sends.
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        user = await database_sync_to_async(lambda: _resolve_user(scope) or _session_user(scope))()
        return await super().__call__({**scope, "user": user}, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Browsers must come from an allowed page; clients that send no Origin (scripts, boxes) rely on their token."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        return True if parsed_origin is None else bool(self.validate_origin(parsed_origin))


def allowed_origins() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG:
        hosts += ["localhost", "127.0.0.1", "[::1]"]
    return hosts + [origin for origin in settings.CORS_ALLOWED_ORIGINS if urlparse(origin).netloc]


def websocket_stack(inner: Any) -> Any:
    return BrowserOriginValidator(CookieMiddleware(DashboardAuthMiddleware(inner)), allowed_origins())
