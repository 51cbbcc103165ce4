"""The edge endpoints in the OpenAPI schema.

They are plain Django views (edge.http), which drf-spectacular does not see. The
views below are never routed: they only carry the schema of the real ones, built
from the same serializers, and a preprocessing hook adds them to the endpoint
list under the real paths.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from edge.serializers import EdgeReportSerializer, EdgeResolveSerializer, HeartbeatSerializer

# Security requirements (the schemes are in SPECTACULAR_SETTINGS): without EDGE_AUTH_REQUIRED a key is
# optional ({}); with it, one of the two is needed. Typed Any: extend_schema's hint says names only,
# while it takes requirement objects as well.
EDGE_AUTH: Any = [{"deviceBearer": []}, {"deviceKey": []}, {}]


class EdgeReportJSONSerializer(EdgeReportSerializer):
    """A report as JSON: the image, if any, as ``snapshot_url`` or ``snapshot_base64`` (not both)."""

    snapshot = None  # type: ignore[assignment]  # DRF's way to drop an inherited field


class EdgeReportMultipartSerializer(EdgeReportSerializer):
    """A report as multipart/form-data: the fields as form fields (``ext_data`` as JSON text), the image as the
    file ``snapshot``."""

    snapshot_base64 = None  # type: ignore[assignment]
    snapshot_url = None  # type: ignore[assignment]


def _answer(name: str, key: str, flag: str) -> serializers.Serializer:
    """The success envelope of an edge message: ``Edge<name>Answer`` with ``data`` = ``{key, flag}``."""
    result = inline_serializer(f"Edge{name}Result", {key: serializers.CharField(), flag: serializers.BooleanField()})
    return inline_serializer(
        f"Edge{name}Answer",
        {
            "code": serializers.IntegerField(help_text="0 on success"),
            "msg": serializers.CharField(allow_blank=True),
            "data": result,
        },
    )


_REFUSED = inline_serializer(
    "EdgeRefusal",
    {
        "code": serializers.IntegerField(help_text="The HTTP status"),
        "msg": serializers.CharField(help_text="What was wrong, naming the first bad field"),
        "data": inline_serializer(
            "EdgeFieldErrors",
            {"errors": serializers.DictField(help_text="Field name → messages", required=False)},
            allow_null=True,
        ),
    },
)


def _refusals(*extra: int) -> dict[int, OpenApiResponse]:
    meaning = {
        400: "Bad input: not JSON or multipart, a bad field (named in `msg`), or a body nested too deeply",
        401: "A device key is required (EDGE_AUTH_REQUIRED) or the key sent is unknown or revoked",
        403: "The key speaks for another device",
        405: "Only POST is allowed",
        409: "The alarm id belongs to another device's alarm",
        413: "The body exceeds EDGE_MAX_BODY_BYTES",
        429: "Over a rate limit; `Retry-After` says when to retry",
        503: "The database is unreachable; retry",
    }
    return {code: OpenApiResponse(_REFUSED, description=meaning[code]) for code in (400, 401, 413, 429, 503, *extra)}


class _EdgeDocs(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        raise NotImplementedError("schema only; the endpoint is edge.http")


class ReportDocs(_EdgeDocs):
    @extend_schema(
        operation_id="edge_report",
        summary="Report an alarm from an edge box",
        description=(
            "Stores the alarm, its `ext_data` and its snapshot, and pushes `alarm.created`. Idempotent per "
            "`alarm_id` and device: a repeat answers `created: false`. The image comes as `snapshot_url` "
            "(an http(s) URL or an object key), as `snapshot_base64`, or as the multipart file `snapshot`."
        ),
        tags=["edge"],
        auth=EDGE_AUTH,
        request={"application/json": EdgeReportJSONSerializer, "multipart/form-data": EdgeReportMultipartSerializer},
        responses={
            200: _answer("Report", "alarm_id", "created"),
            **_refusals(403, 409),
        },
        examples=[
            OpenApiExample(
                "An intrusion",
                request_only=True,
                value={
                    "alarm_id": "box7-000123",
                    "alarm_type": "intrusion",
                    "device_id": "box-7",
                    "event_time": "2026-12-01 10:15:00",
                    "alarm_level": 2,
                    "confidence_score": 0.91,
                    "ext_data": {"bbox": [120, 80, 260, 300]},
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class ResolveDocs(_EdgeDocs):
    @extend_schema(
        operation_id="edge_resolve",
        summary="Close an alarm from an edge box",
        description=(
            "Records how long the event lasted and how it ended. A resolve that arrives before its report is "
            "kept and applied when the report comes (`applied: false` until then)."
        ),
        tags=["edge"],
        auth=EDGE_AUTH,
        request={"application/json": EdgeResolveSerializer},
        responses={
            200: _answer("Resolve", "alarm_id", "applied"),
            **_refusals(403),
        },
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class HeartbeatDocs(_EdgeDocs):
    @extend_schema(
        operation_id="edge_heartbeat",
        summary="Tell the service an edge box is alive",
        description="Registers an unknown box, marks it ONLINE and keeps its name, address, version and info.",
        tags=["edge"],
        auth=EDGE_AUTH,
        request={"application/json": HeartbeatSerializer},
        responses={
            200: _answer("Heartbeat", "device_id", "recorded"),
            **_refusals(403),
        },
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


_OPERATIONS = [
    ("/api/ai/alert/edge/report", ReportDocs),
    ("/api/ai/alert/edge/resolve", ResolveDocs),
    ("/api/ai/device/heartbeat", HeartbeatDocs),
]


def refine_edge_schemas(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: what the report serializer's ``validate`` refuses, in the schema."""
    schemas = result.get("components", {}).get("schemas", {})
    if (report := schemas.get("EdgeReportJSONRequest")) is not None:
        both = {"type": "string", "minLength": 1}
        report["not"] = {
            "required": ["snapshot_url", "snapshot_base64"],
            "properties": {"snapshot_url": both, "snapshot_base64": both},
        }
    if (form := schemas.get("EdgeReportMultipartRequest")) is not None:
        # A form field is text: there is no null to send, only a field left out.
        for field in form["properties"].values():
            field.pop("nullable", None)
    report_form = result["paths"]["/api/ai/alert/edge/report"]["post"]["requestBody"]["content"]["multipart/form-data"]
    report_form["encoding"] = {"snapshot": {"contentType": "image/jpeg, image/png, image/webp"}}
    return result


def add_edge_operations(endpoints: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """drf-spectacular preprocessing hook: the real edge paths, described by the views above."""
    documented = [(path, f"^{path.lstrip('/')}$", "POST", view.as_view()) for path, view in _OPERATIONS]
    return [*endpoints, *documented]
