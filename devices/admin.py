"""Django admin for devices: status and history at a glance, device keys issued and revoked here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from devices.keys import issue_key, revoke_keys
from devices.models import DeviceKey, DeviceStatusChange, EdgeDevice


class DeviceKeyInline(admin.TabularInline):
    model = DeviceKey
    extra = 0
    can_delete = False
    fields = ("prefix", "created_at", "created_by", "last_used_at", "revoked_at")
    readonly_fields = fields
    verbose_name_plural = _("Device keys (issue with the “Issue a new key” action; revoke in Device keys)")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StatusChangeInline(admin.TabularInline):
    model = DeviceStatusChange
    extra = 0
    can_delete = False
    fields = ("changed_at", "from_status", "to_status", "reason", "last_seen")
    readonly_fields = fields
    verbose_name_plural = _("Status history")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[DeviceStatusChange]:
        return super().get_queryset(request).order_by("-changed_at", "-id")


@admin.register(EdgeDevice)
class EdgeDeviceAdmin(admin.ModelAdmin):
    list_display = ("device_id", "name", "location", "status", "last_seen", "last_heartbeat", "last_ip", "version")
    list_filter = ("status",)
    search_fields = ("device_id", "name", "location")
    # What the box itself reports is shown, not edited.
    readonly_fields = (
        "status",
        "last_seen",
        "last_heartbeat",
        "last_ip",
        "version",
        "info",
        "id_conflicts",
        "created_at",
        "updated_at",
    )
    fields = ("device_id", "name", "location", "offline_after", *readonly_fields)
    inlines = (DeviceKeyInline, StatusChangeInline)
    actions = ("issue_new_key",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("device_id", *self.readonly_fields) if obj else self.readonly_fields

    @admin.action(description=_("Issue a new key (shown once)"), permissions=["change"])
    def issue_new_key(self, request: HttpRequest, queryset: QuerySet[EdgeDevice]) -> None:
        for device in queryset:
            value = issue_key(device, created_by=request.user.get_username())
            # The only time the key is shown: it is stored as a hash.
            self.message_user(
                request, gettext("New key for %(device)s: %(key)s — copy it now, it will not be shown again.")
                % {"device": device.device_id, "key": value},
                messages.WARNING,
            )  # fmt: skip


@admin.register(DeviceKey)
class DeviceKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "device", "created_at", "created_by", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("device__device_id", "prefix")
    list_select_related = ("device",)
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Revoke the selected keys"), permissions=["delete"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[DeviceKey]) -> None:
        revoked = revoke_keys(list(queryset))
        self.message_user(request, gettext("Revoked %(count)d key(s).") % {"count": revoked}, messages.SUCCESS)
