"""Each protocol against a local server that checks it: what is sent, and how its errors are read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.utils import timezone

from alarms.tests.factories import make_alarm
from devices.models import EdgeDevice
from notifications import services
from notifications.models import Channel, Delivery
from notifications.tests.conftest import make_channel
from notifications.tests.servers import Mailbox, Robots

pytestmark = pytest.mark.django_db
Status = Delivery.Status
LOCAL_TIME = timezone.make_aware(datetime(2026, 12, 3, 9, 30, 5))  # TIME_ZONE, Asia/Shanghai


def deliver_alarm(channel: Channel, **alarm_fields: Any) -> Delivery:
    EdgeDevice.objects.get_or_create(device_id="cam-07", defaults={"name": "东门摄像头"})
    fields = {"alarm_type": "no_helmet", "device_id": "cam-07", "alarm_level": 1, "event_time": LOCAL_TIME}
    alarm = make_alarm(**{**fields, **alarm_fields})
    now = timezone.now()
    delivery = Delivery.objects.create(channel=channel, alarm=alarm, created_at=now, due_at=now)
    services.deliver(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def test_wecom_gets_a_markdown_message_in_chinese_with_the_key_in_the_query(robots: Robots) -> None:
    delivery = deliver_alarm(make_channel(Channel.Kind.WECOM))

    assert (delivery.status, delivery.attempts, delivery.response_code, delivery.last_error) == (
        Status.SENT,
        1,
        200,
        "",
    )
    [seen] = robots.seen
    assert seen.protocol == "wecom"
    assert seen.body["msgtype"] == "markdown"
    text = seen.body["markdown"]["content"]
    assert "【一级告警】未戴安全帽（no_helmet）" in text
    assert "设备：东门摄像头（cam-07）" in text
    assert "时间：2026-12-03 09:30:05" in text
    assert f"(https://vsp.example.com/admin/alarms/alarmevent/{delivery.alarm_id}/change/)" in text


def test_dingtalk_gets_a_signed_markdown_message_with_a_title(robots: Robots) -> None:
    delivery = deliver_alarm(make_channel(Channel.Kind.DINGTALK), alarm_level=2, alarm_type="smoke")

    assert delivery.status == Status.SENT, delivery.last_error
    [seen] = robots.seen
    assert seen.protocol == "dingtalk"
    assert {"access_token", "timestamp", "sign"} <= set(seen.query)
    assert seen.body["markdown"]["title"] == "【二级告警】烟雾（smoke）"
    assert "设备：东门摄像头（cam-07）" in seen.body["markdown"]["text"]


def test_a_dingtalk_robot_refusing_the_signature_fails_the_delivery_at_once(robots: Robots) -> None:
    delivery = deliver_alarm(make_channel(Channel.Kind.DINGTALK, secret="SEC-not-the-robots"))

    assert (delivery.status, delivery.attempts) == (Status.FAILED, 1)
    assert delivery.last_error == "errcode 310000: sign not match"
    assert robots.seen == []
    assert robots.refused == ["sign not match"]


def test_the_webhook_gets_json_signed_with_hmac_sha256(robots: Robots) -> None:
    delivery = deliver_alarm(make_channel(Channel.Kind.WEBHOOK, url=f"{robots.url}/hook"))

    assert delivery.status == Status.SENT, delivery.last_error
    [seen] = robots.seen
    assert seen.headers["x-vsp-signature"].startswith("sha256=")
    assert seen.body["event"] == "alarm.created"
    assert seen.body["alarm"] == {
        "alarm_id": delivery.alarm_id,
        "alarm_type": "no_helmet",
        "alarm_level": 1,
        "device_id": "cam-07",
        "device_name": "东门摄像头",
        "scene_id": "",
        "event_time": "2026-12-03T01:30:05+00:00",
        "handle_status": "UNHANDLED",
    }
    assert seen.body["link"] == f"https://vsp.example.com/admin/alarms/alarmevent/{delivery.alarm_id}/change/"


def test_a_webhook_with_the_wrong_secret_is_refused_and_not_retried(robots: Robots) -> None:
    delivery = deliver_alarm(make_channel(Channel.Kind.WEBHOOK, url=f"{robots.url}/hook", secret="wrong"))

    assert (delivery.status, delivery.response_code, delivery.attempts) == (Status.FAILED, 401, 1)
    assert robots.refused == ["bad signature"]


def test_a_wecom_key_the_robot_does_not_know_fails_at_once(robots: Robots) -> None:
    delivery = deliver_alarm(make_channel(Channel.Kind.WECOM, key="unknown"))

    assert (delivery.status, delivery.last_error) == (Status.FAILED, "errcode 93000: invalid webhook url")


def test_wecom_s_rate_limit_is_tried_again_later(robots: Robots) -> None:
    robots.then("45009")
    delivery = deliver_alarm(make_channel(Channel.Kind.WECOM))

    assert (delivery.status, delivery.attempts, delivery.last_error) == (Status.PENDING, 1, "errcode 45009: scripted")
    assert delivery.due_at is not None
    assert delivery.due_at > timezone.now()


def test_email_goes_to_every_recipient_through_smtp(mailbox: Mailbox) -> None:
    delivery = deliver_alarm(make_channel(Channel.Kind.EMAIL))

    assert (delivery.status, delivery.response_code) == (Status.SENT, 250), delivery.last_error
    [message] = mailbox.received
    assert mailbox.recipients == [["duty@example.com", "boss@example.com"]]
    assert message["Subject"].strip() == "【一级告警】未戴安全帽（no_helmet）"
    assert "设备：东门摄像头（cam-07）" in message.get_content()


def test_an_smtp_server_s_temporary_refusal_is_retried_and_a_permanent_one_is_not(mailbox: Mailbox) -> None:
    mailbox.then("451 4.3.0 try again later", "550 5.1.1 no such mailbox")
    channel = make_channel(Channel.Kind.EMAIL)

    later = deliver_alarm(channel)
    failed = deliver_alarm(channel)

    assert (later.status, later.response_code) == (Status.PENDING, 451)
    assert (failed.status, failed.response_code) == (Status.FAILED, 550)
    assert mailbox.received == []


def test_a_channel_nobody_listens_on_is_retried(settings: object) -> None:
    delivery = deliver_alarm(make_channel(Channel.Kind.WEBHOOK, url="http://127.0.0.1:9/hook"))

    assert (delivery.status, delivery.attempts) == (Status.PENDING, 1)
    assert "ConnectError" in delivery.last_error
