"""The device watcher: every few seconds, flip the devices that went quiet to OFFLINE.

``manage.py watch_devices`` runs it as a process of its own (the production set). ``make run`` has one
server process and an in-memory channel layer, so there it runs in a thread of that process
(``DEVICE_WATCH_IN_PROCESS``), where its ``device.status`` events reach the sockets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import close_old_connections
from django.utils import timezone

from devices.services import mark_quiet_devices_offline

logger = logging.getLogger(__name__)


def watch(
    stop: threading.Event,
    interval: float,
    *,
    once: bool = False,
    said: Callable[[str], None] = logger.info,
    failed: Callable[[str], None] = logger.error,
) -> None:
    """Step every ``interval`` seconds until ``stop`` is set (or once)."""
    while not stop.is_set():
        try:
            for device_id in mark_quiet_devices_offline(timezone.now()):
                said(f"{device_id} is offline")
        except Exception as exc:  # a database hiccup must not end the watcher; the next step retries
            failed(f"step failed: {type(exc).__name__}: {exc}")
        if once:
            break
        # Drop a broken or stale connection between steps, as a request cycle would.
        close_old_connections()
        stop.wait(interval)


def watch_in_background(interval: float) -> threading.Thread:
    """Run the watcher in a daemon thread of this process: it ends with the process."""
    thread = threading.Thread(target=watch, args=(threading.Event(), interval), name="device-watcher", daemon=True)
    thread.start()
    return thread
