"""Finish snapshot uploads the store refused; once, or every --interval seconds until SIGTERM."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from alarms.services import retry_pending_snapshots


class Command(BaseCommand):
    help = "Upload snapshots still pending because the store was down when their alarm arrived."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep retrying every --interval seconds.")
        parser.add_argument("--interval", type=float, default=60.0)

    def handle(self, *args: Any, loop: bool = False, interval: float = 60.0, **options: Any) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.is_set():
            stored, pending = retry_pending_snapshots()
            self.stdout.write(f"stored {stored} snapshot(s), {pending} still pending")
            if not loop:
                break
            close_old_connections()
            stop.wait(interval)
