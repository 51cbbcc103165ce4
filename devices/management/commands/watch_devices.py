"""Mark devices OFFLINE when they go quiet. Safe to run twice at once; stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from devices.watcher import watch


class Command(BaseCommand):
    help = "Flip devices silent for longer than their offline timeout to OFFLINE, every few seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one step and exit.")
        parser.add_argument(
            "--interval", type=float, default=settings.DEVICE_WATCH_INTERVAL, help="Seconds between steps."
        )

    def handle(self, *args: Any, once: bool = False, interval: float = 5.0, **options: Any) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"watching devices every {interval:g} s")
        watch(stop, interval, once=once, said=self.stdout.write, failed=self.stderr.write)
        self.stdout.write("stopped")
