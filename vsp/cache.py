"""Django's Redis cache, with one long-lived client per process and an atomic counter.

Django's backend builds a new ``redis.Redis`` for every operation (about a
third of a millisecond each, measured on the ingest path, where a report makes
three or four). This one keeps the client, and runs Lua scripts on its keys
(the rate limits count several windows in one round trip). Imports no app.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]  # Django's, not in the stubs
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = super().get_client(key, write=write)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
        self._scripts: dict[str, Any] = {}

    def run_script(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script on the keys (prefixed and versioned as every key of this cache): one round trip.

        Keys are not checked for memcached's limits, which Django's own calls do character by character:
        Redis keys may hold any bytes.
        """
        client: RedisCacheClient = self._cache  # type: ignore[attr-defined]  # a cached_property of Django's
        registered = self._scripts.get(script)
        if registered is None:
            registered = self._scripts[script] = client.get_client(write=True).register_script(script)
        return registered(keys=[self.make_key(key) for key in keys], args=args)
