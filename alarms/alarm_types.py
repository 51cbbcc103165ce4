"""Alarm types' display names (``AlarmType``), as every page, dictionary and export reads them.

The table is small and read on every list, so each process keeps it for ``ALARM_TYPE_NAMES_TTL``
seconds; an edit is seen at once by the process that made it (the signals below), and by the others
within that time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import translation

from alarms.models import AlarmLevel, AlarmStatus, AlarmType, HandleStatus

# Today's types, as the data migration (0013_alarm_types) seeds them: (code, Chinese, English, colour).
DEFAULT_TYPES = (
    ("intrusion", "区域入侵", "Intrusion", "danger"),
    ("leave_post", "离岗", "Left post", "warning"),
    ("no_helmet", "未戴安全帽", "No helmet", "warning"),
    ("smoke", "烟雾", "Smoke", "danger"),
    ("fire", "明火", "Open fire", "danger"),
    ("loitering", "徘徊", "Loitering", "primary"),
    ("crowd", "人员聚集", "Crowd", "primary"),
)


@dataclass(frozen=True)
class TypeName:
    code: str
    name_zh: str
    name_en: str
    colour: str

    def name_in(self, language: str) -> str:
        """The English name for English (when there is one), the Chinese one for every other language."""
        if language.startswith("en") and self.name_en:
            return self.name_en
        return self.name_zh or self.name_en or self.code


_lock = threading.Lock()
_cached: tuple[float, dict[str, TypeName]] | None = None


def types() -> dict[str, TypeName]:
    """Every named type by code, in the table's order (sort, then code)."""
    global _cached
    cached = _cached
    now = time.time()  # the wall clock, which tests move (time_machine); a step back only refreshes early
    if cached is not None and now < cached[0]:
        return cached[1]
    with _lock:
        rows = AlarmType.objects.order_by("sort", "code").values_list("code", "name_zh", "name_en", "colour")
        table = {code: TypeName(code, name_zh, name_en, colour) for code, name_zh, name_en, colour in rows}
        _cached = (now + settings.ALARM_TYPE_NAMES_TTL, table)
    return table


def display_name(code: str, language: str | None = None) -> str:
    """The type's name in ``language`` (default: the active one); an unnamed code as itself."""
    named = types().get(code)
    return named.name_in(language or translation.get_language() or settings.LANGUAGE_CODE) if named else code


def display_names(language: str | None = None) -> dict[str, str]:
    """Code → name in ``language`` (default: the active one), for every named type."""
    language = language or translation.get_language() or settings.LANGUAGE_CODE
    return {code: named.name_in(language) for code, named in types().items()}


def chinese_name(code: str, unknown: str | None = None) -> str:
    """The Chinese name, for what is Chinese whatever the page (Yudao's dictionaries, exports, prompts).

    A code without a row is ``unknown``, or the code itself.
    """
    named = types().get(code)
    return named.name_in("zh-hans") if named else (code if unknown is None else unknown)


def page_labels() -> dict[str, dict[str, str]]:
    """Value → label in the active language, by the compat dictionaries' names, for pages' scripts (/live/)."""
    return {
        "aiot_alarm_level": {str(value): str(label) for value, label in AlarmLevel.choices},
        "aiot_alarm_status": {str(value): str(label) for value, label in AlarmStatus.choices},
        "aiot_alarm_handle_status": {str(value): str(label) for value, label in HandleStatus.choices},
        "aiot_alarm_type": display_names(),
    }


def forget() -> None:
    """Drop this process's copy: the next read goes to the table."""
    global _cached
    _cached = None


@receiver(post_save, sender=AlarmType)
@receiver(post_delete, sender=AlarmType)
def _table_changed(**kwargs: Any) -> None:
    # Now, for the rest of this request, and after the commit, in case a read in between cached the old rows.
    forget()
    transaction.on_commit(forget)


def seed_defaults(using: str, **kwargs: Any) -> None:
    """After ``migrate`` (and ``flush``, which tests run between tests): today's types, if the table is empty.

    The data migration seeds an upgraded database once; this puts them back into one that was emptied
    as a whole, as Django does for permissions. A table with any row is the staff's and left alone.
    """
    if using != "default" or AlarmType._meta.db_table not in connections[using].introspection.table_names():
        return  # migrated back to before the table
    if AlarmType.objects.using(using).exists():
        return
    AlarmType.objects.using(using).bulk_create(
        AlarmType(code=code, name_zh=name_zh, name_en=name_en, colour=colour, sort=sort)
        for sort, (code, name_zh, name_en, colour) in enumerate(DEFAULT_TYPES, start=1)
    )
    forget()
