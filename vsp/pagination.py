from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

_POSITIVE = re.compile(r"^[1-9][0-9]{0,8}$")


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=&page_size=``, both positive integers when given; anything else is a 400 naming it.

    A page past the last one is a 404, as DRF answers it. ``page_size`` above the
    maximum is refused rather than clamped, so a client never silently gets less
    than it asked for.
    """

    page_size = settings.API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE
    last_page_strings = ()

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        page = request.query_params.get(self.page_query_param)
        if page is not None and not _POSITIVE.match(page):
            raise ValidationError({self.page_query_param: ["Must be a positive integer."]})
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
