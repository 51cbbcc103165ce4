"""The one base class of compat views: Yudao's envelope for every outcome, Chinese messages."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponseBase
from django.utils import translation
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alarms.exceptions import AlarmNotFound, InvalidStatusTransition
from vsp.compat import envelope
from vsp.compat.authentication import compat_authenticators
from vsp.compat.envelope import CompatError
from vsp.compat.permissions import YudaoPermission
from vsp.parsers import JSONParser
from vsp.validation import first_error

logger = logging.getLogger(__name__)


class CompatAPIView(APIView):
    """Subclasses set ``required_permission`` (a Yudao string) or ``permit_all``; they return envelope.success()."""

    renderer_classes = [JSONRenderer]
    # The compat API follows Yudao, not OpenAPI; it is documented in the README and YUDAO.md.
    schema = None
    parser_classes = [JSONParser]
    permission_classes = [YudaoPermission]
    required_permission: str | None = None
    permit_all = False
    # Our field names → the names the frontend sent, for error messages.
    field_names: Mapping[str, str] = {}

    def get_authenticators(self) -> list[Any]:
        return compat_authenticators()

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Validation messages in Chinese, as the Yudao frontend shows them to staff.
        with translation.override("zh-hans"):
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        tenant = request.META.get("HTTP_TENANT_ID", "").strip()
        # Single tenant: a numeric tenant-id other than ours is someone else's data (non-numeric is ignored).
        if request.user.is_authenticated and tenant.isdigit() and int(tenant) != settings.TENANT_ID:
            raise CompatError(envelope.FORBIDDEN, envelope.MSG_WRONG_TENANT)

    def handle_exception(self, exc: Exception) -> Response:
        return self.envelope_for(exc, self.request)

    def envelope_for(self, exc: Exception, request: Request) -> Response:
        if isinstance(exc, CompatError):
            return envelope.failure(exc.code, exc.msg)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return envelope.failure(envelope.UNAUTHORIZED, envelope.MSG_UNAUTHORIZED)
        if isinstance(exc, exceptions.PermissionDenied):
            # DRF raises NotAuthenticated, not this, for anonymous callers.
            return envelope.failure(envelope.FORBIDDEN, envelope.MSG_FORBIDDEN)
        if isinstance(exc, exceptions.ValidationError):
            return envelope.failure(
                envelope.BAD_REQUEST, envelope.bad_request(first_error(exc.detail, self.field_names))
            )
        if isinstance(exc, exceptions.ParseError):
            return envelope.failure(envelope.BAD_REQUEST, envelope.type_mismatch(str(exc.detail)))
        if isinstance(exc, exceptions.UnsupportedMediaType):
            return envelope.failure(envelope.BAD_REQUEST, f"请求类型不正确:{exc.detail}")
        if isinstance(exc, exceptions.MethodNotAllowed):
            return envelope.failure(envelope.METHOD_NOT_ALLOWED, envelope.wrong_method(request.method or ""))
        if isinstance(exc, exceptions.Throttled):
            return envelope.failure(envelope.TOO_MANY_REQUESTS, envelope.MSG_TOO_MANY_REQUESTS)
        if isinstance(exc, exceptions.NotFound | Http404):
            return envelope.failure(envelope.NOT_FOUND, envelope.unknown_path(request.path))
        if isinstance(exc, AlarmNotFound):
            return envelope.failure(*envelope.ALARM_NOT_FOUND)
        if isinstance(exc, InvalidStatusTransition):
            error = CompatError.of(envelope.ALARM_STATUS_BACKWARDS, exc.current, exc.requested)
            return envelope.failure(error.code, error.msg)
        if isinstance(exc, IntegrityError):  # validation should have refused it; it is the caller's data
            logger.exception("the database refused %s %s", request.method, request.path, exc_info=exc)
            return envelope.failure(envelope.BAD_REQUEST, envelope.bad_request("数据与已存数据冲突，数据库拒绝保存"))
        logger.exception("unhandled error in %s %s", request.method, request.path, exc_info=exc)
        return envelope.failure(envelope.SERVER_ERROR, envelope.MSG_SERVER_ERROR)


class UnknownPathView(CompatAPIView):
    """Everything under /admin-api/ that no route matches: code 404 in the envelope, never an HTML page."""

    permit_all = True

    def not_found(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise exceptions.NotFound()

    get = post = put = patch = delete = not_found
