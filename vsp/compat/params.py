"""Reading query strings the way Yudao's frontend writes them (YUDAO.md §7-§9).

``qs.stringify`` sends arrays as ``eventTime[0]``/``eventTime[1]``, nested
objects as ``a.b``, and ``null``/``''`` as ``key=`` which means "not given".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django.http import QueryDict

from vsp.compat import envelope
from vsp.compat.envelope import CompatError
from vsp.times import TimeFormatError, parse_query_time

# Python's int() also takes "1_000" and "+5"; a Java backend would not.
_INTEGER = re.compile(r"-?[0-9]{1,9}")


class Query:
    def __init__(self, params: QueryDict) -> None:
        self.params = params

    def get(self, name: str) -> str | None:
        """The value of ``name``, or None when absent or empty."""
        value = self.params.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def require(self, *names: str) -> str:
        """The first of ``names`` present (aliases such as ``alarmId``/``id``); missing → 请求参数缺失."""
        for name in names:
            value = self.get(name)
            if value is not None:
                return value
        raise CompatError(envelope.BAD_REQUEST, envelope.missing_parameter(names[0]))

    def time(self, name: str, bound: Literal["start", "end"] = "start") -> datetime | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return parse_query_time(value, bound)
        except TimeFormatError:
            raise CompatError(
                envelope.BAD_REQUEST,
                envelope.type_mismatch(f"{name}: 时间应为 yyyy-MM-dd HH:mm:ss 或 yyyy-MM-dd（2000–2100 年）"),
            ) from None

    def time_range(self, name: str) -> tuple[datetime | None, datetime | None]:
        """``name[0]`` and ``name[1]`` (``yyyy-MM-dd HH:mm:ss`` in TIME_ZONE), each optional, both inclusive.

        A bare ``yyyy-MM-dd`` is a whole day: as ``name[1]`` it includes that day's last second.
        """
        return self.time(f"{name}[0]"), self.time(f"{name}[1]", "end")

    def page(self) -> Page:
        number = self.integer("pageNo", 1)
        size = self.integer("pageSize", settings.COMPAT_PAGE_SIZE)
        # Yudao's PageParam messages, word for word.
        if number < 1:
            raise CompatError(envelope.BAD_REQUEST, envelope.bad_request("页码最小值为 1"))
        if size < 1:
            raise CompatError(envelope.BAD_REQUEST, envelope.bad_request("每页条数最小值为 1"))
        if size > settings.COMPAT_MAX_PAGE_SIZE:
            raise CompatError(
                envelope.BAD_REQUEST, envelope.bad_request(f"每页条数最大值为 {settings.COMPAT_MAX_PAGE_SIZE}")
            )
        return Page(number, size)

    def integer(self, name: str, default: int) -> int:
        """An integer parameter as Java's Integer reads it (digits, an optional minus), or ``default``."""
        value = self.get(name)
        if value is None:
            return default
        if not _INTEGER.fullmatch(value):
            raise CompatError(envelope.BAD_REQUEST, envelope.type_mismatch(f"{name}: {value!r}"))
        return int(value)

    def filters(self, mapping: dict[str, str]) -> dict[str, Any]:
        """``{filterset name: value}`` for each compat parameter in ``mapping`` that was given."""
        return {ours: value for theirs, ours in mapping.items() if (value := self.get(theirs)) is not None}


@dataclass(frozen=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size
