"""``GET /health``: is the database reachable, is the channel layer's Redis reachable."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from vsp.publish import publisher

logger = logging.getLogger(__name__)


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def check_channel_layer() -> str:
    """Through the client events are published with: if this answers, this process's events go out."""
    publisher.ping()
    return "redis" if settings.REDIS_URL else "in-memory"


CHECKS: dict[str, Callable[[], str]] = {"database": check_database, "channel_layer": check_channel_layer}


# A probe sends no CSRF token; any method but GET is a 405, whatever cookies come with it.
@csrf_exempt
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
    stats = publisher.stats
    # What this process's publishing did: failures since it started, and whether it is failing now.
    results["channel_layer"]["events"] = {
        "sent": stats.sent,
        "failed": stats.failed,
        "failing": stats.failing_since is not None,
    }
    healthy = all(result["ok"] for result in results.values())
    down = [name for name, result in results.items() if not result["ok"]]
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "down": down, "checks": results}, status=200 if healthy else 503
    )
