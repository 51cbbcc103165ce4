"""Fixed-window rate limits in the shared cache (Redis when configured).

Hand-written rather than django-ratelimit because the same limits apply to
MQTT messages, which are not HTTP requests. A cache outage fails open: ingest
goes on, and the failure is logged.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

from vsp.cache import RedisCache

logger = logging.getLogger(__name__)

_RATE = re.compile(r"^(\d+)/(s|m|h)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    @functools.cache  # parsed once per setting value, not on every request
    def parse(cls, text: str) -> Rate:
        match = _RATE.match(text.strip())
        if not match:
            raise ImproperlyConfigured(f"a rate looks like 600/m (per s, m or h), got {text!r}")
        return cls(int(match.group(1)), _SECONDS[match.group(2)])


def hit(name: str, ident: str, rate: Rate, now: datetime) -> int | None:
    """Count one event for ``ident``; None if within ``rate``, else seconds until the window ends."""
    timestamp = int(now.timestamp())
    window = timestamp // rate.seconds
    key = f"vsp:rl:{name}:{ident}:{window}"
    cache = caches["default"]
    try:
        if isinstance(cache, RedisCache):
            count = cache.count(key, rate.seconds + 5)  # one round trip
        else:
            count = 1 if cache.add(key, 1, timeout=rate.seconds + 5) else cache.incr(key)
    except Exception as exc:  # the cache being down must not stop ingest
        logger.warning("rate limit %s not checked, cache unavailable: %s", name, exc)
        return None
    if count <= rate.count:
        return None
    return max(1, (window + 1) * rate.seconds - timestamp)
