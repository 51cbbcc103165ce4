"""The edge endpoints' request handling and envelope, written once.

Edge boxes get ``{"code", "msg", "data"}`` with a meaningful HTTP status:
200 on success, 400 for bad input (naming the first bad field), 413 for an
oversized body, 503 when the database is unreachable (so the box retries).
A view built with :func:`edge_endpoint` receives validated data only.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers

logger = logging.getLogger(__name__)

EdgeHandler = Callable[[HttpRequest, dict[str, Any]], Mapping[str, Any]]


def edge_response(status: int, msg: str = "", data: Any = None) -> JsonResponse:
    code = 0 if status == 200 else status
    return JsonResponse(
        {"code": code, "msg": msg, "data": data}, status=status, json_dumps_params={"ensure_ascii": False}
    )


def first_error(errors: Mapping[str, Any]) -> str:
    """``"field: message"`` for the first problem in a DRF error dict."""
    field, problems = next(iter(errors.items()))
    while isinstance(problems, Mapping):
        inner_field, problems = next(iter(problems.items()))
        field = f"{field}.{inner_field}"
    message = problems[0] if isinstance(problems, list) and problems else problems
    return f"{field}: {message}"


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def edge_endpoint(
    serializer_class: type[serializers.Serializer],
) -> Callable[[EdgeHandler], Callable[..., JsonResponse]]:
    """Wrap ``handler(request, validated_data) -> data`` as an edge POST endpoint."""

    def decorator(handler: EdgeHandler) -> Callable[..., JsonResponse]:
        @csrf_exempt
        @functools.wraps(handler)
        def view(request: HttpRequest) -> JsonResponse:
            if request.method != "POST":
                response = edge_response(405, f"method {request.method} is not allowed; use POST")
                response["Allow"] = "POST"
                return response
            payload = _read_json_object(request)
            if isinstance(payload, JsonResponse):
                return payload
            serializer = serializer_class(data=payload)
            if not serializer.is_valid():
                return edge_response(400, first_error(serializer.errors), {"errors": serializer.errors})
            try:
                data = handler(request, serializer.validated_data)
            except (OperationalError, InterfaceError):
                logger.exception("database unavailable while handling %s", request.path)
                return edge_response(503, "database unavailable, retry later")
            return edge_response(200, "", dict(data))

        return view

    return decorator


def _read_json_object(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    limit = settings.EDGE_MAX_BODY_BYTES
    too_big = edge_response(413, f"request body exceeds {limit} bytes")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return edge_response(400, "Content-Length is not a number")
    if declared > limit:
        return too_big
    if request.content_type != "application/json":
        return edge_response(400, f"Content-Type must be application/json, got {request.content_type or 'none'!r}")
    try:
        body = request.body
    except RequestDataTooBig:
        return too_big
    if len(body) > limit:
        return too_big
    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        return edge_response(400, "body is not UTF-8 encoded JSON")
    except ValueError as exc:
        return edge_response(400, f"body is not valid JSON: {exc}")
    if not isinstance(payload, dict):
        return edge_response(400, "body must be a JSON object")
    return payload
