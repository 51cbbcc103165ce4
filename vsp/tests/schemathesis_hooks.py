"""Schemathesis set-up for the OpenAPI runs (the suite's, and ``SCHEMATHESIS_HOOKS=vsp.tests.schemathesis_hooks``).

A schema can say "base64" or "a file", not "a JPEG that decodes": the formats
of the snapshot fields generate a real image, and a case generated as valid
whose ``snapshot_base64`` is some other base64 (the coverage phase's boundary
strings, such as "0000") gets the image instead, so that a case the schema
calls valid is one the service can accept. Likewise a ``cursor`` is opaque (valid ones are those
the API gave out) and excludes ``page`` and ``ordering``, which a schema cannot say: a valid case
with one asks for the first cursor page, without the other two.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import schemathesis
from hypothesis import strategies as st
from PIL import Image


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


JPEG = _jpeg()
JPEG_BASE64 = base64.b64encode(JPEG).decode()


# The only binary and base64 values in the schema are snapshots: generate real images for them. Values
# that break the schema (not text, not base64) are still generated for negative cases.
schemathesis.openapi.format("binary", st.just(JPEG))
schemathesis.openapi.format("byte", st.just(JPEG_BASE64))


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    if case.meta is None or case.meta.generation.mode.is_negative:
        return
    query = case.query
    if isinstance(query, dict) and "cursor" in query:
        case.query = {
            **{name: value for name, value in query.items() if name not in ("page", "ordering")},
            "cursor": "",
        }
    body = case.body
    if not isinstance(body, dict):
        return
    if isinstance(body.get("assignee"), str):
        # A staff username is valid only if there is such a user: the suite's own (test_openapi_fuzz).
        case.body = body = {**body, "assignee": "fuzzer"}
    if isinstance(body.get("snapshot_base64"), str) and body["snapshot_base64"] != JPEG_BASE64:
        case.body = {**body, "snapshot_base64": JPEG_BASE64}
