"""gunicorn settings for the web process (``scripts/serve/web``): HTTP only, WSGI, threads.

A fixed pool per process: WEB_WORKERS processes (default: one per core) of
WEB_THREADS threads (default 8). Sync Django views run on those threads with no
event-loop hop, and each thread keeps its database connection (CONN_MAX_AGE,
checked before reuse), so a request costs no connection set-up. At most
WEB_WORKERS × WEB_THREADS connections per machine: size MySQL's
max_connections for all web machines. On SIGTERM a worker stops accepting
and finishes the requests it has, for at most 4 s.
"""

from __future__ import annotations

import os

from vsp.env import env_int, env_str

bind = [env_str("WEB_BIND", "127.0.0.1:8001")]
workers = env_int("WEB_WORKERS", os.cpu_count() or 1, minimum=1)
threads = env_int("WEB_THREADS", 8, minimum=1, maximum=256)
worker_class = "gthread"
# The proxy keeps connections open; idle ones are closed after this long.
keepalive = 75
# Longer than any request should take; a stuck worker is replaced.
timeout = 60
graceful_timeout = 4
accesslog = None
errorlog = "-"
loglevel = env_str("LOG_LEVEL", "info").lower()

# Persistent connections, for these threads only (ASGI processes keep the per-request default).
os.environ.setdefault("CONN_MAX_AGE", "600")
