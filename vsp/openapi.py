"""What the OpenAPI schema says beyond what drf-spectacular infers.

- ``/health``, a plain Django view, documented by a view that is never routed.
- Every operation's error answers: 400 where it takes parameters or a body,
  401/403 where it needs a login, 404 where it names an object or a page.
- Every operation has a summary: the first sentence of its description when it
  has no explicit one.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from vsp.fields import StrictTextField

_CHECK = inline_serializer(
    "HealthCheck",
    {
        "ok": serializers.BooleanField(),
        "backend": serializers.CharField(required=False, help_text="e.g. mysql, sqlite, redis, in-memory"),
        "ms": serializers.FloatField(required=False),
        "error": serializers.CharField(required=False, help_text="The failure's type, when not ok"),
        "events": serializers.DictField(required=False, help_text="channel_layer only: sent, failed, failing"),
    },
)
_HEALTH = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(choices=["ok", "unavailable"]),
        "down": serializers.ListField(child=serializers.CharField()),
        "checks": serializers.DictField(child=_CHECK, help_text="database, channel_layer"),
    },
)


class HealthDocs(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="health",
        summary="Is the service usable",
        description="Checks the database and the channel layer's Redis; 503 when either is down.",
        tags=["health"],
        responses={
            200: OpenApiResponse(_HEALTH, description="Everything answers"),
            503: OpenApiResponse(_HEALTH, description="A dependency is down; `down` names it"),
        },
    )
    def get(self, request: Request) -> Response:
        raise NotImplementedError("schema only; the endpoint is vsp.health.health")


def add_health_operation(endpoints: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """drf-spectacular preprocessing hook."""
    return [*endpoints, ("/health", "^health$", "GET", HealthDocs.as_view())]


_ERRORS = {
    "ErrorDetail": {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
        "description": "Why the request was refused.",
    },
    "FieldErrors": {
        "type": "object",
        "description": "Each bad parameter or field → its messages (nested for nested fields), or `detail`.",
        "additionalProperties": {},
    },
}


def _error(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _sentence(text: str) -> str:
    first = re.split(r"(?<=[.;:])\s|\n", text.strip(), maxsplit=1)[0]
    return first.rstrip(".;:")


def _tighten_request_fields(schemas: dict[str, Any]) -> None:
    """Request bodies' text fields as DRF reads them.

    - A CharField refuses a NUL whatever else it allows, and one that may not be blank refuses spaces alone.
    - A blank-allowed field is drf-spectacular's ``oneOf`` of itself and an empty string, which
      ``""`` matches twice (so a schema validator calls it invalid): the field alone when it takes
      ``""`` anyway, else ``anyOf``.
    """
    for name, schema in schemas.items():
        if not name.endswith("Request"):
            continue
        for field in schema.get("properties", {}).values():
            if field.get("type") == "string" and not {"pattern", "enum", "format"} & set(field):
                # minLength 1 is a field that may not be blank, which DRF judges after trimming spaces.
                field["pattern"] = (
                    "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$" if field.get("minLength") else "^[^\\u0000]*$"
                )
            blank = {"type": "string", "maxLength": 0}
            if blank in field.get("oneOf", []):
                others = [branch for branch in field.pop("oneOf") if branch != blank]
                if len(others) == 1 and not others[0].get("minLength"):
                    field.update(others[0])  # it takes "" already: one schema says it all
                else:
                    field["anyOf"] = [*others, blank]


def document_errors_and_summaries(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(_ERRORS)
    _tighten_request_fields(result["components"]["schemas"])
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            if "summary" not in operation:
                operation["summary"] = _sentence(operation.get("description", "")) or operation["operationId"]
            # What an operation documents itself stays; the generic refusals fill the gaps.
            responses = operation["responses"]
            parameters = operation.get("parameters", [])
            query = [parameter for parameter in parameters if parameter.get("in") == "query"]
            if query or "requestBody" in operation:
                responses.setdefault("400", _error("A parameter or field is invalid; each one is named", "FieldErrors"))
            if "requestBody" in operation and "edge" not in operation.get("tags", []):
                # DRF's answer to a body it has no parser for; the edge answers that with a 400.
                responses.setdefault("415", _error("The body's Content-Type is not one this reads", "ErrorDetail"))
            if any(requirement for requirement in operation.get("security", [])):
                responses.setdefault("401", _error("Not logged in: no, or an unknown, session or token", "ErrorDetail"))
                responses.setdefault("403", _error("Logged in without the permission this needs", "ErrorDetail"))
            if "{" in path or any(parameter["name"] == "page" for parameter in query):
                responses.setdefault("404", _error("No such object, or a page past the last one", "ErrorDetail"))
            for parameter in parameters:
                schema = parameter.get("schema", {})
                # Django refuses a NUL in any text parameter.
                if schema.get("type") == "string" and not {"pattern", "enum", "format"} & set(schema):
                    schema["pattern"] = "^[^\\u0000]*$"
                # A filter sent empty (as the browsable API's filter form sends every field) is not applied.
                if parameter.get("in") == "query" and "enum" in schema:
                    parameter["schema"] = {"anyOf": [schema, {"type": "string", "enum": [""]}]}
    return result


class SnapshotImageFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "vsp.fields.SnapshotImageField"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Any) -> dict[str, Any]:
        if self.target.encoding == "file":
            return {"type": "string", "format": "binary", "description": "A JPEG, PNG or WebP file"}
        return {
            "type": "string",
            "format": "byte",
            "minLength": 4,
            # What base64.b64decode(validate=True) takes, after an optional data: URL prefix.
            "pattern": r"^(data:[^,]*,)?([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
            "description": "A JPEG, PNG or WebP image in base64, optionally as a data: URL",
        }


# What StrictCharField refuses, as a pattern; a required one also needs a character that is not a space.
_NO_CONTROL = r"^[^\u0000-\u001f\u007f]*$"
_TEXT = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$"
_NOT_BLANK = r"^[^\u0000-\u001f\u007f]*[^\s\u0000-\u001f\u007f][^\u0000-\u001f\u007f]*$"


class StrictCharFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "vsp.fields.StrictCharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "response":
            return schema  # what is stored may predate a rule
        if isinstance(self.target, StrictTextField):
            schema.setdefault("pattern", _TEXT)
        elif not any(isinstance(validator, RegexValidator) for validator in self.target.validators):
            schema.setdefault("pattern", _NO_CONTROL if self.target.allow_blank else _NOT_BLANK)
        return schema


# SnapshotReferenceField's rules as a pattern: an http(s) URL (a safe subset of what URLValidator takes),
# or an object key of path segments that is no scheme, no '.' or '..', and not under snapshots/.
_URL = r"https?://[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6})+(/[^\s\u0000-\u001f\u007f]*)?"
_SEGMENT = r"(?!\.\.?(/|$))[^\s\\?#/\u0000-\u001f\u007f]+"
_KEY = rf"/*(?![A-Za-z][A-Za-z0-9_+.-]*:)(?!snapshots(/|$))(?!.*://){_SEGMENT}(/{_SEGMENT})*"


class SnapshotReferenceFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "vsp.fields.SnapshotReferenceField"
    priority = 1  # over StrictCharFieldSchema, which matches it too

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Any) -> dict[str, Any]:
        if direction == "response":
            return {"type": "string", "description": "A URL to the image, signed when it is stored here"}
        pattern = f"^({_URL}|{_KEY})$" if not self.target.allow_blank else f"^$|^({_URL}|{_KEY})$"
        return {
            "type": "string",
            "maxLength": self.target.max_length,
            "pattern": pattern,
            "description": "An http(s) URL, kept as is, or an object key in the snapshot store",
        }


class IPAddressFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "rest_framework.fields.IPAddressField"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Any) -> dict[str, Any]:
        formats = {"both": ["ipv4", "ipv6"], "ipv4": ["ipv4"], "ipv6": ["ipv6"]}[self.target.protocol]
        alternatives: list[dict[str, Any]] = [{"type": "string", "format": name} for name in formats]
        if self.target.allow_blank:
            alternatives.append({"type": "string", "enum": [""]})
        return alternatives[0] if len(alternatives) == 1 else {"oneOf": alternatives}


class JSONObjectFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "vsp.fields.JSONObjectField"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Any) -> dict[str, Any]:
        return {
            "type": "object",
            "description": (
                f"A JSON object of at most {self.target.max_bytes} bytes (compact UTF-8), "
                f"nested at most {settings.JSON_MAX_DEPTH} levels"
            ),
        }
