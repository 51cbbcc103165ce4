"""Admin: the channels' test-send (button and action), the rules' form, the read-only delivery log."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from alarms.tests.factories import make_alarm
from conftest import make_user
from notifications.models import Channel, Delivery, Rule
from notifications.tests.conftest import make_channel
from notifications.tests.servers import Robots

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(make_user("boss", superuser=True))
    return client


def said(response: object) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


def test_the_test_send_button_really_sends_and_reports_the_outcome(admin_client_: Client, robots: Robots) -> None:
    channel = make_channel(Channel.Kind.WECOM, name="值班群")
    page = admin_client_.get(reverse("admin:notifications_channel_change", args=[channel.pk]))
    assert b'id="test-send"' in page.content

    response = admin_client_.post(reverse("admin:notifications_channel_test_send", args=[channel.pk]))

    assert response.status_code == 302
    assert said(response) == ["Test message sent to 值班群 (HTTP 200)."]
    [seen] = robots.seen
    assert "【测试消息】" in seen.body["markdown"]["content"]
    logged = Delivery.objects.get()
    assert (logged.kind, logged.status, logged.attempts, logged.alarm_id) == ("TEST", "SENT", 1, None)


def test_a_failing_test_send_says_why_and_is_tried_once(admin_client_: Client, robots: Robots) -> None:
    robots.then("500")
    channel = make_channel(Channel.Kind.DINGTALK, name="钉钉群")

    response = admin_client_.post(reverse("admin:notifications_channel_test_send", args=[channel.pk]))

    assert said(response) == ['Test message to 钉钉群 failed: HTTP 500: {"error": "scripted"}']
    assert Delivery.objects.get().status == "FAILED"


def test_the_test_send_takes_a_post_and_an_existing_channel(admin_client_: Client) -> None:
    channel = make_channel()
    url = reverse("admin:notifications_channel_test_send", args=[channel.pk])

    assert admin_client_.get(url).status_code == 405
    assert admin_client_.post(url.replace(f"/{channel.pk}/", "/999999/")).status_code == 404
    assert admin_client_.post(url.replace(f"/{channel.pk}/", "/abc/")).status_code == 404


def test_staff_who_may_only_view_channels_cannot_test_send(robots: Robots) -> None:
    client = Client()
    client.force_login(make_user("viewer", perms=("notifications.view_channel",)))
    channel = make_channel()

    response = client.post(reverse("admin:notifications_channel_test_send", args=[channel.pk]))

    assert response.status_code == 403
    assert robots.seen == []


def test_the_test_send_action_sends_to_each_chosen_channel(admin_client_: Client, robots: Robots) -> None:
    first, second = make_channel(name="a"), make_channel(name="b", key="wrong-key")

    response = admin_client_.post(
        reverse("admin:notifications_channel_changelist"),
        {"action": "send_test_message", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )

    assert sorted(said(response)) == [
        "Test message sent to a (HTTP 200).",
        "Test message to b failed: errcode 93000: invalid webhook url",
    ]


def test_a_rule_is_written_from_the_admin_form_with_lists_typed_as_text(admin_client_: Client) -> None:
    channel = make_channel()
    response = admin_client_.post(
        reverse("admin:notifications_rule_add"),
        {
            "name": "一级告警",
            "enabled": "on",
            "levels": ["1", "2"],
            "alarm_types": "no_helmet, smoke",
            "device_ids": "",
            "channels": [channel.pk],
            "cooldown_seconds": "600",
            "quiet_start": "22:00",
            "quiet_end": "07:00",
            "remind_every_minutes": "15",
            "remind_max": "3",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    rule = Rule.objects.get()
    assert (rule.levels, rule.alarm_types, rule.device_ids) == ([1, 2], ["no_helmet", "smoke"], [])
    page = admin_client_.get(reverse("admin:notifications_rule_change", args=[rule.pk]))
    assert b'value="no_helmet, smoke"' in page.content


def test_a_channel_missing_what_its_protocol_needs_is_refused_by_name(admin_client_: Client) -> None:
    response = admin_client_.post(
        reverse("admin:notifications_channel_add"), {"name": "hook", "kind": "webhook", "enabled": "on"}
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"url", "secret"}
    assert Channel.objects.count() == 0


def test_the_delivery_log_lists_and_shows_deliveries_and_cannot_change_them(admin_client_: Client) -> None:
    alarm = make_alarm(alarm_id="cam-7:storm.1")
    delivery = Delivery.objects.create(
        channel=make_channel(), alarm=alarm, status="FAILED", attempts=3, last_error="HTTP 503", response_code=503,
        created_at=alarm.created_at,
    )  # fmt: skip

    listing = admin_client_.get(reverse("admin:notifications_delivery_changelist"))
    shown = admin_client_.get(reverse("admin:notifications_delivery_change", args=[delivery.pk]))

    assert listing.status_code == 200
    assert b"HTTP 503" in listing.content
    assert b"cam-7:storm.1" in listing.content
    assert shown.status_code == 200
    assert b'name="_save"' not in shown.content
    assert admin_client_.get(reverse("admin:notifications_delivery_add")).status_code == 403


def test_the_admin_pages_and_the_test_send_s_report_are_in_chinese(
    admin_client_: Client, robots: Robots, settings: object
) -> None:
    settings.LANGUAGE_CODE = "zh-hans"  # type: ignore[attr-defined]
    channel = make_channel(name="值班群")

    page = admin_client_.get(reverse("admin:notifications_channel_change", args=[channel.pk]))
    rules = admin_client_.get(reverse("admin:notifications_rule_add"))
    response = admin_client_.post(reverse("admin:notifications_channel_test_send", args=[channel.pk]))

    assert "发送测试消息" in page.content.decode()
    assert "企业微信群机器人" in page.content.decode()
    assert "免打扰开始" in rules.content.decode()
    assert "冷却时间（秒）" in rules.content.decode()
    assert said(response) == ["测试消息已发送到 值班群 (HTTP 200)。"]


def test_the_delivery_log_reads_a_page_in_a_fixed_number_of_queries(
    admin_client_: Client, django_assert_max_num_queries: Any
) -> None:
    channel = make_channel()
    for _ in range(30):
        alarm = make_alarm()
        Delivery.objects.create(channel=channel, alarm=alarm, created_at=alarm.created_at)

    with django_assert_max_num_queries(9):
        response = admin_client_.get(reverse("admin:notifications_delivery_changelist"))

    assert response.status_code == 200


def test_a_rule_with_half_its_quiet_hours_or_an_unknown_level_is_refused(admin_client_: Client) -> None:
    channel = make_channel()
    form = {"name": "r", "levels": ["1"], "channels": [channel.pk], "cooldown_seconds": "60", "remind_max": "3"}
    form |= {"remind_every_minutes": "0"}

    half = admin_client_.post(reverse("admin:notifications_rule_add"), {**form, "quiet_start": "22:00"})
    unknown = admin_client_.post(reverse("admin:notifications_rule_add"), {**form, "levels": ["9"]})

    assert half.status_code == 200
    assert half.context["adminform"].form.non_field_errors() == ["Give both ends of the quiet hours, or neither."]
    assert unknown.status_code == 200
    assert set(unknown.context["adminform"].form.errors) == {"levels"}
    assert Rule.objects.count() == 0
