"""The edge pipeline, written once for HTTP and MQTT: device key, validation, rate limits, envelope.

Edge boxes get ``{"code", "msg", "data"}`` with a meaningful HTTP status:
200 on success, 400 for bad input (naming the first bad field), 401/403 for
a missing, unknown or foreign device key, 413 for an oversized body, 429
with ``Retry-After`` over a rate limit, 503 when the database is
unreachable (so the box retries). Handlers receive validated data only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError
from django.utils import timezone
from rest_framework import serializers

from devices.keys import device_for_key
from vsp import ratelimit
from vsp.validation import first_error

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


def _limited(limits: list[ratelimit.Limit]) -> Outcome | None:
    exceeded = ratelimit.check(limits, timezone.now())
    if exceeded is None:
        return None
    ident, retry_after = exceeded.limit.ident, exceeded.retry_after
    return Outcome(429, f"rate limit exceeded for {ident}; retry in {retry_after} s", retry_after=retry_after)


def process(endpoint: EdgeEndpoint, payload: Any, *, key: str | None, ip: str | None) -> Outcome:
    """Authenticate, validate, limit and handle one edge message, whatever carried it."""
    try:
        return _process(endpoint, payload, key=key, ip=ip)
    except (OperationalError, InterfaceError):
        logger.exception("database unavailable while handling an edge %s", endpoint.name)
        return Outcome(503, "database unavailable, retry later")
    except IntegrityError:
        # Validation should have refused it first; a box must not retry what the database will never take.
        logger.exception("the database refused an edge %s", endpoint.name)
        return Outcome(400, "the database refused this message's data; it is not stored and will not be")


def _process(endpoint: EdgeEndpoint, payload: Any, *, key: str | None, ip: str | None) -> Outcome:
    key_device = device_for_key(key) if key else None
    # Without a valid key the address is limited, wrong keys included (each costs a lookup). The limits
    # are counted in one round trip once the device is known; a request refused earlier counts its
    # address alone, and an address over its limit is told so before anything else.
    limits = [ratelimit.Limit("edge-ip", ip, _rate(settings.EDGE_RATE_PER_IP))] if key_device is None and ip else []
    if key_device is None and (key or settings.EDGE_AUTH_REQUIRED):
        missing = "the device key is unknown or revoked" if key else _KEY_REQUIRED
        return _limited(limits) or Outcome(401, missing)
    if not isinstance(payload, dict):
        return _limited(limits) or Outcome(400, "body must be a JSON object")
    serializer = endpoint.serializer_class(data=payload)
    if not serializer.is_valid():
        return _limited(limits) or Outcome(400, first_error(serializer.errors), {"errors": serializer.errors})
    data = dict(serializer.validated_data)
    claimed = data.get(endpoint.device_field) if endpoint.device_field else None
    if key_device is not None and claimed is not None and claimed != key_device:
        return Outcome(403, f"this key speaks for device {key_device!r}, not {claimed!r}")
    device = key_device or claimed
    if device:
        limits.append(ratelimit.Limit("edge-device", device, _rate(settings.EDGE_RATE_PER_DEVICE)))
    if over := _limited(limits):
        return over
    try:
        return Outcome(200, "", dict(endpoint.handler(data, EdgeContext(key_device=key_device, ip=ip))))
    except EdgeRefusal as refusal:
        return Outcome(refusal.status, refusal.msg)


_KEY_REQUIRED = "a device key is required: Authorization: Bearer <key> or X-Device-Key"
_rate = ratelimit.Rate.parse


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes | str) -> Any:
    """JSON as edge boxes must send it: UTF-8, no NaN or Infinity, sanely nested. Raises ValueError."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
