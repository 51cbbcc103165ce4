"""The compat representation: the native serializers' fields, camelCase keys, times as epoch milliseconds.

Each app mixes ``CompatRepresentation`` into its own serializers; this module imports no app.
"""

from __future__ import annotations

import functools
from datetime import datetime
from functools import cached_property
from typing import Any

from rest_framework import serializers


def epoch_ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


@functools.cache
def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class CompatRepresentation(serializers.Serializer):
    """Mix in before a native serializer: same fields, Yudao's shape (YUDAO.md §7)."""

    # Native field name → compat name, where plain camelCase is not what the frontend expects.
    renames: dict[str, str] = {}

    @cached_property
    def _compat_plan(self) -> list[tuple[str, serializers.Field, str | None, bool]]:
        """(key, field, attribute to read directly or None, is a time) per field, worked out once per instance.

        Events share one instance per process (``alarms.events``), so the per-call work is the reading.
        """
        plan = []
        for field in self._readable_fields:
            name = field.field_name or ""
            attrs = field.source_attrs
            direct = attrs[0] if len(attrs) == 1 and not isinstance(field, serializers.SerializerMethodField) else None
            plan.append(
                (self.renames.get(name) or camel(name), field, direct, isinstance(field, serializers.DateTimeField))
            )
        return plan

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key, field, direct, is_time in self._compat_plan:
            if direct is not None:
                attribute = getattr(instance, direct, None)
            else:
                try:
                    attribute = field.get_attribute(instance)
                except serializers.SkipField:
                    continue
            if attribute is None:
                data[key] = None
            elif is_time:
                data[key] = epoch_ms(attribute)
            else:
                data[key] = field.to_representation(attribute)
        return data


@functools.cache
def shared(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """One instance of a representation for every call in this process.

    DRF builds a ModelSerializer's fields per instance, which costs more than an event's whole
    representation; ``to_representation`` keeps no per-call state, so threads can share one.
    """
    return serializer_class()
