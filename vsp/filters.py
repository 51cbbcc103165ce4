from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django_filters.constants import EMPTY_VALUES


class StableOrderingFilter(django_filters.OrderingFilter):
    """An ordering whitelist that always ends on the primary key, so pages never overlap."""

    def filter(self, qs: QuerySet[Any], value: list[str] | None) -> QuerySet[Any]:
        if value in EMPTY_VALUES:
            return qs
        assert value is not None
        ordering = [self.get_ordering_value(param) for param in value if param not in EMPTY_VALUES]
        if not ordering:
            return qs
        return qs.order_by(*ordering, "-pk" if ordering[0].startswith("-") else "pk")
