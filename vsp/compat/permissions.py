"""Yudao permission strings, mapped onto Django permissions (a superuser holds them all)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

# The only place that knows the mapping; groups in admin grant the Django side.
YUDAO_PERMISSIONS: dict[str, str] = {
    "aiot:alarm:query": "alarms.view_alarmevent",
    "aiot:alarm:handle": "alarms.handle_alarmevent",
    "aiot:alarm:export": "alarms.export_alarmevent",
    "aiot:alarm:analyze": "analysis.add_alarmllmanalysis",
    "aiot:device:query": "devices.view_edgedevice",
}


def has_yudao_permission(user: User | AnonymousUser, permission: str) -> bool:
    return bool(user.is_authenticated and user.has_perm(YUDAO_PERMISSIONS[permission]))


def yudao_permissions_of(user: User | AnonymousUser) -> set[str]:
    return {permission for permission in YUDAO_PERMISSIONS if has_yudao_permission(user, permission)}


class YudaoPermission(BasePermission):
    """Login required unless the view says ``permit_all``; then the view's ``required_permission``, if any."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if getattr(view, "permit_all", False):
            return True
        if not request.user or not request.user.is_authenticated:
            return False
        required: str | None = getattr(view, "required_permission", None)
        return required is None or has_yudao_permission(request.user, required)
