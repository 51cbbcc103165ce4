"""The MQTT bridge: edge messages from a broker into the same pipeline as the HTTP endpoints.

Topics (configurable) map to endpoints: ``edge/alert/#`` → report,
``edge/resolve/#`` → resolve, ``edge/heartbeat/#`` → heartbeat. A message
is the same JSON as the HTTP body; with device keys required it carries the
box's key in a ``key`` field (or the broker authenticates boxes itself and
the bridge runs with EDGE_AUTH_REQUIRED off). Bad messages are logged and
skipped; the bridge reconnects with backoff and resubscribes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections

from edge.endpoints import HEARTBEAT, REPORT, RESOLVE
from edge.pipeline import EdgeEndpoint, Outcome, parse_json, process

logger = logging.getLogger(__name__)

# A database outage answers 503 over HTTP so the box retries; here the bridge retries for it.
RETRY_DELAYS = (1, 2, 4)


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ImproperlyConfigured(f"MQTT_URL must look like mqtt://user:password@host:1883, got {url!r}")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def default_routes() -> dict[str, EdgeEndpoint]:
    return {
        settings.MQTT_TOPIC_ALERT: REPORT,
        settings.MQTT_TOPIC_RESOLVE: RESOLVE,
        settings.MQTT_TOPIC_HEARTBEAT: HEARTBEAT,
    }


class Bridge:
    def __init__(self, url: str, *, client_id: str, routes: dict[str, EdgeEndpoint] | None = None) -> None:
        self.address = BrokerAddress.parse(url)
        self.routes = routes if routes is not None else default_routes()
        # A persistent session: QoS 1 messages published while the bridge was away are delivered when it returns.
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, reconnect_on_failure=True
        )
        if self.address.username:
            self.client.username_pw_set(self.address.username, self.address.password)
        if self.address.tls:
            self.client.tls_set()
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        # Acknowledge a QoS 1 message only once it is stored (or refused for good).
        self.client.manual_ack_set(True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.connected = threading.Event()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            logger.warning("MQTT broker refused the connection: %s", reason)
            return
        # Subscribe on every connect: a restarted broker may have forgotten the session.
        client.subscribe([(topic, 1) for topic in self.routes])
        logger.info("MQTT bridge connected to %s:%s", self.address.host, self.address.port)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        if any(reason.is_failure for reason in reasons):
            logger.error("MQTT broker refused a subscription: %s", reasons)
            return
        logger.info("MQTT bridge subscribed to %s", list(self.routes))
        # Ready only now: a message published before the broker acknowledged the subscription is not ours.
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.connected.clear()
        logger.warning("MQTT bridge disconnected (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        outcome = None
        try:
            outcome = self.handle(message.topic, bytes(message.payload))
        except Exception:  # one message must never take the bridge down
            logger.exception("MQTT message on %s could not be handled; skipped", message.topic)
        finally:
            close_old_connections()
        if outcome is not None and outcome.status == 503:
            # Not acknowledged: the broker delivers it again when the bridge reconnects.
            logger.error("MQTT message on %s left unacknowledged: the database is still unavailable", message.topic)
            return
        client.ack(message.mid, message.qos)

    def endpoint_for(self, topic: str) -> EdgeEndpoint | None:
        for pattern, endpoint in self.routes.items():
            if mqtt.topic_matches_sub(pattern, topic):
                return endpoint
        return None

    def handle(self, topic: str, payload: bytes) -> Outcome | None:
        """Feed one message to the edge pipeline; None when it is not even a JSON object for a known topic."""
        endpoint = self.endpoint_for(topic)
        if endpoint is None:
            logger.warning("MQTT message on unrouted topic %s; skipped", topic)
            return None
        try:
            data = parse_json(payload)
        except ValueError as exc:
            logger.warning("MQTT message on %s is not JSON (%s); skipped", topic, exc)
            return None
        key = data.pop("key", None) if isinstance(data, dict) else None
        for delay in (*RETRY_DELAYS, None):
            outcome = process(endpoint, data, key=key if isinstance(key, str) else None, ip=None)
            if outcome.status != 503 or delay is None:
                break
            time.sleep(delay)
        if not outcome.ok:
            logger.warning("MQTT %s on %s refused (%s): %s", endpoint.name, topic, outcome.status, outcome.msg)
        return outcome

    def start(self) -> None:
        self.client.connect_async(self.address.host, self.address.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
