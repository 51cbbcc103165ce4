"""``GET /health``: is the database reachable, is the channel layer's Redis reachable."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def check_channel_layer() -> str:
    if not settings.REDIS_URL:
        return "in-memory"
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.HEALTH_CHECK_TIMEOUT,
        socket_connect_timeout=settings.HEALTH_CHECK_TIMEOUT,
    )
    try:
        client.ping()
    finally:
        client.close()
    return "redis"


CHECKS: dict[str, Callable[[], str]] = {"database": check_database, "channel_layer": check_channel_layer}


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            backend = check()
        except Exception as exc:  # any failure of a dependency means "down", reported, never a 500
            logger.warning("health check %s failed: %s", name, exc)
            # The exception's type only: its text may name hosts and ports, and /health is public.
            results[name] = {"ok": False, "error": type(exc).__name__}
            continue
        results[name] = {"ok": True, "backend": backend, "ms": round((time.perf_counter() - started) * 1000, 1)}
    healthy = all(result["ok"] for result in results.values())
    down = [name for name, result in results.items() if not result["ok"]]
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "down": down, "checks": results}, status=200 if healthy else 503
    )
