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


class DashboardEvent(models.Model):
    """One real-time event, numbered: dashboards see ``seq`` in every frame and catch up from here.

    Written in the transaction of the change it announces, so an event exists exactly when its
    change committed; ``seq`` comes from the database, so numbers are unique across processes.
    ``data`` is the event's data as sent (JSON, encoded once). ``manage.py prune_events`` keeps
    the table to DASHBOARD_EVENT_RETENTION.
    """

    seq = models.BigAutoField(primary_key=True)
    type = models.CharField(max_length=32)
    data = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="dashboardevent_created_idx")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}"

    @classmethod
    def latest_seq(cls) -> int:
        """The number of the newest event stored (0 when there is none)."""
        return cls.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
