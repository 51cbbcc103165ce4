"""Model fields shared by the apps."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


class IdentifierField(models.CharField):
    """An id from the edge, compared byte for byte.

    MySQL's default utf8mb4 collations fold case and ignore trailing spaces, so
    ``ABC`` and ``abc`` would be one primary key there and two elsewhere. On
    MySQL this column uses ``utf8mb4_bin``; foreign keys to it follow (Django
    copies the target's collation). Other databases already compare exactly.
    """

    def db_parameters(self, connection: BaseDatabaseWrapper) -> dict[str, Any]:
        params: dict[str, Any] = super().db_parameters(connection)
        if connection.vendor == "mysql" and not params.get("collation"):
            params["collation"] = "utf8mb4_bin"
        return params
