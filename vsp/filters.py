from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django_filters.constants import EMPTY_VALUES
from drf_spectacular.utils import extend_schema_field

from vsp.times import SCHEMA_QUERY_TIME_PATTERN, TimeFormatError, parse_query_time


class QueryTimeField(forms.Field):
    """A range bound: ISO 8601, ``YYYY-MM-DD HH:MM:SS`` (in TIME_ZONE), epoch s/ms, or a date ``YYYY-MM-DD``.

    2000-2100, the edge's window. A date is a whole day in TIME_ZONE: its start
    as a lower bound, its last microsecond as an upper one.
    """

    def __init__(self, *args: Any, bound: Literal["start", "end"] = "start", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bound = bound

    def to_python(self, value: Any) -> datetime | None:
        if value in EMPTY_VALUES:
            return None
        if isinstance(value, datetime):  # already parsed (the compat API reads its own query encoding)
            return value
        try:
            return parse_query_time(value, self.bound)
        except TimeFormatError as exc:
            # As a parameter: the message quotes the value, and a "%" in it must not be read as a format.
            raise forms.ValidationError("%(reason)s", params={"reason": str(exc)}) from None


@extend_schema_field(
    {
        "type": "string",
        "pattern": SCHEMA_QUERY_TIME_PATTERN,
        "description": "ISO 8601, 'YYYY-MM-DD HH:MM[:SS]' or a date 'YYYY-MM-DD' (in TIME_ZONE), or epoch s/ms",
    }
)
class QueryTimeFilter(django_filters.Filter):
    """A time bound; ``bound="end"`` for an upper one, so that a date there means the end of that day."""

    field_class = QueryTimeField

    def __init__(self, *args: Any, bound: Literal["start", "end"] = "start", **kwargs: Any) -> None:
        super().__init__(*args, bound=bound, **kwargs)


def text_search(queryset: QuerySet[Any], fields: tuple[str, ...], text: str) -> QuerySet[Any]:
    """Rows where any of ``fields`` contains ``text``, ignoring case.

    Lowered explicitly: identifier columns compare byte for byte on MySQL
    (utf8mb4_bin), where a plain ``icontains`` would be case-sensitive.
    """
    text = text.strip().lower()
    if not text:
        return queryset
    condition = Q()
    for field in fields:
        condition |= Q(**{f"_search_{field}__contains": text})
    return queryset.alias(**{f"_search_{field}": Lower(field) for field in fields}).filter(condition)


def total_ordering(ordering: Sequence[Any], then: Mapping[str, str], pk: str) -> list[Any]:
    """``ordering`` ended on the primary key (named ``pk``), so pages never overlap, in the first
    field's direction; an ordering on the key already is left alone.

    A sort by one field is continued by ``then[field]`` in the same direction too: the column an
    index on the field holds next, so the database reads the page off that index instead of
    sorting every row.
    """
    keys = list(ordering)
    while keys and keys[-1] in ("pk", "-pk"):  # as admin ends every ordering
        keys.pop()
    if not keys or not isinstance(keys[0], str):
        return [*keys, "-pk"]
    if any(isinstance(key, str) and key.lstrip("-") == pk for key in keys):
        return keys
    sign = "-" if keys[0].startswith("-") else ""
    if len(keys) == 1 and (following := then.get(keys[0].lstrip("-"))):
        keys.append(sign + following)
    return [*keys, sign + "pk"]


class StableOrderingFilter(django_filters.OrderingFilter):
    """An ordering whitelist that always ends on the primary key (``total_ordering``)."""

    def __init__(self, *args: Any, then: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.then = then or {}

    def filter(self, qs: QuerySet[Any], value: list[str] | None) -> QuerySet[Any]:
        if value in EMPTY_VALUES:
            return qs
        assert value is not None
        ordering = [self.get_ordering_value(param) for param in value if param not in EMPTY_VALUES]
        if not ordering:
            return qs
        return qs.order_by(*total_ordering(ordering, self.then, qs.model._meta.pk.name))
