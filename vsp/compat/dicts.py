"""``system/dict-data/simple-list``: the dictionaries our pages render with (YUDAO.md §10.1).

Values are strings, as the frontend compares ``dict.value === String(value)``.
"""

from __future__ import annotations

from typing import Any

from alarms.models import AlarmEvent

# (dict type, value, label, colour); order within a type is the ``sort``.
DICTIONARIES: dict[str, list[tuple[str, str, str]]] = {
    "aiot_alarm_level": [
        ("1", "一级", "danger"),
        ("2", "二级", "warning"),
        ("3", "三级", "primary"),
        ("4", "四级", "info"),
    ],
    "aiot_alarm_status": [
        ("NEW", "新告警", "danger"),
        ("CONFIRMED", "已确认", "warning"),
        ("RESOLVED", "已结束", "success"),
    ],
    "aiot_alarm_handle_status": [
        ("UNHANDLED", "未处理", "danger"),
        ("HANDLING", "处理中", "warning"),
        ("HANDLED", "已处理", "success"),
        ("IGNORED", "误报", "info"),
    ],
    "aiot_alarm_type": [
        ("intrusion", "区域入侵", "danger"),
        ("leave_post", "离岗", "warning"),
        ("no_helmet", "未戴安全帽", "warning"),
        ("smoke", "烟雾", "danger"),
        ("fire", "明火", "danger"),
        ("loitering", "徘徊", "primary"),
        ("crowd", "人员聚集", "primary"),
    ],
    "aiot_edge_device_status": [
        ("ONLINE", "在线", "success"),
        ("OFFLINE", "离线", "danger"),
        ("UNKNOWN", "未知", "info"),
    ],
    # Yudao's own, which the notify-message pages (我的站内信) render their columns and filters with.
    "infra_boolean_string": [
        ("true", "是", "danger"),
        ("false", "否", "info"),
    ],
    "system_notify_template_type": [
        ("1", "通知公告", "primary"),
        ("2", "系统消息", "success"),
    ],
}


# dict type → value → label, for pages and exports that print labels.
LABELS: dict[str, dict[str, str]] = {
    dict_type: {value: label for value, label, _ in rows} for dict_type, rows in DICTIONARIES.items()
}


def simple_list() -> list[dict[str, Any]]:
    """Every entry, by dict type then sort; alarm types seen in the data but not named get their value as label."""
    known_types = {value for value, _, _ in DICTIONARIES["aiot_alarm_type"]}
    seen_types = AlarmEvent.objects.order_by("alarm_type").values_list("alarm_type", flat=True).distinct()
    extra_types = [(value, value, "default") for value in seen_types if value not in known_types]
    entries: list[dict[str, Any]] = []
    for dict_type in sorted(DICTIONARIES):
        rows = DICTIONARIES[dict_type] + (extra_types if dict_type == "aiot_alarm_type" else [])
        entries += [
            {"dictType": dict_type, "value": value, "label": label, "colorType": colour, "cssClass": ""}
            for value, label, colour in rows
        ]
    return entries
