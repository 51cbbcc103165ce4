"""The shell's tables: Yudao-style login tokens, dashboard events, the Yudao user profile.

Tokens (AUTH_MODE=local) are opaque 32-hex strings, as Yudao issues them. Only
their SHA-256 is stored, so a leaked database does not leak live sessions.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
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


class Sex(models.IntegerChoices):
    """Yudao's SexEnum."""

    UNKNOWN = 0, "Unknown"
    MALE = 1, "Male"
    FEMALE = 2, "Female"


class UserProfile(models.Model):
    """What a Yudao user has and Django's ``User`` does not: the profile page's fields, the last login.

    A row is made on the first compat login or profile update; until then ``of()`` answers a blank one.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    # Blank: the user's Django full name, else the username (display_nickname).
    nickname = models.CharField(max_length=30, blank=True)
    # NULL until given, so that "no mobile" is not a duplicate; unique, as Yudao refuses a mobile another has.
    mobile = models.CharField(max_length=11, null=True, blank=True, unique=True)
    sex = models.PositiveSmallIntegerField(choices=Sex.choices, default=Sex.UNKNOWN)
    avatar = models.CharField(max_length=512, blank=True)
    # The last compat login (Django admin logins set only User.last_login).
    login_ip = models.GenericIPAddressField(null=True, blank=True)
    login_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"profile of user {self.user_id}"

    @classmethod
    def of(cls, user: User) -> UserProfile:
        """The user's profile, or an unsaved blank one."""
        return cls.objects.filter(user_id=user.pk).first() or cls(user_id=user.pk)

    @classmethod
    def ensure(cls, user: User) -> None:
        """Make the row if there is none (insert-or-ignore: two first logins at once make one)."""
        UserProfile.objects.bulk_create([UserProfile(user_id=user.pk)], ignore_conflicts=True)

    @classmethod
    def record_login(cls, user: User, ip: str | None, now: datetime) -> None:
        """A compat login: its address and time here, and Django's ``last_login`` (admin shows it) the same."""
        cls.ensure(user)
        cls.objects.filter(user_id=user.pk).update(login_ip=ip, login_at=now)
        User.objects.filter(pk=user.pk).update(last_login=now)
