"""Yudao-style login tokens for the compat API and WebSockets (AUTH_MODE=local).

Tokens are opaque 32-hex strings, as Yudao issues them. Only their SHA-256
is stored, so a leaked database does not leak live sessions.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class RefreshToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="refreshtoken_expires_idx")]

    def __str__(self) -> str:
        return f"refresh token of user {self.user_id}"


class AccessToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Refreshing drops every access token issued for the same refresh token.
    refresh_token = models.ForeignKey(RefreshToken, on_delete=models.CASCADE, related_name="access_tokens")
    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="accesstoken_expires_idx")]

    def __str__(self) -> str:
        return f"access token of user {self.user_id}"
