"""Domain exceptions mapped to HTTP for the native API, in one place. Imports no app."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, InterfaceError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """Base of what a service refuses; ``str()`` is a message for the caller, ``http_status`` its HTTP answer."""

    http_status: int = status.HTTP_400_BAD_REQUEST


def native_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"detail": str(exc)}, status=exc.http_status)
    if isinstance(exc, IntegrityError):
        logger.exception("the database refused a change")
        return Response({"detail": "the database refused this change: it conflicts with what is stored"}, status=409)
    if isinstance(exc, OperationalError | InterfaceError):
        logger.exception("database unavailable")
        return Response({"detail": "database unavailable, retry later"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    return exception_handler(exc, context)
