from __future__ import annotations

import functools
import re
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

_POSITIVE = re.compile(r"^[1-9][0-9]{0,8}$")


def page_rows(queryset: QuerySet[Any], offset: int, limit: int) -> list[Any]:
    """Rows ``offset:offset + limit`` of an ordered queryset, by a deferred join.

    The page's primary keys first, walking only the index the ordering uses, then those rows by
    key. A plain OFFSET reads every skipped row in full: on a million alarms, page 500 took 24 ms
    that way and 3 ms for its keys.
    """
    if offset < settings.PAGE_DEFERRED_JOIN_FROM:
        return list(queryset[offset : offset + limit])  # near the top, one query is cheaper than two
    keys = list(queryset.values_list("pk", flat=True)[offset : offset + limit])
    if not keys:
        return []
    rows = {row.pk: row for row in queryset.filter(pk__in=keys).order_by()}
    return [rows[key] for key in keys if key in rows]  # a row deleted in between is left out


class DeferredJoinPaginator(Paginator):
    """Django's paginator, fetching each page of a queryset by ``page_rows``; given ``count``, it counts nothing."""

    def __init__(self, object_list: Any, per_page: int, *args: Any, count: int | None = None, **kwargs: Any) -> None:
        super().__init__(object_list, per_page, *args, **kwargs)
        if count is not None:
            self.__dict__["count"] = count  # the cached_property, already known

    def page(self, number: Any) -> Page:
        if not isinstance(self.object_list, QuerySet):
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return Page(page_rows(self.object_list, bottom, top - bottom), number, self)


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=&page_size=``, both positive integers when given; anything else is a 400 naming it.

    A page past the last one is a 404, as DRF answers it. ``page_size`` above the
    maximum is refused rather than clamped, so a client never silently gets less
    than it asked for.
    """

    django_paginator_class = DeferredJoinPaginator
    page_size = settings.API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE
    last_page_strings = ()

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        """A page; a view with ``count_rows(queryset)`` says how many rows there are, cheaper than COUNT(*)."""
        page = request.query_params.get(self.page_query_param)
        if page is not None and not _POSITIVE.match(page):
            raise ValidationError({self.page_query_param: ["Must be a positive integer."]})
        counter = getattr(view, "count_rows", None)
        self.django_paginator_class = functools.partial(  # type: ignore[assignment]
            DeferredJoinPaginator, count=counter(queryset) if counter else None
        )
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request: Request) -> int:
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        if not _POSITIVE.match(value) or int(value) > self.max_page_size:
            raise ValidationError({self.page_size_query_param: [f"Must be an integer from 1 to {self.max_page_size}."]})
        return int(value)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1, "maximum": 999_999_999},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size, "default": self.page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
