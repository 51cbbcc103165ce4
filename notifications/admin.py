"""Admin for notifications: the channels (with a test-send), the rules, and the read-only delivery log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from alarms.models import AlarmLevel
from notifications import services
from notifications.models import Channel, Delivery, Rule

# Test messages from one action: each waits for its channel's answer while staff wait for the page.
_TEST_SEND_MAX = 10


def _report(modeladmin: admin.ModelAdmin, request: HttpRequest, delivery: Delivery) -> None:
    channel = delivery.channel
    if delivery.status == Delivery.Status.SENT:
        code = f" (HTTP {delivery.response_code})" if delivery.response_code else ""
        said = gettext("Test message sent to %(channel)s%(code)s.") % {"channel": channel.name, "code": code}
        modeladmin.message_user(request, said, messages.SUCCESS)
    else:
        modeladmin.message_user(
            request,
            gettext("Test message to %(channel)s %(status)s: %(error)s")
            % {"channel": channel.name, "status": delivery.get_status_display().lower(), "error": delivery.last_error},
            messages.ERROR,
        )


class ChannelForm(forms.ModelForm):
    # A URL typed without its scheme is https (Django 6's default; 5.2 warns without saying).
    url = forms.URLField(
        required=False,
        max_length=1000,
        assume_scheme="https",
        label=Channel._meta.get_field("url").verbose_name,
        help_text=Channel._meta.get_field("url").help_text,
    )

    class Meta:
        model = Channel
        fields = ("name", "kind", "enabled", "url", "key", "secret", "recipients")
        widgets = {"recipients": forms.Textarea(attrs={"rows": 3})}


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ("name", "kind", "enabled", "target", "updated_at")
    list_filter = ("kind", "enabled")
    search_fields = ("name",)
    actions = ["send_test_message"]

    @admin.display(description=_("sends to"))
    def target(self, channel: Channel) -> str:
        if channel.kind == Channel.Kind.WEBHOOK:
            return channel.url
        if channel.kind == Channel.Kind.EMAIL:
            return ", ".join(channel.recipient_list())
        return f"…{channel.key[-4:]}" if channel.key else ""  # a robot's key is its password

    @admin.action(description=_("Send a test message"), permissions=["change"])
    def send_test_message(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        chosen = list(queryset[: _TEST_SEND_MAX + 1])
        if len(chosen) > _TEST_SEND_MAX:
            said = gettext("Choose at most %(count)d channels to test at once.") % {"count": _TEST_SEND_MAX}
            self.message_user(request, said, messages.ERROR)
            return
        for channel in chosen:
            _report(self, request, services.send_test(channel))

    def get_urls(self) -> list[URLPattern]:
        test_send = self.admin_site.admin_view(self.test_send_view)
        return [
            path("<path:object_id>/test-send/", test_send, name="notifications_channel_test_send"),
            *super().get_urls(),
        ]

    def test_send_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        channel = get_object_or_404(Channel, pk=object_id) if object_id.isdigit() else None
        if channel is None:
            return HttpResponse(gettext("No such channel."), status=404, content_type="text/plain")
        if not self.has_change_permission(request, channel):
            return HttpResponse(gettext("You may not send from this channel."), status=403, content_type="text/plain")
        _report(self, request, services.send_test(channel))
        return HttpResponseRedirect(reverse("admin:notifications_channel_change", args=[quote(channel.pk)]))


class NameListField(forms.CharField):
    """A list of names typed as ``a, b, c``; empty is the empty list (any)."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]


class RuleForm(forms.ModelForm):
    levels = forms.TypedMultipleChoiceField(
        choices=AlarmLevel.choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("levels"),
        help_text=_("None ticked: every level."),
    )
    alarm_types = NameListField(
        required=False,
        label=_("alarm types"),
        help_text=_("Type codes, comma-separated, e.g. no_helmet, smoke. Empty: any."),
    )
    device_ids = NameListField(
        required=False, label=_("devices"), help_text=_("Device ids, comma-separated. Empty: any device.")
    )

    class Meta:
        model = Rule
        fields = (
            "name",
            "enabled",
            "levels",
            "alarm_types",
            "device_ids",
            "channels",
            "cooldown_seconds",
            "quiet_start",
            "quiet_end",
            "remind_every_minutes",
            "remind_max",
        )


def _any(values: list[Any]) -> str:
    return ", ".join(str(value) for value in values) or gettext("any")


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ("name", "enabled", "level_list", "type_list", "device_list", "cooldown_seconds", "quiet", "reminds")
    list_filter = ("enabled",)
    search_fields = ("name",)
    filter_horizontal = ("channels",)

    @admin.display(description=_("levels"))
    def level_list(self, rule: Rule) -> str:
        return _any(rule.levels)

    @admin.display(description=_("alarm types"))
    def type_list(self, rule: Rule) -> str:
        return _any(rule.alarm_types)

    @admin.display(description=_("devices"))
    def device_list(self, rule: Rule) -> str:
        return _any(rule.device_ids)

    @admin.display(description=_("quiet hours"))
    def quiet(self, rule: Rule) -> str:
        if rule.quiet_start is None or rule.quiet_end is None:
            return "-"
        return f"{rule.quiet_start:%H:%M}–{rule.quiet_end:%H:%M}"

    @admin.display(description=_("reminders"))
    def reminds(self, rule: Rule) -> str:
        if not rule.remind_every_minutes:
            return "-"
        return gettext("every %(minutes)d min, at most %(count)d") % {
            "minutes": rule.remind_every_minutes,
            "count": rule.remind_max,
        }


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "kind",
        "n",
        "status",
        "channel",
        "rule",
        "alarm_link",
        "attempts",
        "response_code",
        "short_error",
        "finished_at",
    )
    list_filter = ("status", "kind", "channel")
    list_select_related = ("channel", "rule")
    search_fields = ("alarm__alarm_id",)
    date_hierarchy = "created_at"
    readonly_fields = (
        "rule",
        "channel",
        "alarm_link",
        "kind",
        "n",
        "status",
        "attempts",
        "last_error",
        "response_code",
        "created_at",
        "due_at",
        "sent_at",
        "lease_until",
        "finished_at",
    )
    fields = readonly_fields

    @admin.display(description=_("alarm"), ordering="alarm")
    def alarm_link(self, delivery: Delivery) -> str:
        if delivery.alarm_id is None:
            return "-"
        url = reverse("admin:alarms_alarmevent_change", args=[quote(delivery.alarm_id)])
        return format_html('<a href="{}">{}</a>', url, delivery.alarm_id)

    @admin.display(description=_("last error"))
    def short_error(self, delivery: Delivery) -> str:
        return delivery.last_error[:80]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
