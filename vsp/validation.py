"""Reading DRF validation errors back to a caller."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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
