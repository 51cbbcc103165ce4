"""Static files (admin, Swagger UI) are served by the app itself, under ASGI as under WSGI."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import AsyncClient, Client


@pytest.fixture
def finder_static(settings: Any) -> None:
    # Serve straight from the apps' static folders, as with DEBUG on, so no collectstatic is needed.
    settings.WHITENOISE_AUTOREFRESH = True
    settings.WHITENOISE_USE_FINDERS = True


@pytest.mark.usefixtures("finder_static")
async def test_static_files_are_served_in_the_async_chain() -> None:
    client = AsyncClient()
    response = await client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")

    other = await client.get("/health")
    assert other.status_code in (200, 503)


@pytest.mark.usefixtures("finder_static")
def test_static_files_are_served_in_the_sync_chain() -> None:
    response = Client().get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert response.status_code == 200
