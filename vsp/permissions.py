from __future__ import annotations

from typing import Any

from rest_framework.permissions import DjangoModelPermissions
from rest_framework.request import Request


class StaffModelPermissions(DjangoModelPermissions):
    """Staff only, with the model permission each method needs (reads need ``view``).

    A view may name the permissions of its extra actions in
    ``action_permissions = {"handle": ["alarms.handle_alarmevent"]}``.
    Superusers hold every permission.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            return False
        action_permissions = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if action_permissions is not None:
            return bool(user.has_perms(action_permissions))
        return super().has_permission(request, view)
