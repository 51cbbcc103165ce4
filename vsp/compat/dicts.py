"""``system/dict-data/simple-list``: the dictionaries our pages render with (YUDAO.md §10.1).

Values are strings, as the frontend compares ``dict.value === String(value)``. Labels are Chinese, as
Yudao's frontend is; the alarm types' come from the table staff edit in admin (``alarms.AlarmType``).
"""

from __future__ import annotations

from typing import Any

from alarms import alarm_types
from alarms.models import AlarmEvent

ALARM_TYPE = "aiot_alarm_type"

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


# dict type → value → label, for pages and exports that print labels (alarm types: alarms.alarm_types).
LABELS: dict[str, dict[str, str]] = {
    dict_type: {value: label for value, label, _ in rows} for dict_type, rows in DICTIONARIES.items()
}


def alarm_type_rows() -> list[tuple[str, str, str]]:
    """The named types in the table's order, then the codes seen in the data but not named (their value as label)."""
    named = alarm_types.types()
    seen_types = AlarmEvent.objects.order_by("alarm_type").values_list("alarm_type", flat=True).distinct()
    return [
        *((code, named_type.name_in("zh-hans"), named_type.colour) for code, named_type in named.items()),
        *((value, value, "default") for value in seen_types if value not in named),
    ]


def simple_list() -> list[dict[str, Any]]:
    """Every entry, by dict type then sort."""
    dictionaries = {**DICTIONARIES, ALARM_TYPE: alarm_type_rows()}
    entries: list[dict[str, Any]] = []
    for dict_type in sorted(dictionaries):
        rows = dictionaries[dict_type]
        entries += [
            {"dictType": dict_type, "value": value, "label": label, "colorType": colour, "cssClass": ""}
            for value, label, colour in rows
        ]
    return entries
