"""Finish snapshot uploads the store refused, once. The scheduler sends it as a job every SNAPSHOT_RETRY_INTERVAL."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from alarms.services import retry_pending_snapshots


class Command(BaseCommand):
    help = "Upload snapshots still pending because the store was down when their alarm arrived, once."

    def handle(self, *args: Any, **options: Any) -> None:
        stored, pending = retry_pending_snapshots()
        self.stdout.write(f"stored {stored} snapshot(s), {pending} still pending")
