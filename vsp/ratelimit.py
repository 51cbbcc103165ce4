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


@dataclass(frozen=True)
class Limit:
    """One limit to count an event against: ``name`` and ``ident`` make the counter, ``rate`` its bound."""

    name: str
    ident: str
    rate: Rate


@dataclass(frozen=True)
class Exceeded:
    limit: Limit
    retry_after: int


# Count against each limit in turn and stop at the first one exceeded, so a refused event is not
# counted against the limits after it; one round trip for all of them.
# KEYS: the counters; ARGV: bound and expiry of each, in turn. Returns the 1-based index exceeded, or 0.
_COUNT_IN_TURN = """
for i, key in ipairs(KEYS) do
    local count = redis.call('INCR', key)
    if count == 1 then redis.call('EXPIRE', key, ARGV[2 * i]) end
    if count > tonumber(ARGV[2 * i - 1]) then return i end
end
return 0
"""


def check(limits: list[Limit], now: datetime) -> Exceeded | None:
    """Count one event against each of ``limits`` in turn; the first one it exceeds, or None."""
    if not limits:
        return None
    timestamp = int(now.timestamp())
    keys = [f"vsp:rl:{limit.name}:{limit.ident}:{timestamp // limit.rate.seconds}" for limit in limits]
    cache = caches["default"]
    try:
        if isinstance(cache, RedisCache):
            args = [value for limit in limits for value in (limit.rate.count, limit.rate.seconds + 5)]
            index = cache.run_script(_COUNT_IN_TURN, keys, args) - 1
        else:
            index = next((i for i, limit in enumerate(limits) if _count(keys[i], limit) > limit.rate.count), -1)
    except Exception as exc:  # the cache being down must not stop ingest
        logger.warning("rate limits %s not checked, cache unavailable: %s", [limit.name for limit in limits], exc)
        return None
    if index < 0:
        return None
    limit = limits[index]
    window = timestamp // limit.rate.seconds
    return Exceeded(limit, max(1, (window + 1) * limit.rate.seconds - timestamp))


def _count(key: str, limit: Limit) -> int:
    cache = caches["default"]
    return 1 if cache.add(key, 1, timeout=limit.rate.seconds + 5) else int(cache.incr(key))


def hit(name: str, ident: str, rate: Rate, now: datetime) -> int | None:
    """Count one event for ``ident``; None if within ``rate``, else seconds until the window ends."""
    exceeded = check([Limit(name, ident, rate)], now)
    return None if exceeded is None else exceeded.retry_after
