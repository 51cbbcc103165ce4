"""Helpers for the jobs of the job engine (vsp/celery.py), and the engine inside one process.

``make run`` has one process and no broker: ``run_in_process`` starts a Celery worker and the
scheduler (beat) in threads of the server process, on Celery's in-memory transport, so the same jobs
run on the same engine there as in production, where they are the ``worker`` and ``scheduler``
processes.
"""

from __future__ import annotations

import io
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.cache import cache
from django.core.management import call_command

logger = logging.getLogger(__name__)


@contextmanager
def alone(name: str, *, timeout: int) -> Iterator[bool]:
    """Whether this is the only job of ``name`` running, among every worker sharing the cache.

    The lock lasts until the block ends, or ``timeout`` seconds if its worker died in it.
    """
    key, token = f"job-lock:{name}", uuid.uuid4().hex
    mine = cache.add(key, token, timeout)
    try:
        yield mine
    finally:
        if mine and cache.get(key) == token:
            cache.delete(key)


def run_command(name: str, *args: Any) -> str:
    """Run a management command as a job; what it reports is logged and returned."""
    said = io.StringIO()
    call_command(name, *args, stdout=said, verbosity=0)
    logger.info("%s: %s", name, said.getvalue().strip())
    return said.getvalue()


def run_in_process(*, concurrency: int = 4) -> tuple[Any, Any]:
    """Start a worker and the scheduler in daemon threads of this process; they end with it.

    Four threads: three periodic jobs run every second or two (the device watcher, the analysis and the
    notification dispatches), each message expiring after its own interval. With two threads on a busy
    machine the watcher's messages can expire unrun: a test once waited 10 s for a quiet box to go offline.
    """
    from celery.beat import EmbeddedService

    from vsp.celery import app

    worker = app.WorkController(
        pool_cls="threads",
        concurrency=concurrency,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        hostname=f"in-process-{uuid.uuid4().hex[:8]}@localhost",
    )
    threading.Thread(target=worker.start, name="jobs-worker", daemon=True).start()
    scheduler: Any = EmbeddedService(app, thread=True)  # a thread (threading.Thread)
    scheduler.start()
    return worker, scheduler
