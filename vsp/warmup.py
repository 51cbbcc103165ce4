"""Warming a serving process up before it takes traffic. Imports no app.

A process's first request pays for what Django and its apps build lazily: the URL resolver's
patterns (about 27 ms), regular expressions compiled on first use (the edge report's validators,
about 24 ms), translation catalogs. Under an alarm storm the first reports after a start or a
restart then wait behind it, on every process at once: in a fan-out run on a fresh set, the first
reports took 200–300 ms against 30 ms later (bench/README.md); in-process, a first report took
62 ms and the next ones 5–10 ms; in a ws process the first event's decoding imported the channel
layer's backend (about 70 ms). The WSGI and ASGI modules run
``warm_up()`` once per process at import, before the server takes a connection; an app warms its
own hot path with an optional ``warm_up()`` method on its ``AppConfig``. Nothing here touches the
database or Redis: a process starts the same with either down.
"""

from __future__ import annotations

import logging
import time

from channels.layers import get_channel_layer
from django.apps import apps
from django.conf import settings
from django.db import connections
from django.urls import get_resolver, reverse
from django.utils import translation

logger = logging.getLogger(__name__)


def warm_up() -> None:
    started = time.perf_counter()
    get_resolver().url_patterns  # noqa: B018  # imports every view
    for language, _name in settings.LANGUAGES:  # the edge API answers in English, the console in Chinese
        with translation.override(language):
            reverse("health")  # builds the resolvers' lookup tables, one per language
            translation.gettext("Alarm")  # loads the catalogs
    for connection in connections.all(initialized_only=False):
        connection.ops.compiler("SQLCompiler")  # the backend's query compilers (no connection is opened)
    layer = get_channel_layer()  # the layer events are encoded with (its backend, serializer, encryption)
    if hasattr(layer, "serialize"):  # Redis's; the in-memory layer of the embedded default encodes nothing
        layer.deserialize(layer.serialize({"type": "warm.up"}))
    for config in apps.get_app_configs():
        hook = getattr(config, "warm_up", None)
        if callable(hook):
            hook()
    logger.debug("warmed up in %.0f ms", (time.perf_counter() - started) * 1000)
