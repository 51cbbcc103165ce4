"""Issuing, refreshing and revoking Yudao-style tokens (AUTH_MODE=local).

The rules are Yudao's (YUDAO.md §4.1, §4.5): 32-hex opaque tokens; access
tokens live ACCESS_TOKEN_TTL, refresh tokens REFRESH_TOKEN_TTL; refreshing
drops the refresh token's earlier access tokens and does not rotate it; a
refresh token is also accepted where an access token is.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from vsp.compat.envelope import REFRESH_TOKEN_EXPIRED, REFRESH_TOKEN_INVALID, CompatError
from vsp.models import AccessToken, RefreshToken, token_digest


@dataclass(frozen=True)
class IssuedTokens:
    user_id: int
    access_token: str
    refresh_token: str
    expires_at: datetime


def _new_token() -> str:
    return secrets.token_hex(16)


def _issue_access(refresh: RefreshToken, refresh_value: str, now: datetime) -> IssuedTokens:
    access_value = _new_token()
    expires_at = now + timedelta(seconds=settings.ACCESS_TOKEN_TTL)
    AccessToken.objects.create(
        user_id=refresh.user_id, refresh_token=refresh, digest=token_digest(access_value), expires_at=expires_at
    )
    return IssuedTokens(refresh.user_id, access_value, refresh_value, expires_at)


def issue_tokens(user: User, *, now: datetime | None = None) -> IssuedTokens:
    now = now or timezone.now()
    refresh_value = _new_token()
    with transaction.atomic():
        refresh = RefreshToken.objects.create(
            user=user,
            digest=token_digest(refresh_value),
            expires_at=now + timedelta(seconds=settings.REFRESH_TOKEN_TTL),
        )
        return _issue_access(refresh, refresh_value, now)


def refresh_tokens(refresh_value: str, *, now: datetime | None = None) -> IssuedTokens:
    """A new access token for a refresh token; the refresh token itself stays the same."""
    now = now or timezone.now()
    with transaction.atomic():
        refresh = RefreshToken.objects.select_for_update().filter(digest=token_digest(refresh_value)).first()
        if refresh is None:
            raise CompatError.of(REFRESH_TOKEN_INVALID)
        refresh.access_tokens.all().delete()
        expired = refresh.expires_at <= now
        if expired:
            refresh.delete()
        else:
            return _issue_access(refresh, refresh_value, now)
    raise CompatError.of(REFRESH_TOKEN_EXPIRED)


def revoke(token_value: str) -> None:
    """Log out: drop the session a token belongs to (its refresh token and all its access tokens)."""
    digest = token_digest(token_value)
    access = AccessToken.objects.filter(digest=digest).select_related("refresh_token").first()
    if access is not None:
        access.refresh_token.delete()
        return
    RefreshToken.objects.filter(digest=digest).delete()


def user_for_token(token_value: str, *, now: datetime | None = None) -> User | None:
    """The active user a live access token (or refresh token) belongs to; None otherwise."""
    now = now or timezone.now()
    live = {"digest": token_digest(token_value), "expires_at__gt": now}
    # One query for both kinds: each socket handshake and compat request runs it.
    holders = Q(pk__in=AccessToken.objects.filter(**live).values("user_id")) | Q(
        pk__in=RefreshToken.objects.filter(**live).values("user_id")
    )
    user: User | None = User.objects.filter(holders, is_active=True).first()
    return user
