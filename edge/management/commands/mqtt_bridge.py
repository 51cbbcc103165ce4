"""Run the MQTT bridge until SIGTERM: broker messages into the edge pipeline."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from edge.mqtt import Bridge


class Command(BaseCommand):
    help = "Subscribe to the edge topics on MQTT_URL and store what arrives, as the HTTP endpoints do."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default=settings.MQTT_URL, help="Broker URL (default: MQTT_URL).")

    def handle(self, *args: Any, url: str = "", **options: Any) -> None:
        if not url:
            raise CommandError("Set MQTT_URL (mqtt://user:password@host:1883) or pass --url.")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        bridge = Bridge(url, client_id=settings.MQTT_CLIENT_ID)
        bridge.start()
        self.stdout.write(f"bridging {', '.join(bridge.routes)} from {bridge.address.host}:{bridge.address.port}")
        stop.wait()
        bridge.stop()
        self.stdout.write("stopped")
