"""What a notification says, in Chinese: level, type, device, time, and a link to the alarm's admin page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils import timezone

from alarms import alarm_types
from alarms.models import AlarmEvent
from notifications.protocols import Message

LEVEL_NAMES = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}


def type_name(alarm_type: str) -> str:
    """The type's display name with its code (``未戴安全帽（no_helmet）``), or the code alone."""
    label = alarm_types.chinese_name(alarm_type, unknown="")
    return f"{label}（{alarm_type}）" if label and label != alarm_type else alarm_type


def admin_link(alarm_id: str) -> str:
    """The alarm's admin change page, when PUBLIC_BASE_URL says where the service is reached; else ""."""
    if not settings.PUBLIC_BASE_URL:
        return ""
    return settings.PUBLIC_BASE_URL + reverse("admin:alarms_alarmevent_change", args=[quote(alarm_id)])


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


def alarm_message(alarm: AlarmEvent, *, reminder: int = 0) -> Message:
    """The notice of an alarm, or (``reminder`` > 0) the n-th reminder that it is still unhandled."""
    level = LEVEL_NAMES.get(alarm.alarm_level, str(alarm.alarm_level))
    kind = type_name(alarm.alarm_type)
    device_name = getattr(alarm, "device_name", None)
    device = f"{device_name}（{alarm.device_id}）" if device_name else alarm.device_id
    head = f"【{level}告警】{kind}" if not reminder else f"【告警未处理·第{reminder}次提醒】{level} {kind}"
    lines = [
        f"### {head}",
        f"- 级别：{level}",
        f"- 类型：{kind}",
        f"- 设备：{device}",
        *([f"- 场景：{alarm.scene_id}"] if alarm.scene_id else []),
        f"- 时间：{_local(alarm.event_time)}",
        f"- 告警编号：{alarm.alarm_id}",
    ]
    link = admin_link(alarm.alarm_id)
    if link:
        lines.append(f"\n[在后台查看]({link})")
    data: dict[str, Any] = {
        "event": "alarm.reminder" if reminder else "alarm.created",
        "reminder": reminder,
        "alarm": {
            "alarm_id": alarm.alarm_id,
            "alarm_type": alarm.alarm_type,
            "alarm_level": alarm.alarm_level,
            "device_id": alarm.device_id,
            "device_name": device_name or "",
            "scene_id": alarm.scene_id,
            "event_time": alarm.event_time.isoformat(),
            "handle_status": alarm.handle_status,
        },
        "link": link,
    }
    return Message(title=head, text="\n".join(lines), data=data)


def trial_message(channel_name: str, now: datetime) -> Message:
    text = (
        f"### 【测试消息】VSP 告警通知\n- 通道：{channel_name}\n- 时间：{_local(now)}\n\n收到此消息说明通道配置正确。"
    )
    return Message(title="【测试消息】VSP 告警通知", text=text, data={"event": "test", "channel": channel_name})
