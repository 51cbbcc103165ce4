"""The edge endpoints over HTTP: read the body and the key, run the pipeline, answer with its envelope."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from edge.pipeline import EdgeEndpoint, Outcome, parse_json, process
from vsp.http import client_ip


def edge_response(outcome: Outcome) -> JsonResponse:
    response = JsonResponse(outcome.envelope(), status=outcome.status, json_dumps_params={"ensure_ascii": False})
    if outcome.retry_after is not None:
        response["Retry-After"] = str(outcome.retry_after)
    for name, value in outcome.headers.items():
        response[name] = value
    return response


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
        payload = _read_json(request, endpoint)
        if isinstance(payload, Outcome):
            return edge_response(payload)
        return edge_response(process(endpoint, payload, key=presented_key(request), ip=client_ip(request)))

    return view


def _read_json(request: HttpRequest, endpoint: EdgeEndpoint) -> Any:
    limit = settings.EDGE_MAX_BODY_BYTES
    too_big = Outcome(413, f"request body exceeds {limit} bytes")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return Outcome(400, "Content-Length is not a number")
    if declared > limit:
        return too_big
    if request.content_type == "multipart/form-data":
        return _read_multipart(request, endpoint)
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


def _read_multipart(request: HttpRequest, endpoint: EdgeEndpoint) -> Any:
    """A report with its image as a file ``snapshot``; other fields as form fields, ``ext_data`` as JSON text."""
    try:
        # A field of the message sent twice; unknown fields are ignored, however often they come.
        known = endpoint.serializer_class._declared_fields
        repeated = [
            name for name in [*request.POST, *request.FILES] if name in known and len(_values(request, name)) > 1
        ]
        payload: dict[str, Any] = {name: request.POST[name] for name in request.POST}
        files = {name: request.FILES[name] for name in request.FILES}
    except RequestDataTooBig:
        return Outcome(413, f"request body exceeds {settings.EDGE_MAX_BODY_BYTES} bytes")
    except (MultiPartParserError, ValueError) as exc:
        return Outcome(400, f"body is not valid multipart/form-data: {exc}")
    if repeated:
        # Which of two values would be meant is anyone's guess: Django would quietly take the last.
        return Outcome(400, f"{repeated[0]}: sent more than once; send each field once")
    if isinstance(payload.get("ext_data"), str):
        try:
            payload["ext_data"] = parse_json(payload["ext_data"])
        except ValueError as exc:
            return Outcome(400, f"ext_data: is not valid JSON: {exc}")
    return {**payload, **files}


def _values(request: HttpRequest, name: str) -> list[Any]:
    return [*request.POST.getlist(name), *request.FILES.getlist(name)]
