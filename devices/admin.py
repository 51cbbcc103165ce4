from __future__ import annotations

from django.contrib import admin

from devices.models import EdgeDevice


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
        "created_at",
        "updated_at",
    )
    fields = ("device_id", "name", "location", *readonly_fields)

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return ("device_id", *self.readonly_fields) if obj else self.readonly_fields
