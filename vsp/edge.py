"""Edge ingest, written once for HTTP and MQTT: device key, validation, rate limits, envelope.

Edge boxes get ``{"code", "msg", "data"}`` with a meaningful HTTP status:
200 on success, 400 for bad input (naming the first bad field), 401/403 for
a missing, unknown or foreign device key, 413 for an oversized body, 429
with ``Retry-After`` over a rate limit, 503 when the database is
unreachable (so the box retries). Handlers receive validated data only.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers

from devices.keys import device_for_key
from vsp import ratelimit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EdgeContext:
    """Who sent a message: the device its key speaks for (if any) and its address."""

    key_device: str | None
    ip: str | None


Handler = Callable[[dict[str, Any], EdgeContext], Mapping[str, Any]]


class EdgeRefusal(Exception):
    """Raised by a handler to answer with an error envelope (e.g. 403 for a foreign alarm)."""

    def __init__(self, status: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg


@dataclass(frozen=True)
class Outcome:
    status: int
    msg: str = ""
    data: Any = None
    retry_after: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200

    def envelope(self) -> dict[str, Any]:
        return {"code": 0 if self.ok else self.status, "msg": self.msg, "data": self.data}


@dataclass(frozen=True)
class EdgeEndpoint:
    name: str
    serializer_class: type[serializers.Serializer]
    handler: Handler
    # The payload field naming the device, which a key must match; None when the payload has none.
    device_field: str | None = "device_id"


def first_error(errors: Any, names: Mapping[str, str] | None = None) -> str:
    """``"field: message"`` for the first problem in DRF errors (nested fields as ``a.b``).

    ``names`` maps our field names to the caller's (the compat API's camelCase).
    """
    field = ""
    while isinstance(errors, Mapping) and errors:
        key, errors = next(iter(errors.items()))
        key = (names or {}).get(key, key)
        field = f"{field}.{key}" if field else key
    while isinstance(errors, list) and errors:
        errors = errors[0]
    if field in ("non_field_errors", ""):
        return str(errors)
    return f"{field}: {errors}"


def _limited(name: str, ident: str, rate: str) -> Outcome | None:
    retry_after = ratelimit.hit(name, ident, ratelimit.Rate.parse(rate), timezone.now())
    if retry_after is None:
        return None
    return Outcome(429, f"rate limit exceeded for {ident}; retry in {retry_after} s", retry_after=retry_after)


def process(endpoint: EdgeEndpoint, payload: Any, *, key: str | None, ip: str | None) -> Outcome:
    """Authenticate, validate, limit and handle one edge message, whatever carried it."""
    try:
        return _process(endpoint, payload, key=key, ip=ip)
    except (OperationalError, InterfaceError):
        logger.exception("database unavailable while handling an edge %s", endpoint.name)
        return Outcome(503, "database unavailable, retry later")


def _process(endpoint: EdgeEndpoint, payload: Any, *, key: str | None, ip: str | None) -> Outcome:
    key_device = device_for_key(key) if key else None
    if key_device is None:
        # Without a valid key the address is limited, wrong keys included (each costs a lookup).
        if ip and (refusal := _limited("edge-ip", ip, settings.EDGE_RATE_PER_IP)):
            return refusal
        if key:
            return Outcome(401, "the device key is unknown or revoked")
        if settings.EDGE_AUTH_REQUIRED:
            return Outcome(401, "a device key is required: Authorization: Bearer <key> or X-Device-Key")
    if not isinstance(payload, dict):
        return Outcome(400, "body must be a JSON object")
    serializer = endpoint.serializer_class(data=payload)
    if not serializer.is_valid():
        return Outcome(400, first_error(serializer.errors), {"errors": serializer.errors})
    data = dict(serializer.validated_data)
    claimed = data.get(endpoint.device_field) if endpoint.device_field else None
    if key_device is not None and claimed is not None and claimed != key_device:
        return Outcome(403, f"this key speaks for device {key_device!r}, not {claimed!r}")
    device = key_device or claimed
    if device and (refusal := _limited("edge-device", device, settings.EDGE_RATE_PER_DEVICE)):
        return refusal
    try:
        return Outcome(200, "", dict(endpoint.handler(data, EdgeContext(key_device=key_device, ip=ip))))
    except EdgeRefusal as refusal:
        return Outcome(refusal.status, refusal.msg)


# --- HTTP -----------------------------------------------------------------------------


def edge_response(outcome: Outcome) -> JsonResponse:
    response = JsonResponse(outcome.envelope(), status=outcome.status, json_dumps_params={"ensure_ascii": False})
    if outcome.retry_after is not None:
        response["Retry-After"] = str(outcome.retry_after)
    for name, value in outcome.headers.items():
        response[name] = value
    return response


def client_ip(request: HttpRequest) -> str | None:
    """The peer's address, if it is one (a proxy header can put anything in REMOTE_ADDR)."""
    address = request.META.get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def presented_key(request: HttpRequest) -> str | None:
    """``Authorization: Bearer <key>`` (any case) or ``X-Device-Key``. Any other Authorization is a bad key."""
    header = request.META.get("HTTP_AUTHORIZATION", "").strip()
    if header:
        scheme, _space, value = header.partition(" ")
        # An unreadable header must not pass as "no key": it would be ignored with open ingest.
        return value.strip() if scheme.lower() == "bearer" and value.strip() else header
    return request.META.get("HTTP_X_DEVICE_KEY", "").strip() or None


def http_view(endpoint: EdgeEndpoint) -> Callable[[HttpRequest], JsonResponse]:
    """The POST view for an edge endpoint."""

    @csrf_exempt
    @functools.wraps(endpoint.handler)
    def view(request: HttpRequest) -> JsonResponse:
        if request.method != "POST":
            return edge_response(
                Outcome(405, f"method {request.method} is not allowed; use POST", headers={"Allow": "POST"})
            )
        payload = _read_json(request)
        if isinstance(payload, Outcome):
            return edge_response(payload)
        return edge_response(process(endpoint, payload, key=presented_key(request), ip=client_ip(request)))

    return view


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes | str) -> Any:
    """JSON as edge boxes must send it: UTF-8, no NaN or Infinity, sanely nested. Raises ValueError."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _read_json(request: HttpRequest) -> Any:
    limit = settings.EDGE_MAX_BODY_BYTES
    too_big = Outcome(413, f"request body exceeds {limit} bytes")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return Outcome(400, "Content-Length is not a number")
    if declared > limit:
        return too_big
    if request.content_type == "multipart/form-data":
        return _read_multipart(request)
    if request.content_type != "application/json":
        return Outcome(
            400, f"Content-Type must be application/json or multipart/form-data, got {request.content_type or 'none'!r}"
        )
    try:
        body = request.body
    except RequestDataTooBig:
        return too_big
    if len(body) > limit:
        return too_big
    try:
        return parse_json(body)
    except UnicodeDecodeError:
        return Outcome(400, "body is not UTF-8 encoded JSON")
    except ValueError as exc:
        return Outcome(400, f"body is not valid JSON: {exc}")


def _read_multipart(request: HttpRequest) -> Any:
    """A report with its image as a file ``snapshot``; other fields as form fields, ``ext_data`` as JSON text."""
    try:
        payload: dict[str, Any] = {name: request.POST[name] for name in request.POST}
        files = {name: request.FILES[name] for name in request.FILES}
    except RequestDataTooBig:
        return Outcome(413, f"request body exceeds {settings.EDGE_MAX_BODY_BYTES} bytes")
    except (MultiPartParserError, ValueError) as exc:
        return Outcome(400, f"body is not valid multipart/form-data: {exc}")
    if isinstance(payload.get("ext_data"), str):
        try:
            payload["ext_data"] = parse_json(payload["ext_data"])
        except ValueError as exc:
            return Outcome(400, f"ext_data: is not valid JSON: {exc}")
    return {**payload, **files}
