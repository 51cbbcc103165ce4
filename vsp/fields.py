"""Serializer fields shared by the edge, native and compat APIs."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from vsp.images import SnapshotRejected, inspect_image
from vsp.times import SCHEMA_TIME_PATTERN, TimeFormatError, parse_event_time


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "pattern": SCHEMA_TIME_PATTERN},
            # Exactly the window, [2000-01-01, 2100-01-01) UTC, in seconds and in milliseconds.
            {"type": "number", "minimum": 946_684_800, "maximum": 4_102_444_800, "exclusiveMaximum": True},
            {"type": "number", "minimum": 946_684_800_000, "maximum": 4_102_444_800_000, "exclusiveMaximum": True},
        ],
        "description": (
            "ISO 8601 or 'YYYY-MM-DD HH:MM[:SS]' (in TIME_ZONE when without an offset), or epoch seconds or "
            "milliseconds; 2000-2100."
        ),
    }
)
class EventTimeField(serializers.Field):
    """A time as edge boxes write it: ISO 8601, ``YYYY-MM-DD HH:MM:SS`` or epoch s/ms."""

    def to_internal_value(self, data: Any) -> datetime:
        try:
            return parse_event_time(data)
        except TimeFormatError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value: datetime) -> str:
        return serializers.DateTimeField().to_representation(value)


# C0 controls and DEL: no id, type, name or version from a box holds one, and worksheets cannot.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class StrictCharField(serializers.CharField):
    """An edge text field: a JSON string (a number would lose digits past 2^53), with no control characters."""

    default_error_messages = {"not_string": "Must be a string.", "control": "Must not contain control characters."}

    control_characters = _CONTROL

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_string")
        if self.control_characters.search(data):
            self.fail("control")
        # The length as sent, before trimming: a value over the limit is refused even if spaces pad it.
        if self.max_length is not None and len(data) > self.max_length:
            raise serializers.ValidationError(
                self.error_messages["max_length"].format(max_length=self.max_length), code="max_length"
            )
        return super().to_internal_value(data)


class StrictTextField(StrictCharField):
    """Free text from staff (a remark): a string that may hold line breaks and tabs, no other control character."""

    control_characters = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class FiniteFloatField(serializers.FloatField):
    """A float that refuses NaN and infinities, which compare as "in range" with anything."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


class StrictIntegerField(serializers.IntegerField):
    """An integer that refuses booleans (``True`` is not alarm level 1)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


def json_depth(value: Any) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar is 0, ``{}`` is 1), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


class JSONObjectField(serializers.JSONField):
    """A JSON object (not a list or a scalar) whose compact form fits ``max_bytes``, nested at most JSON_MAX_DEPTH."""

    default_error_messages = {
        "not_object": "Must be a JSON object.",
        "too_large": "Must serialize to at most {max_bytes} bytes; got {size}.",
        "too_deep": "Must nest objects and arrays at most {max_depth} levels deep; got {depth}.",
    }

    def __init__(self, *, max_bytes: int | None = None, **kwargs: Any) -> None:
        self.max_bytes = max_bytes or settings.EXT_DATA_MAX_BYTES
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_object")
        try:
            size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
        except UnicodeEncodeError:
            raise serializers.ValidationError("Must be valid Unicode text (no lone surrogates).") from None
        if size > self.max_bytes:
            self.fail("too_large", max_bytes=self.max_bytes, size=size)
        if (depth := json_depth(data)) > settings.JSON_MAX_DEPTH:
            self.fail("too_deep", max_depth=settings.JSON_MAX_DEPTH, depth=depth)
        return data


# What a snapshot object key may look like: a relative path in the bucket.
_OBJECT_KEY = re.compile(r"^[^\s\\?#]+$")
# "javascript:…", "data:…": a key must never read as a URL of another scheme.
_SCHEME = re.compile(r"^[A-Za-z][\w+.-]*:")
_url_validator = URLValidator(schemes=["http", "https"])


class SnapshotReferenceField(StrictCharField):
    """An http(s) URL, kept as is, or an object key in the snapshot store (a string: ``5`` is no key)."""

    default_error_messages = {
        "bad_url": "Must be an http(s) URL or an object key.",
        "bad_key": "An object key is a path of names: no scheme, spaces, backslashes, '?', '#', '.', '..' or '//'.",
        "reserved": "Keys under snapshots/ are the service's own; upload the image with the report instead.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 2048)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not value:
            return value
        if "://" in value:
            try:
                _url_validator(value)
            except DjangoValidationError:
                self.fail("bad_url")
            return value
        key = value.lstrip("/")
        segments = key.split("/")
        if not _OBJECT_KEY.match(key) or _SCHEME.match(key) or any(part in ("", ".", "..") for part in segments):
            self.fail("bad_key")
        if segments[0] == "snapshots":
            # The service's own namespace: a box must not point at (or, through retention, delete) another's image.
            self.fail("reserved")
        return key


class SnapshotImageField(serializers.Field):
    """An image sent with a report: a multipart file, or base64 text (a ``data:`` URL prefix is allowed).

    Produces a ``vsp.images.SnapshotImage`` after checking format, size and pixel count.
    """

    def __init__(self, *, encoding: str, **kwargs: Any) -> None:
        self.encoding = encoding  # "base64" or "file"
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        raw = self._bytes(data)
        try:
            return inspect_image(raw)
        except SnapshotRejected as exc:
            raise serializers.ValidationError(f"The image {exc}.") from None

    def _bytes(self, data: Any) -> bytes:
        limit = settings.SNAPSHOT_MAX_BYTES
        if self.encoding == "file":
            if not hasattr(data, "read") or not hasattr(data, "size"):
                raise serializers.ValidationError("Must be a file uploaded as multipart/form-data.")
            if data.size > limit:
                raise serializers.ValidationError(f"The image is {data.size} bytes; at most {limit} are accepted.")
            return bytes(data.read())
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be base64 text.")
        if data.startswith("data:"):
            _prefix, comma, text = data.partition(",")
            if not comma:
                raise serializers.ValidationError("A data: URL needs a comma before the base64 text.")
        else:
            text = data
        if len(text) > (limit * 4) // 3 + 4:
            raise serializers.ValidationError(f"The image is larger than {limit} bytes.")
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError("Is not valid base64.") from None


class BlankIsNoneMixin:
    """Optional edge fields may arrive as null; treat null as "not sent"."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        values: dict[str, Any] = super().to_internal_value(data)  # type: ignore[misc]
        return {key: value for key, value in values.items() if value is not None}


class ShallowFieldCopies:
    """Give each serializer instance shallow copies of the declared fields.

    DRF deep-copies them, which re-runs every field's ``__init__`` for each
    request: a third of the edge serializers' cost on the ingest path. A
    shallow copy gets its own binding (name, parent) and shares validators and
    messages, which DRF itself treats as immutable. For plain fields only:
    not for nested serializers, which hold state of their own.
    """

    _declared_fields: dict[str, serializers.Field]

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = {}
        for name, field in self._declared_fields.items():
            clone = object.__new__(type(field))  # copy.copy, without its generic protocol
            clone.__dict__.update(field.__dict__)
            fields[name] = clone
        return fields
