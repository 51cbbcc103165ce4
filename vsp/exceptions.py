"""Domain exceptions mapped to HTTP for the native API, in one place."""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from alarms.exceptions import AlarmNotFound, InvalidStatusTransition

logger = logging.getLogger(__name__)

_DOMAIN_STATUS: dict[type[Exception], int] = {
    AlarmNotFound: status.HTTP_404_NOT_FOUND,
    InvalidStatusTransition: status.HTTP_409_CONFLICT,
}


def native_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    for exc_type, http_status in _DOMAIN_STATUS.items():
        if isinstance(exc, exc_type):
            return Response({"detail": str(exc)}, status=http_status)
    if isinstance(exc, OperationalError | InterfaceError):
        logger.exception("database unavailable")
        return Response({"detail": "database unavailable, retry later"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    return exception_handler(exc, context)
