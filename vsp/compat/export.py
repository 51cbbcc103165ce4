"""Alarm export as a real .xlsx workbook."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from alarms import alarm_types
from alarms.models import AlarmEvent
from vsp.compat.dicts import LABELS

COLUMNS = (
    "告警编号", "告警类型", "设备编号", "设备名称", "场景", "告警时间", "告警级别", "告警状态", "处理状态",
    "置信度", "持续时长(毫秒)", "结束时间", "结束类型", "处理人", "处理备注", "处理时间", "截图", "创建时间",
)  # fmt: skip


# A cell starting with one of these is a formula to Excel (and to CSV importers).
_FORMULA_START = re.compile(r"^[=+\-@\t\r]")


def _cell(value: Any) -> Any:
    """A value a worksheet can hold as the text it is: control characters written as ``\\xNN``, and a leading
    ``= + - @`` kept from being a formula by a ``'`` in front (OWASP's advice for CSV and Excel exports)."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub(lambda match: f"\\x{ord(match.group()):02x}", value)
    return f"'{value}" if _FORMULA_START.match(value) else value


def _label(dict_type: str, value: object) -> str:
    return LABELS[dict_type].get(str(value), str(value))


def _local(value: datetime | None) -> datetime | None:
    # Excel has no time zones: write the wall-clock time staff see, in TIME_ZONE.
    return timezone.localtime(value).replace(tzinfo=None) if value is not None else None


def alarm_workbook(alarms: Iterable[AlarmEvent]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("告警事件")
    sheet.append(COLUMNS)
    for alarm in alarms:
        row = (
            alarm.alarm_id,
            alarm_types.chinese_name(alarm.alarm_type),
            alarm.device_id,
            getattr(alarm, "device_name", None) or "",
            alarm.scene_id,
            _local(alarm.event_time),
            _label("aiot_alarm_level", alarm.alarm_level),
            _label("aiot_alarm_status", alarm.alarm_status),
            _label("aiot_alarm_handle_status", alarm.handle_status),
            alarm.confidence_score,
            alarm.duration_ms,
            _local(alarm.end_time),
            alarm.resolve_type,
            alarm.handler,
            alarm.handle_remark,
            _local(alarm.handle_time),
            alarm.snapshot_url,
            _local(alarm.created_at),
        )
        sheet.append([_cell(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
